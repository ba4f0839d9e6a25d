//! The `maskconv` binary: parse the command line, call the library, print the
//! report, return the exit code (0 ok, 1 failure, 2 usage, 3 items skipped).

mod cli;

use clap::Parser;
use cli::{Cli, Command, CommonArgs, ConvertArgs, InspectArgs, ReadArgs};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use maskconv::formats::{ReadOptions, WriteOptions};
use maskconv::pipeline::{self, ConvertOptions, Progress, RunOptions};
use maskconv::report::render;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let jobs = match &cli.command {
        Command::Convert(args) => args.common.jobs,
        Command::Inspect(args) => args.read.common.jobs,
        Command::Validate(args) => args.common.jobs,
        Command::Formats => None,
    };
    if let Some(jobs) = jobs {
        // Work done while opening a dataset (parsing metadata files) runs on
        // rayon's global pool: `-j` limits it too.
        let threads = usize::from(jobs).min(pipeline::MAX_THREADS);
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    let code = match cli.command {
        Command::Convert(args) => convert(args),
        Command::Inspect(args) => inspect(args),
        Command::Validate(args) => validate(args),
        Command::Formats => {
            print!("{}", render::formats_text());
            Ok(0)
        }
    };
    match code {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err) as u8)
        }
    }
}

fn exit_code(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<maskconv::Error>()
        .map_or(1, maskconv::Error::exit_code)
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new(common: &CommonArgs) -> Bar {
        let visible = !common.quiet && std::io::stderr().is_terminal();
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} items, {elapsed} elapsed, eta {eta}",
            )
            .expect("valid template"),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self) {
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn run_options<'a>(common: &CommonArgs, bar: &'a Bar) -> RunOptions<'a> {
    RunOptions {
        threads: common.jobs.map(usize::from),
        progress: bar,
    }
}

fn read_options(common: &CommonArgs) -> ReadOptions {
    ReadOptions {
        mask_roots: common.mask_roots.clone(),
        labelset: common.labelset.clone(),
    }
}

fn print_notes(lines: Vec<String>) {
    for line in lines {
        eprintln!("{line}");
    }
}

fn convert(args: ConvertArgs) -> anyhow::Result<u8> {
    let start = Instant::now();
    let bar = Bar::new(&args.common);
    let options = ConvertOptions {
        run: run_options(&args.common, &bar),
        force: args.force,
        strict: args.strict,
        keep_going: args.keep_going,
        read: read_options(&args.common),
        write: WriteOptions {
            compression: args.compression.into(),
            url_prefix: args.url_prefix.clone(),
            semantic: args.semantic,
        },
    };
    let result = pipeline::convert(
        &args.input,
        &args.output,
        args.common.from.as_deref(),
        &args.to,
        &options,
    );
    let (input, output) = (
        args.input.display().to_string(),
        args.output.display().to_string(),
    );
    let seconds = start.elapsed().as_secs_f64();
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            if args.common.json {
                let message = err.to_string();
                println!(
                    "{}",
                    render::convert_json(
                        &input,
                        &output,
                        None,
                        Some(&message),
                        err.exit_code(),
                        seconds
                    )
                );
            }
            return Err(err.into());
        }
    };
    let code: u8 = if report.skipped.is_empty() { 0 } else { 3 };
    if args.common.json {
        println!(
            "{}",
            render::convert_json(&input, &output, Some(&report), None, code.into(), seconds)
        );
    }
    print_notes(report.losses.render("loss"));
    print_notes(report.warnings.render("warning"));
    for skipped in &report.skipped {
        eprintln!("skipped: {}", skipped.error);
    }
    if !args.common.quiet {
        eprintln!(
            "converted {input} ({}) to {output} ({}): {} of {} items written{} in {seconds:.2} s",
            report.from,
            report.to,
            report.written,
            report.items,
            if report.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", report.skipped.len())
            },
        );
    }
    Ok(code)
}

fn inspect(args: InspectArgs) -> anyhow::Result<u8> {
    let per_item = args.per_item;
    let args = args.read;
    let bar = Bar::new(&args.common);
    let read = read_options(&args.common);
    let result = pipeline::open_dataset_with(&args.input, args.common.from.as_deref(), &read)
        .and_then(|dataset| {
            let run = run_options(&args.common, &bar);
            let inspection = pipeline::inspect_items(&dataset, run, per_item)?;
            Ok((dataset, inspection))
        });
    let (dataset, inspection) = match result {
        Ok(done) => done,
        Err(err) => {
            if args.common.json {
                println!("{}", render::failure_json(&err));
            }
            return Err(err.into());
        }
    };
    if args.common.json {
        println!("{}", render::inspection_json(&dataset, &inspection));
    } else {
        print!("{}", render::inspection_text(&dataset, &inspection));
        print_notes(inspection.warnings.render("warning"));
    }
    Ok(0)
}

fn validate(args: ReadArgs) -> anyhow::Result<u8> {
    let bar = Bar::new(&args.common);
    let read = read_options(&args.common);
    let opened = pipeline::open_dataset_with(&args.input, args.common.from.as_deref(), &read);
    let dataset = match opened {
        Ok(dataset) => dataset,
        Err(err) if args.common.json && err.kind != maskconv::ErrorKind::Usage => {
            let validation = pipeline::Validation {
                problems: vec![pipeline::Problem {
                    item: None,
                    error: err.to_string(),
                }],
                ..Default::default()
            };
            println!("{}", render::validation_json(None, &validation));
            return Err(err.into());
        }
        Err(err) => return Err(err.into()),
    };
    let validation = pipeline::validate(&dataset, run_options(&args.common, &bar));
    if args.common.json {
        println!(
            "{}",
            render::validation_json(Some(dataset.format), &validation)
        );
    } else {
        print_notes(validation.warnings.render("warning"));
        for problem in &validation.problems {
            eprintln!("problem: {}", problem.error);
        }
        if !args.common.quiet {
            eprintln!(
                "{}: {} items, {} problems",
                args.input.display(),
                validation.items,
                validation.problems.len()
            );
        }
    }
    Ok(if validation.problems.is_empty() { 0 } else { 1 })
}

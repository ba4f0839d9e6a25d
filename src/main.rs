//! The `maskconv` binary: parse the command line, call the library, print
//! the report, exit with the library's exit code. A closed stdout (`| head`)
//! is no error: what is left to print there is dropped, the exit code stays.

mod cli;

use cli::{Command, ConvertArgs, InspectArgs, MergeArgs, ReadArgs};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use maskconv::convert::{self, ConvertOptions};
use maskconv::exit::Exit;
use maskconv::formats::options::FormatOptions;
use maskconv::inspect::{self, InspectOptions};
use maskconv::interrupt::Interruption;
use maskconv::open::open_dataset;
use maskconv::pipeline::{MAX_THREADS, Progress, RunOptions};
use maskconv::render::{self, ConvertRequest};
use maskconv::validate::{self, Validation};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let started = Instant::now();
    let (cli, options) = cli::parse();
    let common = match &cli.command {
        Command::Convert(args) => Some(&args.common),
        Command::Inspect(args) => Some(&args.read.common),
        Command::Validate(args) => Some(&args.common),
        Command::Merge(_) | Command::Formats(_) | Command::Completions(_) | Command::Man => None,
    };
    let json =
        common.is_some_and(|c| c.json) || matches!(&cli.command, Command::Merge(m) if m.json);
    if let Err(e) = maskconv::interrupt::install(interruption_report(&cli.command, json, started)) {
        eprint_line(&format!("warning: signals are not caught ({e})"));
    }
    if let Some(jobs) = common.and_then(|c| c.jobs) {
        // Every pool of the run (metadata parsing, the workers) is this size.
        let threads = usize::from(jobs).min(MAX_THREADS);
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    let result = match cli.command {
        Command::Convert(args) => convert(args, &options),
        Command::Inspect(args) => inspect(args, &options),
        Command::Validate(args) => validate(args, &options),
        Command::Merge(args) => merge(args),
        Command::Formats(args) => {
            let text = match args.json {
                true => format!("{}\n", render::formats_json()),
                false => render::formats_text(),
            };
            stdout(&text).map(|()| Exit::Ok)
        }
        Command::Completions(args) => {
            stdout_bytes(&cli::completions(args.shell)).map(|()| Exit::Ok)
        }
        Command::Man => cli::man_page()
            .map_err(|e| maskconv::Error::output("the man page", e.to_string()))
            .and_then(|page| stdout_bytes(&page))
            .map(|()| Exit::Ok),
    };
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            eprint_line(&format!("error: {err}"));
            ExitCode::from(Exit::from(&err).code())
        }
    }
}

/// What the process says when a signal ends it: the error line, and with
/// `--json` the command's failure object.
fn interruption_report(
    command: &Command,
    json: bool,
    started: Instant,
) -> impl Fn(Interruption) + Send + use<> {
    let convert = match command {
        Command::Convert(args) => Some((
            args.input.display().to_string(),
            args.output.display().to_string(),
            args.common.from.clone(),
            args.to.clone(),
        )),
        _ => None,
    };
    let validate = matches!(command, Command::Validate(_));
    let merge = match command {
        Command::Merge(args) => args.paths.split_last().map(|(output, parts)| {
            let shown: Vec<String> = parts.iter().map(|p| p.display().to_string()).collect();
            (shown, output.display().to_string())
        }),
        _ => None,
    };
    move |interruption: Interruption| {
        let message = interruption.message();
        eprint_line(&format!("error: {message}"));
        if !json {
            return;
        }
        let code = interruption.exit_code();
        let value = match &convert {
            Some((input, output, from, to)) => {
                let request = ConvertRequest {
                    input: Some(input),
                    output: Some(output),
                    from: from.as_deref(),
                    to: Some(to),
                };
                let seconds = started.elapsed().as_secs_f64();
                render::convert_failure_json(request, &message, code, seconds)
            }
            None if merge.is_some() => {
                let (parts, output) = merge.as_ref().expect("a merge");
                let seconds = started.elapsed().as_secs_f64();
                render::merge_json(parts, output, None, Some(&message), code, seconds)
            }
            None if validate => {
                let failure = Validation::unopened(&maskconv::Error::invalid_input(message));
                render::validation_json(None, &failure)
            }
            None => render::failure_text_json(&message, code),
        };
        let _ = json_line(&value);
    }
}

/// Writes one line to stderr; a stderr that cannot be written is ignored
/// (there is nowhere left to say so). Control characters are escaped.
fn eprint_line(line: &str) {
    let _ = writeln!(std::io::stderr(), "{}", maskconv::error::Printable(line));
}

type Outcome = maskconv::Result<Exit>;

/// Writes `text` to stdout. A reader that went away (a closed pipe) is no
/// error: the text is dropped and the command ends with its own exit code.
fn stdout(text: &str) -> maskconv::Result<()> {
    stdout_bytes(text.as_bytes())
}

fn stdout_bytes(bytes: &[u8]) -> maskconv::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(maskconv::Error::output("stdout", e.to_string()))
        }
        _ => Ok(()),
    }
}

fn json_line(value: &serde_json::Value) -> maskconv::Result<()> {
    stdout(&format!("{value}\n"))
}

/// Prints the report of a run that published `output`: failing to print
/// it says that only the report is missing.
fn json_published(value: &serde_json::Value, output: &str) -> maskconv::Result<()> {
    json_line(value).map_err(|e| {
        e.in_context(format!(
            "{output} was published; only this report could not be written"
        ))
    })
}

fn stderr_lines(lines: Vec<String>) {
    for line in lines {
        eprint_line(&line);
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new(quiet: bool) -> Bar {
        let visible = !quiet && std::io::stderr().is_terminal();
        let target = match visible {
            true => ProgressDrawTarget::stderr(),
            false => ProgressDrawTarget::hidden(),
        };
        // A spinner while the dataset is opened (a large labelmap or
        // NDJSON takes a while), then the bar.
        let bar = ProgressBar::with_draw_target(None, target);
        let spinner = ProgressStyle::with_template("{spinner} opening the input, {elapsed}");
        bar.set_style(spinner.expect("valid template"));
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar(bar)
    }

    fn run(&self) -> RunOptions<'_> {
        RunOptions {
            threads: None,
            progress: self,
        }
    }
}

impl Drop for Bar {
    /// An opening that failed leaves no spinner on the screen.
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.disable_steady_tick();
        let style = ProgressStyle::with_template(
            "{bar:40} {pos}/{len} items, {elapsed} elapsed, eta {eta}",
        );
        self.0.set_style(style.expect("valid template"));
        self.0.set_length(total);
    }
    fn advance(&self) {
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn convert(args: ConvertArgs, options: &FormatOptions) -> Outcome {
    let start = Instant::now();
    let bar = Bar::new(args.common.quiet);
    let from = args.common.from.as_deref();
    let shard = shard_of(&args);
    let result = args.map.mapping().and_then(|mapping| {
        let shard = shard.clone()?;
        let convert_options = ConvertOptions {
            run: bar.run(),
            force: args.force,
            strict: args.strict,
            keep_going: args.keep_going,
            compression: args.compression.into(),
            options: options.clone(),
            mapping,
            instances: args.map.instances,
            shard,
        };
        convert::convert(&args.input, &args.output, from, &args.to, &convert_options)
    });
    let (input, output) = (
        args.input.display().to_string(),
        args.output.display().to_string(),
    );
    let seconds = start.elapsed().as_secs_f64();
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            if args.common.json {
                let request = ConvertRequest {
                    input: Some(&input),
                    output: Some(&output),
                    from,
                    to: Some(&args.to),
                };
                let code = Exit::from(&err).code().into();
                let json = render::convert_failure_json(request, &err.to_string(), code, seconds);
                json_line(&json)?;
            }
            return Err(err);
        }
    };
    let exit = Exit::from(&report);
    if args.common.json {
        let json = render::convert_json(
            &input,
            &output,
            Some(&report),
            None,
            exit.code().into(),
            seconds,
        );
        json_published(&json, &output)?;
    }
    let quiet = args.common.quiet;
    stderr_lines(render::convert_text(
        &report, &input, &output, seconds, quiet,
    ));
    Ok(exit)
}

/// The shard this run converts: `--shard`, else a scheduler's variable
/// (unless `--no-shard`); `None`: every item.
fn shard_of(args: &ConvertArgs) -> maskconv::Result<Option<maskconv::shard::ShardChoice>> {
    if args.no_shard {
        return Ok(None);
    }
    if let Some(shard) = args.shard {
        if args.shard_count.is_some() {
            return Err(maskconv::Error::usage(
                "--shard K/N already gives the number of shards; leave out --shard-count",
            ));
        }
        return Ok(Some(maskconv::shard::ShardChoice::new(shard, "--shard")));
    }
    let count = args.shard_count.map(|n| n as usize);
    match maskconv::shard::shard_from_env(|name| std::env::var(name).ok(), count) {
        Err(what) => Err(maskconv::Error::usage(what)),
        Ok(None) if count.is_some() => Err(maskconv::Error::usage(
            "--shard-count needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX to be set; or give --shard K/N",
        )),
        Ok(found) => Ok(found),
    }
}

fn merge(args: MergeArgs) -> Outcome {
    let start = Instant::now();
    let bar = Bar::new(args.quiet);
    let (given, output) = args.paths.split_at(args.paths.len() - 1);
    let output = &output[0];
    let parts = cli::expand_globs(given, output);
    let result = parts.as_ref().map_err(Clone::clone).and_then(|parts| {
        let options = maskconv::merge::MergeOptions {
            force: args.force,
            progress: &bar,
            input: args.input.as_deref(),
        };
        maskconv::merge::merge(parts, output, &options)
    });
    drop(bar);
    let shown: Vec<String> = (parts.as_deref().unwrap_or(given).iter())
        .map(|p| p.display().to_string())
        .collect();
    let output = output.display().to_string();
    let seconds = start.elapsed().as_secs_f64();
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            if args.json {
                let code = Exit::from(&err).code().into();
                let json = render::merge_json(
                    &shown,
                    &output,
                    None,
                    Some(&err.to_string()),
                    code,
                    seconds,
                );
                json_line(&json)?;
            }
            return Err(err);
        }
    };
    let exit = Exit::from(&report);
    if args.json {
        let json = render::merge_json(
            &shown,
            &output,
            Some(&report),
            None,
            exit.code().into(),
            seconds,
        );
        json_published(&json, &output)?;
    }
    stderr_lines(render::merge_text(
        &report,
        shown.len(),
        &output,
        seconds,
        args.quiet,
    ));
    Ok(exit)
}

fn inspect(args: InspectArgs, options: &FormatOptions) -> Outcome {
    let inspect_options = InspectOptions {
        per_item: args.per_item,
    };
    let mapping = args.map.mapping();
    let instances = args.map.instances;
    let args = args.read;
    let bar = Bar::new(args.common.quiet);
    let result = mapping.and_then(|mapping| {
        let dataset = open_dataset(&args.input, args.common.from.as_deref(), options)?;
        // No target: `ignore` stays a class, to be seen.
        let (dataset, applied) = match &mapping {
            Some(mapping) => mapping.apply(dataset, true).map(|(d, a)| (d, Some(a)))?,
            None => (dataset, None),
        };
        let (dataset, remade) = match instances {
            Some(instances) => instances.apply(dataset).map(|(d, r)| (d, Some(r)))?,
            None => (dataset, None),
        };
        let mut inspection = inspect::inspect(&dataset, bar.run(), inspect_options)?;
        if let Some(applied) = applied {
            inspection.warnings.extend(applied.warnings.iter().cloned());
            inspection.mapping = Some(applied.rows());
        }
        if let Some(remade) = remade {
            inspection.instances = Some(remade.rows());
        }
        Ok((dataset, inspection))
    });
    let (dataset, inspection) = match result {
        Ok(done) => done,
        Err(err) => {
            if args.common.json {
                json_line(&render::failure_json(&err))?;
            }
            return Err(err);
        }
    };
    if args.common.json {
        json_line(&render::inspection_json(&dataset, &inspection))?;
    } else {
        stdout(&render::inspection_text(&dataset, &inspection))?;
        stderr_lines(inspection.warnings.render("warning"));
    }
    Ok(Exit::Ok)
}

fn validate(args: ReadArgs, options: &FormatOptions) -> Outcome {
    let bar = Bar::new(args.common.quiet);
    let dataset = match open_dataset(&args.input, args.common.from.as_deref(), options) {
        Ok(dataset) => dataset,
        Err(err) => {
            if args.common.json && err.kind != maskconv::ErrorKind::Usage {
                json_line(&render::validation_json(None, &Validation::unopened(&err)))?;
            }
            return Err(err);
        }
    };
    let validation = validate::validate(&dataset, bar.run());
    if args.common.json {
        json_line(&render::validation_json(Some(dataset.format), &validation))?;
    } else {
        let input = args.input.display().to_string();
        stderr_lines(render::validation_text(
            &input,
            &validation,
            args.common.quiet,
        ));
    }
    Ok(Exit::from(&validation))
}

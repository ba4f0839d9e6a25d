//! Command-line definitions (clap). The common flags are declared here; the
//! format-specific ones are added from the formats' own declarations
//! ([`OptionSpec`]), so a new format's options appear in `--help` without
//! an edit here.

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use maskconv::formats::REGISTRY;
use maskconv::formats::options::{Direction, FormatOptions, OptionSpec};
use std::path::{Path, PathBuf};

/// Fast, exact converter between segmentation-mask dataset formats.
#[derive(Debug, Parser)]
#[command(name = "maskconv", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert a dataset to another format (or the same one).
    Convert(ConvertArgs),
    /// Decode every mask and print per-class statistics.
    Inspect(InspectArgs),
    /// Decode every mask and list every problem (exit 1 if there is one).
    Validate(ReadArgs),
    /// Join the outputs of `convert --shard` into what one run writes.
    Merge(MergeArgs),
    /// List the formats, what each can hold, and their options.
    Formats(FormatsArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page (roff), generated from the same definitions.
    #[command(hide = true)]
    Man,
}

/// `maskconv completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: `maskconv completions bash > /etc/bash_completion.d/maskconv`.
    pub shell: clap_complete::Shell,
}

/// Options shared by every command that reads a dataset.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Input format (detected when absent).
    #[arg(long, value_name = "FORMAT")]
    pub from: Option<String>,
    /// Worker threads (default: one per core).
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// No progress bar and no summary line (warnings and errors still print).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print one JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--map` and `--unknown`: the label mapping, for `convert` and `inspect`.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// Map classes (repeatable; the first matching rule wins): OLD=NEW renames or
    /// merges (globs: 'human.head.*=head'), OLD=NEW:ID also gives an id, OLD= makes
    /// unlabeled pixels, OLD=ignore the target's ignore value; or a file of rules
    /// (JSON {"old": "new"}, or 'old -> new' lines).
    #[arg(long = "map", value_name = "RULE|FILE")]
    pub map: Vec<String>,
    /// Classes no --map rule matches: keep them (default), drop them (unlabeled), or error.
    #[arg(long, value_name = "keep|drop|error", value_parser = |v: &str| maskconv::mapping::Unknown::parse(v))]
    pub unknown: Option<maskconv::mapping::Unknown>,
    /// Remake instances after any --map: components[=4|8] makes each connected
    /// component of a class an instance (8-connected unless =4; every class becomes a
    /// thing), per-class merges each class's instances into one.
    #[arg(long, value_name = "components[=4|8]|per-class", value_parser = |v: &str| maskconv::mapping::Instances::parse(v))]
    pub instances: Option<maskconv::mapping::Instances>,
}

impl MapArgs {
    /// The mapping asked for (`None`: no `--map`).
    pub fn mapping(&self) -> maskconv::Result<Option<maskconv::mapping::Mapping>> {
        if self.map.is_empty() {
            return match self.unknown {
                Some(_) => Err(maskconv::Error::usage(
                    "--unknown applies to --map rules, and none was given",
                )),
                None => Ok(None),
            };
        }
        maskconv::mapping::Mapping::from_args(&self.map, self.unknown.unwrap_or_default()).map(Some)
    }
}

/// `maskconv convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input dataset: a folder, a .zip or .tar.gz, or an annotation file.
    pub input: PathBuf,
    /// Output: a folder, or a .zip.
    pub output: PathBuf,
    /// Output format.
    #[arg(long, value_name = "FORMAT")]
    pub to: String,
    /// Reading options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Fail (publishing nothing) if anything would be lost.
    #[arg(long)]
    pub strict: bool,
    /// Skip items that cannot be converted, list them, exit 3.
    #[arg(long)]
    pub keep_going: bool,
    /// PNG compression effort.
    #[arg(long, value_enum, default_value_t = CompressionArg::Fast)]
    pub compression: CompressionArg,
    /// Label mapping.
    #[command(flatten)]
    pub map: MapArgs,
    /// Convert only shard K of N (K from 0), for `maskconv merge`. Without it, a
    /// Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX, with --shard-count) is a shard.
    #[arg(long, value_name = "K/N", value_parser = |v: &str| maskconv::shard::Shard::parse(v), conflicts_with = "no_shard")]
    pub shard: Option<maskconv::shard::Shard>,
    /// The number of shards, when a scheduler's variable gives K but not N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "no_shard")]
    pub shard_count: Option<u32>,
    /// Convert every item even in a Slurm array task or an Indexed Job.
    #[arg(long)]
    pub no_shard: bool,
}

/// `maskconv merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' outputs (or a quoted glob, 'out-*.zip'), then OUTPUT.
    #[arg(required = true, num_args = 2.., value_name = "SHARD_OUTPUT... OUTPUT")]
    pub paths: Vec<PathBuf>,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Where the shards' input is now, when not at the path they recorded
    /// (another machine's mount): it must be the same dataset.
    #[arg(long, value_name = "INPUT")]
    pub input: Option<PathBuf>,
    /// No progress bar and no summary line.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `maskconv inspect` / `maskconv validate`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Input dataset: a folder, a .zip or .tar.gz, or an annotation file.
    pub input: PathBuf,
    /// Reading options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `maskconv inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// What to read.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Also every item's size, subset, unlabeled pixels and per-class pixels
    /// and instances (`per_item` in --json; a line per item otherwise).
    #[arg(long)]
    pub per_item: bool,
    /// Label mapping: inspect the dataset as --map would make it.
    #[command(flatten)]
    pub map: MapArgs,
}

/// `maskconv formats`.
#[derive(Debug, Args)]
pub struct FormatsArgs {
    /// Print the list as JSON (names, capabilities, options).
    #[arg(long)]
    pub json: bool,
}

/// `--compression` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// Sub filter + fdeflate: fastest, files ~30% larger than balanced.
    Fast,
    /// Adaptive filter + zlib level 6.
    Balanced,
    /// Adaptive filter + zlib level 9: smallest, slowest.
    High,
}

impl From<CompressionArg> for maskconv::codec::Compression {
    fn from(arg: CompressionArg) -> Self {
        match arg {
            CompressionArg::Fast => Self::Fast,
            CompressionArg::Balanced => Self::Balanced,
            CompressionArg::High => Self::High,
        }
    }
}

/// Parses the command line: the common flags, and the format options given.
pub fn parse() -> (Cli, FormatOptions) {
    let matches = command()
        .try_get_matches()
        .unwrap_or_else(|e| usage_error(e));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| usage_error(e));
    let options = match matches.subcommand() {
        Some((_, sub)) => format_options(sub),
        None => FormatOptions::new(),
    };
    (cli, options)
}

/// Exits on a command-line error (exit 2, clap's message on stderr); with
/// `--json` among the arguments, the failure object is printed on stdout
/// first, as for every other failure.
fn usage_error(error: clap::Error) -> ! {
    use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !matches!(error.kind(), DisplayHelp | DisplayVersion) && args.iter().any(|a| a == "--json") {
        let text = error.render().to_string();
        let first = text.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let value = match args.first().map(String::as_str) {
            Some("convert") => {
                maskconv::render::convert_failure_json(Default::default(), message, 2, 0.0)
            }
            _ => maskconv::render::failure_text_json(message, 2),
        };
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{value}");
    }
    error.exit()
}

/// `--version`: the version and the formats it reads and writes.
fn version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (formats: {})",
            env!("CARGO_PKG_VERSION"),
            maskconv::formats::names()
        )
    })
}

/// The completion script for `shell`, from the whole command line.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "maskconv", &mut script);
    script
}

/// The man page (roff), from the whole command line.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command().version(env!("CARGO_PKG_VERSION"))).render(&mut page)?;
    Ok(page)
}

/// The whole command line: the derived one, plus every format option.
pub fn command() -> clap::Command {
    let mut command = Cli::command().version(version());
    for (sub, directions) in [
        ("convert", &[Direction::Read, Direction::Write][..]),
        ("inspect", &[Direction::Read][..]),
        ("validate", &[Direction::Read][..]),
    ] {
        command = command.mut_subcommand(sub, |mut sub| {
            for (spec, formats) in declared(directions) {
                sub = sub.arg(argument(spec, &formats));
            }
            sub
        });
    }
    command
}

/// Every option the formats declare for `directions`, once each, with the
/// formats that take it.
fn declared(directions: &[Direction]) -> Vec<(&'static OptionSpec, Vec<&'static str>)> {
    let mut specs: Vec<(&'static OptionSpec, Vec<&'static str>)> = Vec::new();
    for format in REGISTRY {
        let info = format.info();
        for spec in info
            .options
            .iter()
            .filter(|s| directions.contains(&s.direction))
        {
            match specs.iter_mut().find(|(s, _)| s.name == spec.name) {
                Some((_, formats)) => formats.push(info.name),
                None => specs.push((spec, vec![info.name])),
            }
        }
    }
    specs
}

fn argument(spec: &'static OptionSpec, formats: &[&str]) -> clap::Arg {
    let verb = match spec.direction {
        Direction::Read => "reading",
        Direction::Write => "writing",
    };
    let help = format!("{} [{verb} {}]", spec.help, formats.join(", "));
    let mut arg = clap::Arg::new(spec.name).long(spec.name).help(help);
    if let Some(check) = spec.check {
        arg = arg.value_parser(move |value: &str| check(value).map(|()| value.to_string()));
    }
    match (spec.value, spec.repeatable) {
        (None, _) => arg.action(clap::ArgAction::SetTrue),
        (Some(value), true) => arg.value_name(value).action(clap::ArgAction::Append),
        (Some(value), false) => arg.value_name(value).action(clap::ArgAction::Set),
    }
}

/// The format options given to a subcommand.
fn format_options(matches: &ArgMatches) -> FormatOptions {
    let mut options = FormatOptions::new();
    for (spec, _) in declared(&[Direction::Read, Direction::Write]) {
        let given: Vec<Option<&str>> = match spec.value {
            None => match matches.try_get_one::<bool>(spec.name) {
                Ok(Some(true)) => vec![None],
                _ => Vec::new(),
            },
            Some(_) => match matches.try_get_many::<String>(spec.name) {
                Ok(Some(values)) => values.map(|v| Some(v.as_str())).collect(),
                _ => Vec::new(),
            },
        };
        for value in given {
            if let Err(e) = options.add(spec, value) {
                command()
                    .error(clap::error::ErrorKind::ArgumentConflict, e.to_string())
                    .exit();
            }
        }
    }
    options
}

/// `merge`'s paths with quoted globs expanded (`*` and `?` in the last
/// component, matched in its folder, sorted): the shells of schedulers'
/// job scripts expand them too, but a glob may arrive quoted. A glob
/// matching nothing is a usage error; `output` is never one of its matches
/// (`merge 'out-*' out-all --force`, run again).
pub fn expand_globs(paths: &[PathBuf], output: &Path) -> maskconv::Result<Vec<PathBuf>> {
    let mut expanded = Vec::new();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let pattern = match name {
            Some(name) if (name.contains('*') || name.contains('?')) && !path.exists() => name,
            _ => {
                expanded.push(path.clone());
                continue;
            }
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| maskconv::Error::usage(format!("{}: {e}", dir.display())))?;
        let mut matched: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| glob_matches(&pattern, &entry.file_name().to_string_lossy()))
            .map(|entry| path.with_file_name(entry.file_name()))
            .filter(|matched| matched != output)
            .collect();
        if matched.is_empty() {
            return Err(maskconv::Error::usage(format!(
                "no file or folder matches '{}'",
                path.display()
            )));
        }
        matched.sort();
        expanded.extend(matched);
    }
    Ok(expanded)
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and
/// `?` any one character. Hidden names match only a pattern starting with `.`.
fn glob_matches(pattern: &str, name: &str) -> bool {
    fn matches(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => matches(&p[1..], n) || (!n.is_empty() && matches(p, &n[1..])),
            (Some('?'), Some(_)) => matches(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    (pattern.starts_with('.') || !name.starts_with('.')) && matches(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_stars_and_question_marks() {
        assert!(glob_matches("out-*.zip", "out-0.zip"));
        assert!(glob_matches("out-?", "out-3"));
        assert!(!glob_matches("out-?", "out-12"));
        assert!(!glob_matches("*.zip", "out.tar.gz"));
        assert!(!glob_matches("*", ".hidden"));
        assert!(glob_matches("*a*b*", "xxaxxbxx"));
    }
}

//! Command-line definitions (clap) — nothing else.

use clap::{Args, Parser, Subcommand, ValueEnum};
use maskconv::formats::mask_url::MaskRoot;
use std::path::PathBuf;

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
    /// List the formats and what each can hold.
    Formats,
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
    /// Read remote mask URLs starting with PREFIX from the local folder DIR
    /// (Nucleus, Segments.ai; repeatable, longest prefix wins), e.g. s3://bucket/run1/=./masks
    #[arg(long = "mask-root", value_name = "PREFIX=DIR", value_parser = MaskRoot::parse)]
    pub mask_roots: Vec<MaskRoot>,
    /// The label set of a Segments.ai release to read (default: ground-truth).
    #[arg(long, value_name = "NAME")]
    pub labelset: Option<String>,
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
    /// Written mask URLs are URL + the mask's path in OUTPUT (Nucleus, Segments.ai),
    /// e.g. s3://bucket/run1/ where OUTPUT will be uploaded.
    #[arg(long, value_name = "URL")]
    pub url_prefix: Option<String>,
    /// One mask value per class, the same in every image (Nucleus); instances
    /// are merged.
    #[arg(long)]
    pub semantic: bool,
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

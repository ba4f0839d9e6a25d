//! Shards: one conversion split into N parts that run apart (a Slurm job
//! array, a Kubernetes Indexed Job, GNU parallel) and are joined by
//! [`merge`](crate::merge). Shard K of N converts the items at positions
//! `K·len/N .. (K+1)·len/N` of the dataset's item list; every shard reads
//! the whole dataset's metadata and plans the writer from it, so whatever
//! is dataset-wide (classes, colours, category and image ids, uuids) is the
//! same in every shard, and ids that depend on earlier items (COCO
//! annotation ids) are given at the merge, from every shard's records.
//!
//! A shard's OUTPUT holds its items' files at their final paths, the
//! writer's header files, and [`SHARD_DIR`] with a manifest (the job, the
//! input's fingerprint, the shard's notes) and the items' log: per written
//! item, its index, the paths of its files in the order written, and the
//! record the writer's finish reads.

mod env;
mod log;

pub use env::shard_from_env;
pub use log::{ItemLog, LoggedItem, read_item_log};

use crate::codec::Compression;
use crate::convert::{ConvertOptions, Skipped};
use crate::error::{Error, Result};
use crate::formats::api::Dataset;
use crate::formats::options::FormatOptions;
use crate::io::Source;
use crate::mapping::{Instances, InstancesRow, Mapping, MappingRow, Unknown};
use crate::report::SavedNotes;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::Path;

/// The folder of a shard's OUTPUT holding what its merge needs.
pub const SHARD_DIR: &str = ".maskconv-shard";
/// The shard's manifest, in [`SHARD_DIR`].
pub const MANIFEST: &str = ".maskconv-shard/manifest.json";
/// The log of the shard's written items, in [`SHARD_DIR`].
pub const ITEM_LOG: &str = ".maskconv-shard/items.bin";
/// The manifest's layout version.
const LAYOUT: u32 = 1;

/// One part of N: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 0.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl Shard {
    /// A shard, checked: `index < count`.
    pub fn new(index: usize, count: usize) -> std::result::Result<Shard, String> {
        match (count, index < count) {
            (0, _) => Err("a job has at least 1 shard".into()),
            (_, false) => Err(format!(
                "shard {index} is not one of {count} shards (they are numbered 0 to {})",
                count - 1
            )),
            _ => Ok(Shard { index, count }),
        }
    }

    /// `K/N` (K from 0).
    pub fn parse(text: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("'{text}' is not K/N (shard K of N, K from 0 to N-1)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(k, n)
    }

    /// The positions of this shard's items among `items`.
    pub fn range(&self, items: usize) -> Range<usize> {
        let at = |k: usize| (k as u128 * items as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard a run converts, and what chose it (`--shard`, or the
/// scheduler's variable), for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardChoice {
    /// The shard.
    pub shard: Shard,
    /// `--shard`, `SLURM_ARRAY_TASK_ID` or `JOB_COMPLETION_INDEX`.
    pub chosen_by: &'static str,
}

impl ShardChoice {
    /// `shard`, chosen by `chosen_by`.
    pub fn new(shard: Shard, chosen_by: &'static str) -> Self {
        ShardChoice { shard, chosen_by }
    }
}

/// What a shard was converted with: everything its merge needs to plan
/// the same writer again (the input is opened again, metadata only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The input, as an absolute path.
    pub input: String,
    /// The input's format.
    pub from: String,
    /// The output's format.
    pub to: String,
    /// Format options given: name and value.
    pub options: Vec<(String, Option<String>)>,
    /// `--compression`.
    pub compression: String,
    /// `--map` values (files as absolute paths).
    pub map: Vec<String>,
    /// `--unknown`.
    pub unknown: String,
    /// `--instances`.
    pub instances: Option<String>,
    /// `--strict`.
    pub strict: bool,
    /// `--keep-going`.
    pub keep_going: bool,
}

impl Job {
    /// The job of converting `input` (read as `from`) to `to` with `options`.
    pub fn new(input: &Path, from: &str, to: &str, options: &ConvertOptions) -> Job {
        let input = std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf());
        let mapping = options.mapping.as_ref();
        Job {
            input: input.to_string_lossy().into_owned(),
            from: from.to_string(),
            to: to.to_string(),
            options: (options.options.given())
                .map(|(name, value)| (name.to_string(), value.map(absolute_folder)))
                .collect(),
            compression: options.compression.name().to_string(),
            map: mapping.map(|m| m.sources.clone()).unwrap_or_default(),
            unknown: mapping
                .map_or(Unknown::default(), |m| m.unknown)
                .as_str()
                .to_string(),
            instances: options.instances.map(|i| i.as_str().to_string()),
            strict: options.strict,
            keep_going: options.keep_going,
        }
    }

    /// The options this job was converted with (threads and progress default).
    pub fn convert_options(&self) -> Result<ConvertOptions<'static>> {
        let mut options = FormatOptions::new();
        for (name, value) in &self.options {
            options.add(crate::formats::find_option(name)?, value.as_deref())?;
        }
        let unknown = Unknown::parse(&self.unknown).map_err(Error::usage)?;
        let mapping = match self.map.is_empty() {
            true => None,
            false => Some(Mapping::from_args(&self.map, unknown)?),
        };
        let instances = self.instances.as_deref().map(Instances::parse).transpose();
        Ok(ConvertOptions {
            strict: self.strict,
            keep_going: self.keep_going,
            compression: Compression::from_name(&self.compression).ok_or_else(|| {
                Error::usage(format!("unknown compression '{}'", self.compression))
            })?,
            options,
            mapping,
            instances: instances.map_err(Error::usage)?,
            ..ConvertOptions::default()
        })
    }
}

/// An option value naming a folder of the local disk (`--mask-root
/// PREFIX=DIR`) with `DIR` made absolute, so that the merge, run from
/// another folder, reads the same; other values as they are.
fn absolute_folder(value: &str) -> String {
    let Some((prefix, dir)) = value.split_once('=') else {
        return value.to_string();
    };
    match std::path::absolute(dir) {
        Ok(path) if Path::new(dir).is_relative() && Path::new(dir).is_dir() => {
            format!("{prefix}={}", path.to_string_lossy())
        }
        _ => value.to_string(),
    }
}

/// A digest of what the shards must agree on about the opened (and
/// mapped) dataset: its classes and its items' keys and subsets. An input
/// changed between shards, or between the shards and their merge, differs.
pub fn fingerprint(dataset: &Dataset) -> String {
    // FNV-1a, 64 bits: stable across runs and machines (std's hasher is not).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes.iter().chain(&[0xff]) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(format!("{:?}", dataset.catalog.classes()).as_bytes());
    eat(&(dataset.items.len() as u64).to_le_bytes());
    for item in &dataset.items {
        // Everything the model holds of the item: key, subset, image,
        // origin (image ids, sequences), mask files and listed segments.
        eat(format!("{item:?}").as_bytes());
    }
    format!("{hash:016x}")
}

/// A shard's manifest ([`MANIFEST`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The layout version.
    pub maskconv_shard: u32,
    /// The maskconv version that wrote it: a merge needs the same.
    pub version: String,
    /// The conversion.
    pub job: Job,
    /// The input's [`fingerprint`].
    pub fingerprint: String,
    /// Which shard, from 0.
    pub shard: usize,
    /// Of how many.
    pub shards: usize,
    /// Items in the whole dataset.
    pub items: usize,
    /// The positions of its items: `first..end`.
    pub first: usize,
    /// See `first`.
    pub end: usize,
    /// Items written.
    pub written: usize,
    /// Items skipped under `--keep-going`.
    pub skipped: Vec<Skipped>,
    /// The losses of its items.
    pub losses: Vec<SavedNotes>,
    /// The warnings of its items.
    pub warnings: Vec<SavedNotes>,
    /// What `--map` did to its items' pixels.
    pub mapping: Vec<MappingRow>,
    /// The instances `--instances` made in its items.
    pub instances: Vec<InstancesRow>,
}

impl Manifest {
    /// A manifest for `shard` of `job`, its notes yet to fill.
    pub fn new(job: Job, dataset: &Dataset, shard: Shard) -> Manifest {
        let range = shard.range(dataset.items.len());
        Manifest {
            maskconv_shard: LAYOUT,
            version: env!("CARGO_PKG_VERSION").to_string(),
            job,
            fingerprint: fingerprint(dataset),
            shard: shard.index,
            shards: shard.count,
            items: dataset.items.len(),
            first: range.start,
            end: range.end,
            written: 0,
            skipped: Vec::new(),
            losses: Vec::new(),
            warnings: Vec::new(),
            mapping: Vec::new(),
            instances: Vec::new(),
        }
    }

    /// Checks that the manifest describes its shard of a dataset of
    /// `items` items (what a merge relies on); the error says what is wrong.
    pub fn check(&self, items: usize) -> std::result::Result<(), String> {
        let range = Shard::new(self.shard, self.shards)?.range(items);
        if self.items != items || (self.first, self.end) != (range.start, range.end) {
            return Err(format!(
                "says it holds items {}..{} of {}, but shard {} of a dataset of {items} items is {}..{}",
                self.first,
                self.end,
                self.items,
                self.shard(),
                range.start,
                range.end
            ));
        }
        if self.written + self.skipped.len() > range.len() {
            return Err(format!(
                "says {} items were written and {} skipped, more than its {} items",
                self.written,
                self.skipped.len(),
                range.len()
            ));
        }
        Ok(())
    }

    /// Reads the manifest of the shard output `source`.
    pub fn read(source: &dyn Source) -> Result<Manifest> {
        if !source.contains(MANIFEST) {
            return Err(Error::input(
                source.name(),
                format!("is not the output of a maskconv shard (it has no {MANIFEST})"),
            ));
        }
        let bytes = source.read(MANIFEST)?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(
                source.display(MANIFEST),
                format!("is not a shard manifest: {e}"),
            )
        })?;
        if manifest.maskconv_shard != LAYOUT || manifest.version != env!("CARGO_PKG_VERSION") {
            return Err(Error::input(
                source.display(MANIFEST),
                format!(
                    "was written by maskconv {}, and this is {}: merge with the version that made the shards",
                    manifest.version,
                    env!("CARGO_PKG_VERSION")
                ),
            ));
        }
        Ok(manifest)
    }

    /// The shard it describes.
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.shard,
            count: self.shards,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_item_once_in_order() {
        for items in [0, 1, 5, 7, 100] {
            for count in 1..=9 {
                let ranges: Vec<Range<usize>> = (0..count)
                    .map(|k| Shard::new(k, count).unwrap().range(items))
                    .collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[count - 1].end, items);
                assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
                let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "balanced: {sizes:?}");
            }
        }
    }

    #[test]
    fn shard_text_is_k_of_n_from_zero() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert!(Shard::parse("4/4").unwrap_err().contains("0 to 3"));
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("1").is_err());
        assert!(Shard::parse("a/4").is_err());
    }
}

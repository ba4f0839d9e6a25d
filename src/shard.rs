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

use crate::codec::Compression;
use crate::convert::ConvertOptions;
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, Record};
use crate::formats::options::FormatOptions;
use crate::io::{Sink, Source, Spill};
use crate::mapping::{Instances, Mapping, Unknown};
use crate::report::{NoteList, NoteSummary};
use serde::{Deserialize, Serialize};
use std::io::Read;
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

/// The shard a run is, when the command line gives none: from the
/// scheduler's variables (`vars` reads one), with `count` from
/// `--shard-count` when the scheduler does not say. Returns the shard and
/// the variable it came from; `None`: no scheduler variable is set.
pub fn shard_from_env(
    vars: impl Fn(&str) -> Option<String>,
    count: Option<usize>,
) -> std::result::Result<Option<(Shard, &'static str)>, String> {
    let number = |name: &str| -> std::result::Result<Option<usize>, String> {
        vars(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| format!("{name}='{v}' is not a number"))
            })
            .transpose()
    };
    if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
        // Arrays may start anywhere (--array=1-4): positions count from the first.
        let first = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let count = count.or(number("SLURM_ARRAY_TASK_COUNT")?).ok_or(
            "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shard-count",
        )?;
        let index = task
            .checked_sub(first)
            .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
        return Shard::new(index, count)
            .map(|s| Some((s, "SLURM_ARRAY_TASK_ID")))
            .map_err(|e| format!("{e} (from SLURM_ARRAY_TASK_ID; an array with a step, --array=0-6:2, cannot be used)"));
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let count = count
            .ok_or("JOB_COMPLETION_INDEX is set: give --shard-count N (the Job's completions)")?;
        return Shard::new(index, count).map(|s| Some((s, "JOB_COMPLETION_INDEX")));
    }
    Ok(None)
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
                .map(|(name, value)| (name.to_string(), value.map(String::from)))
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
        eat(item.key.as_bytes());
        eat(item.subset.as_deref().unwrap_or("").as_bytes());
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
    /// Items skipped under `--keep-going`: key, error, loss code.
    pub skipped: Vec<(String, String, Option<String>)>,
    /// The losses of its items.
    pub losses: Vec<Notes>,
    /// The warnings of its items.
    pub warnings: Vec<Notes>,
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
        }
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

/// Notes of one code, as a manifest keeps them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notes {
    /// The code.
    pub code: String,
    /// How many.
    pub count: usize,
    /// The first few messages.
    pub examples: Vec<String>,
}

/// `list` as a manifest keeps it.
pub fn notes_of(list: &NoteList) -> Vec<Notes> {
    (list.summaries().iter())
        .map(|s| Notes {
            code: s.code.to_string(),
            count: s.count,
            examples: s.examples.clone(),
        })
        .collect()
}

/// Adds a manifest's `notes` to `list`.
pub fn absorb_notes(list: &mut NoteList, notes: &[Notes]) {
    for note in notes {
        list.absorb(NoteSummary {
            code: intern(&note.code),
            count: note.count,
            examples: note.examples.clone(),
        });
    }
}

/// The code `code` as the `'static` string notes carry: each distinct code
/// is kept once for the life of the process (there are a few dozen).
fn intern(code: &str) -> &'static str {
    static CODES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut codes = CODES.lock().unwrap_or_else(|e| e.into_inner());
    match codes.iter().find(|c| **c == code) {
        Some(known) => known,
        None => {
            let leaked: &'static str = Box::leak(code.to_string().into_boxed_str());
            codes.push(leaked);
            leaked
        }
    }
}

/// The log of a shard's written items ([`ITEM_LOG`]), waiting on disk.
pub struct ItemLog {
    spill: Spill,
    items: usize,
}

impl ItemLog {
    /// An empty log, spilled to `dir` as it grows.
    pub fn new(dir: Option<&Path>) -> ItemLog {
        ItemLog {
            spill: Spill::new(dir),
            items: 0,
        }
    }

    /// How many items are logged.
    pub fn len(&self) -> usize {
        self.items
    }

    /// True when no item is logged.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Logs item `index`, written as `paths` (in order), leaving `record`.
    pub fn push(&mut self, index: usize, paths: &[&str], record: &Record) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        let put = |bytes: &mut Vec<u8>, text: &[u8]| {
            bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
            bytes.extend_from_slice(text);
        };
        bytes.extend_from_slice(&(index as u32).to_le_bytes());
        bytes.extend_from_slice(&(paths.len() as u32).to_le_bytes());
        for path in paths {
            put(&mut bytes, path.as_bytes());
        }
        put(&mut bytes, record.text.as_bytes());
        bytes.extend_from_slice(&(record.classes.len() as u32).to_le_bytes());
        for class in &record.classes {
            bytes.extend_from_slice(&class.to_le_bytes());
        }
        self.items += 1;
        self.spill.append(&bytes)
    }

    /// Writes the log into `sink` at [`ITEM_LOG`].
    pub fn write(mut self, sink: &mut dyn Sink) -> Result<()> {
        self.spill
            .flush()
            .map_err(|e| Error::output(ITEM_LOG, e.to_string()))?;
        sink.write_stream(ITEM_LOG, &mut |file| {
            std::io::copy(&mut self.spill.reader(), file).map(drop)
        })
    }
}

/// One item of a shard's log.
pub struct LoggedItem {
    /// Its position in the dataset's items.
    pub index: usize,
    /// Its files, in the order written.
    pub paths: Vec<String>,
    /// What the writer's finish reads.
    pub record: Record,
}

/// Reads the item log of the shard output `source`, one item at a time.
pub fn read_item_log(
    source: &dyn Source,
    each: &mut dyn FnMut(LoggedItem) -> Result<()>,
) -> Result<()> {
    let display = source.display(ITEM_LOG);
    let bad = |what: String| Error::input(&display, what);
    source.read_with(ITEM_LOG, &mut |reader| {
        let mut reader = std::io::BufReader::new(reader);
        loop {
            let index = match read_u32(&mut reader) {
                Ok(index) => index as usize,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(bad(e.to_string())),
            };
            let mut item = || -> std::io::Result<LoggedItem> {
                // Counts come from a file: nothing is reserved ahead of what is read.
                let mut paths = Vec::new();
                for _ in 0..read_count(&mut reader)? {
                    paths.push(read_text(&mut reader)?);
                }
                let text = read_text(&mut reader)?;
                let mut classes = Vec::new();
                for _ in 0..read_count(&mut reader)? {
                    classes.push(read_u32(&mut reader)?);
                }
                Ok(LoggedItem {
                    index,
                    paths,
                    record: Record { text, classes },
                })
            };
            let item = item().map_err(|e| bad(format!("is cut short or damaged ({e})")))?;
            each(item)?;
        }
    })
}

fn read_u32(reader: &mut impl Read) -> std::io::Result<u32> {
    let mut bytes = [0u8; 4];
    reader.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// The most files or classes one logged item has (a damaged log is refused
/// instead of filling memory with empty entries).
const MAX_ITEM_ENTRIES: u32 = 1 << 16;

fn read_count(reader: &mut impl Read) -> std::io::Result<u32> {
    match read_u32(reader)? {
        count if count <= MAX_ITEM_ENTRIES => Ok(count),
        count => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("an item lists {count} entries, more than {MAX_ITEM_ENTRIES}"),
        )),
    }
}

fn read_text(reader: &mut impl Read) -> std::io::Result<String> {
    let len = read_u32(reader)? as u64;
    let mut text = Vec::new();
    reader.take(len).read_to_end(&mut text)?;
    if text.len() as u64 != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    String::from_utf8(text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
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

    #[test]
    fn schedulers_variables_choose_the_shard() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            shard_from_env(slurm, None),
            Ok(Some((Shard { index: 2, count: 4 }, "SLURM_ARRAY_TASK_ID")))
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert!(
            shard_from_env(k8s, None)
                .unwrap_err()
                .contains("--shard-count")
        );
        assert_eq!(
            shard_from_env(k8s, Some(3)),
            Ok(Some((Shard { index: 1, count: 3 }, "JOB_COMPLETION_INDEX")))
        );
        assert!(shard_from_env(env(&[("JOB_COMPLETION_INDEX", "3")]), Some(3)).is_err());
        assert_eq!(shard_from_env(env(&[]), Some(3)), Ok(None));
    }

    #[test]
    fn the_item_log_reads_back_what_was_logged() {
        let mut log = ItemLog::new(None);
        let record = Record {
            text: "line".into(),
            classes: vec![1, 3],
        };
        log.push(7, &["a/b.png", "c.png"], &record).unwrap();
        log.push(9, &[], &Record::default()).unwrap();
        let mut sink = crate::io::MemorySink::default();
        log.write(&mut sink).unwrap();
        let source = crate::io::MemorySource::new("shard", sink.files);
        let mut items = Vec::new();
        read_item_log(&source, &mut |item| {
            items.push((item.index, item.paths, item.record));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            items[0],
            (7, vec!["a/b.png".into(), "c.png".into()], record)
        );
        assert_eq!(items[1], (9, vec![], Record::default()));
    }
}

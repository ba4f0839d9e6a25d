//! `merge`: joins the outputs of one conversion's shards (see [`crate::shard`])
//! into what one unsharded run writes, byte for byte. The shards'
//! manifests must agree (same job, same input, each of the N shards once);
//! the input is opened again (its metadata, as every shard did) so that the
//! writer is planned exactly as in one run; its header files are written,
//! then every shard's item files are copied in item order, and the
//! writer's finish reads the records the shards logged. Memory holds the
//! dataset's metadata, as a conversion does, and one file at a time.

use crate::convert::{self, ConvertOptions, ConvertReport};
use crate::error::{Error, Result};
use crate::formats;
use crate::io::{Output, Sink, Source, open_source, refuse_output_holding_input_files};
use crate::mapping::{InstancesRow, MappingRow};
use crate::open::open_dataset;
use crate::pipeline::Progress;
use crate::shard::{ITEM_LOG, LoggedItem, Manifest, SHARD_DIR, fingerprint, read_item_log};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Options of `merge`.
#[derive(Clone, Copy)]
pub struct MergeOptions<'a> {
    /// Replace an existing OUTPUT.
    pub force: bool,
    /// Told about each item copied.
    pub progress: &'a dyn Progress,
    /// The input the shards were converted from, where the merge reads it
    /// (`--input`): by default the absolute path they recorded. It must be
    /// the same dataset (its fingerprint is checked).
    pub input: Option<&'a Path>,
}

impl Default for MergeOptions<'_> {
    fn default() -> Self {
        MergeOptions {
            force: false,
            progress: &crate::pipeline::NoProgress,
            input: None,
        }
    }
}

/// One shard's output, opened.
struct Part {
    path: PathBuf,
    source: Arc<dyn Source>,
    manifest: Manifest,
}

/// Merges the shard outputs `parts` (in any order) into `output`. On
/// success the output has been published; on error nothing is at OUTPUT.
pub fn merge(parts: &[PathBuf], output: &Path, options: &MergeOptions) -> Result<ConvertReport> {
    if parts.is_empty() {
        return Err(Error::usage("merge needs the shards' outputs, then OUTPUT"));
    }
    let mut opened = Vec::with_capacity(parts.len());
    for path in parts {
        Output::check(output, path, options.force)?;
        let source = open_source(path)?;
        let manifest = Manifest::read(&*source)?;
        opened.push(Part {
            path: path.clone(),
            source,
            manifest,
        });
    }
    let parts = in_order(opened, options.input.is_some())?;
    let job = &parts[0].manifest.job;
    let convert_options = ConvertOptions {
        force: options.force,
        ..job.convert_options()?
    };
    let target = formats::find(&job.to)?;
    let input = options.input.unwrap_or(Path::new(&job.input));
    let shown = input.display().to_string();
    let reopened = open_dataset(input, Some(&job.from), &convert_options.options).map_err(|e| {
        Error::input(
            &shown,
            format!("the input the shards were converted from cannot be read again (give --input where it is now): {e}"),
        )
    })?;
    let (dataset, applied, remade) = convert::prepare(reopened, target, &convert_options)?;
    if fingerprint(&dataset) != parts[0].manifest.fingerprint {
        return Err(Error::input(
            &shown,
            "is not the dataset the shards were converted from, or changed since (its classes or items differ): convert the shards again",
        ));
    }
    for part in &parts {
        (part.manifest.check(dataset.items.len()))
            .map_err(|what| Error::input(part.source.display(crate::shard::MANIFEST), what))?;
    }
    refuse_output_holding_input_files(output, &dataset.folders_read_outside())?;
    let mut out = Output::create_with(
        output,
        input,
        convert::output_layout(target, &convert_options),
    )?;
    let (plan, mut tally) = convert::begin(&dataset, target, &mut out, &convert_options)?;
    options.progress.start(dataset.items.len() as u64);
    let classes = dataset.catalog.len() as u32;
    let (mut mapping, mut instances) = (Vec::new(), Vec::new());
    for part in &parts {
        let manifest = &part.manifest;
        let mut next = manifest.first;
        let mut copied = 0;
        announce_reads(&*part.source)?;
        read_item_log(&*part.source, &mut |item| {
            check_logged(&item, next, manifest.end, classes, &*part.source)
                .map_err(|what| Error::input(part.source.display(ITEM_LOG), what))?;
            next = item.index + 1;
            for path in &item.paths {
                out.write_file(path, &part.source.read(path)?)?;
            }
            (tally.written.push(item.index, &item.record)).map_err(convert::records_error)?;
            copied += 1;
            options.progress.advance();
            Ok(())
        })?;
        if copied != manifest.written {
            return Err(Error::input(
                part.path.display().to_string(),
                format!(
                    "logs {copied} items but its manifest says {} were written",
                    manifest.written
                ),
            ));
        }
        tally.absorb(&manifest.losses, &manifest.warnings);
        tally.skipped.extend(manifest.skipped.iter().cloned());
        add_mapping(&mut mapping, &manifest.mapping);
        add_instances(&mut instances, &manifest.instances);
    }
    options.progress.finish();
    let mut report = tally.finish(&plan, &mut out)?;
    convert::refuse_nothing_written(&report)?;
    report.warnings.extend(out.warnings().iter().cloned());
    if let Some(applied) = applied {
        report.warnings.extend(applied.warnings.iter().cloned());
        report.mapping = mapping;
    }
    if remade.is_some() {
        report.instances = instances;
    }
    out.publish()?;
    Ok(report)
}

/// Tells a shard archive which files the merge reads, in which order, so
/// that a `.tar.gz` (name-sorted, not in item order) is decompressed once,
/// keeping what it reads past: a first pass over the item log, holding the
/// shard's paths (a folder or zip ignores them).
fn announce_reads(source: &dyn Source) -> Result<()> {
    let mut paths = Vec::new();
    read_item_log(source, &mut |item| {
        paths.extend(item.paths);
        Ok(())
    })?;
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    source.announce_reads(&paths);
    Ok(())
}

/// Checks one logged item: after `next`, before `end`, its files listed
/// in the shard `source` (which leaves out links) outside [`SHARD_DIR`],
/// its classes in the catalog.
fn check_logged(
    item: &LoggedItem,
    next: usize,
    end: usize,
    classes: u32,
    source: &dyn Source,
) -> std::result::Result<(), String> {
    if item.index < next || item.index >= end {
        return Err(format!(
            "logs item {} outside the shard's items or out of order",
            item.index
        ));
    }
    let foreign = |p: &&String| p.starts_with(SHARD_DIR) || !source.contains(p);
    if let Some(path) = item.paths.iter().find(foreign) {
        return Err(format!(
            "logs '{path}' as an item's file, which is not one of the shard's"
        ));
    }
    if let Some(class) = (item.record.classes.iter()).find(|&&c| c == 0 || c > classes) {
        return Err(format!(
            "logs class id {class}, which the dataset does not have"
        ));
    }
    Ok(())
}

/// Adds a shard's `--map` rows (the same classes in the same order in every
/// shard) to those so far.
fn add_mapping(sum: &mut Vec<MappingRow>, rows: &[MappingRow]) {
    match sum.is_empty() {
        true => sum.extend(rows.iter().cloned()),
        false => (sum.iter_mut().zip(rows)).for_each(|(s, r)| s.pixels += r.pixels),
    }
}

/// Adds a shard's `--instances` rows to those so far (see [`add_mapping`]).
fn add_instances(sum: &mut Vec<InstancesRow>, rows: &[InstancesRow]) {
    match sum.is_empty() {
        true => sum.extend(rows.iter().cloned()),
        false => (sum.iter_mut().zip(rows)).for_each(|(s, r)| s.instances += r.instances),
    }
}

/// The parts sorted by shard, checked: one job (its input's path aside
/// when the merge is told where the input is now), each shard once.
fn in_order(mut parts: Vec<Part>, input_given: bool) -> Result<Vec<Part>> {
    let first = &parts[0];
    for part in &parts[1..] {
        let differs = differing(&first.manifest, &part.manifest, input_given);
        if let Some(what) = differs {
            return Err(Error::usage(format!(
                "{} is a shard of another conversion than {} (its {what} differs)",
                part.path.display(),
                first.path.display()
            )));
        }
    }
    parts.sort_by_key(|p| p.manifest.shard);
    if let Some(pair) = parts
        .windows(2)
        .find(|w| w[0].manifest.shard == w[1].manifest.shard)
    {
        return Err(Error::usage(format!(
            "shard {} is given twice: {} and {}",
            pair[0].manifest.shard(),
            pair[0].path.display(),
            pair[1].path.display()
        )));
    }
    let count = parts[0].manifest.shards;
    let missing: Vec<String> = (0..count)
        .filter(|k| !parts.iter().any(|p| p.manifest.shard == *k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::usage(format!(
            "{} of the {count} shards {} missing: {}",
            missing.len(),
            if missing.len() == 1 { "is" } else { "are" },
            missing.join(", ")
        )));
    }
    Ok(parts)
}

/// What about `other` says it is not a shard of `first`'s conversion.
fn differing(first: &Manifest, other: &Manifest, input_given: bool) -> Option<&'static str> {
    let (a, b) = (&first.job, &other.job);
    [
        (a.input != b.input && !input_given, "input"),
        (a.from != b.from || a.to != b.to, "format"),
        (
            a.options != b.options || a.compression != b.compression,
            "options",
        ),
        (
            a.map != b.map || a.unknown != b.unknown || a.instances != b.instances,
            "label mapping",
        ),
        (
            a.strict != b.strict || a.keep_going != b.keep_going,
            "--strict or --keep-going",
        ),
        (first.fingerprint != other.fingerprint, "input's content"),
        (first.shards != other.shards, "number of shards"),
    ]
    .into_iter()
    .find_map(|(differs, what)| differs.then_some(what))
}

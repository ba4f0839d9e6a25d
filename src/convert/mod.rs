//! `convert`: read a dataset, write it in another format. The writer is
//! planned from the metadata, the losses that follow from what it holds are
//! decided before any pixel is read, then every item is decoded, checked
//! against the writer's capabilities and encoded on the workers, and
//! accepted on the calling thread in item order (written, or skipped under
//! `--keep-going`); the writer finishes from the records the written items
//! left.

use crate::codec::Compression;
use crate::error::{Error, ErrorKind, Printable, Result};
use crate::formats;
use crate::formats::api::{Dataset, Encoded, Format, FormatInfo, Writer, Written};
use crate::formats::options::{Direction, FormatOptions};
use crate::io::{
    ConcurrentSink, Output, OutputOptions, Sink, Spill, refuse_output_holding_input_files,
};
use crate::losses::{self, Capabilities, Diagnostics, ItemVerdict, Loss, LossCode, LossLog};
use crate::mapping::{Instances, InstancesRow, Mapping, MappingRow};
use crate::model::{key_to_path, survey_keys};
use crate::open::{ignored_options, open_dataset};
use crate::pipeline::{RunOptions, for_each_ordered, worker_count};
use crate::report::{NoteList, Warning};
use crate::shard::{ItemLog, Job, Manifest, ShardChoice};
use serde::Serialize;
use std::ops::Range;
use std::path::Path;

mod shard;

/// Options of `convert`.
#[derive(Clone, Default)]
pub struct ConvertOptions<'a> {
    /// Threads and progress.
    pub run: RunOptions<'a>,
    /// Replace an existing OUTPUT.
    pub force: bool,
    /// Any loss is a failure.
    pub strict: bool,
    /// Skip items that fail instead of failing the run.
    pub keep_going: bool,
    /// PNG compression effort.
    pub compression: Compression,
    /// Format-specific options, for the reader and the writer.
    pub options: FormatOptions,
    /// The label mapping to apply between reader and writer (`--map`).
    pub mapping: Option<Mapping>,
    /// Instances remade after the mapping (`--instances`).
    pub instances: Option<Instances>,
    /// Convert only this part of the items, for a later `merge` (`--shard`).
    pub shard: Option<ShardChoice>,
}

/// An item left out of the output under `--keep-going`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Skipped {
    /// The item's key.
    pub key: String,
    /// The error that made it be skipped.
    pub error: String,
    /// The loss it is, when the target cannot hold the item (`too-many-segments`).
    pub loss: Option<LossCode>,
}

/// What `convert` did: the basis of the summary and of `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct ConvertReport {
    /// Source format name.
    pub from: &'static str,
    /// Target format name.
    pub to: &'static str,
    /// Items in the input.
    pub items: usize,
    /// Items written.
    pub written: usize,
    /// Items skipped under `--keep-going`.
    pub skipped: Vec<Skipped>,
    /// What the target could not hold.
    pub losses: NoteList,
    /// Everything else worth knowing.
    pub warnings: NoteList,
    /// The classes `--map` changed, with their pixels (empty without `--map`).
    pub mapping: Vec<MappingRow>,
    /// The instances per class `--instances` made (empty without it).
    pub instances: Vec<InstancesRow>,
    /// The part converted, under `--shard` (`items` is still the dataset's).
    pub shard: Option<ShardPart>,
}

/// The part of the items a shard converted.
#[derive(Debug, Clone, Serialize)]
pub struct ShardPart {
    /// Which shard, from 0.
    pub index: usize,
    /// Of how many.
    pub count: usize,
    /// The positions of its items: `first..end`.
    pub first: usize,
    /// See `first`.
    pub end: usize,
    /// What chose it: `--shard`, or the scheduler's variable.
    pub chosen_by: &'static str,
}

/// Converts INPUT to OUTPUT in format `to`. On success the output has been
/// published; on error nothing is at OUTPUT.
pub fn convert(
    input: &Path,
    output: &Path,
    from: Option<&str>,
    to: &str,
    options: &ConvertOptions,
) -> Result<ConvertReport> {
    let target = formats::find(to)?;
    refuse_unwritable(target.info())?;
    // Refuse a bad OUTPUT before reading anything; `create` checks again.
    Output::check(output, input, options.force)?;
    let dataset = open_dataset(input, from, &options.options)?;
    let (dataset, applied, remade) = prepare(dataset, target, options)?;
    refuse_output_holding_input_files(output, &dataset.folders_read_outside())?;
    let layout = output_layout(target, options);
    let mut out = Output::create_with(output, input, layout)?;
    let shard = (options.shard).map(|choice| {
        (
            choice,
            Job::new(input, dataset.format.name, target.info().name, options),
        )
    });
    let (mut report, shard_files) = run(&dataset, target, &mut out, options, shard)?;
    if shard_files.is_none() {
        // A shard's merge decides, for all the items.
        refuse_nothing_written(&report)?;
    }
    report.warnings.extend(out.warnings().iter().cloned());
    if let Some(applied) = applied {
        report.warnings.extend(applied.warnings.iter().cloned());
        report.mapping = applied.rows();
    }
    if let Some(remade) = remade {
        report.instances = remade.rows();
    }
    if let Some((manifest, log)) = shard_files {
        shard::write_shard_files(&mut out, &report, manifest, log)?;
    }
    out.publish()?;
    Ok(report)
}

/// A run that wrote nothing because every item failed is a failure:
/// nothing is published.
pub(crate) fn refuse_nothing_written(report: &ConvertReport) -> Result<()> {
    match (report.written, report.skipped.first()) {
        (0, Some(first)) => Err(Error::invalid_input(format!(
            "every item failed, so nothing was written ({} skipped; the first, '{}': {})",
            report.skipped.len(),
            first.key,
            first.error
        ))),
        _ => Ok(()),
    }
}

/// `dataset` with `--map` and `--instances` applied, and what they did.
pub(crate) fn prepare(
    dataset: Dataset,
    target: &dyn Format,
    options: &ConvertOptions,
) -> Result<(
    Dataset,
    Option<crate::mapping::Applied>,
    Option<crate::mapping::Remade>,
)> {
    let (dataset, applied) = match &options.mapping {
        Some(mapping) => {
            let (mapped, applied) =
                mapping.apply(dataset, target.info().capabilities.ignore_value)?;
            (mapped, Some(applied))
        }
        None => (dataset, None),
    };
    let (dataset, remade) = match options.instances {
        Some(instances) => instances.apply(dataset).map(|(d, r)| (d, Some(r)))?,
        None => (dataset, None),
    };
    Ok((dataset, applied, remade))
}

/// How OUTPUT is laid out for `target`. A shard's archive has no top
/// folder (its merge's has), so that its paths are the sink's.
pub(crate) fn output_layout(target: &dyn Format, options: &ConvertOptions) -> OutputOptions {
    OutputOptions {
        force: options.force,
        gzip_level: match options.compression {
            Compression::Fast => 1,
            Compression::Balanced => 6,
            Compression::High => 9,
        },
        archive_folder: target.info().archive_folder && options.shard.is_none(),
    }
}

pub(crate) fn refuse_unwritable(format: &FormatInfo) -> Result<()> {
    match format.can_write {
        true => Ok(()),
        false => Err(Error::usage(format!(
            "format '{}' cannot be written",
            format.name
        ))),
    }
}

/// Converts an opened dataset into any [`Sink`]: the library entry point
/// (a shard is converted from its input's path, by [`convert`]).
pub fn convert_dataset(
    dataset: &Dataset,
    target: &dyn Format,
    sink: &mut dyn Sink,
    options: &ConvertOptions,
) -> Result<ConvertReport> {
    if options.shard.is_some() {
        return Err(Error::usage(
            "a shard is converted from a path (convert), so that its merge can open the input again",
        ));
    }
    run(dataset, target, sink, options, None).map(|(report, _)| report)
}

/// Converts `dataset`, or a `shard` of it (with the job it is part of):
/// then the shard's manifest and item log are returned, for
/// [`shard::write_shard_files`].
fn run(
    dataset: &Dataset,
    target: &dyn Format,
    sink: &mut dyn Sink,
    options: &ConvertOptions,
    shard: Option<(ShardChoice, Job)>,
) -> Result<(ConvertReport, Option<(Manifest, ItemLog)>)> {
    let (plan, mut tally) = begin(dataset, target, sink, options)?;
    let range = match &shard {
        Some((choice, _)) => choice.shard.range(dataset.items.len()),
        None => 0..dataset.items.len(),
    };
    tally
        .warnings
        .extend(dataset.announce_reads(plan.caps.source_images, range.clone()));
    let before_items = tally.notes();
    if shard.is_some() {
        tally.log = Some(ItemLog::new(sink.scratch_dir()));
    }
    run_items(&plan, &mut tally, range, sink, options)?;
    match shard {
        Some((choice, job)) => {
            let manifest = Manifest::new(job, dataset, choice.shard);
            Ok(tally.finish_shard(&plan, manifest, choice, before_items))
        }
        None => tally.finish(&plan, sink).map(|report| (report, None)),
    }
}

/// Plans the writer, notes what the dataset as a whole loses, and writes
/// the writer's header files and folders: a conversion ready for its items.
pub(crate) fn begin<'a>(
    dataset: &'a Dataset,
    target: &dyn Format,
    sink: &mut dyn Sink,
    options: &ConvertOptions,
) -> Result<(Plan<'a>, Tally<'a>)> {
    let plan = Plan::new(dataset, target, options)?;
    let mut tally = Tally {
        losses: LossLog::new(options.strict),
        warnings: NoteList::default(),
        written: Written::new(&dataset.items, Spill::new(sink.scratch_dir())),
        skipped: Vec::new(),
        log: None,
    };
    tally.warnings.extend(dataset.warnings.iter().cloned());
    if dataset.items.is_empty() {
        tally.warnings.push(Warning::new(
            "empty-dataset",
            format!(
                "{}: holds no items; the output is an empty dataset",
                dataset.source().name()
            ),
        ));
    }
    let keys = survey_keys(dataset.items.iter().map(|i| i.key.as_str()));
    if let Some((first, second)) = keys.case_collision {
        let what = format!(
            "items '{}' and '{}' are files whose names differ only in letter case",
            Printable(first),
            Printable(second)
        );
        if sink.case_insensitive() {
            return Err(Error::invalid_input(format!(
                "{what}, which the output's disk does not tell apart; rename one, or write to a .zip"
            )));
        }
        tally.warnings.push(Warning::new(
            "case-collision",
            format!("{what}: a case-insensitive disk (macOS, Windows) cannot hold both"),
        ));
    }
    if let Some(example) = keys.first_escaped {
        tally.warnings.push(Warning::new(
            "keys-escaped",
            format!(
                "{} item keys cannot be file names as they are (e.g. '{}' is written as '{}'): their files are named with %XX escapes, which maskconv reads back to the keys",
                keys.escaped,
                Printable(example),
                key_to_path(example)
            ),
        ));
    }
    tally.warnings.extend(plan.ignored.iter().cloned());
    tally.losses.extend(dataset.losses.iter().cloned())?;
    tally.losses.extend(losses::before_pixels(
        &dataset.catalog,
        &dataset.items,
        &dataset.format.capabilities,
        &plan.caps,
        plan.target,
    ))?;
    tally.losses.extend(plan.planned.losses.iter().cloned())?;
    tally.warnings.extend(plan.planned.warnings.iter().cloned());
    for file in plan.writer.header() {
        sink.write_file(&file.path, &file.bytes)?;
    }
    for folder in plan.writer.folders() {
        sink.write_folder(&folder)?;
    }
    Ok((plan, tally))
}

/// Decodes, encodes and writes the items at positions `range`.
fn run_items(
    plan: &Plan,
    tally: &mut Tally,
    range: Range<usize>,
    sink: &mut dyn Sink,
    options: &ConvertOptions,
) -> Result<()> {
    // Into a folder with several workers, each writes its item's files
    // itself: creating files is kernel work the ordering thread would
    // otherwise do alone. With one worker, the ordering thread writing while
    // the worker decodes the next item is the better split.
    let concurrent = if worker_count(options.run, range.len()) > 1 {
        sink.concurrent()
    } else {
        None
    };
    let mut fatal: Option<Error> = None;
    let first = range.start;
    for_each_ordered(
        range.len(),
        options.run,
        |at| plan.work(first + at, concurrent.as_deref()),
        |at, result| match tally.accept(plan, first + at, result, sink) {
            Ok(()) => true,
            Err(e) => {
                fatal = Some(e);
                false
            }
        },
    );
    match fatal {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What the workers share: the dataset, the configured writer and what it holds.
pub(crate) struct Plan<'a> {
    dataset: &'a Dataset,
    writer: Box<dyn Writer + 'a>,
    caps: Capabilities,
    target: &'static str,
    /// What planning the writer found.
    planned: Diagnostics,
    /// Writing options the target does not use.
    ignored: Vec<Warning>,
    keep_going: bool,
}

/// What becomes of one item, worked out on a worker.
enum Outcome {
    /// Encoded, with its losses; the paths of its files already written
    /// (when the sink is concurrent), the others still in `Encoded`.
    Written(Encoded, Vec<Loss>, Vec<String>),
    /// Not written: the target cannot hold it, and that is the loss.
    LeftOut(Loss),
    /// Cannot be written: the run fails, or the item is skipped.
    Refused(Loss),
}

impl<'a> Plan<'a> {
    fn new(dataset: &'a Dataset, target: &dyn Format, options: &ConvertOptions) -> Result<Self> {
        let info = target.info();
        refuse_unwritable(info)?;
        let mut planned = Diagnostics::default();
        let writer = target
            .writer(dataset, &options.options, options.compression, &mut planned)
            .map_err(|e| e.in_format(info.name))?;
        Ok(Plan {
            dataset,
            caps: writer.capabilities(),
            writer,
            target: info.name,
            planned,
            ignored: ignored_options(&options.options, Direction::Write, info),
            keep_going: options.keep_going,
        })
    }

    /// Decodes, checks and encodes item `index`.
    fn work(
        &self,
        index: usize,
        concurrent: Option<&dyn ConcurrentSink>,
    ) -> Result<(Outcome, Vec<Warning>)> {
        let item = &self.dataset.items[index];
        let mut read = Diagnostics::default();
        let map = self.dataset.decode(index, &mut read)?;
        let mut warnings = read.warnings;
        let mut item_losses = match losses::for_item(item, map.as_ref(), &self.caps, self.target) {
            ItemVerdict::Write(mut losses) => {
                losses.append(&mut read.losses);
                losses
            }
            ItemVerdict::LeaveOut(loss) => return Ok((Outcome::LeftOut(loss), warnings)),
            ItemVerdict::Refuse(loss) => return Ok((Outcome::Refused(loss), warnings)),
        };
        let image = match (self.caps.source_images, &item.image) {
            (true, Some(_)) => self.dataset.read_image(index)?,
            _ => None,
        };
        let mut found = Diagnostics::default();
        let mut encoded = self
            .writer
            .encode(item, map.as_ref(), image.as_deref(), &mut found)?;
        item_losses.append(&mut found.losses);
        warnings.append(&mut found.warnings);
        let mut written = Vec::new();
        if let Some(out) = concurrent {
            for file in encoded.files.drain(..) {
                out.write_file(&file.path, &file.bytes)?;
                written.push(file.path);
            }
        }
        Ok((Outcome::Written(encoded, item_losses, written), warnings))
    }
}

/// What the calling thread gathers, in item order.
pub(crate) struct Tally<'a> {
    losses: LossLog,
    warnings: NoteList,
    pub(crate) written: Written<'a>,
    pub(crate) skipped: Vec<Skipped>,
    /// A shard's log of its written items (for its merge), instead of `written`.
    log: Option<ItemLog>,
}

impl Tally<'_> {
    /// Takes item `index`'s outcome: writes it, or skips it under
    /// `--keep-going`; an error ends the run.
    fn accept(
        &mut self,
        plan: &Plan,
        index: usize,
        result: Result<(Outcome, Vec<Warning>)>,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let key = &plan.dataset.items[index].key;
        let (outcome, warnings) = match result {
            Ok(done) => done,
            // Output errors are fatal, and so is a loss under --strict.
            Err(e) if plan.keep_going && !matches!(e.kind, ErrorKind::Output | ErrorKind::Loss) => {
                self.skip(key, e.to_string(), None);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.warnings.extend(warnings);
        match outcome {
            Outcome::Written(encoded, losses, mut paths) => {
                self.losses.extend(losses)?;
                for file in &encoded.files {
                    sink.write_file(&file.path, &file.bytes)?;
                }
                match &mut self.log {
                    Some(log) => {
                        paths.extend(encoded.files.into_iter().map(|f| f.path));
                        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
                        log.push(index, &paths, &encoded.record)
                    }
                    None => self.written.push(index, &encoded.record),
                }
                .map_err(records_error)
            }
            Outcome::LeftOut(loss) => self.losses.push(loss),
            Outcome::Refused(loss) if plan.keep_going => {
                self.losses.allow(&loss)?;
                self.skip(key, loss.message, Some(loss.code));
                Ok(())
            }
            Outcome::Refused(loss) => Err(Error::invalid_input(loss.message)),
        }
    }

    fn skip(&mut self, key: &str, error: String, loss: Option<LossCode>) {
        self.skipped.push(Skipped {
            key: key.to_string(),
            error,
            loss,
        });
    }

    /// The losses and warnings so far.
    pub(crate) fn notes(&self) -> (NoteList, NoteList) {
        (self.losses.list().clone(), self.warnings.clone())
    }

    /// Adds notes found elsewhere (a shard's items'): losses, warnings.
    pub(crate) fn absorb(
        &mut self,
        losses: &[crate::report::SavedNotes],
        warnings: &[crate::report::SavedNotes],
    ) {
        self.losses.absorb(losses);
        self.warnings.absorb_saved(warnings);
    }

    /// Lets the writer write what depends on the written items.
    pub(crate) fn finish(mut self, plan: &Plan, sink: &mut dyn Sink) -> Result<ConvertReport> {
        self.written.seal().map_err(records_error)?;
        let mut found = Diagnostics::default();
        plan.writer.finish(&self.written, sink, &mut found)?;
        self.losses.extend(found.losses)?;
        self.warnings.extend(found.warnings);
        Ok(ConvertReport {
            from: plan.dataset.format.name,
            to: plan.target,
            items: plan.dataset.items.len(),
            written: self.written.len(),
            skipped: self.skipped,
            losses: self.losses.into_list(),
            warnings: self.warnings,
            mapping: Vec::new(),
            instances: Vec::new(),
            shard: None,
        })
    }
}

/// The error for the records of written items that could not be kept or read.
pub(crate) fn records_error(e: std::io::Error) -> Error {
    Error::output("the records of written items", e.to_string())
}

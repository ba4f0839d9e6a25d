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
use serde::Serialize;
use std::path::Path;

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
}

/// An item left out of the output under `--keep-going`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    refuse_output_holding_input_files(output, &dataset.folders_read_outside())?;
    let layout = OutputOptions {
        force: options.force,
        gzip_level: match options.compression {
            Compression::Fast => 1,
            Compression::Balanced => 6,
            Compression::High => 9,
        },
        archive_folder: target.info().archive_folder,
    };
    let mut out = Output::create_with(output, input, layout)?;
    let mut report = convert_dataset(&dataset, target, &mut out, options)?;
    if report.written == 0 && !report.skipped.is_empty() {
        // Nothing to publish: a run that wrote nothing failed.
        let first = &report.skipped[0];
        return Err(Error::invalid_input(format!(
            "every item failed, so nothing was written ({} skipped; the first, '{}': {})",
            report.skipped.len(),
            first.key,
            first.error
        )));
    }
    report.warnings.extend(out.warnings().iter().cloned());
    if let Some(applied) = applied {
        report.warnings.extend(applied.warnings.iter().cloned());
        report.mapping = applied.rows();
    }
    if let Some(remade) = remade {
        report.instances = remade.rows();
    }
    out.publish()?;
    Ok(report)
}

fn refuse_unwritable(format: &FormatInfo) -> Result<()> {
    match format.can_write {
        true => Ok(()),
        false => Err(Error::usage(format!(
            "format '{}' cannot be written",
            format.name
        ))),
    }
}

/// Converts an opened dataset into any [`Sink`]: the library entry point.
pub fn convert_dataset(
    dataset: &Dataset,
    target: &dyn Format,
    sink: &mut dyn Sink,
    options: &ConvertOptions,
) -> Result<ConvertReport> {
    let plan = Plan::new(dataset, target, options)?;
    let mut tally = Tally {
        losses: LossLog::new(options.strict),
        warnings: NoteList::default(),
        written: Written::new(&dataset.items, Spill::new(sink.scratch_dir())),
        skipped: Vec::new(),
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
    tally
        .warnings
        .extend(dataset.announce_reads(plan.caps.source_images));

    // Into a folder with several workers, each writes its item's files
    // itself: creating files is kernel work the ordering thread would
    // otherwise do alone. With one worker, the ordering thread writing while
    // the worker decodes the next item is the better split.
    let concurrent = if worker_count(options.run, dataset.items.len()) > 1 {
        sink.concurrent()
    } else {
        None
    };
    let mut fatal: Option<Error> = None;
    for_each_ordered(
        dataset.items.len(),
        options.run,
        |index| plan.work(index, concurrent.as_deref()),
        |index, result| match tally.accept(&plan, index, result, sink) {
            Ok(()) => true,
            Err(e) => {
                fatal = Some(e);
                false
            }
        },
    );
    if let Some(e) = fatal {
        return Err(e);
    }
    tally.finish(&plan, sink)
}

/// What the workers share: the dataset, the configured writer and what it holds.
struct Plan<'a> {
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
    /// Encoded (its files already written when the sink is concurrent), with its losses.
    Written(Encoded, Vec<Loss>),
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
        if let Some(out) = concurrent {
            for file in encoded.files.drain(..) {
                out.write_file(&file.path, &file.bytes)?;
            }
        }
        Ok((Outcome::Written(encoded, item_losses), warnings))
    }
}

/// What the calling thread gathers, in item order.
struct Tally<'a> {
    losses: LossLog,
    warnings: NoteList,
    written: Written<'a>,
    skipped: Vec<Skipped>,
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
            Outcome::Written(encoded, losses) => {
                self.losses.extend(losses)?;
                for file in &encoded.files {
                    sink.write_file(&file.path, &file.bytes)?;
                }
                self.written
                    .push(index, &encoded.record)
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

    /// Lets the writer write what depends on the written items.
    fn finish(mut self, plan: &Plan, sink: &mut dyn Sink) -> Result<ConvertReport> {
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
        })
    }
}

/// The error for the records of written items that could not be kept or read.
fn records_error(e: std::io::Error) -> Error {
    Error::output("the records of written items", e.to_string())
}

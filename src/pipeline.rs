//! The conversion engine: plan → per-item decode → remap → encode → ordered
//! write, on a rayon pool. Items are claimed in order by the workers and their
//! results are written in item order by the calling thread; at most a small
//! window of items is in flight, so memory is bounded by the number of
//! workers, not by the dataset, and the output bytes do not depend on the
//! thread count. Also runs `inspect` (statistics) and `validate` (every
//! problem) on the same engine.

use crate::error::{Error, ErrorKind, Result};
use crate::formats::{self, Dataset, Format, ReadOptions, WriteOptions};
use crate::io::{Output, Sink, open_source};
use crate::model::Item;
use crate::report::{Note, NoteList, Skipped};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

/// Told about progress, one item at a time (the CLI draws a bar with it).
pub trait Progress: Sync {
    /// The number of items about to be processed.
    fn start(&self, _total: u64) {}
    /// One more item done.
    fn advance(&self) {}
    /// All done (or stopped).
    fn finish(&self) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How a run behaves.
#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    /// Worker threads; `None` = one per core.
    pub threads: Option<usize>,
    /// Progress receiver.
    pub progress: &'a dyn Progress,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            threads: None,
            progress: &NoProgress,
        }
    }
}

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
    /// How the input is read (format-specific options).
    pub read: ReadOptions,
    /// How the output is written (compression, format-specific options).
    pub write: WriteOptions,
}

/// Opens INPUT as `from` (or the format it is detected as), with default
/// reading options.
pub fn open_dataset(input: &Path, from: Option<&str>) -> Result<Dataset> {
    open_dataset_with(input, from, &ReadOptions::default())
}

/// Opens INPUT as `from` (or the format it is detected as). Options the
/// format does not use are reported as warnings (`option-ignored`).
pub fn open_dataset_with(
    input: &Path,
    from: Option<&str>,
    options: &ReadOptions,
) -> Result<Dataset> {
    let source = open_source(input)?;
    let format = match from {
        Some(name) => formats::find(name)?,
        None => formats::detect(&*source)?,
    };
    if !format.info().can_read {
        return Err(Error::usage(format!(
            "format '{}' cannot be read",
            format.info().name
        )));
    }
    let mut dataset = format.open(source, options)?;
    for option in options.unused_by(format.info()) {
        dataset.warnings.push(ignored_option(option, format.info()));
    }
    Ok(dataset)
}

fn ignored_option(option: &str, format: &formats::FormatInfo) -> Note {
    Note::new(
        "option-ignored",
        format!("{option} does not apply to {} and is ignored", format.name),
    )
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
    if !target.info().can_write {
        return Err(Error::usage(format!(
            "format '{}' cannot be written",
            target.info().name
        )));
    }
    // Refuse a bad OUTPUT before reading anything; `create` checks again.
    Output::check(output, input, options.force)?;
    let dataset = open_dataset_with(input, from, &options.read)?;
    crate::io::check_output_spares(output, &dataset.local_files())?;
    let mut out = Output::create(output, input, options.force)?;
    let report = convert_dataset(&dataset, target, &mut out, options)?;
    out.publish()?;
    Ok(report)
}

/// Converts an opened dataset into any [`Sink`]: the library entry point.
pub fn convert_dataset(
    dataset: &Dataset,
    target: &dyn Format,
    sink: &mut dyn Sink,
    options: &ConvertOptions,
) -> Result<ConvertReport> {
    let info = target.info();
    let mut writer = target.writer(&options.write)?;
    let mut warnings = NoteList::default();
    warnings.extend(dataset.warnings.iter().cloned());
    warnings.extend(
        options
            .write
            .unused_by(info)
            .into_iter()
            .map(|option| ignored_option(option, info)),
    );
    let mut losses_found = dataset.losses.clone();
    losses_found.extend(formats::declared_losses(dataset, info));
    let mut writer_warnings = Vec::new();
    let first_files = writer.begin(dataset, &mut losses_found, &mut writer_warnings)?;
    warnings.extend(writer_warnings);
    if options.strict
        && let Some(loss) = losses_found.first()
    {
        return Err(strict_failure(loss));
    }
    let mut losses = NoteList::default();
    losses.extend(losses_found);
    for file in &first_files {
        sink.write_file(&file.path, &file.bytes)?;
    }

    let wants_images = info.holds.source_images;
    warnings.extend(dataset.plan(wants_images));
    let keeps_segment_attributes = info.holds.segment_attributes;
    // Into a folder with several workers, each writes its item's files
    // itself: creating files is kernel work the ordering thread would
    // otherwise do alone. With one worker, the ordering thread writing while
    // the worker decodes the next item is the better split.
    let concurrent = if worker_count(options.run, dataset.items.len()) > 1 {
        sink.concurrent()
    } else {
        None
    };
    type Encoded = (Option<Vec<formats::OutputFile>>, Vec<Note>, Vec<Note>);
    let work = |index: usize| -> Result<Encoded> {
        let item = &dataset.items[index];
        let mut notes = Vec::new();
        let map = dataset.decode(index, &mut notes)?;
        let mut item_losses = Vec::new();
        if let Some(map) = &map
            && !keeps_segment_attributes
            && map.segments().iter().any(|s| !s.attributes.is_empty())
        {
            item_losses.push(Note::new(
                "segment-attributes",
                format!(
                    "item '{}': {} cannot hold segment attributes; they are dropped",
                    item.key, info.name
                ),
            ));
        }
        let image = match (wants_images, &item.image) {
            (true, Some(_)) => dataset.read_image(index)?,
            _ => None,
        };
        let mut files = writer.encode(item, map.as_ref(), image.as_deref(), &mut item_losses)?;
        if options.strict
            && let Some(loss) = item_losses.first()
        {
            return Err(strict_failure(loss));
        }
        if let (Some(out), Some(item_files)) = (&concurrent, &mut files) {
            for file in item_files.drain(..) {
                out.write_file(&file.path, &file.bytes)?;
            }
        }
        Ok((files, notes, item_losses))
    };

    let mut written: Vec<&Item> = Vec::with_capacity(dataset.items.len());
    let mut skipped = Vec::new();
    let mut fatal: Option<Error> = None;
    for_each_ordered(dataset.items.len(), options.run, work, |index, result| {
        let item = &dataset.items[index];
        match result {
            Ok((files, notes, item_losses)) => {
                warnings.extend(notes);
                losses.extend(item_losses);
                // `None`: the target cannot hold the item (a loss says why).
                let Some(files) = files else { return true };
                for file in &files {
                    if let Err(e) = sink.write_file(&file.path, &file.bytes) {
                        fatal = Some(e);
                        return false;
                    }
                }
                written.push(item);
                true
            }
            // Output errors are fatal, and under --strict so is any loss.
            Err(e)
                if options.keep_going && !matches!(e.kind, ErrorKind::Output | ErrorKind::Loss) =>
            {
                skipped.push(Skipped {
                    key: item.key.clone(),
                    error: e.to_string(),
                });
                true
            }
            Err(e) => {
                fatal = Some(e);
                false
            }
        }
    });
    if let Some(e) = fatal {
        return Err(e);
    }
    let mut final_losses = Vec::new();
    let last_files = writer.finish(&written, &mut final_losses)?;
    if options.strict
        && let Some(loss) = final_losses.first()
    {
        return Err(strict_failure(loss));
    }
    losses.extend(final_losses);
    for file in last_files {
        sink.write_file(&file.path, &file.bytes)?;
    }
    Ok(ConvertReport {
        from: dataset.format.name,
        to: info.name,
        items: dataset.items.len(),
        written: written.len(),
        skipped,
        losses,
        warnings,
    })
}

fn strict_failure(loss: &Note) -> Error {
    Error::loss(format!(
        "{} [loss '{}'; --strict forbids losses]",
        loss.message, loss.code
    ))
}

/// Per-class totals for `inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClassStats {
    /// Pixels of this class over the dataset.
    pub pixels: u64,
    /// Items in which the class has at least one pixel.
    pub images: u64,
    /// Distinct instances (per item, counted over the dataset).
    pub instances: u64,
}

/// What `inspect` measures.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// Stats per class, indexed by class id − 1.
    pub classes: Vec<ClassStats>,
    /// Pixels with no class.
    pub unlabeled_pixels: u64,
    /// Item count per `(width, height)`.
    pub sizes: BTreeMap<(u32, u32), u64>,
    /// Item count per subset (`None`: no subset).
    pub subsets: BTreeMap<Option<String>, u64>,
    /// Items that have no mask.
    pub items_without_mask: u64,
    /// Warnings from reading.
    pub warnings: NoteList,
    /// Per item, when asked for ([`inspect_items`]): in item order.
    pub per_item: Option<Vec<ItemInspection>>,
}

/// What `inspect --per-item` measures of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemInspection {
    /// The item's key.
    pub key: String,
    /// Its subset, if any.
    pub subset: Option<String>,
    /// `[width, height]`; `None` when the item has no mask.
    pub size: Option<(u32, u32)>,
    /// Pixels with no class.
    pub unlabeled: u64,
    /// Per class shown: name → (pixels, distinct instances).
    pub classes: BTreeMap<String, (u64, u64)>,
}

/// Decodes every mask and totals pixels, images and instances per class.
/// The first undecodable item is an error.
pub fn inspect(dataset: &Dataset, run: RunOptions) -> Result<Inspection> {
    inspect_items(dataset, run, false)
}

/// [`inspect`], also keeping every item's own statistics when `per_item`.
pub fn inspect_items(dataset: &Dataset, run: RunOptions, per_item: bool) -> Result<Inspection> {
    let mut per_item = per_item.then(|| Vec::with_capacity(dataset.items.len()));
    let mut stats = Inspection {
        classes: vec![ClassStats::default(); dataset.catalog.len()],
        ..Inspection::default()
    };
    stats.warnings.extend(dataset.warnings.iter().cloned());
    stats.warnings.extend(dataset.losses.iter().cloned());
    stats.warnings.extend(dataset.plan(false));
    for item in &dataset.items {
        *stats.subsets.entry(item.subset.clone()).or_default() += 1;
    }
    let work = |index: usize| -> Result<(Option<ItemStats>, Vec<Note>)> {
        let mut notes = Vec::new();
        let map = dataset.decode(index, &mut notes)?;
        let item_stats = map.map(|map| {
            let counts = map.pixel_counts();
            let mut per_class: BTreeMap<u32, (u64, std::collections::BTreeSet<u32>)> =
                BTreeMap::new();
            for (segment, &pixels) in map.segments().iter().zip(&counts[1..]) {
                if pixels == 0 {
                    continue;
                }
                let entry = per_class.entry(segment.class).or_default();
                entry.0 += pixels;
                if let Some(instance) = segment.instance {
                    entry.1.insert(instance);
                }
            }
            ItemStats {
                size: (map.width(), map.height()),
                unlabeled: counts[0],
                per_class: per_class
                    .into_iter()
                    .map(|(c, (p, i))| (c, p, i.len() as u64))
                    .collect(),
            }
        });
        Ok((item_stats, notes))
    };
    let mut failure = None;
    for_each_ordered(
        dataset.items.len(),
        run,
        work,
        |index, result| match result {
            Ok((item_stats, notes)) => {
                stats.warnings.extend(notes);
                if let Some(list) = &mut per_item {
                    let item = &dataset.items[index];
                    list.push(ItemInspection {
                        key: item.key.clone(),
                        subset: item.subset.clone(),
                        size: item_stats.as_ref().map(|s| s.size),
                        unlabeled: item_stats.as_ref().map_or(0, |s| s.unlabeled),
                        classes: item_stats
                            .iter()
                            .flat_map(|s| &s.per_class)
                            .map(|&(class, pixels, instances)| {
                                (dataset.catalog.get(class).name.clone(), (pixels, instances))
                            })
                            .collect(),
                    });
                }
                match item_stats {
                    None => stats.items_without_mask += 1,
                    Some(s) => {
                        *stats.sizes.entry(s.size).or_default() += 1;
                        stats.unlabeled_pixels += s.unlabeled;
                        for (class, pixels, instances) in s.per_class {
                            let c = &mut stats.classes[class as usize - 1];
                            c.pixels += pixels;
                            c.images += 1;
                            c.instances += instances;
                        }
                    }
                }
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        },
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(Inspection { per_item, ..stats }),
    }
}

struct ItemStats {
    size: (u32, u32),
    unlabeled: u64,
    per_class: Vec<(u32, u64, u64)>,
}

/// One problem `validate` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The item concerned, if the problem is one item's.
    pub item: Option<String>,
    /// What is wrong (names the file).
    pub error: String,
}

/// What `validate` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Validation {
    /// Items checked.
    pub items: usize,
    /// Every problem, in item order.
    pub problems: Vec<Problem>,
    /// Warnings.
    pub warnings: NoteList,
}

/// Decodes every mask and lists every problem (it does not stop at the first).
pub fn validate(dataset: &Dataset, run: RunOptions) -> Validation {
    let mut validation = Validation {
        items: dataset.items.len(),
        ..Validation::default()
    };
    validation.warnings.extend(dataset.warnings.iter().cloned());
    validation.warnings.extend(dataset.losses.iter().cloned());
    validation.warnings.extend(dataset.plan(false));
    let work = |index: usize| {
        let mut notes = Vec::new();
        dataset.decode(index, &mut notes).map(|_| notes)
    };
    for_each_ordered(dataset.items.len(), run, work, |index, result| {
        match result {
            Ok(notes) => validation.warnings.extend(notes),
            Err(e) => validation.problems.push(Problem {
                item: Some(dataset.items[index].key.clone()),
                error: e.to_string(),
            }),
        }
        true
    });
    validation
}

/// The most worker threads a run uses, whatever `-j` asks for.
pub const MAX_THREADS: usize = 256;

/// What the workers and the consumer share: how many results have been
/// consumed and whether the run is stopping, under one lock so that no
/// wake-up is missed.
struct Gate {
    state: Mutex<(usize, bool)>,
    room: Condvar,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until item `index` is within `window` of the consumer; false if stopping.
    fn wait_for_room(&self, index: usize, window: usize) -> bool {
        let mut state = self.lock();
        while index >= state.0 + window && !state.1 {
            state = self
                .room
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        !state.1
    }

    fn set_consumed(&self, consumed: usize) {
        self.lock().0 = consumed;
        self.room.notify_all();
    }

    fn stop(&self) {
        self.lock().1 = true;
        self.room.notify_all();
    }

    fn stopped(&self) -> bool {
        self.lock().1
    }
}

/// Stops the run when dropped during a panic, so that no worker waits
/// forever and the panic reaches the caller.
struct StopOnPanic<'a>(&'a Gate);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// How many workers [`for_each_ordered`] runs for `count` items.
fn worker_count(run: RunOptions, count: usize) -> usize {
    run.threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, MAX_THREADS)
        .min(count.max(1))
}

/// Runs `work(i)` for `i in 0..count` on a pool of `run.threads` workers and
/// hands each result to `consume` on the calling thread, in index order.
/// `consume` returning `false` stops the run (items in flight are dropped).
/// Workers claim indices in order and wait while more than a few results are
/// waiting to be consumed, so memory stays bounded. A panic in `work` or
/// `consume` stops the run and is passed on to the caller.
pub fn for_each_ordered<T, W, C>(count: usize, run: RunOptions, work: W, mut consume: C)
where
    T: Send,
    W: Fn(usize) -> T + Sync,
    C: FnMut(usize, T) -> bool,
{
    let threads = worker_count(run, count);
    let window = threads * 2;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("maskconv-{i}"))
        .build()
        .expect("a thread pool can be built");
    let next = AtomicUsize::new(0);
    let gate = Gate {
        state: Mutex::new((0, false)),
        room: Condvar::new(),
    };
    let (sender, receiver) = mpsc::channel::<(usize, T)>();
    run.progress.start(count as u64);
    pool.in_place_scope(|scope| {
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, gate, work) = (&next, &gate, &work);
            scope.spawn(move |_| {
                let _stop_on_panic = StopOnPanic(gate);
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= count || !gate.wait_for_room(index, window) {
                        break;
                    }
                    if sender.send((index, work(index))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let _stop_on_panic = StopOnPanic(&gate);
        let mut pending: BTreeMap<usize, T> = BTreeMap::new();
        let mut expected = 0usize;
        for (index, result) in receiver {
            if gate.stopped() {
                continue; // drain what workers still send
            }
            pending.insert(index, result);
            while let Some(result) = pending.remove(&expected) {
                let go_on = consume(expected, result);
                expected += 1;
                run.progress.advance();
                if !go_on {
                    pending.clear();
                    gate.stop();
                    break;
                }
                gate.set_consumed(expected);
            }
        }
    });
    run.progress.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_order_whatever_the_thread_count() {
        for threads in [1, 2, 4] {
            let mut seen = Vec::new();
            let run = RunOptions {
                threads: Some(threads),
                ..RunOptions::default()
            };
            for_each_ordered(
                50,
                run,
                |i| {
                    std::thread::sleep(std::time::Duration::from_micros(
                        ((i * 7919) % 13) as u64 * 50,
                    ));
                    i * 10
                },
                |i, r| {
                    seen.push((i, r));
                    true
                },
            );
            assert_eq!(seen, (0..50).map(|i| (i, i * 10)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_panicking_item_ends_the_run_instead_of_hanging_it() {
        for _ in 0..20 {
            let run = RunOptions {
                threads: Some(2),
                ..RunOptions::default()
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for_each_ordered(
                    1000,
                    run,
                    |i| {
                        assert!(i != 5, "item 5 is broken");
                        i
                    },
                    |_, _| true,
                )
            }));
            assert!(outcome.is_err());
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for_each_ordered(
                    1000,
                    run,
                    |i| i,
                    |i, _| {
                        assert!(i != 7, "consumer fails at 7");
                        true
                    },
                )
            }));
            assert!(outcome.is_err());
        }
    }

    #[test]
    fn stopping_ends_the_run_early() {
        for _ in 0..50 {
            assert_stops_early();
        }
    }

    fn assert_stops_early() {
        let done = AtomicUsize::new(0);
        let mut consumed = 0;
        let run = RunOptions {
            threads: Some(2),
            ..RunOptions::default()
        };
        for_each_ordered(
            10_000,
            run,
            |_| done.fetch_add(1, Ordering::SeqCst),
            |i, _| {
                consumed += 1;
                i < 3
            },
        );
        assert_eq!(consumed, 4);
        assert!(done.load(Ordering::SeqCst) < 100, "workers kept going");
    }
}

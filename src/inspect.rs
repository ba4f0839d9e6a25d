//! `inspect`: decode every mask and total pixels, images and instances per
//! class (and, when asked, per item).

use crate::error::Result;
use crate::formats::api::Dataset;
use crate::losses::Diagnostics;
use crate::pipeline::{RunOptions, for_each_ordered};
use crate::report::{NoteList, Warning};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Per item, when asked for ([`InspectOptions::per_item`]): in item order.
    pub per_item: Option<Vec<ItemInspection>>,
    /// The classes `--map` changed, with their pixels (`None`: no `--map`).
    pub mapping: Option<Vec<crate::mapping::MappingRow>>,
    /// The instances per class `--instances` made (`None`: no `--instances`).
    pub instances: Option<Vec<crate::mapping::InstancesRow>>,
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

/// What `inspect` measures beyond the dataset totals.
#[derive(Debug, Clone, Copy, Default)]
pub struct InspectOptions {
    /// Also every item's own statistics ([`Inspection::per_item`]).
    pub per_item: bool,
}

/// Decodes every mask and totals pixels, images and instances per class.
/// The first undecodable item is an error.
pub fn inspect(dataset: &Dataset, run: RunOptions, options: InspectOptions) -> Result<Inspection> {
    let mut per_item = options
        .per_item
        .then(|| Vec::with_capacity(dataset.items.len()));
    let mut stats = Inspection {
        classes: vec![ClassStats::default(); dataset.catalog.len()],
        ..Inspection::default()
    };
    stats.warnings = dataset_warnings(dataset);
    for item in &dataset.items {
        *stats.subsets.entry(item.subset.clone()).or_default() += 1;
    }
    let work = |index: usize| -> Result<(Option<ItemStats>, Vec<Warning>)> {
        let mut found = Diagnostics::default();
        let map = dataset.decode(index, &mut found)?;
        let notes = found.into_warnings();
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

/// What reading found before any mask is decoded, as warnings: the
/// dataset's warnings, its reading losses, and the archive-order warning.
pub fn dataset_warnings(dataset: &Dataset) -> NoteList {
    let mut list = NoteList::default();
    list.extend(dataset.warnings.iter().cloned());
    for loss in &dataset.losses {
        list.add(loss.code.as_str(), loss.message.clone());
    }
    list.extend(dataset.announce_reads(false, 0..dataset.items.len()));
    list
}

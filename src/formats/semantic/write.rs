//! Writing: one index mask per item, its source image beside it, and the
//! class tables (`classes.json`, and the layout's own) planned from the
//! catalog and written first.

use super::tables::{ClassTable, TableClass, classes_json, data_yaml, dataset_meta};
use super::{
    BACKGROUND, CLASSES, DATA_YAML, DATASET_META, DEFAULT_SUBSET, IGNORE_8, IGNORE_16, INFO,
    LAYOUT, Layout, UNLABELED, flat_name,
};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, Encoded, OutputFile, Writer, Written};
use crate::formats::colors::distinct_rgb8;
use crate::formats::common::source_image;
use crate::formats::options::FormatOptions;
use crate::io::Sink;
use crate::losses::{Capabilities, Diagnostics};
use crate::model::{Catalog, ClassKind, ClassNumber, Item, LabelMap, key_to_path};
use crate::remap::paint_row;
use std::collections::{BTreeSet, HashMap};

/// Writes semantic index masks.
pub(super) struct SemanticWriter {
    compression: Compression,
    layout: Layout,
    table: ClassTable,
    /// The value of each class, by class id (index 0: unlabeled pixels').
    values: Vec<u32>,
    /// 16-bit masks (more than 255 values).
    sixteen: bool,
    /// The subsets written (`default` for items without one).
    subsets: Vec<String>,
    /// A datumaro dataset without subsets: no subset folders.
    flat: bool,
}

impl SemanticWriter {
    /// Plans the values: classes 0..N−1 in catalog order (1..N after
    /// `background`), 8 bits when they fit.
    pub(super) fn new(
        dataset: &Dataset,
        options: &FormatOptions,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Self> {
        let layout = match options.value(LAYOUT.name) {
            Some(value) => Layout::parse(value).map_err(Error::usage)?,
            None => Layout::Mmseg,
        };
        let background = options.value(UNLABELED.name) == Some("background");
        let catalog = &dataset.catalog;
        if background && catalog.find(BACKGROUND).is_some() {
            return Err(Error::usage(format!(
                "the dataset has a class named '{BACKGROUND}', and --unlabeled background would add another; rename it (or leave out --unlabeled background)"
            )));
        }
        let planned = plan_values(catalog, background)?;
        let widest = planned.iter().flatten().max().copied().unwrap_or(0);
        let sixteen = widest >= IGNORE_8;
        if widest >= IGNORE_16 {
            return Err(Error::usage(format!(
                "class id {widest} does not fit a 16-bit mask (65535 is the ignore value)"
            )));
        }
        let ignore = if sixteen { IGNORE_16 } else { IGNORE_8 };
        if sixteen {
            out.warn(
                "sixteen-bit-masks",
                format!("class ids up to {widest} are more than an 8-bit mask holds: masks are 16-bit gray with 65535 as the ignore value, which most training loaders do not expect"),
            );
        }
        let palette = distinct_rgb8(catalog, &mut out.warnings);
        let mut classes = Vec::with_capacity(catalog.len() + 1);
        if background {
            classes.push(TableClass {
                value: 0,
                name: BACKGROUND.into(),
                color: Some([0, 0, 0]),
                thing: false,
            });
        }
        for ((id, class), value) in catalog.iter().zip(&planned) {
            if let Some(value) = *value {
                classes.push(TableClass {
                    value,
                    name: class.name.clone(),
                    color: Some(palette[id as usize]),
                    thing: class.kind == ClassKind::Thing,
                });
            }
        }
        classes.sort_by_key(|c| c.value);
        let unlabeled = background.then_some(0);
        let values = std::iter::once(unlabeled.unwrap_or(ignore))
            .chain(planned.iter().map(|v| v.unwrap_or(ignore)))
            .collect();
        let subsets: BTreeSet<String> = dataset
            .items
            .iter()
            .map(|i| {
                i.subset
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SUBSET.to_string())
            })
            .collect();
        let flat = layout == Layout::Datumaro && dataset.items.iter().all(|i| i.subset.is_none());
        Ok(SemanticWriter {
            compression,
            layout,
            table: ClassTable {
                classes,
                ignore,
                unlabeled,
            },
            values,
            sixteen,
            subsets: subsets
                .into_iter()
                .map(|s| key_to_path(&s).into_owned())
                .collect(),
            flat,
        })
    }

    /// The subset folder `item` goes in (`None`: a flat datumaro dataset).
    fn subset_of(&self, item: &Item) -> Option<String> {
        (!self.flat)
            .then(|| key_to_path(item.subset.as_deref().unwrap_or(DEFAULT_SUBSET)).into_owned())
    }
}

/// Each class's value (`None`: the ignore value, `--map old=ignore`): the
/// id `--map` gave it, else the smallest free one in class order, from 0
/// (from 1 with `background` at 0).
fn plan_values(catalog: &Catalog, background: bool) -> Result<Vec<Option<u32>>> {
    let mut taken: HashMap<u32, &str> = HashMap::new();
    if background {
        taken.insert(0, BACKGROUND);
    }
    for class in catalog.classes() {
        if let Some(ClassNumber::Mapped(id)) = class.number
            && let Some(other) = taken.insert(id, &class.name)
        {
            return Err(Error::usage(format!(
                "classes '{other}' and '{}' would both have id {id} in the index masks",
                class.name
            )));
        }
    }
    let mut next = 0;
    let planned = catalog
        .classes()
        .iter()
        .map(|class| match class.number {
            Some(ClassNumber::Mapped(id)) => Some(id),
            Some(ClassNumber::Ignore) => None,
            _ => {
                while taken.contains_key(&next) {
                    next += 1;
                }
                next += 1;
                Some(next - 1)
            }
        })
        .collect();
    Ok(planned)
}

impl Writer for SemanticWriter {
    fn capabilities(&self) -> Capabilities {
        INFO.capabilities
    }

    fn header(&self) -> Vec<OutputFile> {
        let mut files = vec![OutputFile::new(CLASSES, classes_json(&self.table))];
        match self.layout {
            Layout::Mmseg => {}
            Layout::Ultralytics => files.push(OutputFile::new(
                DATA_YAML,
                data_yaml(&self.table, &self.subsets),
            )),
            Layout::Datumaro if self.flat => {
                files.push(OutputFile::new(DATASET_META, dataset_meta(&self.table)))
            }
            Layout::Datumaro => {
                for subset in &self.subsets {
                    files.push(OutputFile::new(
                        format!("{subset}/{DATASET_META}"),
                        dataset_meta(&self.table),
                    ));
                }
            }
        }
        files
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        _out: &mut Diagnostics,
    ) -> Result<Encoded> {
        let map = map.expect("items without mask are left out (a planned loss)");
        let subset = self.subset_of(item);
        let stem = match self.layout {
            Layout::Datumaro => flat_name(&item.key),
            _ => key_to_path(&item.key).into_owned(),
        };
        let mut files = Vec::new();
        if let Some((bytes, ext)) = source_image(item, image, ".png") {
            let folder = self.layout.image_folder(subset.as_deref());
            files.push(OutputFile::new(format!("{folder}{stem}{ext}"), bytes));
        }
        let value_of = |segment: usize| match segment {
            0 => self.values[0],
            s => self.values[map.segments()[s - 1].class as usize],
        };
        let (w, h) = (map.width(), map.height());
        let count = map.segments().len() + 1;
        let png = if self.sixteen {
            let palette: Vec<[u8; 2]> = (0..count)
                .map(|s| (value_of(s) as u16).to_be_bytes())
                .collect();
            encode_png_rows(w, h, PngLayout::Gray16, self.compression, |y, row| {
                paint_row(map.row(y), &palette, row)
            })
        } else {
            let palette: Vec<[u8; 1]> = (0..count).map(|s| [value_of(s) as u8]).collect();
            encode_png_rows(w, h, PngLayout::Gray8, self.compression, |y, row| {
                paint_row(map.row(y), &palette, row)
            })
        };
        let folder = self.layout.mask_folder(subset.as_deref());
        files.push(OutputFile::new(format!("{folder}{stem}.png"), png));
        Ok(Encoded {
            files,
            record: Default::default(),
        })
    }

    fn finish(
        &self,
        _written: &Written,
        _sink: &mut dyn Sink,
        _out: &mut Diagnostics,
    ) -> Result<()> {
        Ok(())
    }
}

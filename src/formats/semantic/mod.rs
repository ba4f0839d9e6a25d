//! Semantic index masks for training: one single-channel PNG per image
//! whose pixels are class ids, as mmsegmentation, Ultralytics' semantic
//! datasets, detectron2's `sem_seg` and Hugging Face load them (spec:
//! `specs/training-formats.md` §1 and §2C in the shared folder).
//!
//! **On disk** (a folder, a `.zip` or a `.tar.gz`; at its top or in its one
//! top folder), one of three layouts (`--layout`; reading finds it):
//! ```text
//! mmseg:        img_dir/<subset>/<key>.<ext>   ann_dir/<subset>/<key>.png
//! ultralytics:  images/<subset>/<key>.<ext>    masks/<subset>/<key>.png    data.yaml
//! datumaro:     images/<key>.<ext>             masks/<key>.png             dataset_meta.json
//!               (with subsets: <subset>/images/, <subset>/masks/, <subset>/dataset_meta.json)
//! classes.json  # always: ignore_index, unlabeled, id2label, classes [{id, name, color, isthing}]
//! ```
//! Items without a subset are in `default`, read back as no subset (the
//! datumaro layout without any subset is flat, as Datumaro's
//! `common_semantic_segmentation` is). Datumaro names an item by its mask's
//! file name alone, so there a key's `/` (and `%`) are percent-encoded:
//! `street/frame_1` is `masks/street%2Fframe_1.png`.
//!
//! **Pixels**: 8-bit gray, value = class id 0..N−1 in class order (or the
//! id `--map` gives a class, the others taking the smallest free ids); 255
//! is the ignore value, also of classes `--map` sends to `ignore`. Unlabeled pixels are written as ignore (`--unlabeled
//! ignore`, the default) or as class 0 `background` (`--unlabeled
//! background`, the other classes from 1). More than 255 ids need 16-bit
//! gray masks, whose ignore value is 65535 (warning `sixteen-bit-masks`:
//! most loaders read 8 bits). Read: 8- and 16-bit gray, and palette masks
//! by their indices (as mmsegmentation reads them); the ignore value and
//! the value `classes.json` names as unlabeled are unlabeled; any other
//! value that is no class is an error naming the mask, the value and its
//! pixels.
//!
//! **Class table**, read from the first there is of: `classes.json`,
//! Datumaro's `dataset_meta.json` (`label_map`, `segmentation_colors`),
//! Ultralytics' `data.yaml` (`names`). An mmseg layout without
//! `classes.json` is an error: its masks alone do not name their classes.
//!
//! **Known losses**: instances (`instances-merged`; things stay things in
//! `classes.json`), class and segment attributes, 16-bit colours (rounded
//! to 8 bits), and items without mask (`item-without-mask`).

mod read;
mod tables;
mod write;

use super::api::{Dataset, Format, FormatInfo, Writer};
use super::common::is_mac_metadata;
use super::options::{Direction, FormatOptions, OptionSpec};
use crate::codec::Compression;
use crate::error::Result;
use crate::io::Source;
use crate::losses::{Capabilities, Diagnostics, Keeps};
use crate::model::{key_to_path, path_to_key};
use std::sync::Arc;

/// The semantic index-mask format.
pub struct Semantic;

static INFO: FormatInfo = FormatInfo {
    name: "semantic",
    aliases: &["index-masks", "mmseg", "sem-seg"],
    description: "Semantic index masks for training: 8-bit gray PNGs of class ids, 255 = ignore, classes.json (mmsegmentation, Ultralytics, Datumaro layouts)",
    can_read: true,
    can_write: true,
    capabilities: Capabilities {
        instances: false,
        max_segments: None,
        color_bits: 8,
        subsets: true,
        class_attributes: Keeps::Nothing,
        segment_attributes: Keeps::Nothing,
        source_images: true,
        items_without_mask: false,
        ignore_value: true,
    },
    options: &[&LAYOUT, &UNLABELED],
    archive_folder: false,
};

/// `--layout`: where images and masks go.
static LAYOUT: OptionSpec = OptionSpec {
    name: "layout",
    value: Some("mmseg|ultralytics|datumaro"),
    help: "Writing semantic masks: mmseg (img_dir/, ann_dir/; the default), ultralytics (images/, masks/, data.yaml) or datumaro (images/, masks/, dataset_meta.json)",
    repeatable: false,
    direction: Direction::Write,
    check: Some(|value| Layout::parse(value).map(|_| ())),
};

/// `--unlabeled`: what unlabeled pixels become.
static UNLABELED: OptionSpec = OptionSpec {
    name: "unlabeled",
    value: Some("ignore|background"),
    help: "Writing semantic masks: unlabeled pixels get the ignore value 255 (ignore, the default) or become class 0 'background' (background)",
    repeatable: false,
    direction: Direction::Write,
    check: Some(|value| match value {
        "ignore" | "background" => Ok(()),
        _ => Err(format!("'{value}' is not ignore or background")),
    }),
};

/// Where a layout keeps images and masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Mmseg,
    Ultralytics,
    Datumaro,
}

impl Layout {
    fn parse(value: &str) -> std::result::Result<Layout, String> {
        match value {
            "mmseg" => Ok(Layout::Mmseg),
            "ultralytics" => Ok(Layout::Ultralytics),
            "datumaro" => Ok(Layout::Datumaro),
            _ => Err(format!(
                "'{value}' is not a layout: mmseg, ultralytics or datumaro"
            )),
        }
    }

    /// The folders of images and of masks (below a subset folder for
    /// datumaro, above it for the others).
    fn folders(self) -> (&'static str, &'static str) {
        match self {
            Layout::Mmseg => ("img_dir", "ann_dir"),
            Layout::Ultralytics | Layout::Datumaro => ("images", "masks"),
        }
    }

    /// Where the masks of `subset` are (`None`: a flat datumaro dataset).
    fn mask_folder(self, subset: Option<&str>) -> String {
        let (_, masks) = self.folders();
        match (self, subset) {
            (Layout::Datumaro, Some(subset)) => format!("{subset}/{masks}/"),
            (Layout::Datumaro, None) => format!("{masks}/"),
            (_, subset) => format!("{masks}/{}/", subset.unwrap_or(DEFAULT_SUBSET)),
        }
    }

    /// Where the images of `subset` are.
    fn image_folder(self, subset: Option<&str>) -> String {
        let (images, _) = self.folders();
        match (self, subset) {
            (Layout::Datumaro, Some(subset)) => format!("{subset}/{images}/"),
            (Layout::Datumaro, None) => format!("{images}/"),
            (_, subset) => format!("{images}/{}/", subset.unwrap_or(DEFAULT_SUBSET)),
        }
    }
}

/// The class table every layout has.
const CLASSES: &str = "classes.json";
/// Ultralytics' dataset file.
const DATA_YAML: &str = "data.yaml";
/// Datumaro's class table.
const DATASET_META: &str = "dataset_meta.json";
/// The subset of items without one.
const DEFAULT_SUBSET: &str = "default";
/// The ignore value of 8-bit masks (and of 16-bit ones).
const IGNORE_8: u32 = 255;
const IGNORE_16: u32 = 65535;
/// The class `--unlabeled background` adds.
const BACKGROUND: &str = "background";

impl Format for Semantic {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn detect(&self, source: &dyn Source) -> bool {
        read::find_dataset(source).is_some()
    }

    fn open(&self, source: Arc<dyn Source>, _options: &FormatOptions) -> Result<Dataset> {
        read::open(source)
    }

    fn writer<'a>(
        &self,
        dataset: &'a Dataset,
        options: &FormatOptions,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Box<dyn Writer + 'a>> {
        Ok(Box::new(write::SemanticWriter::new(
            dataset,
            options,
            compression,
            out,
        )?))
    }
}

/// The file name of `key` in the datumaro layout, whose importer names an
/// item by its mask's file name alone: [`key_to_path`] with `%` and `/`
/// percent-encoded, so that keys with folders stay apart and come back.
fn flat_name(key: &str) -> String {
    key_to_path(key).replace('%', "%25").replace('/', "%2F")
}

/// The key [`flat_name`] wrote `name` for.
fn key_of_flat_name(name: &str) -> String {
    let mut path = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('%') {
        path.push_str(&rest[..at]);
        let (decoded, skip) = match &rest[at..] {
            r if r.starts_with("%25") => ('%', 3),
            r if r.starts_with("%2F") => ('/', 3),
            _ => ('%', 1),
        };
        path.push(decoded);
        rest = &rest[at + skip..];
    }
    path.push_str(rest);
    path_to_key(&path).into_owned()
}

/// Where the dataset may be rooted: the input's top, and its first
/// file's top folder.
fn candidate_roots(source: &dyn Source) -> Vec<String> {
    let first = source.files().iter().find(|f| !is_mac_metadata(f));
    let top = first
        .and_then(|f| f.split_once('/'))
        .map(|(t, _)| format!("{t}/"));
    std::iter::once(String::new()).chain(top).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_names_hold_no_folder_and_give_their_key_back() {
        for key in [
            "street/frame_1",
            "a%2Fb",
            "50%off/x",
            "/lead",
            "img%20001",
            "a//b",
            "x/../y",
        ] {
            let name = flat_name(key);
            assert!(!name.contains('/'), "{key}: {name}");
            assert_eq!(key_of_flat_name(&name), key);
        }
        assert_eq!(flat_name("street/frame_1"), "street%2Fframe_1");
        assert_ne!(flat_name("a%2Fb"), flat_name("a/b"));
    }
}

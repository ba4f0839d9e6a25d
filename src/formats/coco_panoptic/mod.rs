//! COCO panoptic segmentation, as panopticapi, detectron2 and Datumaro
//! read it (spec: `specs/training-formats.md` §1 and §2B in the shared
//! folder).
//!
//! **On disk** (a folder, a `.zip` or a `.tar.gz`; at its top or in its one
//! top folder):
//! ```text
//! annotations/panoptic_<subset>.json       # images, annotations, categories
//! annotations/panoptic_<subset>/<key>.png  # 8-bit RGB segment ids
//! images/<subset>/<key>.<ext>              # source images, when there are some
//! ```
//! The PNG folder is the JSON path without `.json`, as panopticapi assumes.
//! Images are also looked for at `<subset>/<file_name>` (COCO's own
//! `val2017/`). The subset `default` is read back as no subset.
//!
//! **Pixels**: segment id = R + 256·G + 65536·B; 0 is void (unlabeled).
//! Every non-zero id must be listed once in the image's `segments_info`,
//! and every listed id must be on some pixel: a file that breaks either
//! is refused, naming the image, the id and its pixels (panopticapi raises
//! `KeyError` on these).
//!
//! **Read**: annotations are matched to images by `image_id`; item key =
//! the image's `file_name` without extension (as Datumaro keys them), an
//! item without mask when the image has no annotation. `category_id` 0
//! (Datumaro's "no label") is unlabeled. Categories become classes
//! in file order: `isthing` decides thing or stuff, `color` the colour,
//! `supercategory` and other keys are class attributes, the id is kept as
//! the class's number. A thing segment's instance number is its segment
//! id. `iscrowd: 1` and keys beyond `id`, `category_id`, `area`, `bbox`
//! are segment attributes. Image ids are kept as the items' origin.
//!
//! **Written**: one JSON per subset, with `info`, `licenses`, `images`,
//! `annotations` and `categories`. Category ids: the id `--map` gives a
//! class, else its source's (a COCO category id) unless another class has
//! it, else the smallest free id from 1, in catalog order.
//! Image ids are the source's when every item has a distinct one, else the
//! item's position in the dataset plus one (so ids stay unique across
//! subsets, and a shard knows its ids from the item order alone). Segment
//! ids: thing instance numbers when they are distinct within the image and
//! below 2^24, the other segments taking the smallest ids left, in segment
//! order. `area` is the pixel count, `bbox` `[x, y, w, h]` of the pixels.
//! Images are copied to `images/<subset>/<key><ext>`; without one the
//! image's `file_name` is `<key>.jpg`, as detectron2 assumes.
//!
//! **Known losses**: 16-bit colours round to 8 bits; class attributes named
//! like category keys and segment attributes named like segment keys. Keys
//! holding a dot are written as they are, with a warning: panopticapi's
//! converters cut names at the first dot.

mod decode;
mod read;
mod write;

use super::api::{Dataset, Format, FormatInfo, Writer};
use super::common::is_mac_metadata;
use super::options::FormatOptions;
use crate::codec::Compression;
use crate::error::Result;
use crate::io::Source;
use crate::losses::{Capabilities, Diagnostics, Keeps, SegmentLimit, segments_with_pixels};
use serde_json::Value;
use std::sync::Arc;

/// The COCO panoptic format.
pub struct CocoPanoptic;

static INFO: FormatInfo = FormatInfo {
    name: "coco-panoptic",
    aliases: &["coco_panoptic", "panoptic"],
    description: "COCO panoptic: annotations/panoptic_<subset>.json + 8-bit RGB segment-id PNGs (detectron2, Mask2Former, panopticapi)",
    can_read: true,
    can_write: true,
    capabilities: Capabilities {
        instances: true,
        max_segments: Some(SegmentLimit {
            needs: segments_with_pixels,
            max: MAX_SEGMENT_ID,
            unit: "segment ids",
            why: "a COCO panoptic PNG holds 24-bit ones (at most 16777215)",
            hint: "",
        }),
        color_bits: 8,
        subsets: true,
        class_attributes: Keeps::Some {
            keeps: |name, _| !CATEGORY_KEYS.contains(&name) || name == SUPERCATEGORY,
            what: "a COCO category keeps other keys beside id, name, isthing and color",
        },
        segment_attributes: Keeps::Some {
            keeps: |name, value| match name {
                ISCROWD => value.as_u64().is_some_and(|v| v <= 1),
                _ => !SEGMENT_KEYS.contains(&name),
            },
            what: "a COCO segment keeps iscrowd (0 or 1) and keys other than id, category_id, area and bbox",
        },
        source_images: true,
        items_without_mask: true,
        ignore_value: false,
    },
    options: &[],
    archive_folder: false,
};

/// The keys of a category the format itself defines.
const CATEGORY_KEYS: [&str; 5] = ["id", "name", "supercategory", "isthing", "color"];
/// The keys of a segment the format itself defines (`iscrowd` aside).
const SEGMENT_KEYS: [&str; 4] = ["id", "category_id", "area", "bbox"];
/// The class attribute holding a category's supercategory.
const SUPERCATEGORY: &str = "supercategory";
/// The segment attribute holding COCO's crowd flag.
const ISCROWD: &str = "iscrowd";
/// The folder of annotation files, below the dataset's root.
const ANNOTATIONS_DIR: &str = "annotations/";
/// How annotation files' names start.
const FILE_PREFIX: &str = "panoptic_";
/// The folder of written source images, below the dataset's root.
const IMAGES_DIR: &str = "images/";
/// The subset of items without one.
const DEFAULT_SUBSET: &str = "default";
/// Segment ids are 24-bit (three 8-bit channels).
const MAX_SEGMENT_ID: u32 = (1 << 24) - 1;

impl Format for CocoPanoptic {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn detect(&self, source: &dyn Source) -> bool {
        !annotation_files(source).is_empty()
    }

    fn open(&self, source: Arc<dyn Source>, _options: &FormatOptions) -> Result<Dataset> {
        read::open(source)
    }

    fn writer<'a>(
        &self,
        dataset: &'a Dataset,
        _options: &FormatOptions,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Box<dyn Writer + 'a>> {
        Ok(Box::new(write::PanopticWriter::new(
            dataset,
            compression,
            out,
        )?))
    }
}

/// One annotation file of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AnnotationFile<'a> {
    /// Its path in the input.
    path: &'a str,
    /// The dataset's root folder (`""` or `top/`).
    root: &'a str,
    /// The subset it holds (`default` included).
    subset: &'a str,
}

/// The `annotations/panoptic_<subset>.json` files at the input's top or in
/// a folder there, in path order.
fn annotation_files(source: &dyn Source) -> Vec<AnnotationFile<'_>> {
    source
        .files()
        .iter()
        .filter(|f| !is_mac_metadata(f))
        .filter_map(|path| {
            let stem = path.strip_suffix(".json")?;
            let at = stem.rfind(ANNOTATIONS_DIR)?;
            let (root, name) = (&path[..at], &stem[at + ANNOTATIONS_DIR.len()..]);
            let subset = name.strip_prefix(FILE_PREFIX)?;
            let root_ok = root.is_empty() || root.find('/') == Some(root.len() - 1);
            (root_ok && !subset.is_empty() && !subset.contains('/')).then_some(AnnotationFile {
                path,
                root,
                subset,
            })
        })
        .collect()
}

/// The `iscrowd` flag a segment's attributes give (0 without one).
fn crowd_flag(attributes: &serde_json::Map<String, Value>) -> u64 {
    attributes
        .get(ISCROWD)
        .and_then(Value::as_u64)
        .filter(|&v| v <= 1)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySource;
    use std::collections::BTreeMap;

    #[test]
    fn annotation_files_are_found_at_the_top_or_in_one_folder() {
        let files: BTreeMap<String, Vec<u8>> = [
            "annotations/panoptic_train.json",
            "annotations/panoptic_train/a.png",
            "top/annotations/panoptic_val2017.json",
            "a/b/annotations/panoptic_deep.json",
            "annotations/instances_train.json",
            "__MACOSX/annotations/panoptic_x.json",
        ]
        .into_iter()
        .map(|f| (f.to_string(), Vec::new()))
        .collect();
        let source = MemorySource::new("input", files);
        let found: Vec<(&str, &str)> = annotation_files(&source)
            .iter()
            .map(|f| (f.root, f.subset))
            .collect();
        assert_eq!(found, [("", "train"), ("top/", "val2017")]);
    }
}

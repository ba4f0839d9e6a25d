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
use super::coco_shared::{CLASS_ATTRIBUTES, ISCROWD, annotation_files};
use super::options::FormatOptions;
use crate::codec::Compression;
use crate::error::Result;
use crate::io::Source;
use crate::losses::{Capabilities, Diagnostics, Keeps, SegmentLimit, segments_with_pixels};
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
        class_attributes: CLASS_ATTRIBUTES,
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

/// The keys of a segment the format itself defines (`iscrowd` aside).
const SEGMENT_KEYS: [&str; 4] = ["id", "category_id", "area", "bbox"];
/// How annotation files' names start.
const FILE_PREFIX: &str = "panoptic_";
/// Segment ids are 24-bit (three 8-bit channels).
const MAX_SEGMENT_ID: u32 = (1 << 24) - 1;

impl Format for CocoPanoptic {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn detect(&self, source: &dyn Source) -> bool {
        !annotation_files(source, FILE_PREFIX).is_empty()
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

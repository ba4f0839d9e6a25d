//! COCO instance segmentation, as pycocotools, detectron2, mmdetection,
//! torchvision and Datumaro read it (spec: `specs/training-formats.md` §1
//! and §2A in the shared folder).
//!
//! **On disk** (a folder, a `.zip` or a `.tar.gz`; at its top or in its one
//! top folder):
//! ```text
//! annotations/instances_<subset>.json   # info, licenses, images, annotations, categories
//! images/<subset>/<key>.<ext>           # source images, when there are some
//! ```
//! Images are also looked for at `<subset>/<file_name>` (COCO's own
//! `val2017/`). The subset `default` is read back as no subset.
//!
//! **Pixels**: each annotation's `segmentation` is a mask of its image:
//! an RLE (`{"size": [h, w], "counts": …}`; counts are column-major runs
//! starting with 0s, compressed as pycocotools' string or listed
//! uncompressed) or polygons (`[[x0, y0, x1, y1, …], …]`, rasterised as
//! pycocotools' `annToMask` does, the rings unioned).
//!
//! **Read**: items are the `images` (key = `file_name` without extension),
//! their label map the annotations painted in file order, **a later
//! annotation covering earlier ones** (panopticapi's, COCO-stuff's and the
//! Segments.ai reader's order; pixels so covered are the loss
//! `overlap-resolved`). Datumaro's COCO import lets the first win instead.
//! Each annotation is a segment; a thing's instance number is its
//! annotation id (when it fits in 32 bits). `iscrowd: 1` and keys beyond
//! the format's own are segment attributes. Category ids are kept as the
//! classes' numbers, image ids as the items' origin; categories without
//! `isthing` are things; `category_id` 0 is unlabeled. An image without
//! annotations is an item with an empty mask (no size: no mask); one
//! without a size (or 0 × 0, as Datumaro writes) takes its RLEs' `size`. An
//! annotation without segmentation (a box only) is the loss
//! `box-without-mask`. RLE sizes, counts, rings and ids are checked, an
//! error naming the file, `annotations[i]` and the annotation id.
//!
//! **Written**: one JSON per subset, with `info` and `licenses` always.
//! One annotation per thing segment, and one per (image, stuff class)
//! (`--things-only` drops stuff: the loss `stuff-dropped`). `segmentation`
//! is a compressed RLE string exactly as pycocotools writes it, or, for
//! `iscrowd: 1`, uncompressed counts (as COCO's own crowd regions are);
//! `area` is the pixel count and `bbox` the pixels' `[x, y, w, h]`, both
//! integers. `--segmentation polygon` writes instead each object's outer
//! outlines along the pixel edges (integer corner coordinates), which
//! pycocotools fills back to exactly the object's pixels but for its holes;
//! an object with holes is the loss `polygon-approximation`, its IoU
//! measured by filling the polygons back with pycocotools' rule (`area`
//! is then the filled polygons' pixels); crowds stay uncompressed counts. Category ids and image ids are planned as for COCO panoptic
//! (kept when the source's fit). Annotation ids are the things' instance
//! numbers when every annotation has one and they increase through each
//! file (a COCO source read back), else 1, 2, … across the dataset.
//!
//! **Known losses**: 16-bit colours round to 8 bits; class attributes named
//! like category keys and segment attributes named like annotation keys;
//! with polygons, holes (`polygon-approximation`). Instance numbers are
//! kept only as annotation ids, which are unique in a dataset: a track id
//! repeated across frames is not kept (warning `annotation-ids-renumbered`).

mod decode;
mod polygons;
mod read;
mod write;

use super::api::{Dataset, Format, FormatInfo, Writer};
use super::coco_shared::{CLASS_ATTRIBUTES, ISCROWD, annotation_files};
use super::options::{Direction, FormatOptions, OptionSpec};
use crate::codec::Compression;
use crate::error::Result;
use crate::io::Source;
use crate::losses::{Capabilities, Diagnostics, Keeps};
use std::sync::Arc;

/// The COCO instance segmentation format.
pub struct Coco;

static INFO: FormatInfo = FormatInfo {
    name: "coco",
    aliases: &["coco_instances", "coco-instances", "instances"],
    description: "COCO instances: annotations/instances_<subset>.json with RLE or polygon masks (pycocotools, detectron2, mmdetection, torchvision)",
    can_read: true,
    can_write: true,
    capabilities: Capabilities {
        instances: true,
        max_segments: None,
        color_bits: 8,
        subsets: true,
        class_attributes: CLASS_ATTRIBUTES,
        segment_attributes: Keeps::Some {
            keeps: |name, value| match name {
                ISCROWD => value.as_u64().is_some_and(|v| v <= 1),
                _ => !ANNOTATION_KEYS.contains(&name),
            },
            what: "a COCO annotation keeps iscrowd (0 or 1) and keys other than id, image_id, category_id, segmentation, area and bbox",
        },
        source_images: true,
        items_without_mask: true,
        ignore_value: false,
    },
    options: &[&SEGMENTATION, &THINGS_ONLY],
    archive_folder: false,
};

/// `--segmentation`: how masks are written.
static SEGMENTATION: OptionSpec = OptionSpec {
    name: "segmentation",
    value: Some("rle|polygon"),
    help: "Writing COCO instances: masks as pycocotools RLE (rle, the default; exact) or polygons along the pixel edges (polygon, for polygon-only consumers; holes fill, a measured loss)",
    repeatable: false,
    direction: Direction::Write,
    check: Some(|value| match value {
        "rle" | "polygon" => Ok(()),
        _ => Err(format!("'{value}' is not rle or polygon")),
    }),
};

/// `--things-only`: no annotations for stuff classes.
static THINGS_ONLY: OptionSpec = OptionSpec {
    name: "things-only",
    value: None,
    help: "Writing COCO instances: leave out stuff classes (sky, road): no category and no annotation for them",
    repeatable: false,
    direction: Direction::Write,
    check: None,
};

/// The keys of an annotation the format itself defines (`iscrowd` aside).
const ANNOTATION_KEYS: [&str; 6] = [
    "id",
    "image_id",
    "category_id",
    "segmentation",
    "area",
    "bbox",
];
/// How annotation files' names start.
const FILE_PREFIX: &str = "instances_";

impl Format for Coco {
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
        options: &FormatOptions,
        _compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Box<dyn Writer + 'a>> {
        Ok(Box::new(write::CocoWriter::new(dataset, options, out)?))
    }
}

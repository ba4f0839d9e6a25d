//! Segments.ai segmentation releases, as the `segments-ai` SDK reads and
//! writes them (spec: `specs/nucleus-and-segments.md` §B in the shared folder).
//!
//! **On disk** (a folder, a `.zip`/`.tar.gz`, or the release file itself):
//! ```text
//! release.json        # dataset.task_attributes.categories, dataset.samples[].labels[<labelset>]
//! bitmaps/<key>.png   # 8-bit RGBA, object id = R + 256·G + 65536·B, A = 255
//! labels/<key>.json   # written only: each sample's label attributes, for client.add_label
//! images/<key>.<ext>  # written only: source images, when the input has them
//! images/…            # read: the images vector labels are drawn on (their size)
//! ```
//! Read: the release JSON at the input's top (or in its one top folder);
//! `--labelset NAME` (default `ground-truth`). Bitmap URLs are resolved like
//! Nucleus' (relative, absolute, `file://`, remote via `--mask-root`).
//!
//! **Pixels**: an id is one annotation `{id, category_id, attributes?}`; 0 is
//! unlabeled; an id without annotation is an error. RGBA (alpha ignored) and
//! RGB 8-bit bitmaps are read, and the SDK's cache files
//! `<name>_label_<labelset>.png` (16-bit gray ids, clipped at 65535 by the
//! SDK). A category with `has_instances: true` is a thing class (instance =
//! annotation id), otherwise stuff. Samples whose label is null, SKIPPED or
//! without bitmap are items without mask (reported with counts). Item key =
//! the sample name without extension; a `subset` in sample metadata is the
//! item's subset.
//!
//! **Vector labels** (task types `vector`, `bboxes`): `polygon` and `bbox`
//! annotations are rasterised as pycocotools does (`frPyObjects`; a box
//! `[[x0, y0], [x1, y1]]` is the COCO box `[x0, y0, x1 − x0, y1 − y0]`),
//! later annotations covering earlier ones (loss `overlap-resolved`);
//! `polyline`, `point` and polygons of fewer than 3 points have no area
//! (loss `vector-without-area`). The image size is read from the sample's
//! image when it is in the input, else `--image-size`; an empty vector label
//! is an empty mask.
//!
//! **Sequences** (`image-segmentation-sequence`, `image-vector-sequence`):
//! one item per frame, key `<sample key>/<frame index>`, the index
//! zero-padded to the digits of the last one (`clip/07` of 12 frames); a
//! thing's instance is its `track_id`; a frame without bitmap is an item
//! without mask. Stuff keeps no track id (loss `stuff-track-ids`).
//!
//! **Written**: category ids 1..N in catalog order (class attributes as extra
//! category keys), object ids 1..N per image (instance numbers kept when
//! distinct and within 1..N), annotations in id order; the source's sample uuid,
//! else one derived from the key; the image copied to `images/` when the
//! input has it, else the source's image URL, else `""`; `--url-prefix` for
//! bitmap and image URLs; items without mask as samples with a null label.
//! File names are keys escaped by [`key_to_path`](crate::model::key_to_path);
//! sample names are the keys themselves. Items keyed `<sequence>/<frame>`
//! throughout are written as image sequences (`sequences.rs`: one sample per
//! sequence, `labels/<sequence>.json`, thing track ids kept, stuff of class
//! `c` as track `65535 − c`), unless `--single-images`. Vector labels are
//! never written: they are read into masks.
//!
//! **Known losses**: 16-bit class colours are rounded to 8 bits; annotation
//! attributes that are not scalars or lists of strings (the SDK's type) are
//! dropped; category ids are renumbered; release and dataset names, sample
//! names' extensions (without an image) and label statuses are not kept;
//! reading, shapes without area, overlaps and stuff track ids (above).

mod decode;
mod label;
mod read;
mod release;
mod sequences;
mod write;

use super::api::{Dataset, Format, FormatInfo, Writer};
use super::common::{holds_annotation_file, top_files};
use super::mask_url::{MASK_ROOT, URL_PREFIX};
use super::options::{Direction, FormatOptions, OptionSpec};
use crate::codec::Compression;
use crate::error::Result;
use crate::io::Source;
use crate::losses::{Capabilities, Diagnostics, Keeps, SegmentLimit, segments_with_pixels};
use serde_json::Value;
use std::sync::Arc;

/// The Segments.ai release format.
pub struct Segments;

static INFO: FormatInfo = FormatInfo {
    name: "segments",
    aliases: &["segments-ai", "segmentsai"],
    description: "Segments.ai release: release.json (categories, samples, label attributes) + 8-bit RGBA id bitmaps (folder, or the release .json); reads bitmap and vector labels (polygons and boxes rasterised as pycocotools does) of images and image sequences, writes bitmaps (sequences as sequences)",
    can_read: true,
    can_write: true,
    capabilities: Capabilities {
        instances: true,
        max_segments: Some(SegmentLimit {
            needs: segments_with_pixels,
            max: MAX_ID,
            unit: "object ids",
            why: "a Segments.ai bitmap holds 24-bit ones (at most 16777215)",
            hint: "",
        }),
        color_bits: 8,
        subsets: true,
        class_attributes: Keeps::Some {
            keeps: is_category_attribute,
            what: "'id', 'name', 'color' and 'has_instances' are the category's own keys",
        },
        segment_attributes: Keeps::Some {
            keeps: is_sdk_attribute,
            what: "Segments.ai's annotation attributes are scalars or lists of strings",
        },
        source_images: true,
        items_without_mask: true,
        ignore_value: false,
    },
    options: &[
        &MASK_ROOT,
        &LABELSET,
        &IMAGE_SIZE,
        &URL_PREFIX,
        &SINGLE_IMAGES,
    ],
    archive_folder: false,
};

/// `--image-size WxH`: the size of images vector labels are drawn on, when
/// the image is not in the input.
static IMAGE_SIZE: OptionSpec = OptionSpec {
    name: "image-size",
    value: Some("WIDTHxHEIGHT"),
    help: "The size of the images of Segments.ai vector labels whose image is not in the input (an image in the input gives its own)",
    repeatable: false,
    direction: Direction::Read,
    check: Some(|value| parse_image_size(value).map(|_| ())),
};

/// `--single-images`: write every item as its own sample, also when the
/// keys make sequences.
static SINGLE_IMAGES: OptionSpec = OptionSpec {
    name: "single-images",
    value: None,
    help: "Write every item as a Segments.ai image sample, also when every key is <sequence>/<frame> (which is otherwise written as image sequences)",
    repeatable: false,
    direction: Direction::Write,
    check: None,
};

/// `640x480` → `(640, 480)`; the error says what is wrong.
fn parse_image_size(value: &str) -> std::result::Result<(u32, u32), String> {
    let size = value
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)));
    match size {
        Some((w, h)) if crate::codec::within_limits(w, h) => Ok((w, h)),
        Some((w, h)) => Err(format!(
            "--image-size {w}x{h}: a mask is 1..{} pixels on a side and at most {} pixels",
            crate::codec::MAX_SIDE,
            crate::codec::MAX_PIXELS
        )),
        None => Err(format!(
            "--image-size {value}: expected WIDTHxHEIGHT, e.g. 1920x1080"
        )),
    }
}

/// `--labelset NAME`: the label set of a release to read.
static LABELSET: OptionSpec = OptionSpec {
    name: "labelset",
    value: Some("NAME"),
    help: "The label set of a Segments.ai release to read (default: ground-truth)",
    repeatable: false,
    direction: Direction::Read,
    check: None,
};

/// Category keys the writer sets itself; class attributes by these names are dropped.
const CATEGORY_KEYS: [&str; 4] = ["id", "name", "color", "has_instances"];

/// Whether a class attribute can be a category key (it is not one of the category's own).
fn is_category_attribute(name: &str, _value: &Value) -> bool {
    !CATEGORY_KEYS.contains(&name)
}

/// Whether a value fits the SDK's `ObjectAttributes` (`str | bool | int |
/// float | list[str] | None`).
fn is_sdk_attribute(_name: &str, value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(Value::is_string),
        Value::Object(_) => false,
        _ => true,
    }
}

/// The label set read when `--labelset` is not given, and the one written.
const DEFAULT_LABELSET: &str = "ground-truth";
/// Largest object id a bitmap holds (24 bits: R, G, B).
const MAX_ID: u32 = (1 << 24) - 1;
/// The release file the writer writes.
const RELEASE: &str = "release.json";
/// Folders of written bitmaps, label bodies and images.
const BITMAP_DIR: &str = "bitmaps/";
const LABEL_DIR: &str = "labels/";
const IMAGE_DIR: &str = "images/";
/// The sample metadata key holding an item's subset.
const SUBSET_KEY: &str = "subset";
/// How an item's [`Origin`](crate::model::Origin) service id names a Segments.ai sample uuid.
const SERVICE: &str = "segments.ai:";

impl Format for Segments {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn detect(&self, source: &dyn Source) -> bool {
        let candidates = top_files(source, &[".json"]);
        holds_annotation_file(source, &candidates, release::looks_like_release)
    }

    fn open(&self, source: Arc<dyn Source>, options: &FormatOptions) -> Result<Dataset> {
        read::open(source, options)
    }

    fn writer<'a>(
        &self,
        dataset: &'a Dataset,
        options: &FormatOptions,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Box<dyn Writer + 'a>> {
        Ok(Box::new(write::SegmentsWriter::new(
            dataset,
            options,
            compression,
            out,
        )?))
    }
}

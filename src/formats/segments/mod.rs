//! Segments.ai segmentation releases, as the `segments-ai` SDK reads and
//! writes them (spec: `specs/nucleus-and-segments.md` §B in the shared folder).
//!
//! **On disk** (a folder, a `.zip`/`.tar.gz`, or the release file itself):
//! ```text
//! release.json        # dataset.task_attributes.categories, dataset.samples[].labels[<labelset>]
//! bitmaps/<key>.png   # 8-bit RGBA, object id = R + 256·G + 65536·B, A = 255
//! labels/<key>.json   # written only: each sample's label attributes, for client.add_label
//! images/<key>.<ext>  # written only: source images, when the input has them
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
//! The sample `uuid` and an image URL outside the input are kept with the
//! item.
//!
//! **Written**: category ids 1..N in catalog order (class attributes as extra
//! category keys), object ids 1..N per image (instance numbers kept when
//! distinct and within 1..N), annotations in id order; the source's sample uuid,
//! else one derived from the key; the image copied to `images/` when the
//! input has it, else the source's image URL, else `""`; `--url-prefix` for
//! bitmap and image URLs; items without mask as samples with a null label.
//!
//! **Known losses**: 16-bit class colours are rounded to 8 bits; annotation
//! attributes that are not scalars or lists of strings (the SDK's type) are
//! dropped; category ids are renumbered; release and dataset names, sample
//! names' extensions (without an image) and label statuses are not kept.

mod read;
mod release;
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
    description: "Segments.ai release: release.json (categories, samples, label attributes) + 8-bit RGBA id bitmaps (folder, or the release .json)",
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
    },
    options: &[&MASK_ROOT, &LABELSET, &URL_PREFIX],
};

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

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

use super::{Dataset, Format, FormatInfo, Holds, ReadOptions, WriteOptions, Writer, top_files};
use crate::error::Result;
use crate::io::Source;
use std::sync::Arc;

/// The Segments.ai release format.
pub struct Segments;

static INFO: FormatInfo = FormatInfo {
    name: "segments",
    aliases: &["segments-ai", "segmentsai"],
    description: "Segments.ai release: release.json (categories, samples, label attributes) + 8-bit RGBA id bitmaps (folder, or the release .json)",
    can_read: true,
    can_write: true,
    holds: Holds {
        instances: true,
        max_segments_per_item: Some(MAX_ID),
        color_bits: 8,
        subsets: true,
        segment_attributes: true,
        source_images: true,
    },
    options: &["--mask-root", "--labelset", "--url-prefix"],
};

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

impl Format for Segments {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn detect(&self, source: &dyn Source) -> bool {
        top_files(source, &[".json"]).iter().any(|path| {
            source
                .read(path)
                .is_ok_and(|bytes| release::looks_like_release(path, &bytes))
        })
    }

    fn open(&self, source: Arc<dyn Source>, options: &ReadOptions) -> Result<Dataset> {
        read::open(source, options).map_err(|e| e.in_format(INFO.name))
    }

    fn writer(&self, options: &WriteOptions) -> Result<Box<dyn Writer>> {
        Ok(Box::new(write::SegmentsWriter::new(options)))
    }
}

//! Scale Nucleus segmentation annotations, as the `scale-nucleus` SDK writes
//! and reads them (spec: `specs/nucleus-and-segments.md` §A in the shared
//! folder).
//!
//! **On disk** (a folder, a `.zip`/`.tar.gz`, or the annotation file itself):
//! ```text
//! annotations.ndjson   # one SegmentationAnnotation.to_json() per line
//! masks/<key>.png      # 8-bit grayscale, pixel = segment index 0..255
//! ```
//! Read: NDJSON, a JSON array of annotations, or Nucleus export rows
//! (`{"item": …, "segmentation": …}`, also wrapped in `exportedRows`), at the
//! input's top (or in its one top folder). `mask_url` is resolved by
//! [`mask_url`](super::mask_url): relative to the file, absolute, `file://`,
//! or remote mapped by `--mask-root`. Item key = `reference_id`.
//!
//! **Pixels**: each value is the `index` of one Segment `{label, index,
//! metadata?}`. The label `background` and values without a Segment are
//! unlabeled (the latter with a warning counting them). A label with several
//! segments in one image, or whose segments carry an integer metadata
//! `instance`, is a thing class (instances numbered by that `instance`, else
//! in index order); other labels are stuff. Other metadata are the segment's
//! attributes. RGB masks whose three channels are equal are read with a
//! warning; palette, gray+alpha, 16-bit and low-bit-depth masks are refused.
//!
//! **Written**: `annotations.ndjson` byte-identical to `to_json()` (key order
//! `type, mask_url, annotations, annotation_id, reference_id`; `metadata` only
//! when non-empty, holding the attributes and `instance`), and
//! `masks/<key>.png`. `mask_url` is the relative path, or `--url-prefix` +
//! that path. Instance mode (default): value 0 unlabeled (listed as
//! `background` when present), 1..N the item's segments. `--semantic`: value
//! = the class's dataset-wide id, listed when present.
//!
//! **Known losses**: class colours and class attributes (Nucleus has no class
//! table), subsets, source images, `annotation_id`s, classes that no item
//! lists, more than 255 segments in one image (the item fails, or is skipped
//! under `--keep-going`), and with `--semantic` instances and segment
//! attributes.

mod read;
mod records;
mod stream;
mod write;

use super::api::{Dataset, Format, FormatInfo, Writer};
use super::common::{holds_annotation_file, top_files};
use super::mask_url::{MASK_ROOT, URL_PREFIX};
use super::options::{Direction, FormatOptions, OptionSpec};
use crate::codec::Compression;
use crate::error::Result;
use crate::io::Source;
use crate::losses::{Capabilities, Diagnostics, Keeps, SegmentLimit, segments_with_pixels};
use std::sync::Arc;

/// The Scale Nucleus segmentation format.
pub struct Nucleus;

static INFO: FormatInfo = FormatInfo {
    name: "nucleus",
    aliases: &["scale-nucleus", "scale"],
    description: "Scale Nucleus: annotations.ndjson of SegmentationAnnotation + 8-bit gray index masks (folder, or the .ndjson/.json file)",
    can_read: true,
    can_write: true,
    capabilities: Capabilities {
        instances: true,
        max_segments: Some(SegmentLimit {
            needs: segments_with_pixels,
            max: MAX_SEGMENTS as u32,
            unit: "mask values",
            why: "a Nucleus mask holds at most 255 (values 1..255; 0 is unlabeled)",
            hint: ", --semantic writes one value per class",
        }),
        segment_attributes: Keeps::All,
        ..Capabilities::NONE
    },
    options: &[&MASK_ROOT, &URL_PREFIX, &SEMANTIC],
    archive_folder: false,
};

/// `--semantic`: one mask value per class, the same in every image.
static SEMANTIC: OptionSpec = OptionSpec {
    name: "semantic",
    value: None,
    help: "One mask value per class (its dataset-wide id), the same in every image; instances are merged",
    repeatable: false,
    direction: Direction::Write,
    check: None,
};

/// The label Nucleus uses for unlabeled pixels.
const BACKGROUND: &str = "background";
/// The segment metadata key holding a segment's instance number.
const INSTANCE_KEY: &str = "instance";
/// The annotation file the writer writes.
const ANNOTATIONS: &str = "annotations.ndjson";
/// The folder of written masks.
const MASK_DIR: &str = "masks/";
/// Mask values are `u8`; value 0 is unlabeled when writing.
const MAX_SEGMENTS: usize = 255;
/// Extensions of files that may hold annotations.
const EXTENSIONS: [&str; 3] = [".ndjson", ".jsonl", ".json"];

impl Format for Nucleus {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn detect(&self, source: &dyn Source) -> bool {
        holds_annotation_file(source, &candidate_files(source), is_annotation_file)
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
        Ok(Box::new(write::NucleusWriter::new(
            dataset,
            options,
            compression,
            out,
        )?))
    }
}

/// Whether the file at `path` starting with `bytes` is a Nucleus annotation
/// file: it starts like one, or it is an empty `annotations.ndjson` (a
/// dataset whose items were all skipped).
fn is_annotation_file(path: &str, bytes: &[u8]) -> bool {
    let empty_ours = bytes.trim_ascii().is_empty() && path.rsplit('/').next() == Some(ANNOTATIONS);
    empty_ours || records::looks_like_nucleus(bytes)
}

/// Files that may be the annotation file: `.ndjson`/`.jsonl`/`.json` at the
/// input's top (see [`top_files`]).
fn candidate_files(source: &dyn Source) -> Vec<&str> {
    top_files(source, &EXTENSIONS)
}

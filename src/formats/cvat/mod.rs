//! CVAT "Segmentation mask 1.1" — Pascal VOC segmentation as CVAT exports and
//! imports it (spec: `specs/cvat.md` in the shared folder).
//!
//! **On disk** (a folder or a `.zip`; the dataset root may sit up to three
//! folders deep, as CVAT's importer finds it):
//! ```text
//! labelmap.txt                         # name:R,G,B:parts:actions, one label per line
//! ImageSets/Segmentation/<subset>.txt  # one item id per line
//! SegmentationClass/<id>.png           # class colour per pixel
//! SegmentationObject/<id>.png          # VOC colormap[object number] per pixel, 0 = none
//! JPEGImages/<id>.<ext>                # optional source images
//! ```
//! **Pixels**: the class mask is read as CVAT reads it (RGB, RGBA with alpha
//! ignored, palette expanded to RGB, 8-bit gray = label index); the object
//! mask as VOC colours or gray object numbers. Each distinct (class, object)
//! pair becomes one segment; the `background` label is unlabeled (segment 0),
//! and so is black when no label claims it. Written masks are 8-bit RGB, and
//! every segment (stuff included) gets its own object number so CVAT imports it.
//!
//! **Known losses and differences**: at most 255 segments per image (an item
//! with more fails, or is skipped under `--keep-going`); 8-bit class colours;
//! no segment attributes; class attributes other than `parts`/`actions` are
//! dropped. Reading keeps every pixel's class exact where CVAT's importer
//! does not: an object spanning several classes stays split by class (CVAT
//! labels it with one class), objects over background pixels stay unlabeled
//! (CVAT makes them `background` objects), label parts stay attributes of
//! their label (CVAT's Datumaro lists them as extra labels), and 16-bit gray
//! masks with values above 255 are an error (CVAT wraps them modulo 256).

mod labelmap;
mod read;
mod write;

use super::api::{Dataset, Format, FormatInfo, Writer};
use super::common::is_mac_metadata;
use super::options::FormatOptions;
use crate::codec::Compression;
use crate::error::Result;
use crate::io::Source;
use crate::losses::{Capabilities, Diagnostics, Keeps, SegmentLimit};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The CVAT "Segmentation mask 1.1" format.
pub struct Cvat;

static INFO: FormatInfo = FormatInfo {
    name: "cvat",
    aliases: &["cvat-mask", "voc", "segmentation-mask"],
    description: "CVAT \"Segmentation mask 1.1\": labelmap.txt, ImageSets/Segmentation, 8-bit RGB SegmentationClass + SegmentationObject PNGs (folder or .zip)",
    can_read: true,
    can_write: true,
    capabilities: Capabilities {
        instances: true,
        max_segments: Some(SegmentLimit {
            needs: write::object_numbers_needed,
            max: MAX_OBJECTS as u32,
            unit: "object numbers",
            why: "a CVAT SegmentationObject PNG holds at most 255 per image",
            hint: "",
        }),
        color_bits: 8,
        subsets: true,
        class_attributes: Keeps::Some {
            keeps: write::is_writable_attribute,
            what: "labelmap.txt holds only 'parts' and 'actions', as lists of names without ':' or ','",
        },
        segment_attributes: Keeps::Nothing,
        source_images: true,
        items_without_mask: true,
        ignore_value: false,
    },
    options: &[],
    archive_folder: false,
};

const SUBSET_DIR: &str = "ImageSets/Segmentation/";
const CLASS_DIR: &str = "SegmentationClass/";
const OBJECT_DIR: &str = "SegmentationObject/";
const IMAGE_DIR: &str = "JPEGImages/";
const LABELMAP: &str = "labelmap.txt";
const BACKGROUND: &str = "background";
/// The subset file of items that have no subset (CVAT's and Datumaro's name).
const DEFAULT_SUBSET: &str = "default";
/// How many path components the dataset root may have: `a/b/ds/` is found,
/// `a/b/c/ds/` is not, as in CVAT's importer ("up to two folders deep").
const MAX_ROOT_DEPTH: usize = 3;
const BLACK: [u8; 3] = [0, 0, 0];
/// Object numbers are VOC colormap indices 1..=255 (0 = no object).
const MAX_OBJECTS: usize = 255;

impl Format for Cvat {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn detect(&self, source: &dyn Source) -> bool {
        !find_roots(source).is_empty()
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
        Ok(Box::new(write::CvatWriter::new(dataset, compression, out)?))
    }
}

/// Dataset roots (`""` or `a/b/`) that hold `ImageSets/Segmentation/*.txt`.
fn find_roots(source: &dyn Source) -> BTreeSet<String> {
    source
        .files()
        .iter()
        .filter(|file| !is_mac_metadata(file))
        .filter_map(|file| {
            let (dir, name) = file.rsplit_once('/')?;
            if !name.ends_with(".txt") {
                return None;
            }
            let root = dir.strip_suffix("ImageSets/Segmentation")?;
            let at_boundary = root.is_empty() || root.ends_with('/');
            (at_boundary && root.matches('/').count() <= MAX_ROOT_DEPTH).then(|| root.to_string())
        })
        .collect()
}

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

use super::{
    Dataset, Format, FormatInfo, Holds, ReadOptions, WriteOptions, Writer, is_mac_metadata,
};
use crate::error::Result;
use crate::io::Source;
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
    holds: Holds {
        instances: true,
        max_segments_per_item: Some(MAX_OBJECTS as u32),
        color_bits: 8,
        subsets: true,
        segment_attributes: false,
        source_images: true,
    },
    options: &[],
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

    fn open(&self, source: Arc<dyn Source>, _options: &ReadOptions) -> Result<Dataset> {
        read::open(source).map_err(|e| e.in_format(INFO.name))
    }

    fn writer(&self, options: &WriteOptions) -> Result<Box<dyn Writer>> {
        Ok(Box::new(write::CvatWriter::new(options.compression)))
    }
}

/// Pascal VOC colormap entry `index` (Datumaro's `generate_colormap`): the
/// bits of the index spread over R, G, B from the most significant bit down.
pub fn voc_color(index: u8) -> [u8; 3] {
    let mut rgb = [0u8; 3];
    let mut bits = u32::from(index);
    for shift in (0..8).rev() {
        for (channel, value) in rgb.iter_mut().enumerate() {
            *value |= (((bits >> channel) & 1) as u8) << shift;
        }
        bits >>= 3;
    }
    rgb
}

/// The index whose VOC colormap entry is `rgb`, if any.
pub fn voc_index(rgb: [u8; 3]) -> Option<u8> {
    let mut index = 0u32;
    for level in 0..3 {
        let shift = 7 - level;
        for (channel, value) in rgb.iter().enumerate() {
            index |= u32::from((value >> shift) & 1) << (3 * level + channel);
        }
    }
    let index = u8::try_from(index).ok()?;
    (voc_color(index) == rgb).then_some(index)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_colormap_matches_datumaro_values() {
        let expected = [
            (0, [0, 0, 0]),
            (1, [128, 0, 0]),
            (2, [0, 128, 0]),
            (3, [128, 128, 0]),
            (7, [128, 128, 128]),
            (8, [64, 0, 0]),
            (9, [192, 0, 0]),
            (15, [192, 128, 128]),
            (16, [0, 64, 0]),
            (20, [0, 64, 128]),
            (21, [128, 64, 128]),
            (254, [96, 224, 192]),
            (255, [224, 224, 192]),
        ];
        for (index, rgb) in expected {
            assert_eq!(voc_color(index), rgb, "index {index}");
        }
    }

    #[test]
    fn voc_index_inverts_the_colormap_and_rejects_other_colours() {
        for i in 0..=255u8 {
            assert_eq!(voc_index(voc_color(i)), Some(i));
        }
        assert_eq!(voc_index([1, 2, 3]), None);
        assert_eq!(voc_index([23, 190, 207]), None);
    }
}

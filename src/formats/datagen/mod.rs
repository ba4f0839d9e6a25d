//! Datagen (datagen.tech) semantic segmentation (spec: `specs/datagen.md` in
//! the shared folder).
//!
//! **On disk** (a folder, a `.zip`, or the `.tar.gz` Datagen ships; the
//! datapoint folders may sit under one common folder):
//! ```text
//! datapoint_00001/                          # also scene_*, environment_*
//!   semantic_segmentation_metadata.json     # {"version": "1.0.0", "human": {"head": {"hair": {"R":..,"G":..,"B":..}}}, ...}
//!   <camera>/semantic_segmentation.png      # one per camera; camera names are free
//!   <camera>/environment.json               # names the camera's visible_spectrum image
//! scene_00001/frames/001/<camera>/...       # Humans-in-Context layout
//! ```
//! The metadata file is looked up in the camera folder, then the frame
//! folder, then the datapoint folder, as Datagen's SDK does. An item is one
//! camera; its key is the camera folder's path from the datapoint folder on
//! (`datapoint_00001/camera`).
//!
//! **Pixels**: 16-bit RGB (RGBA: alpha ignored); a pixel is exactly a
//! metadata leaf's `(R, G, B)`, no tolerance. A leaf is `{"R","G","B"}` or a
//! 3-element array; its class name is its dotted path (`human.head.hair`).
//! The `background` leaf is unlabeled. 8-bit masks are refused (a tool that
//! drops the low byte re-saved them); the January-2022 EXR flavour is
//! recognised and refused as an unsupported legacy version.
//!
//! **Written**: one `datapoint_*` folder per item (or the item's own Datagen
//! path), metadata formatted as Datagen formats it, 16-bit RGB masks, an
//! `environment.json` per camera so Datagen's SDK can enumerate the dataset.
//! Items whose key is not a Datagen camera path, and items with a subset, get
//! a `maskconv_item.json` beside the mask holding both, so a round trip
//! through Datagen gives them back.
//!
//! **Known losses**: no instances (the instances of a class merge into one
//! region); no class or segment attributes; one colour per class (the same
//! class name with two colours in two datapoints keeps the first, reported
//! as loss `class-colour-conflict`).

mod metadata;
mod read;
mod write;

use super::api::{Dataset, Format, FormatInfo, Writer};
use super::common::is_mac_metadata;
use super::options::FormatOptions;
use crate::codec::Compression;
use crate::error::Result;
use crate::io::Source;
use crate::losses::{Capabilities, Diagnostics, Keeps};
use std::sync::Arc;

/// The Datagen semantic segmentation format.
pub struct Datagen;

static INFO: FormatInfo = FormatInfo {
    name: "datagen",
    aliases: &["datagen-tech"],
    description: "Datagen semantic segmentation: datapoint_*/ folders, nested semantic_segmentation_metadata.json, 16-bit RGB <camera>/semantic_segmentation.png (folder, .zip or .tar.gz)",
    can_read: true,
    can_write: true,
    capabilities: Capabilities {
        instances: false,
        max_segments: None,
        color_bits: 16,
        subsets: true,
        class_attributes: Keeps::Nothing,
        segment_attributes: Keeps::Nothing,
        source_images: true,
        items_without_mask: true,
        ignore_value: false,
    },
    options: &[],
    archive_folder: true,
};

const METADATA: &str = "semantic_segmentation_metadata.json";
const MASK_PNG: &str = "semantic_segmentation.png";
const MASK_EXR: &str = "semantic_segmentation.exr";
const ENVIRONMENT: &str = "environment.json";
const CAMERA_METADATA: &str = "camera_metadata.json";
/// maskconv's own file beside a mask: the item's key and subset when the
/// Datagen path cannot say them.
const ITEM_FILE: &str = "maskconv_item.json";
const BACKGROUND: &str = "background";
const FRAMES: &str = "frames";
/// The Datagen SDK's default image name when `environment.json` names none.
const DEFAULT_IMAGE: &str = "visible_spectrum.png";

/// Whether `name` names a datapoint folder, as Datagen's SDK finds them.
fn is_datapoint_dir(name: &str) -> bool {
    ["datapoint_", "scene_", "environment_"]
        .iter()
        .any(|prefix| name.len() > prefix.len() && name.starts_with(prefix))
}

/// A camera folder's place in a Datagen dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CameraPath<'a> {
    /// The datapoint folder (`datapoint_00001`).
    datapoint: &'a str,
    /// The frame folder under it (`frames/001`), in the Humans-in-Context layout.
    frame: Option<&'a str>,
}

/// Reads `key` as a Datagen camera path: `<datapoint>/<camera>` or
/// `<datapoint>/frames/<NNN>/<camera>`.
fn camera_path(key: &str) -> Option<CameraPath<'_>> {
    let parts: Vec<&str> = key.split('/').collect();
    let ok = |part: &&str| !part.is_empty() && *part != "." && *part != "..";
    if !parts.iter().all(ok) || !is_datapoint_dir(parts[0]) {
        return None;
    }
    match parts.len() {
        2 => Some(CameraPath {
            datapoint: parts[0],
            frame: None,
        }),
        4 if parts[1] == FRAMES => Some(CameraPath {
            datapoint: parts[0],
            frame: Some(
                &key[parts[0].len() + 1..parts[0].len() + 1 + FRAMES.len() + 1 + parts[2].len()],
            ),
        }),
        _ => None,
    }
}

/// Splits the path of a file in a camera folder (a mask, `environment.json`)
/// into the dataset root (`""` or `a/b/`) and the item key, if the folder is
/// where a Datagen camera folder is. The Humans-in-Context reading
/// (`<datapoint>/frames/<NNN>/<camera>`) is tried first.
fn split_mask_path(path: &str) -> Option<(&str, &str)> {
    let camera_dir = path.rsplit_once('/')?.0;
    let parts: Vec<&str> = camera_dir.split('/').collect();
    let n = parts.len();
    let hic = (n >= 4 && parts[n - 3] == FRAMES).then(|| n - 4);
    [hic, n.checked_sub(2)]
        .into_iter()
        .flatten()
        .find_map(|at| {
            let root_len: usize = parts[..at].iter().map(|p| p.len() + 1).sum();
            let key = &camera_dir[root_len..];
            camera_path(key).map(|_| (&path[..root_len], key))
        })
}

/// Whether `path` is a Datagen mask (PNG or legacy EXR).
fn is_mask_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    (name == MASK_PNG || name == MASK_EXR) && !is_mac_metadata(path)
}

impl Format for Datagen {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }

    fn detect(&self, source: &dyn Source) -> bool {
        source
            .files()
            .iter()
            .any(|f| is_mask_file(f) && split_mask_path(f).is_some())
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
        Ok(Box::new(write::DatagenWriter::new(
            dataset,
            compression,
            out,
        )?))
    }
}

/// The colours Datagen gives its own classes (the same in every real file
/// seen: 115 datapoints of the DatagenTech/dgutils samples).
pub const DATAGEN_COLORS: &[(&str, [u16; 3])] = &[
    ("glasses.frame.front", [2612, 45674, 36896]),
    ("glasses.frame.left", [54113, 29579, 17303]),
    ("glasses.frame.right", [61685, 7748, 58698]),
    ("glasses.lens.left", [29451, 37905, 21578]),
    ("glasses.lens.right", [38306, 16726, 39375]),
    ("human.head.ear.left", [25594, 22703, 49163]),
    ("human.head.ear.right", [4027, 30928, 11794]),
    ("human.head.eye.left.eyeball", [65036, 35253, 58649]),
    ("human.head.eye.left.eyelid", [52594, 303, 33189]),
    ("human.head.eye.left.tear_duct", [34327, 19882, 46768]),
    ("human.head.eye.right.eyeball", [9488, 53408, 21751]),
    ("human.head.eye.right.eyelid", [61585, 56473, 45546]),
    ("human.head.eye.right.tear_duct", [4195, 21866, 38595]),
    ("human.head.eyebrow.left", [25890, 62289, 62077]),
    ("human.head.eyebrow.right", [4241, 48855, 61452]),
    ("human.head.hair", [4384, 1699, 55003]),
    ("human.head.mouth.gums.bottom", [49584, 25641, 61743]),
    ("human.head.mouth.gums.top", [30375, 54288, 35256]),
    ("human.head.mouth.interior", [40260, 6791, 10197]),
    ("human.head.mouth.lips.bottom.left", [60167, 35896, 35807]),
    ("human.head.mouth.lips.bottom.right", [7346, 20603, 45223]),
    ("human.head.mouth.lips.top.left", [58222, 23071, 11009]),
    ("human.head.mouth.lips.top.right", [35538, 21858, 35678]),
    ("human.head.mouth.teeth.bottom", [56124, 29399, 39367]),
    ("human.head.mouth.teeth.top", [29528, 21170, 7322]),
    ("human.head.mouth.tongue", [45705, 61178, 36197]),
    ("human.head.neck.left", [38693, 46071, 10081]),
    ("human.head.neck.right", [18268, 6851, 56303]),
    ("human.head.nose.left", [25984, 22567, 16578]),
    ("human.head.nose.right", [54652, 54478, 51619]),
    ("human.head.skin.left", [9114, 4994, 13827]),
    ("human.head.skin.right", [44166, 8762, 45533]),
];

/// Datagen's own colour for class `name`, if it is one of Datagen's classes.
fn datagen_color(name: &str) -> Option<[u16; 3]> {
    DATAGEN_COLORS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Color;
    use std::collections::HashSet;

    #[test]
    fn datagen_colours_are_distinct_at_sixteen_and_eight_bits() {
        let wide: HashSet<[u16; 3]> = DATAGEN_COLORS.iter().map(|(_, c)| *c).collect();
        let narrow: HashSet<[u8; 3]> = DATAGEN_COLORS
            .iter()
            .map(|(_, c)| Color::Rgb16(*c).to_rgb8())
            .collect();
        assert_eq!(wide.len(), DATAGEN_COLORS.len());
        assert_eq!(narrow.len(), DATAGEN_COLORS.len());
        assert!(!wide.contains(&[0, 0, 0]));
    }

    #[test]
    fn camera_paths_are_recognised_in_both_layouts() {
        assert_eq!(
            camera_path("datapoint_00001/camera"),
            Some(CameraPath {
                datapoint: "datapoint_00001",
                frame: None
            })
        );
        assert_eq!(
            camera_path("scene_00001/frames/001/cam"),
            Some(CameraPath {
                datapoint: "scene_00001",
                frame: Some("frames/001")
            })
        );
        assert_eq!(camera_path("2007_000032"), None);
        assert_eq!(camera_path("datapoint_/camera"), None);
        assert_eq!(camera_path("a/datapoint_1/camera"), None);
        assert_eq!(camera_path("datapoint_1/a/b"), None);
    }

    #[test]
    fn mask_paths_split_into_root_and_key() {
        assert_eq!(
            split_mask_path("faces/datapoint_00001/camera/semantic_segmentation.png"),
            Some(("faces/", "datapoint_00001/camera"))
        );
        assert_eq!(
            split_mask_path("scene_00001/frames/001/cam/semantic_segmentation.png"),
            Some(("", "scene_00001/frames/001/cam"))
        );
        assert_eq!(split_mask_path("x/camera/semantic_segmentation.png"), None);
        assert_eq!(split_mask_path("semantic_segmentation.png"), None);
        assert_eq!(
            split_mask_path("x/frames/datapoint_1/camera/semantic_segmentation.png"),
            Some(("x/frames/", "datapoint_1/camera")),
            "a dataset under a folder named frames"
        );
        assert_eq!(
            split_mask_path("datapoint_1/./semantic_segmentation.png"),
            None
        );
        assert_eq!(
            split_mask_path("datapoint_1//semantic_segmentation.png"),
            None
        );
    }
}

//! What COCO's two formats (`coco` instances and `coco-panoptic`) share:
//! finding `annotations/<prefix><subset>.json`, streaming one, an image
//! entry, categories as classes, and, when writing, category ids, image
//! ids and the annotation file itself, written from the items' records.
//!
//! A record of either writer is lines of compact JSON: the subset, the
//! image entry (without `id`), then one line per annotation (without
//! `id` or `image_id`), each optionally led by the annotation id the
//! writer would like and a tab. [`write_annotation_file`] splices the ids in.

mod read;
mod write;

pub use read::*;
pub use write::*;

use super::common::is_mac_metadata;
use crate::io::Source;
use serde_json::{Map, Value};

/// The folder of annotation files, below the dataset's root.
pub const ANNOTATIONS_DIR: &str = "annotations/";
/// The folder of written source images, below the dataset's root.
pub const IMAGES_DIR: &str = "images/";
/// The subset of items without one.
pub const DEFAULT_SUBSET: &str = "default";
/// The segment attribute holding COCO's crowd flag.
pub const ISCROWD: &str = "iscrowd";
/// The class attribute holding a category's supercategory.
pub const SUPERCATEGORY: &str = "supercategory";
/// The keys of a category both formats define.
pub const CATEGORY_KEYS: [&str; 5] = ["id", "name", "supercategory", "isthing", "color"];

/// The class attributes a COCO category holds: its supercategory, and keys
/// other than the category's own.
pub const CLASS_ATTRIBUTES: crate::losses::Keeps = crate::losses::Keeps::Some {
    keeps: |name, _| !CATEGORY_KEYS.contains(&name) || name == SUPERCATEGORY,
    what: "a COCO category keeps other keys beside id, name, isthing and color",
};

/// One annotation file of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationFile<'a> {
    /// Its path in the input.
    pub path: &'a str,
    /// The dataset's root folder (`""` or `top/`).
    pub root: &'a str,
    /// The subset it holds (`default` included).
    pub subset: &'a str,
}

/// The `annotations/<prefix><subset>.json` files at the input's top or in
/// a folder there, in path order.
pub fn annotation_files<'a>(source: &'a dyn Source, prefix: &str) -> Vec<AnnotationFile<'a>> {
    source
        .files()
        .iter()
        .filter(|f| !is_mac_metadata(f))
        .filter_map(|path| {
            let stem = path.strip_suffix(".json")?;
            let at = stem.rfind(ANNOTATIONS_DIR)?;
            let (root, name) = (&path[..at], &stem[at + ANNOTATIONS_DIR.len()..]);
            let subset = name.strip_prefix(prefix)?;
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
pub fn crowd_flag(attributes: &Map<String, Value>) -> u64 {
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
        let found: Vec<(&str, &str)> = annotation_files(&source, "panoptic_")
            .iter()
            .map(|f| (f.root, f.subset))
            .collect();
        assert_eq!(found, [("", "train"), ("top/", "val2017")]);
        let instances = annotation_files(&source, "instances_");
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].subset, "train");
    }
}

//! The polygon rasteriser against pycocotools: polygons that
//! `tests/conformance/polygons.py` rasterised with pycocotools
//! (`frPyObjects`, then `merge` of the rings) give the same compressed RLE
//! string here, so the same pixels.

use maskconv::remap::rle::{rle_from_polygon, union};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Rasterises every polygon of the file at `path` and returns how many of
/// each kind matched; panics naming the first that does not.
fn check_polygons(path: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut kinds = BTreeMap::new();
    for (line, text) in text.lines().enumerate() {
        let case: Value = serde_json::from_str(text).unwrap();
        let (h, w) = (
            case["height"].as_u64().unwrap() as u32,
            case["width"].as_u64().unwrap() as u32,
        );
        let rings: Vec<_> = case["rings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ring| {
                let flat: Vec<f64> = ring
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_f64().unwrap())
                    .collect();
                let points: Vec<[f64; 2]> = flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
                rle_from_polygon(&points, h, w).unwrap()
            })
            .collect();
        let counts = union(&rings).to_coco_string();
        let kind = case["kind"].as_str().unwrap();
        assert_eq!(
            counts,
            case["counts"].as_str().unwrap(),
            "line {} ({kind} on {w}×{h}): {:?}",
            line + 1,
            case["rings"]
        );
        *kinds.entry(kind.to_string()).or_default() += 1;
    }
    kinds
}

#[test]
fn polygons_rasterise_to_the_rle_pycocotools_gives() {
    let kinds = check_polygons(&crate::common::fixture(
        "rasterise/pycocotools_polygons.jsonl",
    ));
    assert_eq!(kinds.values().sum::<usize>(), 1000);
    assert_eq!(kinds.len(), 7, "every kind of polygon: {kinds:?}");
}

/// The conformance suite's freshly generated polygons (full precision), in
/// `MASKCONV_POLYGONS`.
#[test]
#[ignore = "run by tests/conformance/run.sh"]
fn fresh_polygons_rasterise_to_the_rle_pycocotools_gives() {
    let path =
        std::env::var("MASKCONV_POLYGONS").expect("MASKCONV_POLYGONS names the polygons file");
    let kinds = check_polygons(Path::new(&path));
    println!(
        "{} polygons equal pycocotools' RLE: {kinds:?}",
        kinds.values().sum::<usize>()
    );
}

//! The polygon rasteriser against pycocotools: polygons that
//! `tests/conformance/polygons.py` rasterised with pycocotools
//! (`frPyObjects`, then `merge` of the rings) give the same compressed RLE
//! string here, so the same pixels.

use crate::polygon_cases::polygon_cases;
use std::collections::BTreeMap;
use std::path::Path;

/// Rasterises every polygon of the file at `path` and returns how many of
/// each kind matched; panics naming the first that does not.
fn check_polygons(path: &Path) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for (line, case) in polygon_cases(&std::fs::read_to_string(path).unwrap())
        .iter()
        .enumerate()
    {
        assert_eq!(
            case.rasterise().to_coco_string(),
            case.counts,
            "line {} ({} on {}×{}): {:?}",
            line + 1,
            case.kind,
            case.width,
            case.height,
            case.rings
        );
        *kinds.entry(case.kind.clone()).or_default() += 1;
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

/// pycocotools' RLE strings come back from pixels: each fixture polygon,
/// painted into a label map, encodes (from the map's row runs) to the
/// string pycocotools gave for it — the encoder a COCO writer uses.
#[test]
fn label_map_segments_encode_to_the_rle_strings_pycocotools_gives() {
    use maskconv::model::{LabelMap, Segment};
    use maskconv::remap::rle::paint;
    use maskconv::remap::rle_encode::rles_of_segments;
    let text = std::fs::read_to_string(crate::common::fixture(
        "rasterise/pycocotools_polygons.jsonl",
    ))
    .unwrap();
    let mut checked = 0;
    for case in polygon_cases(&text) {
        let rle = case.rasterise();
        let painted = paint(&[(1, &rle)], case.height, case.width).unwrap();
        let map = LabelMap::from_runs(
            case.width,
            case.height,
            painted.runs,
            vec![Segment::new(1, None)],
        )
        .unwrap();
        assert_eq!(
            rles_of_segments(&map)[0].to_coco_string(),
            case.counts,
            "{:?}",
            case.rings
        );
        checked += 1;
    }
    assert_eq!(checked, 1000);
}

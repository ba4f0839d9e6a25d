//! `--polygons FILE`: maskconv's rasteriser timed on polygons whose
//! pycocotools RLE the file holds (lines of `tests/conformance/polygons.py`
//! or `benches/pycocotools_polygons.py make`): the RLE is checked, then
//! polygons per second are the median over the runs of rasterising every
//! polygon (`rle_from_polygon` per ring, then `union`), the work that
//! `benches/pycocotools_polygons.py time` times for pycocotools.

#[path = "../../tests/integration/polygon_cases.rs"]
mod polygon_cases;

use polygon_cases::polygon_cases;
use std::time::Instant;

/// Checks and times the polygons of `path`.
pub fn run(path: &str, runs: usize) {
    let cases = polygon_cases(&std::fs::read_to_string(path).expect("the polygons file"));
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(
            case.rasterise().to_coco_string(),
            case.counts,
            "polygon {i} ({}) differs from pycocotools",
            case.kind
        );
    }
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        for case in &cases {
            std::hint::black_box(case.rasterise());
        }
        rates.push(cases.len() as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "maskconv: {:.0} polygons/s (median of {runs}, {} polygons, RLE equal to pycocotools')",
        rates[runs / 2],
        cases.len()
    );
}

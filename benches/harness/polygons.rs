//! `--polygons FILE`: maskconv's rasteriser timed on polygons whose
//! pycocotools RLE the file holds (lines of `tests/conformance/polygons.py`
//! or `benches/pycocotools_polygons.py make`): the RLE is checked, then
//! polygons per second are the median over the runs of rasterising every
//! polygon (`rle_from_polygon` per ring, then `union`), the work that
//! `benches/pycocotools_polygons.py time` times for pycocotools.

use maskconv::remap::rle::{Rle, rle_from_polygon, union};
use std::time::Instant;

struct Case {
    height: u32,
    width: u32,
    rings: Vec<Vec<[f64; 2]>>,
    counts: String,
}

fn rasterise(case: &Case) -> Rle {
    let masks: Vec<Rle> = case
        .rings
        .iter()
        .map(|ring| {
            rle_from_polygon(ring, case.height, case.width).expect("a polygon within limits")
        })
        .collect();
    union(&masks)
}

/// Checks and times the polygons of `path`.
pub fn run(path: &str, runs: usize) {
    let text = std::fs::read_to_string(path).expect("the polygons file");
    let cases: Vec<Case> = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let rings = v["rings"]
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
                    flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
                })
                .collect();
            Case {
                height: v["height"].as_u64().unwrap() as u32,
                width: v["width"].as_u64().unwrap() as u32,
                rings,
                counts: v["counts"].as_str().unwrap().to_string(),
            }
        })
        .collect();
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(
            rasterise(case).to_coco_string(),
            case.counts,
            "polygon {i} differs from pycocotools"
        );
    }
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        for case in &cases {
            std::hint::black_box(rasterise(case));
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

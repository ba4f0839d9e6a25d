//! The lines of a polygons file (`tests/conformance/polygons.py`,
//! `benches/pycocotools_polygons.py make`): each a polygon of one or more
//! rings, its image size and pycocotools' RLE string of it. Shared by the
//! rasterise test and the benchmark harness (`#[path]`).

use maskconv::remap::rle::{Rle, rle_from_polygon, union};

/// One polygon of a polygons file.
pub struct PolygonCase {
    /// What kind of polygon (`convex`, `multi-ring`, …).
    pub kind: String,
    pub height: u32,
    pub width: u32,
    /// Each ring's points.
    pub rings: Vec<Vec<[f64; 2]>>,
    /// pycocotools' compressed RLE of the union of the rings.
    pub counts: String,
}

impl PolygonCase {
    /// maskconv's mask of it: each ring rasterised, then their union.
    pub fn rasterise(&self) -> Rle {
        let masks: Vec<Rle> = self
            .rings
            .iter()
            .map(|ring| {
                rle_from_polygon(ring, self.height, self.width).expect("a polygon within limits")
            })
            .collect();
        union(&masks)
    }
}

/// Every polygon of a polygons file's `text`.
pub fn polygon_cases(text: &str) -> Vec<PolygonCase> {
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let number = |key: &str| v[key].as_u64().expect("a size") as u32;
            let rings = v["rings"]
                .as_array()
                .expect("rings")
                .iter()
                .map(|ring| {
                    let flat: Vec<f64> = ring
                        .as_array()
                        .expect("a ring")
                        .iter()
                        .map(|c| c.as_f64().expect("a number"))
                        .collect();
                    flat.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
                })
                .collect();
            PolygonCase {
                kind: v["kind"].as_str().unwrap_or("").to_string(),
                height: number("height"),
                width: number("width"),
                rings,
                counts: v["counts"].as_str().expect("counts").to_string(),
            }
        })
        .collect()
}

//! `--trace DATASET`: every segment of every label map of DATASET traced
//! into polygons (`remap::trace::outlines`, what `--segmentation polygon`
//! writes), timed apart from reading and decoding: objects per second, the
//! median over the runs, the work `benches/opencv_contours.py` times for
//! `cv2.findContours` on the same objects. Then, untimed, the polygons
//! filled back with the pycocotools kernel: the mean and pooled IoU with
//! the objects' pixels (what the `polygon-iou` warning reports).

use maskconv::formats::coco_shared::areas_and_boxes;
use maskconv::remap::rle::{rle_from_polygon, union};
use maskconv::remap::rle_encode::rles_of_segments;
use maskconv::remap::trace::{iou, outlines};
use std::time::Instant;

/// Decodes the dataset at `path`, then times tracing its segments.
pub fn run(path: &str, runs: usize) {
    let maps = crate::rle::decoded(path);
    let boxes: Vec<Vec<[u32; 4]>> = maps
        .iter()
        .map(|m| areas_and_boxes(m).into_iter().map(|(_, b)| b).collect())
        .collect();
    let objects = crate::rle::objects(&maps);
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        for (map, boxes) in maps.iter().zip(&boxes) {
            std::hint::black_box(outlines(map, boxes));
        }
        rates.push(objects as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let (mut sum, mut both, mut either, mut lowest, mut counted) =
        (0.0, 0u64, 0u64, 1.0f64, 0usize);
    let mut vertices = 0usize;
    for (map, boxes) in maps.iter().zip(&boxes) {
        let rles = rles_of_segments(map);
        let (h, w) = (map.height(), map.width());
        for (rings, object) in outlines(map, boxes).iter().zip(&rles) {
            if rings.is_empty() {
                continue;
            }
            let filled: Vec<_> = rings
                .iter()
                .map(|ring| {
                    vertices += ring.len();
                    let points: Vec<[f64; 2]> = ring
                        .iter()
                        .map(|&[x, y]| [f64::from(x), f64::from(y)])
                        .collect();
                    rle_from_polygon(&points, h, w).expect("corners rasterise")
                })
                .collect();
            let (b, e) = iou(&union(&filled), object);
            let ratio = b as f64 / e as f64;
            sum += ratio;
            lowest = lowest.min(ratio);
            (both, either, counted) = (both + b, either + e, counted + 1);
        }
    }
    println!(
        "maskconv trace::outlines: {:.0} objects/s (median of {runs}; {} images, {objects} objects, {vertices} vertices)",
        rates[runs / 2],
        maps.len()
    );
    println!(
        "polygons filled back (pycocotools kernel): mean IoU {:.6}, pooled {:.6}, lowest {:.6}",
        sum / counted as f64,
        both as f64 / either as f64,
        lowest
    );
}

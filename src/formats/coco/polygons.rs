//! `--segmentation polygon`: each object's outer outlines as COCO polygon
//! rings, filled back with pycocotools' rule to measure what they lose
//! (holes), and the run's tally of it.

use crate::remap::rle::{PolygonError, Rle, rle_from_polygon, union};
use crate::remap::trace::{Ring, iou};
use serde_json::Value;
use std::sync::Mutex;

/// One object as polygons: the `segmentation`, the pixels the rings fill
/// (its `area`), and the pixels the rings and the object share and cover
/// between them.
pub(super) struct Traced {
    pub segmentation: Value,
    pub area: u64,
    pub both: u64,
    pub either: u64,
}

/// `rings` (of an object whose mask is `object`) as a COCO `segmentation`,
/// measured against the object. The error: a ring pycocotools' kernel
/// cannot fill within its limits (an outline too fragmented).
pub(super) fn traced(rings: &[&Ring], object: &Rle) -> Result<Traced, PolygonError> {
    let (h, w) = (object.height, object.width);
    let filled = rings
        .iter()
        .map(|ring| {
            let points: Vec<[f64; 2]> = ring
                .iter()
                .map(|&[x, y]| [f64::from(x), f64::from(y)])
                .collect();
            rle_from_polygon(&points, h, w)
        })
        .collect::<Result<Vec<Rle>, PolygonError>>()?;
    let back = union(&filled);
    let area = back
        .counts
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&c| u64::from(c))
        .sum();
    let (both, either) = iou(&back, object);
    let segmentation = rings
        .iter()
        .map(|ring| Value::from(ring.iter().flatten().copied().collect::<Vec<u32>>()))
        .collect();
    Ok(Traced {
        segmentation: Value::Array(segmentation),
        area,
        both,
        either,
    })
}

/// The objects written as polygons so far, for the summary: a mean of
/// their IoUs in billionths (a sum of integers, the same in any order),
/// pooled pixels, and the lowest IoU with its item.
#[derive(Default)]
pub(super) struct Tally(Mutex<Sums>);

#[derive(Default)]
struct Sums {
    objects: u64,
    approximated: u64,
    iou_billionths: u64,
    both: u64,
    either: u64,
    /// `(both, either, item key)` of the lowest IoU.
    lowest: Option<(u64, u64, String)>,
}

impl Tally {
    /// Counts one object of the item `key`.
    pub(super) fn add(&self, key: &str, traced: &Traced) {
        let mut sums = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (both, either) = (traced.both, traced.either.max(1));
        sums.objects += 1;
        sums.iou_billionths += both * 1_000_000_000 / either;
        sums.both += both;
        sums.either += either;
        if both < either {
            sums.approximated += 1;
        }
        let lower = match &sums.lowest {
            None => true,
            // a/b < c/d, ties to the smaller key (the same at any thread count).
            Some((b, e, at)) => {
                let mine = u128::from(both) * u128::from(*e);
                let theirs = u128::from(*b) * u128::from(either);
                mine < theirs || (mine == theirs && key < at.as_str())
            }
        };
        if lower {
            sums.lowest = Some((both, either, key.to_string()));
        }
    }

    /// The summary line (`None`: no object was written as polygons).
    pub(super) fn summary(&self) -> Option<String> {
        let sums = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (both, either, at) = sums.lowest.as_ref()?;
        Some(format!(
            "polygons of {} objects: mean IoU {:.6}, pooled {:.6}, lowest {:.6} (item '{}'); {} objects with holes fill them (polygon-approximation)",
            sums.objects,
            sums.iou_billionths as f64 / 1e9 / sums.objects as f64,
            sums.both as f64 / sums.either.max(1) as f64,
            *both as f64 / *either as f64,
            at,
            sums.approximated,
        ))
    }
}

/// IoU for messages.
pub(super) fn ratio(traced: &Traced) -> f64 {
    traced.both as f64 / traced.either.max(1) as f64
}

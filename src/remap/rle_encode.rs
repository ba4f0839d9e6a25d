//! COCO RLE of every segment of a label map at once (`maskApi.c`'s
//! `rleEncode` of each object's mask), from the map's row runs: each row
//! against the one above, no dense mask per object. What a COCO instances
//! writer encodes each object with.

use super::rle::Rle;
use crate::model::{LabelMap, Run};

/// The RLE of each segment of `map` (index `i`: segment id `i + 1`), as
/// pycocotools encodes its binary mask: column-major, 0s first. A segment
/// without pixels is one run of 0s.
///
/// In column-major order a mask changes value exactly where a pixel differs
/// from the one above it (rows −1 and `height` count as empty; the change
/// below a column's last pixel and the one above the next column's first
/// share a place and cancel). Those places are found row against row on
/// the runs (the columns where two neighbouring rows differ, per segment),
/// then sorted: time grows with the segments' outlines, not the image's area.
pub fn rles_of_segments(map: &LabelMap) -> Vec<Rle> {
    let (w, h) = (map.width(), map.height());
    let mut changes: Vec<Vec<u64>> = vec![Vec::new(); map.segments().len()];
    let empty = [Run { id: 0, len: w }];
    for y in 0..=h as usize {
        let above: &[Run] = if y == 0 { &empty } else { map.row(y - 1) };
        let here: &[Run] = if y == h as usize { &empty } else { map.row(y) };
        let (mut a, mut b) = (0, 0);
        let (mut a_end, mut b_end) = (above[0].len, here[0].len);
        let mut x = 0u32;
        while x < w {
            let end = a_end.min(b_end);
            let (up, down) = (above[a].id, here[b].id);
            if up != down {
                for id in [up, down].into_iter().filter(|&id| id != 0) {
                    let found = &mut changes[id as usize - 1];
                    found.extend((x..end).map(|x| u64::from(x) * u64::from(h) + y as u64));
                }
            }
            x = end;
            if a_end == end && a + 1 < above.len() {
                a += 1;
                a_end += above[a].len;
            }
            if b_end == end && b + 1 < here.len() {
                b += 1;
                b_end += here[b].len;
            }
        }
    }
    let total = u64::from(w) * u64::from(h);
    changes
        .into_iter()
        .map(|mut places| {
            places.sort_unstable();
            let mut counts = Vec::with_capacity(places.len() + 1);
            let mut last = 0u64;
            let mut i = 0;
            while i < places.len() {
                // A column's bottom and the next column's top: no change.
                if places.get(i + 1) == Some(&places[i]) {
                    i += 2;
                    continue;
                }
                counts.push((places[i] - last) as u32);
                last = places[i];
                i += 1;
            }
            if last < total || counts.is_empty() {
                counts.push((total - last) as u32);
            }
            Rle {
                height: h,
                width: w,
                counts,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Segment;

    /// pycocotools' `encode` of segment `id`'s dense mask, literally.
    fn dense(ids: &[u32], h: u32, w: u32, id: u32) -> Vec<u32> {
        let mut counts = Vec::new();
        let (mut current, mut run) = (false, 0u32);
        for x in 0..w {
            for y in 0..h {
                let on = ids[(y * w + x) as usize] == id;
                if on != current {
                    counts.push(run);
                    run = 0;
                    current = on;
                }
                run += 1;
            }
        }
        counts.push(run);
        counts
    }

    #[test]
    fn every_segment_encodes_as_its_dense_mask_would() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..300 {
            let (h, w) = (1 + next(9) as u32, 1 + next(9) as u32);
            let segments = 1 + next(4) as u32;
            // Blocky maps (long runs) and noisy ones (a run per pixel).
            let ids: Vec<u32> = (0..h * w)
                .map(|i| match case % 2 {
                    0 => (i / 3 + next(2) as u32) % (segments + 1),
                    _ => next(u64::from(segments) + 1) as u32,
                })
                .collect();
            let map = LabelMap::new(
                w,
                h,
                ids.clone(),
                (0..segments).map(|s| Segment::new(s + 1, None)).collect(),
            )
            .unwrap();
            let rles = rles_of_segments(&map);
            for (i, rle) in rles.iter().enumerate() {
                assert_eq!(rle.counts, dense(&ids, h, w, i as u32 + 1), "case {case}");
                assert_eq!(
                    rle.counts.iter().map(|&c| u64::from(c)).sum::<u64>(),
                    u64::from(h * w)
                );
            }
        }
    }

    #[test]
    fn a_mask_starting_or_ending_with_its_pixels_has_the_zero_runs_pycocotools_gives() {
        // 2 × 2, column-major [1, 1, 0, 1]: counts [0, 2, 1, 1].
        let map = LabelMap::new(2, 2, vec![1, 0, 1, 1], vec![Segment::new(1, None)]).unwrap();
        assert_eq!(rles_of_segments(&map)[0].counts, [0, 2, 1, 1]);
        let empty = LabelMap::new(2, 1, vec![0, 0], vec![Segment::new(1, None)]).unwrap();
        assert_eq!(rles_of_segments(&empty)[0].counts, [2]);
    }
}

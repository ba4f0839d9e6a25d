//! COCO RLE of every segment of a label map at once (`maskApi.c`'s
//! `rleEncode` of each object's mask), from the map's row runs: one sweep
//! over the columns, no dense mask per object. What a COCO instances
//! writer encodes each object with.

use super::rle::Rle;
use crate::model::LabelMap;

/// One segment's RLE as it is built: its counts, and where its last run of
/// pixels ended (in column-major pixel order).
#[derive(Default)]
struct Building {
    counts: Vec<u32>,
    end: u64,
}

impl Building {
    /// Adds `len` pixels of the segment from column-major index `start`.
    fn push(&mut self, start: u64, len: u32) {
        match self.counts.last_mut() {
            // Continuing the last run (a column's bottom meets the next's top).
            Some(last) if start == self.end => *last += len,
            _ => {
                self.counts.push((start - self.end) as u32);
                self.counts.push(len);
            }
        }
        self.end = start + u64::from(len);
    }

    fn finish(mut self, height: u32, width: u32) -> Rle {
        let total = u64::from(height) * u64::from(width);
        if self.end < total || self.counts.is_empty() {
            self.counts.push((total - self.end) as u32);
        }
        Rle {
            height,
            width,
            counts: self.counts,
        }
    }
}

/// The RLE of each segment of `map` (index `i`: segment id `i + 1`), as
/// pycocotools encodes its binary mask: column-major, 0s first. A segment
/// without pixels is one run of 0s. Time: one pass over the columns, a step
/// per row and per row run; memory: the image's height in cursors.
pub fn rles_of_segments(map: &LabelMap) -> Vec<Rle> {
    let (w, h) = (map.width(), map.height());
    let mut building: Vec<Building> = (0..map.segments().len())
        .map(|_| Building::default())
        .collect();
    // Per row: the index of the run at the current column, where it ends,
    // and its id.
    let rows: Vec<&[crate::model::Run]> = (0..h as usize).map(|y| map.row(y)).collect();
    let mut at = vec![0usize; h as usize];
    let mut ends: Vec<u32> = rows.iter().map(|r| r[0].len).collect();
    let mut column: Vec<u32> = rows.iter().map(|r| r[0].id).collect();
    for x in 0..w {
        for y in 0..h as usize {
            if x == ends[y] {
                at[y] += 1;
                let run = rows[y][at[y]];
                ends[y] += run.len;
                column[y] = run.id;
            }
        }
        let base = u64::from(x) * u64::from(h);
        let mut y = 0usize;
        while y < h as usize {
            let id = column[y];
            let start = y;
            while y < h as usize && column[y] == id {
                y += 1;
            }
            if id != 0 {
                building[id as usize - 1].push(base + start as u64, (y - start) as u32);
            }
        }
    }
    building.into_iter().map(|b| b.finish(h, w)).collect()
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

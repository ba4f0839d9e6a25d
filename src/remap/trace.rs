//! The outlines of every segment of a label map as polygons along the
//! pixel edges (crack following), with vertices on pixel corners and
//! collinear points left out: what a COCO instances writer emits for
//! polygon-only consumers. pycocotools' `rleFrPoly` fills such a ring to
//! exactly the pixels inside it, so an object's outer rings give back its
//! pixels but for its holes (COCO unions rings, so a hole's ring would
//! fill, not cut): holes are left out, and [`iou`] measures what that costs.
//!
//! An object's pixels are 4-connected for tracing: two pixels touching at
//! a corner only are two rings. Each segment is traced on a bit mask of
//! its bounding box (one bit per pixel).

use super::rle::Rle;
use crate::model::LabelMap;

/// One ring: its vertices `[x, y]` on pixel corners, clockwise on screen
/// (y down), the first not repeated at the end.
pub type Ring = Vec<[u32; 2]>;

/// The pixels of one segment inside its bounding box, a bit each.
struct BitMask {
    x0: u32,
    y0: u32,
    width: u32,
    height: u32,
    words: usize,
    bits: Vec<u64>,
}

impl BitMask {
    fn new([x0, y0, width, height]: [u32; 4]) -> Self {
        let words = (width as usize).div_ceil(64);
        BitMask {
            x0,
            y0,
            width,
            height,
            words,
            bits: vec![0; words * height as usize],
        }
    }

    /// Sets pixels `x .. x + len` of image row `y`.
    fn fill(&mut self, y: u32, x: u32, len: u32) {
        let row = (y - self.y0) as usize * self.words;
        let (mut from, to) = ((x - self.x0) as usize, (x - self.x0 + len) as usize);
        while from < to {
            let (word, bit) = (from / 64, from % 64);
            let n = (64 - bit).min(to - from);
            let ones = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            self.bits[row + word] |= ones;
            from += n;
        }
    }

    /// Whether the pixel at box coordinates `(x, y)` is set (outside: no).
    fn get(&self, x: i64, y: i64) -> bool {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return false;
        }
        let (x, y) = (x as usize, y as usize);
        self.bits[y * self.words + x / 64] >> (x % 64) & 1 == 1
    }
}

/// Directions in image coordinates (y down).
const DIRECTIONS: [(i64, i64); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];

/// Traces every ring of `mask`, outer ones and holes; returns the outer
/// rings (clockwise on screen) in box coordinates, in raster order of
/// their topmost-leftmost edge.
fn outer_rings(mask: &BitMask) -> Vec<Ring> {
    let (words, h) = (mask.words, mask.height as usize);
    // Top edges already walked: the edge above pixel (x, y).
    let mut walked = vec![0u64; words * h];
    let mut rings = Vec::new();
    for y in 0..h {
        for word in 0..words {
            let above = match y {
                0 => 0,
                _ => mask.bits[(y - 1) * words + word],
            };
            // Pixels set with no set pixel above: top edges, 64 at a time.
            let mut starts = mask.bits[y * words + word] & !above;
            while starts != 0 {
                let bit = starts.trailing_zeros() as usize;
                starts &= starts - 1;
                if walked[y * words + word] >> bit & 1 == 1 {
                    continue;
                }
                let x = (word * 64 + bit) as u32;
                let (ring, area) = walk(mask, &mut walked, x, y as u32);
                // Holes run the other way round: a negative area.
                if area > 0 {
                    rings.push(ring);
                }
            }
        }
    }
    rings
}

/// Walks the boundary from the top edge of pixel `(x, y)` (moving right,
/// the object on the right-hand side) until it closes; marks the top edges
/// it walks. Returns the corners where it turns and twice its signed area.
fn walk(mask: &BitMask, walked: &mut [u64], x: u32, y: u32) -> (Ring, i64) {
    let (start_x, start_y) = (i64::from(x), i64::from(y));
    let (mut vx, mut vy, mut d) = (start_x, start_y, 0usize);
    let mut ring: Ring = Vec::new();
    let mut area = 0i64;
    loop {
        let (dx, dy) = DIRECTIONS[d];
        if d == 0 {
            let (ex, ey) = (vx as usize, vy as usize);
            walked[ey * mask.words + ex / 64] |= 1 << (ex % 64);
        }
        let (nx, ny) = (vx + dx, vy + dy);
        area += vx * ny - nx * vy;
        (vx, vy) = (nx, ny);
        // The two pixels ahead of the corner, right and left of the way on.
        let (rx, ry) = (-dy, dx);
        let cell = |sx: i64, sy: i64| {
            let ox = if sx > 0 { 0 } else { -1 };
            let oy = if sy > 0 { 0 } else { -1 };
            mask.get(vx + ox, vy + oy)
        };
        let ahead_right = cell(dx + rx, dy + ry);
        let ahead_left = cell(dx - rx, dy - ry);
        let turn = match (ahead_right, ahead_left) {
            (false, _) => Some((d + 1) % 4),
            (true, true) => Some((d + 3) % 4),
            (true, false) => None,
        };
        if let Some(next) = turn {
            ring.push([vx as u32, vy as u32]);
            d = next;
        }
        if (vx, vy) == (start_x, start_y) && d == 0 {
            break;
        }
    }
    // Start at the walk's first corner, as it was found.
    if let Some(at) = ring.iter().position(|&p| p == [x, y]) {
        ring.rotate_left(at);
    }
    (ring, area)
}

/// Most bits the masks traced at once hold (8 MiB), apart from one
/// segment's alone: segments are traced in batches within it.
const BATCH_BITS: u64 = 1 << 26;

/// The outer rings of each segment of `map` (index `i`: segment id
/// `i + 1`), in image pixel-corner coordinates; a segment without pixels
/// has none. `boxes`: each segment's `[x, y, w, h]` (index = segment id),
/// as [`crate::formats::coco_shared::areas_and_boxes`] measures them.
/// Memory: the bit masks of one batch of segments (8 MiB, or one segment's alone).
pub fn outlines(map: &LabelMap, boxes: &[[u32; 4]]) -> Vec<Vec<Ring>> {
    outlines_within(map, boxes, BATCH_BITS)
}

/// [`outlines`], tracing batches of at most `budget` bits of masks.
fn outlines_within(map: &LabelMap, boxes: &[[u32; 4]], budget: u64) -> Vec<Vec<Ring>> {
    let segments = boxes.len() - 1;
    let bits = |b: &[u32; 4]| u64::from(b[2]).div_ceil(64) * 64 * u64::from(b[3]);
    let mut found: Vec<Vec<Ring>> = vec![Vec::new(); segments];
    let mut first = 0;
    while first < segments {
        let (mut last, mut held) = (first, 0u64);
        while last < segments && (last == first || held + bits(&boxes[last + 1]) <= budget) {
            held += bits(&boxes[last + 1]);
            last += 1;
        }
        let batch = &boxes[first + 1..=last];
        let mut masks: Vec<Option<BitMask>> = batch
            .iter()
            .map(|b| (b[2] > 0).then(|| BitMask::new(*b)))
            .collect();
        let used = batch.iter().filter(|b| b[2] > 0);
        let top = used.clone().map(|b| b[1]).min().unwrap_or(0);
        let bottom = used.map(|b| b[1] + b[3]).max().unwrap_or(0);
        let ids = first as u32 + 1..=last as u32;
        for y in top..bottom {
            let mut x = 0;
            for run in map.row(y as usize) {
                if ids.contains(&run.id)
                    && let Some(mask) = &mut masks[(run.id - ids.start()) as usize]
                {
                    mask.fill(y, x, run.len);
                }
                x += run.len;
            }
        }
        for (i, mask) in masks.iter().enumerate() {
            if let Some(mask) = mask {
                let shift = |[x, y]: [u32; 2]| [x + mask.x0, y + mask.y0];
                found[first + i] = outer_rings(mask)
                    .into_iter()
                    .map(|ring| ring.into_iter().map(shift).collect())
                    .collect();
            }
        }
        first = last;
    }
    found
}

/// Pixels in both of two masks of one size, and in either.
pub fn iou(a: &Rle, b: &Rle) -> (u64, u64) {
    let (mut i, mut j) = (0, 0);
    let (mut left_a, mut left_b) = (
        a.counts.first().copied().unwrap_or(0),
        b.counts.first().copied().unwrap_or(0),
    );
    let (mut both, mut either) = (0u64, 0u64);
    loop {
        // Skip exhausted runs.
        while left_a == 0 && i + 1 < a.counts.len() {
            i += 1;
            left_a = a.counts[i];
        }
        while left_b == 0 && j + 1 < b.counts.len() {
            j += 1;
            left_b = b.counts[j];
        }
        if left_a == 0 || left_b == 0 {
            break;
        }
        let n = left_a.min(left_b);
        let (in_a, in_b) = (i % 2 == 1, j % 2 == 1);
        if in_a && in_b {
            both += u64::from(n);
        }
        if in_a || in_b {
            either += u64::from(n);
        }
        left_a -= n;
        left_b -= n;
    }
    (both, either)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Segment;
    use crate::remap::rle::{rle_from_polygon, union};
    use crate::remap::rle_encode::rles_of_segments;

    fn boxes(map: &LabelMap) -> Vec<[u32; 4]> {
        let mut found = vec![[0u32; 4]; map.segments().len() + 1];
        let mut bounds = vec![(u32::MAX, u32::MAX, 0u32, 0u32); map.segments().len() + 1];
        for y in 0..map.height() {
            let mut x = 0;
            for run in map.row(y as usize) {
                let b = &mut bounds[run.id as usize];
                *b = (b.0.min(x), b.1.min(y), b.2.max(x + run.len), b.3.max(y + 1));
                x += run.len;
            }
        }
        for (i, b) in bounds.iter().enumerate().skip(1) {
            if b.2 > 0 {
                found[i] = [b.0, b.1, b.2 - b.0, b.3 - b.1];
            }
        }
        found
    }

    /// The rings rasterised back as pycocotools does, unioned.
    fn filled(rings: &[Ring], h: u32, w: u32) -> Rle {
        let masks: Vec<Rle> = rings
            .iter()
            .map(|r| {
                let points: Vec<[f64; 2]> = r
                    .iter()
                    .map(|&[x, y]| [f64::from(x), f64::from(y)])
                    .collect();
                rle_from_polygon(&points, h, w).unwrap()
            })
            .collect();
        union(&masks)
    }

    #[test]
    fn a_pixel_and_a_square_are_traced_along_their_corners() {
        let map = LabelMap::new(
            4,
            3,
            vec![1, 0, 0, 0, 0, 0, 2, 2, 0, 0, 2, 2],
            vec![Segment::new(1, None), Segment::new(2, None)],
        )
        .unwrap();
        let rings = outlines(&map, &boxes(&map));
        assert_eq!(rings[0], [vec![[0, 0], [1, 0], [1, 1], [0, 1]]]);
        assert_eq!(rings[1], [vec![[2, 1], [4, 1], [4, 3], [2, 3]]]);
    }

    #[test]
    fn pixels_touching_at_a_corner_are_two_rings_and_a_hole_is_left_out() {
        // A diagonal pair, and a 3×3 ring around a hole.
        #[rustfmt::skip]
        let ids = vec![
            1, 0, 0, 0, 0,
            0, 1, 2, 2, 2,
            0, 0, 2, 0, 2,
            0, 0, 2, 2, 2,
        ];
        let map = LabelMap::new(
            5,
            4,
            ids,
            vec![Segment::new(1, None), Segment::new(2, None)],
        )
        .unwrap();
        let rings = outlines(&map, &boxes(&map));
        assert_eq!(rings[0].len(), 2, "{:?}", rings[0]);
        assert_eq!(rings[1], [vec![[2, 1], [5, 1], [5, 4], [2, 4]]]);
        let rle = rles_of_segments(&map);
        assert_eq!(
            iou(&filled(&rings[1], 4, 5), &rle[1]),
            (8, 9),
            "the hole fills"
        );
        assert_eq!(iou(&filled(&rings[0], 4, 5), &rle[0]), (2, 2));
    }

    #[test]
    fn outer_rings_fill_back_to_the_pixels_on_random_maps_without_holes_lost() {
        let mut seed = 15u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let (w, h) = (next(20) as u32 + 1, next(20) as u32 + 1);
            let classes = next(4) as u32 + 1;
            let ids: Vec<u32> = (0..w * h)
                .map(|_| next(u64::from(classes) + 1) as u32)
                .collect();
            let segments = (1..=classes).map(|c| Segment::new(c, None)).collect();
            let map = LabelMap::new(w, h, ids.clone(), segments).unwrap();
            let rles = rles_of_segments(&map);
            for (i, rings) in outlines(&map, &boxes(&map)).iter().enumerate() {
                let back = filled(rings, h, w);
                if back.counts.is_empty() {
                    assert!(ids.iter().all(|&id| id != i as u32 + 1));
                    continue;
                }
                let (both, _) = iou(&back, &rles[i]);
                let pixels = ids.iter().filter(|&&id| id == i as u32 + 1).count() as u64;
                assert_eq!(
                    both,
                    pixels,
                    "every pixel of segment {} is inside a ring",
                    i + 1
                );
                // Pixels added are only in holes: never on the image's border
                // nor in another segment reachable from it (checked: the extra
                // pixels are enclosed, so none is in the first or last row).
                let extra = decode(&back)
                    .iter()
                    .enumerate()
                    .filter(|&(p, &inside)| inside && ids[p] != i as u32 + 1)
                    .map(|(p, _)| p as u32)
                    .collect::<Vec<_>>();
                for p in extra {
                    let (x, y) = (p % w, p / w);
                    assert!(
                        x > 0 && y > 0 && x + 1 < w && y + 1 < h,
                        "({x}, {y}) is a hole"
                    );
                }
            }
        }
    }

    #[test]
    fn segments_traced_in_small_batches_give_the_same_rings() {
        let mut seed = 3u64;
        let ids: Vec<u32> = (0..40 * 30)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 33) % 9) as u32
            })
            .collect();
        let segments = (1..=8).map(|c| Segment::new(c, None)).collect();
        let map = LabelMap::new(40, 30, ids, segments).unwrap();
        let boxes = boxes(&map);
        let whole = outlines(&map, &boxes);
        assert_eq!(
            outlines_within(&map, &boxes, 1),
            whole,
            "one segment a batch"
        );
        assert_eq!(outlines_within(&map, &boxes, 4000), whole, "a few a batch");
    }

    /// Row-major pixels of a column-major mask.
    fn decode(rle: &Rle) -> Vec<bool> {
        let (h, w) = (rle.height as usize, rle.width as usize);
        let mut column_major = Vec::with_capacity(h * w);
        for (i, &c) in rle.counts.iter().enumerate() {
            column_major.extend(std::iter::repeat_n(i % 2 == 1, c as usize));
        }
        (0..h * w)
            .map(|p| column_major[(p % w) * h + p / w])
            .collect()
    }

    #[test]
    fn iou_counts_common_and_all_pixels() {
        let a = Rle {
            height: 1,
            width: 6,
            counts: vec![1, 3, 2],
        };
        let b = Rle {
            height: 1,
            width: 6,
            counts: vec![0, 2, 4],
        };
        assert_eq!(iou(&a, &b), (1, 4));
        assert_eq!(iou(&a, &a), (3, 3));
    }
}

//! Run-length masks as pycocotools encodes them ([`Rle`], and its compact
//! string form), and polygons and boxes rasterised exactly as pycocotools does (`rleFrPoly`,
//! `rleFrBbox` and `rleMerge` of its `maskApi.c`), the rule COCO, Datumaro
//! and so CVAT's mask export use: the same polygon becomes the same pixels
//! here as in the tools users compare with.
//!
//! pycocotools walks every edge at 5× resolution, one point per step, and
//! keeps the points where the walk crosses a pixel column's centre. This
//! computes those crossings directly, column by column, with the same
//! floating-point expressions, so a far-reaching edge costs the columns it
//! crosses, not its length. Coordinates are limited to ±[`MAX_COORDINATE`]
//! (where pycocotools' `int` arithmetic is still exact) and a polygon to
//! [`MAX_CROSSINGS`] column crossings (the runs limit of decoded masks).

use super::MAX_RUNS;
use crate::model::RunsBuilder;

/// A binary mask as pycocotools encodes it: column-major (pixel `x, y` is
/// number `x·height + y`), `counts` alternating runs of 0s and 1s, starting
/// with 0s (the first count may be 0). The default is the empty 0 × 0 mask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rle {
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Run lengths, 0s first; they sum to `height · width`.
    pub counts: Vec<u32>,
}

impl Rle {
    /// The compact string pycocotools writes (`rleToString`): each count,
    /// from the third on as the difference to the one two before, in
    /// 5-bit groups (a continuation bit above them) as characters 48..111.
    pub fn to_coco_string(&self) -> String {
        let mut text = String::with_capacity(self.counts.len() * 2);
        for (i, &count) in self.counts.iter().enumerate() {
            let mut x = i64::from(count);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            loop {
                let mut c = (x & 0x1f) as u8;
                x >>= 5;
                let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    c |= 0x20;
                }
                text.push(char::from(c + 48));
                if !more {
                    break;
                }
            }
        }
        text
    }
}

impl Rle {
    /// Reads the compact string of pycocotools (`rleFrString`) for a
    /// `height × width` mask, refusing what pycocotools would silently
    /// misread: a character outside 48..111, a count cut short, a negative
    /// or oversized count, counts not summing to `height · width`.
    pub fn from_coco_string(text: &str, height: u32, width: u32) -> Result<Rle, String> {
        let bytes = text.as_bytes();
        let mut counts: Vec<u32> = Vec::with_capacity(bytes.len() / 2 + 1);
        let mut p = 0;
        while p < bytes.len() {
            let (mut x, mut k) = (0i64, 0u32);
            loop {
                let Some(&byte) = bytes.get(p) else {
                    return Err("counts string ends in the middle of a count".into());
                };
                let c = i64::from(byte) - 48;
                if !(0..64).contains(&c) {
                    return Err(format!(
                        "counts string holds '{}', which is not a character of a COCO RLE (0 to o)",
                        char::from(byte).escape_default()
                    ));
                }
                if k >= 7 {
                    return Err("counts string holds a count of more than 35 bits".into());
                }
                x |= (c & 0x1f) << (5 * k);
                p += 1;
                k += 1;
                if c & 0x20 == 0 {
                    if c & 0x10 != 0 {
                        x |= -1i64 << (5 * k);
                    }
                    break;
                }
            }
            let m = counts.len();
            if m > 2 {
                x += i64::from(counts[m - 2]);
            }
            let count =
                u32::try_from(x).map_err(|_| format!("count {} is {x}, outside 0..2^32", m + 1))?;
            counts.push(count);
        }
        Rle::checked(counts, height, width)
    }

    /// A mask of `counts` (as a COCO uncompressed RLE lists them), checked
    /// to cover `height · width` pixels exactly.
    pub fn checked(counts: Vec<u32>, height: u32, width: u32) -> Result<Rle, String> {
        let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        let pixels = u64::from(height) * u64::from(width);
        if total != pixels {
            return Err(format!(
                "counts sum to {total}, but its size [{height}, {width}] has {pixels} pixels"
            ));
        }
        let mut counts = counts;
        if counts.is_empty() {
            counts.push(0);
        }
        Ok(Rle {
            height,
            width,
            counts,
        })
    }
}

/// Largest distance of a polygon point from the origin on either axis, in
/// pixels (16 times the largest image side).
pub const MAX_COORDINATE: f64 = 1_048_576.0;

/// Most column crossings one polygon may have (a mask of more runs is
/// refused as too fragmented).
pub const MAX_CROSSINGS: usize = MAX_RUNS;

/// Why a polygon cannot be rasterised.
#[derive(Debug, Clone, PartialEq)]
pub enum PolygonError {
    /// A point lies beyond ±[`MAX_COORDINATE`].
    FarOutside {
        /// Its x.
        x: f64,
        /// Its y.
        y: f64,
    },
    /// Its outline crosses more than [`MAX_CROSSINGS`] column centres.
    TooFragmented,
    /// A mask of another size than the image (a COCO RLE's `size`).
    OtherSize {
        /// Its rows.
        height: u32,
        /// Its columns.
        width: u32,
        /// The image's rows and columns.
        image: (u32, u32),
    },
}

impl std::fmt::Display for PolygonError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            PolygonError::FarOutside { x, y } => write!(
                f,
                "point ({x}, {y}) is more than {MAX_COORDINATE} pixels from the origin"
            ),
            PolygonError::TooFragmented => write!(
                f,
                "its outline crosses more than {MAX_CROSSINGS} pixel columns; it is refused as too fragmented"
            ),
            PolygonError::OtherSize {
                height,
                width,
                image: (h, w),
            } => write!(
                f,
                "is an RLE of size [{height}, {width}], but the image is [{h}, {w}] (height, width)"
            ),
        }
    }
}

/// Masks painted onto one image (see [`paint`]).
#[derive(Debug)]
pub struct Painted {
    /// The image's segment ids, row by row.
    pub runs: RunsBuilder,
    /// Pixels a later mask took from an earlier one of another segment.
    pub overlapped: u64,
}

/// Most pixels of the canvas [`paint`] paints a band of rows on (16 MiB).
const CANVAS_PIXELS: usize = 1 << 22;

/// Paints `masks` (segment id, mask of `width × height`) in order onto an
/// unlabeled image, a later mask covering earlier ones, and counts the
/// pixels so taken. The image is painted a band of rows at a time, so its
/// memory is bounded whatever its size; more than [`MAX_RUNS`] runs is an
/// error (too fragmented).
pub fn paint(masks: &[(u32, &Rle)], height: u32, width: u32) -> Result<Painted, String> {
    // The canvas holds the narrowest cells the ids fit: 8-bit for most
    // images, so a 1920×1080 band is 2 MB and stays in cache.
    match masks.iter().map(|&(id, _)| id).max().unwrap_or(0) {
        0..=0xff => paint_with::<u8>(masks, height, width),
        0x100..=0xffff => paint_with::<u16>(masks, height, width),
        _ => paint_with::<u32>(masks, height, width),
    }
}

/// [`paint`] on a canvas of `Cell`s, which every id fits.
fn paint_with<Cell>(masks: &[(u32, &Rle)], height: u32, width: u32) -> Result<Painted, String>
where
    Cell: Copy + Eq + Default + TryFrom<u32> + Into<u32>,
{
    let (h, w) = (height as usize, width as usize);
    let band = (CANVAS_PIXELS / w.max(1)).clamp(1, h.max(1));
    let empty = Cell::default();
    // Column-major within the band, as the masks are: runs fill slices.
    let mut canvas = vec![empty; band * w];
    let mut runs = RunsBuilder::new(width.max(1));
    let mut overlapped = 0u64;
    // (row, column) where a row's id changes from the column before.
    let mut boundaries: Vec<(u32, u32)> = Vec::new();
    for top in (0..h).step_by(band) {
        let rows = band.min(h - top);
        if top > 0 {
            canvas.fill(empty);
        }
        for &(id, mask) in masks {
            let id = Cell::try_from(id)
                .ok()
                .expect("the canvas cells fit every id");
            let mut at = 0usize;
            for (i, &count) in mask.counts.iter().enumerate() {
                let (start, end) = (at, at + count as usize);
                at = end;
                if i % 2 == 0 || count == 0 {
                    continue;
                }
                // The 1-run covers columns start/h ..= (end-1)/h, each in part.
                for x in start / h..=(end - 1) / h {
                    let first = start.max(x * h) - x * h;
                    let last = end.min((x + 1) * h) - x * h;
                    let (a, b) = (first.max(top), last.min(top + rows));
                    if a >= b {
                        continue;
                    }
                    let cells = &mut canvas[x * band + a - top..x * band + b - top];
                    let taken = cells.iter().filter(|&&c| c != empty && c != id).count();
                    overlapped += taken as u64;
                    cells.fill(id);
                }
            }
        }
        // Where a row's id changes, column by column: whole stretches of two
        // neighbouring columns compare equal at memcmp speed.
        boundaries.clear();
        for x in 1..w {
            let (left, right) = (
                &canvas[(x - 1) * band..][..rows],
                &canvas[x * band..][..rows],
            );
            for (chunk, (l, r)) in left.chunks(64).zip(right.chunks(64)).enumerate() {
                if l != r {
                    let differ = l.iter().zip(r).enumerate().filter(|(_, (a, b))| a != b);
                    boundaries.extend(differ.map(|(y, _)| ((chunk * 64 + y) as u32, x as u32)));
                }
            }
        }
        boundaries.sort_by_key(|&(y, _)| y);
        let mut next = boundaries.iter().peekable();
        for y in 0..rows {
            let mut start = 0;
            let mut id = canvas[y];
            while let Some(&(_, x)) = next.next_if(|&&(row, _)| row as usize == y) {
                runs.push_run(id.into(), x as usize - start);
                (start, id) = (x as usize, canvas[x as usize * band + y]);
            }
            runs.push_run(id.into(), w - start);
        }
        if runs.run_count() > MAX_RUNS {
            return Err(format!(
                "its shapes make more than {MAX_RUNS} runs of equal pixels; the mask is refused as too fragmented"
            ));
        }
    }
    Ok(Painted { runs, overlapped })
}

/// pycocotools' upsampling factor.
const SCALE: f64 = 5.0;

/// The mask of the polygon through `points` (`[x, y]` in pixels, closed
/// implicitly) on a `width × height` image, as `rleFrPoly` computes it.
/// Fewer than one point gives an empty mask.
pub fn rle_from_polygon(points: &[[f64; 2]], height: u32, width: u32) -> Result<Rle, PolygonError> {
    let mut scaled = Vec::with_capacity(points.len() + 1);
    for &[x, y] in points {
        if !(x.abs() <= MAX_COORDINATE && y.abs() <= MAX_COORDINATE) {
            return Err(PolygonError::FarOutside { x, y });
        }
        // C's `(int)(scale*x+.5)`: truncation toward zero.
        scaled.push(((SCALE * x + 0.5) as i32, (SCALE * y + 0.5) as i32));
    }
    let mut crossings = Crossings {
        height,
        width,
        positions: Vec::new(),
    };
    if let Some(&first) = scaled.first() {
        scaled.push(first);
        for edge in scaled.windows(2) {
            crossings.edge(edge[0], edge[1]);
            if crossings.positions.len() > MAX_CROSSINGS {
                return Err(PolygonError::TooFragmented);
            }
        }
    }
    Ok(crossings.into_rle())
}

/// The mask of the box at `x, y` of size `w × h` (pixels) as `rleFrBbox`
/// computes it: the polygon through its four corners.
pub fn rle_from_box(
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    height: u32,
    width: u32,
) -> Result<Rle, PolygonError> {
    let (xe, ye) = (x + w, y + h);
    rle_from_polygon(&[[x, y], [x, ye], [xe, ye], [xe, y]], height, width)
}

/// The pixels in any of `masks` (all of one size), as `rleMerge` with
/// `intersect = 0` computes them; no masks give an empty 0×0 mask.
pub fn union(masks: &[Rle]) -> Rle {
    let Some(first) = masks.first() else {
        return Rle {
            height: 0,
            width: 0,
            counts: Vec::new(),
        };
    };
    let mut merged = first.clone();
    for mask in &masks[1..] {
        if (mask.height, mask.width) != (first.height, first.width) {
            // pycocotools gives an empty 0×0 mask for masks of two sizes.
            return Rle {
                height: 0,
                width: 0,
                counts: Vec::new(),
            };
        }
        merged.counts = merge_two(&merged.counts, &mask.counts);
    }
    merged
}

/// One step of `rleMerge`'s loop: the union of two count lists.
fn merge_two(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut ca, mut cb) = (
        a.first().copied().unwrap_or(0),
        b.first().copied().unwrap_or(0),
    );
    let (mut ia, mut ib) = (1, 1);
    let (mut va, mut vb, mut v) = (false, false, false);
    let mut run = 0u32;
    loop {
        let c = ca.min(cb);
        run += c;
        ca -= c;
        if ca == 0 && ia < a.len() {
            ca = a[ia];
            ia += 1;
            va = !va;
        }
        cb -= c;
        if cb == 0 && ib < b.len() {
            cb = b[ib];
            ib += 1;
            vb = !vb;
        }
        let rest = u64::from(ca) + u64::from(cb);
        let before = v;
        v = va || vb;
        if v != before || rest == 0 {
            out.push(run);
            run = 0;
        }
        if rest == 0 {
            return out;
        }
    }
}

/// The column-centre crossings of one polygon's outline, as positions
/// `x·height + y` of the pixel where a run starts or ends.
struct Crossings {
    height: u32,
    width: u32,
    positions: Vec<u32>,
}

impl Crossings {
    /// Adds the crossings of the edge from `a` to `b` (5× coordinates):
    /// where pycocotools' walk along it goes between columns `5n + 2` and
    /// `5n + 3`, the centre of pixel column `n`.
    fn edge(&mut self, a: (i32, i32), b: (i32, i32)) {
        let ((mut xs, mut ys), (mut xe, mut ye)) = (a, b);
        let (dx, dy) = ((xe - xs).abs(), (ys - ye).abs());
        if (dx >= dy && xs > xe) || (dx < dy && ys > ye) {
            (xs, xe) = (xe, xs);
            (ys, ye) = (ye, ys);
        }
        if dx >= dy {
            // One point per column: u = xs + t, v rounded along the edge.
            if dx == 0 {
                return;
            }
            let s = f64::from(ye - ys) / f64::from(dx);
            let v = |t: i32| (f64::from(ys) + s * f64::from(t) + 0.5) as i32;
            for n in self.columns(xs, xe) {
                let t = 5 * n + 2 - xs;
                self.push(n, v(t).min(v(t + 1)));
            }
        } else {
            // One point per row: v = ys + t, u rounded along the edge; u moves
            // monotonically, by at most one per step.
            let s = f64::from(xe - xs) / f64::from(dy);
            let u = |t: i32| (f64::from(xs) + s * f64::from(t) + 0.5) as i32;
            let (u0, u1) = (u(0), u(dy));
            for n in self.columns(u0.min(u1), u0.max(u1)) {
                // The first step whose u is past column n's centre.
                let past = |t: i32| match u1 > u0 {
                    true => u(t) > 5 * n + 2,
                    false => u(t) < 5 * n + 3,
                };
                let estimate = (f64::from(5 * n) + 2.5 - f64::from(xs)) / s;
                let mut t = (estimate.ceil() as i32).clamp(1, dy);
                while t > 1 && past(t - 1) {
                    t -= 1;
                }
                while !past(t) {
                    t += 1;
                }
                self.push(n, ys + t - 1);
            }
        }
    }

    /// The pixel columns `n` (within the image) whose centre crossing
    /// `5n + 2 → 5n + 3` lies within `lo..=hi` (5× coordinates).
    fn columns(&self, lo: i32, hi: i32) -> std::ops::RangeInclusive<i32> {
        let first = (lo - 2).div_euclid(5) + i32::from((lo - 2).rem_euclid(5) != 0);
        let last = (hi - 3).div_euclid(5);
        first.max(0)..=last.min(self.width as i32 - 1)
    }

    /// A crossing of column `n` at 5× row `v`: the first pixel row whose
    /// centre is below it (clamped to the image).
    fn push(&mut self, n: i32, v: i32) {
        let row = ((f64::from(v) + 0.5) / SCALE - 0.5).clamp(0.0, f64::from(self.height));
        self.positions
            .push(n as u32 * self.height + row.ceil() as u32);
    }

    /// The run lengths between sorted crossings, crossings at one position
    /// cancelling pairwise (as `rleFrPoly`'s final loop).
    fn into_rle(mut self) -> Rle {
        let area = self.height * self.width;
        self.positions.push(area);
        self.positions.sort_unstable();
        let mut counts = Vec::with_capacity(self.positions.len());
        let mut previous = 0;
        let mut pending_zero = false;
        for (i, &position) in self.positions.iter().enumerate() {
            let gap = position - previous;
            previous = position;
            if i == 0 {
                counts.push(gap);
            } else if pending_zero {
                *counts.last_mut().expect("one count") += gap;
                pending_zero = false;
            } else if gap > 0 {
                counts.push(gap);
            } else {
                pending_zero = true;
            }
        }
        Rle {
            height: self.height,
            width: self.width,
            counts,
        }
    }
}

#[cfg(test)]
#[path = "rle_tests.rs"]
mod tests;

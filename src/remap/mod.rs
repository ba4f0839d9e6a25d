//! Pure pixel kernels, no I/O: turning decoded mask images into segment ids
//! and segment ids back into mask pixels, and the 24-bit id packing of
//! RGB id bitmaps. Masks are mostly long runs of one value, so every kernel
//! caches the last value and consults its table only when the value changes.

pub mod components;
pub mod rle;
pub mod rle_encode;
pub mod trace;

use crate::codec::{ImageInfo, RowSource};
use crate::error::{Error, Result};
use crate::model::{Run, RunsBuilder};
use std::collections::{BTreeMap, HashMap};

/// One pixel's value as a number (see [`pixel_key_at`]).
pub type PixelKey = u64;

/// The key of pixel `x` of a row: its first channel for gray(+alpha)
/// images, `R<<16|G<<8|B` for 8-bit colour, `R<<32|G<<16|B` for 16-bit
/// colour. Alpha is ignored.
#[inline]
pub fn pixel_key_at(info: &ImageInfo, row: &[u8], x: usize) -> PixelKey {
    let wide = |i: usize| u64::from(u16::from_be_bytes([row[i], row[i + 1]]));
    match (info.bits, info.channels) {
        (8, 1 | 2) => u64::from(row[x * info.channels]),
        (8, c) => {
            let p = &row[x * c..x * c + 3];
            u64::from(p[0]) << 16 | u64::from(p[1]) << 8 | u64::from(p[2])
        }
        (_, 1 | 2) => wide(x * 2 * info.channels),
        (_, c) => {
            let p = x * 2 * c;
            wide(p) << 32 | wide(p + 2) << 16 | wide(p + 4)
        }
    }
}

/// How many pixels from `start` on (at most `limit`) have exactly the bytes
/// of pixel `start`: the row compared with itself shifted by one pixel.
#[inline]
fn run_length(row: &[u8], stride: usize, start: usize, limit: usize) -> usize {
    let (first, end) = (start * stride, (start + limit) * stride);
    1 + equal_prefix_bytes(&row[first + stride..end], &row[first..end - stride]) / stride
}

/// Length of the common prefix of two byte slices: 64 bytes at a time
/// while they agree (four 16-byte XORs OR-ed, one branch), then 16 bytes at
/// a time, the first differing byte of a block found from its XOR.
#[inline]
fn equal_prefix_bytes(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let xor = |x: &[u8; 16], y: &[u8; 16]| u128::from_le_bytes(*x) ^ u128::from_le_bytes(*y);
    let (a_wide, _) = a.as_chunks::<64>();
    let (b_wide, _) = b.as_chunks::<64>();
    let mut done = 0;
    for (x, y) in a_wide.iter().zip(b_wide) {
        let (x, y) = (x.as_chunks::<16>().0, y.as_chunks::<16>().0);
        let diff = xor(&x[0], &y[0]) | xor(&x[1], &y[1]) | xor(&x[2], &y[2]) | xor(&x[3], &y[3]);
        if diff != 0 {
            break;
        }
        done += 64;
    }
    let (a_blocks, _) = a[done..].as_chunks::<16>();
    let (b_blocks, _) = b[done..].as_chunks::<16>();
    for (i, (x, y)) in a_blocks.iter().zip(b_blocks).enumerate() {
        let diff = xor(x, y);
        if diff != 0 {
            return done + i * 16 + (diff.trailing_zeros() / 8) as usize;
        }
    }
    let done = done + a_blocks.len() * 16;
    done + a[done..]
        .iter()
        .zip(&b[done..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Unpacks a 24-bit colour key into `[R, G, B]`.
pub fn rgb8_of_pixel_key(key: PixelKey) -> [u8; 3] {
    [(key >> 16) as u8, (key >> 8) as u8, key as u8]
}

/// Packs `[R, G, B]` into the key [`label_pixels`] uses for 8-bit colour images.
pub fn pixel_key_of_rgb8(rgb: [u8; 3]) -> PixelKey {
    u64::from(rgb[0]) << 16 | u64::from(rgb[1]) << 8 | u64::from(rgb[2])
}

/// Unpacks a 48-bit colour key into `[R, G, B]`.
pub fn rgb16_of_pixel_key(key: PixelKey) -> [u16; 3] {
    [(key >> 32) as u16, (key >> 16) as u16, key as u16]
}

/// Packs 16-bit `[R, G, B]` into the key [`label_pixels`] uses for 16-bit colour images.
pub fn pixel_key_of_rgb16(rgb: [u16; 3]) -> PixelKey {
    u64::from(rgb[0]) << 32 | u64::from(rgb[1]) << 16 | u64::from(rgb[2])
}

/// The 24-bit object id an RGB id bitmap stores as `[R, G, B]`:
/// id = R + 256·G + 65536·B (Segments.ai, COCO panoptic).
pub fn id_of_rgb(rgb: [u8; 3]) -> u32 {
    u32::from(rgb[0]) | u32::from(rgb[1]) << 8 | u32::from(rgb[2]) << 16
}

/// The `[R, G, B]` of object id `id` (below 2^24) in an RGB id bitmap.
pub fn rgb_of_id(id: u32) -> [u8; 3] {
    [id as u8, (id >> 8) as u8, (id >> 16) as u8]
}

/// Every pixel's segment id, and the pixels whose values the resolver
/// could not explain.
#[derive(Debug)]
pub struct Labelled {
    /// The segment ids, as runs (unexplained pixels are 0).
    pub runs: RunsBuilder,
    /// Each `(key in a, key in b)` pair the resolver refused, with its
    /// pixel count: messages can say how many pixels have a bad value
    /// without decoding the mask again.
    pub unresolved: BTreeMap<(PixelKey, PixelKey), u64>,
}

impl Labelled {
    /// `" (N more NOUN)"` for the unresolved pairs beyond the one a message
    /// names, or nothing when there is only that one.
    pub fn more_unresolved(&self, noun: &str) -> String {
        match self.unresolved.len() {
            0 | 1 => String::new(),
            n => format!(" ({} more {noun})", n - 1),
        }
    }

    /// The pixels of every unresolved pair whose key in `a` is `key`.
    pub fn unresolved_in_a(&self, key: PixelKey) -> u64 {
        let pairs = self.unresolved.range((key, 0)..=(key, PixelKey::MAX));
        pairs.map(|(_, n)| n).sum()
    }

    /// The pixels of every unresolved pair whose key in `b` is `key`.
    pub fn unresolved_in_b(&self, key: PixelKey) -> u64 {
        let pairs = self.unresolved.iter().filter(|((_, b), _)| *b == key);
        pairs.map(|(_, n)| n).sum()
    }
}

/// Gives every pixel the segment id of its `(key in a, key in b)` pair
/// (see [`pixel_key_at`]), reading both images row by row. `resolve` is
/// called once per distinct pair and returns that pair's id, or `None` for a
/// pair it cannot explain (its pixels get id 0 and are counted in
/// [`Labelled::unresolved`]); without `b` its key is 0. The images must have
/// the same size. Works a run of identical pixels at a time, since masks are
/// mostly long runs.
pub fn label_pixels<F: FnMut(PixelKey, PixelKey) -> Option<u32>>(
    a: &mut dyn RowSource,
    mut b: Option<&mut dyn RowSource>,
    mut resolve: F,
) -> Result<Labelled> {
    let info_a = *a.info();
    let info_b = b.as_ref().map(|b| *b.info());
    assert!(
        info_b.is_none_or(|i| (i.width, i.height) == (info_a.width, info_a.height)),
        "images differ in size"
    );
    let stride = |info: &ImageInfo| info.channels * usize::from(info.bits / 8);
    let width = info_a.width as usize;
    let mut ids = RunsBuilder::new(info_a.width);
    let mut unresolved: BTreeMap<(PixelKey, PixelKey), u64> = BTreeMap::new();
    let mut known: HashMap<(PixelKey, PixelKey), u32> = HashMap::new();
    let (mut last, mut last_id) = (NO_PAIR, 0);
    let mut cache = [(NO_PAIR, 0u32); 1 << CACHE_BITS];
    for _ in 0..info_a.height {
        let row_a = a.next_row()?;
        let row_b = match (&mut b, &info_b) {
            (Some(b), Some(info)) => Some((b.next_row()?, info)),
            _ => None,
        };
        let mut x = 0;
        while x < width {
            let mut len = run_length(row_a, stride(&info_a), x, width - x);
            let mut key = (pixel_key_at(&info_a, row_a, x), 0);
            if let Some((row_b, info_b)) = row_b {
                len = run_length(row_b, stride(info_b), x, len);
                key.1 = pixel_key_at(info_b, row_b, x);
            }
            if key != last {
                // A few pairs recur all over a mask: a small direct-mapped
                // cache in front of the (DoS-safe, slower) hash map.
                let slot = ((key.0 ^ key.1.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    >> (64 - CACHE_BITS)) as usize;
                last_id = match cache[slot] {
                    (k, id) if k == key => id,
                    _ => {
                        let id = *known
                            .entry(key)
                            .or_insert_with(|| resolve(key.0, key.1).unwrap_or(UNRESOLVED));
                        cache[slot] = (key, id);
                        id
                    }
                };
                last = key;
            }
            if last_id == UNRESOLVED {
                *unresolved.entry(key).or_default() += len as u64;
                ids.push_run(0, len);
            } else {
                ids.push_run(last_id, len);
            }
            x += len;
        }
        if ids.run_count() > MAX_RUNS || known.len() > MAX_DISTINCT_VALUES {
            let what = match known.len() > MAX_DISTINCT_VALUES {
                true => format!("more than {MAX_DISTINCT_VALUES} distinct pixel values"),
                false => format!("more than {MAX_RUNS} runs of equal pixels"),
            };
            return Err(Error::input(
                a.name(),
                format!(
                    "the mask has {what}; refusing it as too fragmented to be a mask (the limit keeps memory bounded)"
                ),
            ));
        }
    }
    Ok(Labelled {
        runs: ids,
        unresolved,
    })
}

/// The most runs of equal pixels one mask may have (32 MiB of runs): a mask
/// fragmented beyond this (noise, or a tiny file that inflates to an
/// alternating pattern) is refused, keeping memory within the budget.
pub const MAX_RUNS: usize = 1 << 22;

/// The most distinct pixel values (pairs of values, for two masks) one mask
/// may have; real masks have one per class or object.
pub const MAX_DISTINCT_VALUES: usize = 1 << 17;

/// No pixel has this key pair (keys use at most 48 bits).
const NO_PAIR: (PixelKey, PixelKey) = (u64::MAX, u64::MAX);
/// The id [`label_pixels`] caches for a pair the resolver refused.
const UNRESOLVED: u32 = u32::MAX;
/// [`label_pixels`] caches 2^CACHE_BITS recent pairs.
const CACHE_BITS: u32 = 5;

/// Paints one row of an image whose pixels are `N` bytes (1: 8-bit gray,
/// 3: 8-bit RGB, 6: 16-bit RGB as big-endian bytes) from the row's runs
/// (see [`crate::model::LabelMap::row`]): each run's pixels get
/// `palette[run.id]`.
pub fn paint_row<const N: usize>(runs: &[Run], palette: &[[u8; N]], row: &mut [u8]) {
    paint_row_marking(runs, palette, row, &mut []);
}

/// [`paint_row`] that also sets `present[id]` for every id painted (when
/// `present` is not empty), at no extra pass over the row.
pub fn paint_row_marking<const N: usize>(
    runs: &[Run],
    palette: &[[u8; N]],
    row: &mut [u8],
    present: &mut [bool],
) {
    let mark = !present.is_empty();
    let mut start = 0;
    for run in runs {
        let end = start + run.len as usize * N;
        fill_pattern(&mut row[start..end], &palette[run.id as usize]);
        if mark {
            present[run.id as usize] = true;
        }
        start = end;
    }
    debug_assert_eq!(start, row.len(), "runs cover the row");
}

/// The 6 big-endian bytes of a 16-bit RGB pixel, as [`paint_row`] takes them.
pub fn rgb16_bytes(rgb: [u16; 3]) -> [u8; 6] {
    let [r, g, b] = rgb.map(u16::to_be_bytes);
    [r[0], r[1], g[0], g[1], b[0], b[1]]
}

/// Fills `out` with repetitions of `pattern` (whose length divides `out`'s):
/// a byte fill for 1-byte pixels, pixel copies for short runs, and for long
/// runs 48-byte blocks of the pattern (48 is a multiple of 2, 3, 4 and 6
/// bytes and of a 16-byte vector register, so each block is three plain
/// stores instead of a `memmove` call per doubling).
#[inline]
fn fill_pattern<const N: usize>(out: &mut [u8], pattern: &[u8; N]) {
    const BLOCK: usize = 48;
    if N == 1 {
        out.fill(pattern[0]);
    } else if !BLOCK.is_multiple_of(N) || out.len() < BLOCK {
        for pixel in out.as_chunks_mut::<N>().0 {
            *pixel = *pattern;
        }
    } else {
        let mut block = [0u8; BLOCK];
        for pixel in block.as_chunks_mut::<N>().0 {
            *pixel = *pattern;
        }
        let (blocks, rest) = out.as_chunks_mut::<BLOCK>();
        for whole in blocks {
            *whole = block;
        }
        let tail = rest.len();
        rest.copy_from_slice(&block[..tail]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::codec::ImageRows;

    use crate::codec::Image;

    fn image(channels: usize, bits: u8, data: Vec<u8>) -> Image {
        let n = data.len() / (channels * usize::from(bits / 8));
        let info = ImageInfo {
            width: n as u32,
            height: 1,
            channels,
            bits,
            file_bits: bits,
            was_palette: false,
        };
        Image { info, data }
    }

    fn label(a: &Image, b: Option<&Image>, mut resolve: impl FnMut(u64, u64) -> u32) -> Vec<u32> {
        let mut rows_a = ImageRows::new(a);
        let mut rows_b = b.map(ImageRows::new);
        label_pixels(
            &mut rows_a,
            rows_b.as_mut().map(|r| r as &mut dyn RowSource),
            |a, b| Some(resolve(a, b)),
        )
        .unwrap()
        .runs
        .ids()
    }

    #[test]
    fn pairs_get_one_id_each_and_resolve_runs_once_per_pair() {
        let class = image(3, 8, vec![1, 2, 3, 1, 2, 3, 0, 0, 0, 1, 2, 3]);
        let object = image(1, 8, vec![5, 5, 0, 6]);
        let mut calls = Vec::new();
        let ids = label(&class, Some(&object), |a, b| {
            calls.push((a, b));
            calls.len() as u32
        });
        assert_eq!(ids, vec![1, 1, 2, 3]);
        assert_eq!(calls, vec![(0x010203, 5), (0, 0), (0x010203, 6)]);
    }

    #[test]
    fn alpha_is_ignored_and_sixteen_bit_keys_keep_every_bit() {
        let rgba = image(4, 8, vec![9, 8, 7, 255, 9, 8, 7, 0]);
        let ids = label(&rgba, None, |a, _| {
            if a == pixel_key_of_rgb8([9, 8, 7]) {
                4
            } else {
                0
            }
        });
        assert_eq!(ids, vec![4, 4]);
        let rgb16 = image(3, 16, vec![0x11, 0x20, 0, 1, 0xff, 0xfe]);
        let ids = label(&rgb16, None, |a, _| {
            (a == pixel_key_of_rgb16([0x1120, 1, 0xfffe])) as u32
        });
        assert_eq!(ids, vec![1]);
        assert_eq!(rgb16_of_pixel_key(pixel_key_of_rgb16([1, 2, 3])), [1, 2, 3]);
        assert_eq!(id_of_rgb(rgb_of_id(0x12_3456)), 0x12_3456);
        assert_eq!(rgb_of_id(300), [44, 1, 0]);
    }

    #[test]
    fn refused_values_are_unlabeled_and_counted_per_pair() {
        let class = image(1, 8, vec![1, 1, 2, 3, 3, 3, 1]);
        let object = image(1, 8, vec![0, 5, 5, 5, 5, 0, 0]);
        let mut rows_a = ImageRows::new(&class);
        let mut rows_b = ImageRows::new(&object);
        let labelled =
            label_pixels(&mut rows_a, Some(&mut rows_b), |a, _| (a == 1).then_some(1)).unwrap();
        assert_eq!(labelled.runs.ids(), vec![1, 1, 0, 0, 0, 0, 1]);
        let pairs: Vec<_> = labelled.unresolved.iter().map(|(k, n)| (*k, *n)).collect();
        assert_eq!(pairs, [((2, 5), 1), ((3, 0), 1), ((3, 5), 2)]);
        assert_eq!(labelled.unresolved_in_a(3), 3);
        assert_eq!(labelled.unresolved_in_b(5), 3);
    }

    /// Runs of every length, in both images, against a pixel-by-pixel reading.
    #[test]
    fn run_wise_labelling_matches_pixel_by_pixel_labelling() {
        let mut seed = 12345u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for (channels, bits) in [(3, 8), (4, 8), (1, 8), (2, 8), (3, 16), (1, 16)] {
            let stride = channels * usize::from(bits / 8);
            let (width, height) = (37usize, 5usize);
            let mut make = |runs: u64| {
                let mut data = Vec::new();
                let mut pixel = vec![0u8; stride];
                for x in 0..width * height {
                    if x % 3 == 0 && next(runs) == 0 {
                        pixel.iter_mut().for_each(|b| *b = next(3) as u8);
                    }
                    data.extend_from_slice(&pixel);
                }
                let info = ImageInfo {
                    width: width as u32,
                    height: height as u32,
                    channels,
                    bits,
                    file_bits: bits,
                    was_palette: false,
                };
                Image { info, data }
            };
            let (a, b) = (make(2), make(4));
            let mut table = HashMap::new();
            let mut resolve = |ka, kb| {
                let n = table.len() as u32;
                *table.entry((ka, kb)).or_insert(n)
            };
            let fast = label(&a, Some(&b), &mut resolve);
            let slow: Vec<u32> = (0..width * height)
                .map(|i| {
                    let (y, x) = (i / width, i % width);
                    resolve(
                        pixel_key_at(&a.info, a.row(y), x),
                        pixel_key_at(&b.info, b.row(y), x),
                    )
                })
                .collect();
            assert_eq!(fast, slow, "{channels} channels, {bits} bits");
        }
    }

    #[test]
    fn painting_a_row_looks_up_the_palette() {
        let run = |id, len| Run { id, len };
        let mut row = [9u8; 9];
        paint_row(&[run(0, 1), run(1, 2)], &[[0, 0, 0], [1, 2, 3]], &mut row);
        assert_eq!(row, [0, 0, 0, 1, 2, 3, 1, 2, 3]);
        let mut wide = [9u8; 12];
        let palette = [rgb16_bytes([0, 0, 0]), rgb16_bytes([4384, 1699, 55003])];
        paint_row(&[run(1, 1), run(0, 1)], &palette, &mut wide);
        assert_eq!(wide, [0x11, 0x20, 0x06, 0xa3, 0xd6, 0xdb, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn common_prefixes_are_found_at_every_length_and_position() {
        for len in 0..200usize {
            let a: Vec<u8> = (0..len).map(|i| (i % 7) as u8).collect();
            assert_eq!(equal_prefix_bytes(&a, &a), len);
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x10;
                assert_eq!(equal_prefix_bytes(&a, &b), at, "len {len}, differs at {at}");
                assert_eq!(equal_prefix_bytes(&a[..at], &b), at);
            }
        }
    }

    #[test]
    fn fill_repeats_the_pattern_for_every_run_length() {
        for len in [1usize, 2, 15, 16, 17, 100, 1000] {
            let mut rgb = vec![0u8; len * 3];
            fill_pattern(&mut rgb, &[1, 2, 3]);
            assert!(rgb.chunks(3).all(|p| p == [1, 2, 3]), "{len}");
            let mut wide = vec![0u8; len * 6];
            fill_pattern(&mut wide, &[1, 2, 3, 4, 5, 6]);
            assert!(wide.chunks(6).all(|p| p == [1, 2, 3, 4, 5, 6]), "{len}");
            let mut gray = vec![0u8; len];
            fill_pattern(&mut gray, &[7]);
            assert!(gray.iter().all(|&b| b == 7), "{len}");
        }
    }

    #[test]
    fn painted_ids_are_marked_whatever_the_run_lengths() {
        let mut runs = RunsBuilder::new(100);
        for i in 0..100 {
            runs.push_run(if i % 37 == 5 { 3 } else { 1 }, 1);
        }
        let segments = vec![crate::model::Segment::new(1, None); 3];
        let map = crate::model::LabelMap::from_runs(100, 1, runs, segments).unwrap();
        let palette: Vec<[u8; 3]> = (0..5).map(|i| [i, i, i]).collect();
        let mut row = vec![0u8; 300];
        let mut present = [false; 5];
        paint_row_marking(map.row(0), &palette, &mut row, &mut present);
        assert_eq!(present, [false, true, false, true, false]);
        assert_eq!(&row[15..18], &[3, 3, 3]);
    }
}

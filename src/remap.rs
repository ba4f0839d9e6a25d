//! Pure pixel kernels, no I/O: turning decoded mask images into segment ids
//! and segment ids back into mask pixels. Masks are mostly long runs of one
//! value, so every kernel caches the last value and consults its table only
//! when the value changes.

use crate::codec::{Image, ImageInfo, RowSource};
use crate::error::Result;
use crate::model::{Run, RunIds};
use std::collections::HashMap;

/// The key of pixel `x` of a row: its first channel for gray(+alpha)
/// images, `R<<16|G<<8|B` for 8-bit colour, `R<<32|G<<16|B` for 16-bit
/// colour. Alpha is ignored.
#[inline]
pub fn key_at(info: &ImageInfo, row: &[u8], x: usize) -> u64 {
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
pub fn rgb8_of_key(key: u64) -> [u8; 3] {
    [(key >> 16) as u8, (key >> 8) as u8, key as u8]
}

/// Packs `[R, G, B]` into the key [`label_pixels`] uses for 8-bit colour images.
pub fn key_of_rgb8(rgb: [u8; 3]) -> u64 {
    u64::from(rgb[0]) << 16 | u64::from(rgb[1]) << 8 | u64::from(rgb[2])
}

/// Unpacks a 48-bit colour key into `[R, G, B]`.
pub fn rgb16_of_key(key: u64) -> [u16; 3] {
    [(key >> 32) as u16, (key >> 16) as u16, key as u16]
}

/// Packs 16-bit `[R, G, B]` into the key [`label_pixels`] uses for 16-bit colour images.
pub fn key_of_rgb16(rgb: [u16; 3]) -> u64 {
    u64::from(rgb[0]) << 32 | u64::from(rgb[1]) << 16 | u64::from(rgb[2])
}

/// Gives every pixel the segment id of its `(key in a, key in b)` pair
/// (see [`key_at`]), reading both images row by row. `resolve` is called
/// once per distinct pair and returns that pair's id; without `b` its key is
/// 0. The images must have the same size. Works a run of identical pixels at
/// a time, since masks are mostly long runs.
pub fn label_pixels<F: FnMut(u64, u64) -> u32>(
    a: &mut dyn RowSource,
    mut b: Option<&mut dyn RowSource>,
    mut resolve: F,
) -> Result<RunIds> {
    let info_a = *a.info();
    let info_b = b.as_ref().map(|b| *b.info());
    assert!(
        info_b.is_none_or(|i| (i.width, i.height) == (info_a.width, info_a.height)),
        "images differ in size"
    );
    let stride = |info: &ImageInfo| info.channels * usize::from(info.bits / 8);
    let width = info_a.width as usize;
    let mut ids = RunIds::new(info_a.width);
    let mut known: HashMap<(u64, u64), u32> = HashMap::new();
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
            let mut key = (key_at(&info_a, row_a, x), 0);
            if let Some((row_b, info_b)) = row_b {
                len = run_length(row_b, stride(info_b), x, len);
                key.1 = key_at(info_b, row_b, x);
            }
            if key != last {
                // A few pairs recur all over a mask: a small direct-mapped
                // cache in front of the (DoS-safe, slower) hash map.
                let slot = ((key.0 ^ key.1.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    >> (64 - CACHE_BITS)) as usize;
                last_id = match cache[slot] {
                    (k, id) if k == key => id,
                    _ => {
                        let id = *known.entry(key).or_insert_with(|| resolve(key.0, key.1));
                        cache[slot] = (key, id);
                        id
                    }
                };
                last = key;
            }
            ids.push_run(last_id, len);
            x += len;
        }
    }
    Ok(ids)
}

/// No pixel has this key pair (keys use at most 48 bits).
const NO_PAIR: (u64, u64) = (u64::MAX, u64::MAX);
/// [`label_pixels`] caches 2^CACHE_BITS recent pairs.
const CACHE_BITS: u32 = 5;

/// How many pixels of `image` have this key (used to word error messages).
pub fn count_key(image: &Image, key: u64) -> u64 {
    let width = image.info.width as usize;
    let row_bytes = image.info.row_bytes();
    image
        .data
        .chunks_exact(row_bytes)
        .map(|row| {
            (0..width)
                .filter(|&x| key_at(&image.info, row, x) == key)
                .count() as u64
        })
        .sum()
}

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

    fn label(a: &Image, b: Option<&Image>, resolve: impl FnMut(u64, u64) -> u32) -> Vec<u32> {
        let mut rows_a = ImageRows::new(a);
        let mut rows_b = b.map(ImageRows::new);
        label_pixels(
            &mut rows_a,
            rows_b.as_mut().map(|r| r as &mut dyn RowSource),
            resolve,
        )
        .unwrap()
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
        let ids = label(
            &rgba,
            None,
            |a, _| {
                if a == key_of_rgb8([9, 8, 7]) { 4 } else { 0 }
            },
        );
        assert_eq!(ids, vec![4, 4]);
        let rgb16 = image(3, 16, vec![0x11, 0x20, 0, 1, 0xff, 0xfe]);
        let ids = label(&rgb16, None, |a, _| {
            (a == key_of_rgb16([0x1120, 1, 0xfffe])) as u32
        });
        assert_eq!(ids, vec![1]);
        assert_eq!(rgb16_of_key(key_of_rgb16([1, 2, 3])), [1, 2, 3]);
        let gray16 = image(1, 16, vec![1, 3, 0, 7]);
        assert_eq!(count_key(&gray16, 259), 1);
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
                    resolve(key_at(&a.info, a.row(y), x), key_at(&b.info, b.row(y), x))
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
        let mut runs = RunIds::new(100);
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

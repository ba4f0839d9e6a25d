//! Pure pixel kernels, no I/O: turning decoded mask images into segment ids
//! and segment ids back into mask pixels. Masks are mostly long runs of one
//! value, so every kernel caches the last value and consults its table only
//! when the value changes.

use crate::codec::Image;
use std::collections::HashMap;

/// The key of a pixel: its first channel for gray(+alpha) images, `R<<16|G<<8|B`
/// for 8-bit colour, `R<<32|G<<16|B` for 16-bit colour. Alpha is ignored.
/// Expands `$body` once per pixel layout with `$keys` bound to an iterator of
/// `u64` keys, so each layout gets its own tight loop.
macro_rules! with_keys {
    ($image:expr, $keys:ident => $body:expr) => {{
        let image: &Image = $image;
        let stride = image.channels * usize::from(image.bits / 8);
        let rows = image.data.chunks_exact(stride);
        match (image.bits, image.channels) {
            (8, 1 | 2) => {
                let $keys = rows.map(|p| u64::from(p[0]));
                $body
            }
            (8, _) => {
                let $keys =
                    rows.map(|p| u64::from(p[0]) << 16 | u64::from(p[1]) << 8 | u64::from(p[2]));
                $body
            }
            (_, 1 | 2) => {
                let $keys = rows.map(|p| u64::from(u16::from_be_bytes([p[0], p[1]])));
                $body
            }
            _ => {
                let $keys = rows.map(|p| {
                    u64::from(u16::from_be_bytes([p[0], p[1]])) << 32
                        | u64::from(u16::from_be_bytes([p[2], p[3]])) << 16
                        | u64::from(u16::from_be_bytes([p[4], p[5]]))
                });
                $body
            }
        }
    }};
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

/// Gives every pixel the segment id of its `(key in a, key in b)` pair.
/// `resolve` is called once per distinct pair and returns that pair's id;
/// without `b` its key is 0. The images must have the same pixel count.
pub fn label_pixels<F: FnMut(u64, u64) -> u32>(
    a: &Image,
    b: Option<&Image>,
    resolve: F,
) -> Vec<u32> {
    assert!(
        b.is_none_or(|b| b.pixel_count() == a.pixel_count()),
        "images differ in size"
    );
    let n = a.pixel_count();
    with_keys!(a, keys_a => match b {
        None => label_runs(n, keys_a.map(|k| (k, 0)), resolve),
        Some(b) => with_keys!(b, keys_b => label_runs(n, keys_a.zip(keys_b), resolve)),
    })
}

fn label_runs<I, F>(n: usize, keys: I, mut resolve: F) -> Vec<u32>
where
    I: Iterator<Item = (u64, u64)>,
    F: FnMut(u64, u64) -> u32,
{
    let mut ids = Vec::with_capacity(n);
    let mut known: HashMap<(u64, u64), u32> = HashMap::new();
    let mut last_key = None;
    let mut last_id = 0;
    for key in keys {
        if last_key != Some(key) {
            last_id = *known.entry(key).or_insert_with(|| resolve(key.0, key.1));
            last_key = Some(key);
        }
        ids.push(last_id);
    }
    ids
}

/// How many pixels of `image` have this key (used to word error messages).
pub fn count_key(image: &Image, key: u64) -> u64 {
    with_keys!(image, keys => keys.filter(|&k| k == key).count() as u64)
}

/// Paints two 8-bit RGB images from one id map in a single pass:
/// pixel `i` gets `palette_a[ids[i]]` and `palette_b[ids[i]]`.
pub fn paint_rgb8_pair(
    ids: &[u32],
    palette_a: &[[u8; 3]],
    palette_b: &[[u8; 3]],
) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(palette_a.len(), palette_b.len());
    let mut a = vec![0u8; ids.len() * 3];
    let mut b = vec![0u8; ids.len() * 3];
    for ((pa, pb), &id) in a.chunks_exact_mut(3).zip(b.chunks_exact_mut(3)).zip(ids) {
        pa.copy_from_slice(&palette_a[id as usize]);
        pb.copy_from_slice(&palette_b[id as usize]);
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(channels: usize, bits: u8, data: Vec<u8>) -> Image {
        let n = data.len() / (channels * usize::from(bits / 8));
        Image {
            width: n as u32,
            height: 1,
            channels,
            bits,
            was_palette: false,
            data,
        }
    }

    #[test]
    fn pairs_get_one_id_each_and_resolve_runs_once_per_pair() {
        let class = image(3, 8, vec![1, 2, 3, 1, 2, 3, 0, 0, 0, 1, 2, 3]);
        let object = image(1, 8, vec![5, 5, 0, 6]);
        let mut calls = Vec::new();
        let ids = label_pixels(&class, Some(&object), |a, b| {
            calls.push((a, b));
            calls.len() as u32
        });
        assert_eq!(ids, vec![1, 1, 2, 3]);
        assert_eq!(calls, vec![(0x010203, 5), (0, 0), (0x010203, 6)]);
    }

    #[test]
    fn alpha_is_ignored_and_sixteen_bit_keys_keep_every_bit() {
        let rgba = image(4, 8, vec![9, 8, 7, 255, 9, 8, 7, 0]);
        let ids = label_pixels(
            &rgba,
            None,
            |a, _| if a == key_of_rgb8([9, 8, 7]) { 4 } else { 0 },
        );
        assert_eq!(ids, vec![4, 4]);
        let rgb16 = image(3, 16, vec![0x11, 0x20, 0, 1, 0xff, 0xfe]);
        let ids = label_pixels(&rgb16, None, |a, _| {
            (a == key_of_rgb16([0x1120, 1, 0xfffe])) as u32
        });
        assert_eq!(ids, vec![1]);
        assert_eq!(rgb16_of_key(key_of_rgb16([1, 2, 3])), [1, 2, 3]);
        let gray16 = image(1, 16, vec![1, 3, 0, 7]);
        assert_eq!(count_key(&gray16, 259), 1);
    }

    #[test]
    fn painting_uses_each_palette() {
        let (a, b) = paint_rgb8_pair(
            &[0, 1, 1],
            &[[0, 0, 0], [1, 2, 3]],
            &[[0, 0, 0], [128, 0, 0]],
        );
        assert_eq!(a, vec![0, 0, 0, 1, 2, 3, 1, 2, 3]);
        assert_eq!(b, vec![0, 0, 0, 128, 0, 0, 128, 0, 0]);
    }
}

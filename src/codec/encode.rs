//! Encoding: whole images through the `png` crate, and rows fed to
//! `fdeflate` directly for fast encoding (the same bytes as the crate's
//! whole-image path, without its slower row writer).

use std::io::Cursor;

/// How hard the PNG encoder compresses (`--compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Sub filter + fdeflate: fastest (the default).
    #[default]
    Fast,
    /// Adaptive filter + zlib level 6.
    Balanced,
    /// Adaptive filter + zlib level 9.
    High,
}

impl Compression {
    /// Every effort, by its `--compression` name.
    pub const NAMES: [(&'static str, Compression); 3] = [
        ("fast", Compression::Fast),
        ("balanced", Compression::Balanced),
        ("high", Compression::High),
    ];

    /// Its `--compression` name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("fast", |(n, _)| n)
    }

    /// The effort named `name`.
    pub fn from_name(name: &str) -> Option<Compression> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
    }
}

/// Pixel layout of an image to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PngLayout {
    /// 8-bit grayscale.
    Gray8,
    /// 8-bit RGB.
    Rgb8,
    /// 8-bit RGBA.
    Rgba8,
    /// 16-bit grayscale, big-endian samples.
    Gray16,
    /// 16-bit RGB, big-endian samples.
    Rgb16,
}

impl PngLayout {
    /// Bytes one pixel takes.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PngLayout::Gray8 => 1,
            PngLayout::Gray16 => 2,
            PngLayout::Rgb8 => 3,
            PngLayout::Rgba8 => 4,
            PngLayout::Rgb16 => 6,
        }
    }
}

fn encoder(
    out: &mut Vec<u8>,
    width: u32,
    height: u32,
    layout: PngLayout,
    compression: Compression,
) -> png::Encoder<'static, &mut Vec<u8>> {
    let (color, depth) = match layout {
        PngLayout::Gray8 => (png::ColorType::Grayscale, png::BitDepth::Eight),
        PngLayout::Rgb8 => (png::ColorType::Rgb, png::BitDepth::Eight),
        PngLayout::Rgba8 => (png::ColorType::Rgba, png::BitDepth::Eight),
        PngLayout::Gray16 => (png::ColorType::Grayscale, png::BitDepth::Sixteen),
        PngLayout::Rgb16 => (png::ColorType::Rgb, png::BitDepth::Sixteen),
    };
    let mut encoder = png::Encoder::new(out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    match compression {
        // Masks are long runs: the Sub filter (what CVAT's OpenCV writes) with
        // fdeflate is ~4x faster to encode than adaptive filtering, for files
        // ~30% larger.
        Compression::Fast => {
            encoder.set_deflate_compression(png::DeflateCompression::FdeflateUltraFast);
            encoder.set_filter(png::Filter::Sub);
        }
        Compression::Balanced => encoder.set_compression(png::Compression::Balanced),
        Compression::High => encoder.set_compression(png::Compression::High),
    }
    encoder
}

/// Encodes `data` (row-major, no padding) as a non-interlaced PNG with only
/// IHDR, IDAT and IEND chunks.
pub fn encode_png(
    width: u32,
    height: u32,
    layout: PngLayout,
    data: &[u8],
    compression: Compression,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 8 + 1024);
    // Writing to a Vec cannot fail, and the caller guarantees the data size.
    let mut writer = encoder(&mut out, width, height, layout, compression)
        .write_header()
        .expect("PNG header to memory");
    writer
        .write_image_data(data)
        .expect("PNG data matches its header");
    writer.finish().expect("PNG end to memory");
    out
}

/// Encodes an image row by row: `fill(y, row)` writes row `y` (it may be
/// called twice per row). Same bytes as [`encode_png`] with the same
/// settings. With [`Compression::Fast`] each row is filtered and compressed
/// as soon as it is filled, exactly as the `png` crate's whole-image path
/// does it, so no whole-image buffer is needed (the `png` crate's own row
/// writer compresses ~30% slower); other settings go through a per-thread
/// buffer reused from image to image.
pub fn encode_png_rows(
    width: u32,
    height: u32,
    layout: PngLayout,
    compression: Compression,
    mut fill: impl FnMut(usize, &mut [u8]),
) -> Vec<u8> {
    assert!(width > 0 && height > 0, "a PNG image is at least 1x1");
    if compression == Compression::Fast {
        return encode_fast_rows(width, height, layout, fill);
    }
    /// A buffer larger than this is given back after use, not kept.
    const KEEP_BYTES: usize = 64 << 20;
    thread_local! {
        static RAW: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let row_len = width as usize * layout.bytes_per_pixel();
    RAW.with_borrow_mut(|raw| {
        raw.resize(row_len * height as usize, 0);
        for (y, row) in raw.chunks_exact_mut(row_len.max(1)).enumerate() {
            fill(y, row);
        }
        let png = encode_png(width, height, layout, raw, compression);
        if raw.capacity() > KEEP_BYTES {
            *raw = Vec::new();
        }
        png
    })
}

/// [`Compression::Fast`] row by row: the Sub filter and `fdeflate`, one
/// compressor call per filtered row (filter byte first), falling back to
/// stored blocks when that is smaller — the `png` crate's own sequence.
fn encode_fast_rows(
    width: u32,
    height: u32,
    layout: PngLayout,
    mut fill: impl FnMut(usize, &mut [u8]),
) -> Vec<u8> {
    const SUB: u8 = 1;
    let bpp = layout.bytes_per_pixel();
    let row_len = width as usize * bpp;
    let mut row = vec![0u8; row_len];
    let mut line = vec![0u8; row_len + 1];
    let mut compressor = fdeflate::Compressor::new(Cursor::new(Vec::with_capacity(64 << 10)))
        .expect("compressing to memory");
    for y in 0..height as usize {
        fill(y, &mut row);
        line[0] = SUB;
        let filtered = &mut line[1..];
        filtered[..bpp.min(row_len)].copy_from_slice(&row[..bpp.min(row_len)]);
        for i in bpp..row_len {
            filtered[i] = row[i].wrapping_sub(row[i - bpp]);
        }
        compressor.write_data(&line).expect("compressing to memory");
    }
    let mut zlib = compressor
        .finish()
        .expect("compressing to memory")
        .into_inner();
    let raw_size = (row_len + 1) * height as usize;
    if zlib.len() > fdeflate::StoredOnlyCompressor::<()>::compressed_size(raw_size) {
        // Incompressible: stored blocks, unfiltered rows (as the png crate does).
        let mut stored = fdeflate::StoredOnlyCompressor::new(Cursor::new(Vec::new()))
            .expect("compressing to memory");
        for y in 0..height as usize {
            fill(y, &mut row);
            stored.write_data(&[0]).expect("compressing to memory");
            stored.write_data(&row).expect("compressing to memory");
        }
        zlib = stored.finish().expect("compressing to memory").into_inner();
    }
    let (color, depth) = match layout {
        PngLayout::Gray8 => (0u8, 8u8),
        PngLayout::Rgb8 => (2, 8),
        PngLayout::Rgba8 => (6, 8),
        PngLayout::Gray16 => (0, 16),
        PngLayout::Rgb16 => (2, 16),
    };
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[depth, color, 0, 0, 0]);
    let mut png = Vec::with_capacity(zlib.len() + 64);
    png.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    push_chunk(&mut png, b"IHDR", &header);
    for part in zlib.chunks(i32::MAX as usize) {
        push_chunk(&mut png, b"IDAT", part);
    }
    push_chunk(&mut png, b"IEND", &[]);
    png
}

/// Appends one PNG chunk: length, type, data, CRC of type and data.
fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_by_row_encoding_matches_whole_image_encoding_byte_for_byte() {
        let mut seed = 7u64;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        };
        for layout in [
            PngLayout::Gray8,
            PngLayout::Rgb8,
            PngLayout::Rgba8,
            PngLayout::Gray16,
            PngLayout::Rgb16,
        ] {
            let (w, h) = (37u32, 11u32);
            let row_len = w as usize * layout.bytes_per_pixel();
            let runs: Vec<u8> = (0..row_len * h as usize)
                .map(|i| (i / 50 % 3) as u8)
                .collect();
            let random: Vec<u8> = (0..row_len * h as usize).map(|_| noise()).collect();
            for data in [&runs, &random] {
                for compression in [Compression::Fast, Compression::Balanced] {
                    let whole = encode_png(w, h, layout, data, compression);
                    let rows = encode_png_rows(w, h, layout, compression, |y, row| {
                        row.copy_from_slice(&data[y * row_len..(y + 1) * row_len])
                    });
                    assert!(rows == whole, "{layout:?} {compression:?}");
                }
            }
        }
    }
}

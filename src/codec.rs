//! PNG decoding and encoding with the `png` crate, exact at 8 and 16 bits:
//! 16-bit samples are never reduced, palette indices can be kept raw, and
//! headers that claim absurd sizes are refused before anything is allocated.

use crate::error::{Error, Result};
use std::io::Cursor;

/// The largest mask accepted, in pixels (16384 × 16384). Larger headers are
/// treated as decompression bombs.
pub const MAX_PIXELS: u64 = 1 << 28;

/// How a palette PNG is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    /// Expanded to RGB (RGBA with `tRNS`), as OpenCV and libpng do.
    Expand,
    /// Kept as raw indices, one byte per pixel.
    Indices,
}

/// A decoded image: interleaved samples, 16-bit ones as big-endian byte pairs.
#[derive(Debug, Clone)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Samples per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    pub channels: usize,
    /// Bits per sample: 8 or 16.
    pub bits: u8,
    /// Whether the file was a palette PNG (then `channels` says how it was decoded).
    pub was_palette: bool,
    /// The samples, row-major, no padding.
    pub data: Vec<u8>,
}

impl Image {
    /// A short description like "8-bit RGB" for messages.
    pub fn describe(&self) -> String {
        let layout = match (self.was_palette, self.channels) {
            (true, _) => "palette",
            (false, 1) => "grayscale",
            (false, 2) => "grayscale+alpha",
            (false, 3) => "RGB",
            _ => "RGBA",
        };
        format!("{}-bit {layout}", self.bits)
    }

    /// Number of pixels.
    pub fn pixel_count(&self) -> usize {
        self.width as usize * self.height as usize
    }
}

/// Reads just the header: `(width, height)`.
pub fn png_size(bytes: &[u8], display: &str) -> Result<(u32, u32)> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    let info = decoder
        .read_header_info()
        .map_err(|e| decode_error(display, &e))?;
    Ok((info.width, info.height))
}

/// Decodes a whole PNG. Low bit depths are unpacked to one byte per sample
/// (gray values scaled to 0..255 as libpng does; palette indices kept as is).
pub fn decode_png(bytes: &[u8], display: &str, palette: Palette) -> Result<Image> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    let header = decoder
        .read_header_info()
        .map_err(|e| decode_error(display, &e))?;
    let (width, height) = (header.width, header.height);
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(Error::input(
            display,
            format!(
                "PNG header claims {width}x{height} pixels, more than the {MAX_PIXELS}-pixel limit; refusing to decode (corrupt file or decompression bomb)"
            ),
        ));
    }
    let was_palette = header.color_type == png::ColorType::Indexed;
    let low_depth = (header.bit_depth as u8) < 8;
    let transform = match (was_palette, palette) {
        (true, Palette::Expand) => png::Transformations::EXPAND,
        (true, Palette::Indices) => png::Transformations::IDENTITY,
        (false, _) if low_depth => png::Transformations::EXPAND,
        (false, _) => png::Transformations::IDENTITY,
    };
    decoder.set_transformations(transform);
    decoder.set_limits(png::Limits {
        bytes: (pixels as usize).saturating_mul(8).saturating_add(1 << 20),
    });
    let mut reader = decoder.read_info().map_err(|e| decode_error(display, &e))?;
    let (color, depth) = reader.output_color_type();
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Error::input(display, "PNG is too large to decode"))?;
    let mut data = vec![0u8; size];
    let frame = reader
        .next_frame(&mut data)
        .map_err(|e| decode_error(display, &e))?;
    data.truncate(frame.buffer_size());
    let bits = depth as u8;
    let data = if bits < 8 {
        unpack_indices(&data, width, height, bits, frame.line_size)
    } else {
        data
    };
    Ok(Image {
        width,
        height,
        channels: color.samples(),
        bits: bits.max(8),
        was_palette,
        data,
    })
}

/// Unpacks 1/2/4-bit samples (raw palette indices) to one byte each.
fn unpack_indices(packed: &[u8], width: u32, height: u32, bits: u8, line_size: usize) -> Vec<u8> {
    let per_byte = 8 / bits as usize;
    let mask = (1u8 << bits) - 1;
    let mut out = Vec::with_capacity(width as usize * height as usize);
    for row in packed.chunks(line_size).take(height as usize) {
        for x in 0..width as usize {
            let byte = row[x / per_byte];
            let shift = 8 - bits as usize * (x % per_byte + 1);
            out.push((byte >> shift) & mask);
        }
    }
    out
}

fn decode_error(display: &str, err: &png::DecodingError) -> Error {
    let what = match err {
        png::DecodingError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "PNG data ends early (truncated file?)".to_string()
        }
        png::DecodingError::LimitsExceeded => {
            "PNG needs more memory than the decoder limit allows".to_string()
        }
        other => format!("not a valid PNG: {other}"),
    };
    Error::input(display, what)
}

/// How hard the PNG encoder compresses (`--compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// fdeflate, fastest (the default).
    #[default]
    Fast,
    /// zlib level 6.
    Balanced,
    /// zlib level 9.
    High,
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

/// Encodes `data` (row-major, no padding) as a non-interlaced PNG with only
/// IHDR, IDAT and IEND chunks.
pub fn encode_png(
    width: u32,
    height: u32,
    layout: PngLayout,
    data: &[u8],
    compression: Compression,
) -> Vec<u8> {
    let (color, depth) = match layout {
        PngLayout::Gray8 => (png::ColorType::Grayscale, png::BitDepth::Eight),
        PngLayout::Rgb8 => (png::ColorType::Rgb, png::BitDepth::Eight),
        PngLayout::Rgba8 => (png::ColorType::Rgba, png::BitDepth::Eight),
        PngLayout::Gray16 => (png::ColorType::Grayscale, png::BitDepth::Sixteen),
        PngLayout::Rgb16 => (png::ColorType::Rgb, png::BitDepth::Sixteen),
    };
    let mut out = Vec::with_capacity(data.len() / 8 + 1024);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    encoder.set_compression(match compression {
        Compression::Fast => png::Compression::Fast,
        Compression::Balanced => png::Compression::Balanced,
        Compression::High => png::Compression::High,
    });
    // Writing to a Vec cannot fail, and the caller guarantees the data size.
    let mut writer = encoder.write_header().expect("PNG header to memory");
    writer
        .write_image_data(data)
        .expect("PNG data matches its header");
    writer.finish().expect("PNG end to memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_rgb_round_trips_exactly() {
        let samples: Vec<u8> = [4384u16, 1699, 55003, 65535, 1, 257]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let png = encode_png(2, 1, PngLayout::Rgb16, &samples, Compression::Fast);
        let image = decode_png(&png, "t.png", Palette::Expand).unwrap();
        assert_eq!(
            (image.bits, image.channels, image.data.clone()),
            (16, 3, samples)
        );
    }

    #[test]
    fn header_claiming_huge_size_is_refused_before_decoding() {
        let mut png = encode_png(1, 1, PngLayout::Gray8, &[0], Compression::Fast);
        // Patch IHDR width/height to 100000 x 100000 and fix the CRC.
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode_png(&png, "bomb.png", Palette::Expand).unwrap_err();
        assert!(err.to_string().contains("100000x100000"), "{err}");
    }

    #[test]
    fn truncated_png_is_an_error_naming_the_file() {
        let png = encode_png(4, 4, PngLayout::Rgb8, &[7; 48], Compression::Fast);
        let err = decode_png(&png[..png.len() - 20], "cut.png", Palette::Expand).unwrap_err();
        assert!(err.to_string().starts_with("cut.png: "), "{err}");
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}

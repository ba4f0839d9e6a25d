//! PNG decoding and encoding with the `png` crate, exact at 8 and 16 bits:
//! 16-bit samples are never reduced, palette indices can be kept raw, and
//! headers that claim absurd sizes are refused before anything is allocated.
//! Fast encoding row by row feeds `fdeflate` directly, in the very sequence
//! of the `png` crate's whole-image path (same bytes), without its slower
//! row writer.

use crate::error::{Error, Result};
use std::io::Cursor;

/// The largest mask accepted, in pixels (16384 × 16384). Larger headers are
/// treated as decompression bombs.
pub const MAX_PIXELS: u64 = 1 << 28;

/// The widest (and tallest) mask accepted: a row is decoded whole, so a
/// 2^28 × 1 header would cost gigabytes per row.
pub const MAX_SIDE: u32 = 1 << 16;

/// How a palette PNG is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    /// Expanded to RGB (RGBA with `tRNS`), as OpenCV and libpng do.
    Expand,
    /// Kept as raw indices, one byte per pixel.
    Indices,
}

/// What a decoded PNG looks like: size and sample layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Samples per pixel after decoding: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    pub channels: usize,
    /// Bits per sample after decoding: 8 or 16 (16-bit samples are big-endian byte pairs).
    pub bits: u8,
    /// Bits per sample in the file: 1, 2, 4, 8 or 16 (low depths are unpacked
    /// to 8 bits when decoding).
    pub file_bits: u8,
    /// Whether the file was a palette PNG (then `channels` says how it was decoded).
    pub was_palette: bool,
}

impl ImageInfo {
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

    /// The file's own layout for messages: "palette", or like "4-bit
    /// grayscale" (its bits per sample before decoding).
    pub fn describe_file(&self) -> String {
        match self.was_palette {
            true => "palette".into(),
            false => ImageInfo {
                bits: self.file_bits,
                ..*self
            }
            .describe(),
        }
    }

    /// Number of pixels.
    pub fn pixel_count(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Bytes of one decoded row.
    pub fn row_bytes(&self) -> usize {
        self.width as usize * self.channels * usize::from(self.bits / 8)
    }
}

/// A whole decoded image, row-major, no padding.
#[derive(Debug, Clone)]
pub struct Image {
    /// Size and layout.
    pub info: ImageInfo,
    /// The samples.
    pub data: Vec<u8>,
}

impl Image {
    /// Row `y`.
    pub fn row(&self, y: usize) -> &[u8] {
        let len = self.info.row_bytes();
        &self.data[y * len..(y + 1) * len]
    }
}

/// The most memory one whole-image decode may take (an interlaced PNG,
/// whose rows cannot be had one at a time), with the file's own bytes: part
/// of each worker's memory budget (README "Safety").
pub const MAX_WHOLE_DECODE_BYTES: u64 = 64 << 20;

/// Something that yields an image's rows top to bottom, decoded.
pub trait RowSource {
    /// Size and layout of the rows.
    fn info(&self) -> &ImageInfo;
    /// The image as messages name it (its file).
    fn name(&self) -> &str;
    /// The next row; an error if the data ends early or is corrupt.
    fn next_row(&mut self) -> Result<&[u8]>;
}

/// Rows of a whole [`Image`], for tests and fallbacks.
pub struct ImageRows<'a> {
    image: &'a Image,
    next: usize,
}

impl<'a> ImageRows<'a> {
    /// Rows of `image` from the top.
    pub fn new(image: &'a Image) -> Self {
        ImageRows { image, next: 0 }
    }
}

impl RowSource for ImageRows<'_> {
    fn info(&self) -> &ImageInfo {
        &self.image.info
    }

    fn name(&self) -> &str {
        "image"
    }

    fn next_row(&mut self) -> Result<&[u8]> {
        self.next += 1;
        Ok(self.image.row(self.next - 1))
    }
}

/// A PNG decoded one row at a time, so a mask never needs a whole-image
/// buffer (interlaced files, rare for masks, are decoded whole when the
/// first row is asked for, within [`MAX_WHOLE_DECODE_BYTES`]: the header
/// can be checked against a format's rules first).
pub struct PngRows<'a> {
    info: ImageInfo,
    display: String,
    inner: PngRowsInner<'a>,
}

type PngReader<'a> = png::Reader<Cursor<&'a [u8]>>;

/// A PNG whose header has been read and checked.
struct OpenedPng<'a> {
    reader: PngReader<'a>,
    info: ImageInfo,
    /// Bits per sample in the file when below 8 (raw palette indices to unpack).
    packed_bits: Option<u8>,
}

enum PngRowsInner<'a> {
    Stream {
        reader: Box<PngReader<'a>>,
        /// Bits per sample in the file when below 8 (raw palette indices to unpack).
        packed_bits: Option<u8>,
        unpacked: Vec<u8>,
        /// Rows not yet returned; after the last one the rest of the file is checked.
        rows_left: u32,
    },
    /// An interlaced PNG, not decoded yet.
    Interlaced {
        bytes: &'a [u8],
        palette: Palette,
    },
    Whole {
        image: Image,
        next: usize,
    },
}

impl RowSource for PngRows<'_> {
    fn info(&self) -> &ImageInfo {
        &self.info
    }

    fn name(&self) -> &str {
        &self.display
    }

    fn next_row(&mut self) -> Result<&[u8]> {
        if let PngRowsInner::Interlaced { bytes, palette } = self.inner {
            let needed = bytes.len() as u64
                + (self.info.pixel_count() * self.info.channels) as u64
                    * u64::from(self.info.bits / 8);
            if needed > MAX_WHOLE_DECODE_BYTES {
                return Err(Error::input(
                    &self.display,
                    format!(
                        "is an interlaced PNG of {}x{}, which is decoded whole, in {} MiB: more than the {} MiB a decode may take; save it non-interlaced",
                        self.info.width,
                        self.info.height,
                        needed.div_ceil(1 << 20),
                        MAX_WHOLE_DECODE_BYTES >> 20
                    ),
                ));
            }
            self.inner = PngRowsInner::Whole {
                image: decode_png(bytes, &self.display, palette)?,
                next: 0,
            };
        }
        match &mut self.inner {
            PngRowsInner::Stream {
                reader,
                packed_bits,
                unpacked,
                rows_left,
            } => {
                let display = &self.display;
                let ended = || Error::input(display, "PNG data ends early (truncated file?)");
                *rows_left -= 1;
                let last = *rows_left == 0;
                if !last && packed_bits.is_none() {
                    let row = reader.next_row().map_err(|e| decode_error(display, &e))?;
                    return row.map(|row| row.data()).ok_or_else(ended);
                }
                let row = reader.next_row().map_err(|e| decode_error(display, &e))?;
                let row = row.ok_or_else(ended)?;
                unpacked.clear();
                match packed_bits {
                    None => unpacked.extend_from_slice(row.data()),
                    Some(bits) => unpack_row(row.data(), self.info.width as usize, *bits, unpacked),
                }
                if last {
                    // The last row is out: read on to IEND, so that the last
                    // IDAT's CRC and zlib's Adler-32 are checked (a flipped
                    // pixel is an error, as in libpng).
                    reader.finish().map_err(|e| decode_error(display, &e))?;
                }
                Ok(unpacked)
            }
            PngRowsInner::Whole { image, next } => {
                *next += 1;
                Ok(image.row(*next - 1))
            }
            PngRowsInner::Interlaced { .. } => unreachable!("decoded above"),
        }
    }
}

/// Whether a mask of `width × height` is within the limits: 1..=[`MAX_SIDE`]
/// on a side, at most [`MAX_PIXELS`].
pub fn within_limits(width: u32, height: u32) -> bool {
    let side = 1..=MAX_SIDE;
    side.contains(&width)
        && side.contains(&height)
        && u64::from(width) * u64::from(height) <= MAX_PIXELS
}

/// Opens a PNG for decoding: checks the header against [`MAX_PIXELS`] before
/// anything is allocated and sets the transformations.
fn open_png<'a>(bytes: &'a [u8], display: &str, palette: Palette) -> Result<OpenedPng<'a>> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // Verify zlib's Adler-32 too (CRCs are checked by default), as libpng does.
    decoder.ignore_checksums(false);
    let header = decoder
        .read_header_info()
        .map_err(|e| decode_error(display, &e))?;
    let (width, height) = (header.width, header.height);
    let pixels = u64::from(width) * u64::from(height);
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::input(
            display,
            format!(
                "PNG header claims {width}x{height} pixels, more than {MAX_SIDE} on a side; refusing to decode (corrupt file or decompression bomb)"
            ),
        ));
    }
    if pixels > MAX_PIXELS {
        return Err(Error::input(
            display,
            format!(
                "PNG header claims {width}x{height} pixels, more than the {MAX_PIXELS}-pixel limit; refusing to decode (corrupt file or decompression bomb)"
            ),
        ));
    }
    let was_palette = header.color_type == png::ColorType::Indexed;
    let file_bits = header.bit_depth as u8;
    let low_depth = file_bits < 8;
    let expand = match (was_palette, palette) {
        (true, Palette::Expand) => true,
        (true, Palette::Indices) => false,
        (false, _) => low_depth,
    };
    decoder.set_transformations(if expand {
        png::Transformations::EXPAND
    } else {
        png::Transformations::IDENTITY
    });
    decoder.set_limits(png::Limits {
        bytes: (pixels as usize).saturating_mul(8).saturating_add(1 << 20),
    });
    let reader = decoder.read_info().map_err(|e| decode_error(display, &e))?;
    let (color, depth) = reader.output_color_type();
    let bits = depth as u8;
    let info = ImageInfo {
        width,
        height,
        channels: color.samples(),
        bits: bits.max(8),
        file_bits,
        was_palette,
    };
    Ok(OpenedPng {
        reader,
        info,
        packed_bits: (bits < 8).then_some(bits),
    })
}

/// Decodes a PNG row by row (see [`PngRows`]). Low bit depths are unpacked
/// to one byte per sample (gray values scaled to 0..255 as libpng does;
/// palette indices kept as they are).
pub fn png_rows<'a>(bytes: &'a [u8], display: &str, palette: Palette) -> Result<PngRows<'a>> {
    let OpenedPng {
        reader,
        info,
        packed_bits,
    } = open_png(bytes, display, palette)?;
    let inner = if reader.info().interlaced {
        PngRowsInner::Interlaced { bytes, palette }
    } else {
        PngRowsInner::Stream {
            reader: Box::new(reader),
            packed_bits,
            unpacked: Vec::new(),
            rows_left: info.height,
        }
    };
    Ok(PngRows {
        info,
        display: display.to_string(),
        inner,
    })
}

/// Decodes a whole PNG into one buffer (same rules as [`png_rows`]).
pub fn decode_png(bytes: &[u8], display: &str, palette: Palette) -> Result<Image> {
    let OpenedPng {
        mut reader,
        info,
        packed_bits,
    } = open_png(bytes, display, palette)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Error::input(display, "PNG is too large to decode"))?;
    let mut data = vec![0u8; size];
    let frame = reader
        .next_frame(&mut data)
        .map_err(|e| decode_error(display, &e))?;
    data.truncate(frame.buffer_size());
    reader.finish().map_err(|e| decode_error(display, &e))?;
    if let Some(bits) = packed_bits {
        let mut unpacked = Vec::with_capacity(info.pixel_count());
        for row in data.chunks(frame.line_size).take(info.height as usize) {
            unpack_row(row, info.width as usize, bits, &mut unpacked);
        }
        data = unpacked;
    }
    Ok(Image { info, data })
}

/// Appends `width` samples of `bits` (1, 2 or 4) unpacked from `packed` to `out`.
fn unpack_row(packed: &[u8], width: usize, bits: u8, out: &mut Vec<u8>) {
    let per_byte = 8 / bits as usize;
    let mask = (1u8 << bits) - 1;
    for x in 0..width {
        let shift = 8 - bits as usize * (x % per_byte + 1);
        out.push((packed[x / per_byte] >> shift) & mask);
    }
}

fn decode_error(display: &str, err: &png::DecodingError) -> Error {
    let what = match err {
        png::DecodingError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "PNG data ends early (truncated file?)".to_string()
        }
        png::DecodingError::LimitsExceeded => {
            "PNG needs more memory than the decoder limit allows".to_string()
        }
        other => format!("not a valid PNG: {}", plain_png_error(&other.to_string())),
    };
    Error::input(display, what)
}

/// The `png` crate's message in plain words: its chunk names without their
/// `Debug` dump, and its zlib errors named.
fn plain_png_error(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("ChunkType { type: ") {
        plain.push_str(&rest[..at]);
        let after = &rest[at + "ChunkType { type: ".len()..];
        let name_end = after.find(',').unwrap_or(after.len());
        plain.push_str(&after[..name_end]);
        rest = after.find('}').map_or("", |end| &after[end + 1..]);
    }
    plain.push_str(rest);
    if let Some(crc) = plain.strip_prefix("CRC error: ") {
        let chunk = crc.rsplit("while decoding ").next().unwrap_or(crc);
        return format!(
            "the CRC of its {} does not match (corrupt file)",
            chunk.trim_end_matches('.')
        );
    }
    match plain.strip_prefix("Corrupt deflate stream. ") {
        Some("WrongChecksum") => {
            "its image data fails the zlib Adler-32 checksum (corrupt file)".into()
        }
        Some(kind) => format!("its compressed image data is corrupt ({kind})"),
        None => plain,
    }
}

mod encode;
pub use encode::{Compression, PngLayout, encode_png, encode_png_rows};

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-by-row encoding gives the very bytes of whole-image encoding, for
    /// every layout, every compression setting, and incompressible data.
    #[test]
    fn sixteen_bit_rgb_round_trips_exactly() {
        let samples: Vec<u8> = [4384u16, 1699, 55003, 65535, 1, 257]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let png = encode_png(2, 1, PngLayout::Rgb16, &samples, Compression::Fast);
        let image = decode_png(&png, "t.png", Palette::Expand).unwrap();
        let decoded = (image.info.bits, image.info.channels, image.data.clone());
        assert_eq!(decoded, (16, 3, samples.clone()));
        let streamed = encode_png_rows(2, 1, PngLayout::Rgb16, Compression::Fast, |_, row| {
            row.copy_from_slice(&samples)
        });
        let mut rows = png_rows(&streamed, "s.png", Palette::Expand).unwrap();
        assert_eq!(rows.next_row().unwrap(), &samples[..]);
    }

    #[test]
    fn truncated_png_is_an_error_naming_the_file() {
        let data: Vec<u8> = (0..64 * 64 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let png = encode_png(64, 64, PngLayout::Rgb8, &data, Compression::Fast);
        let cut = &png[..png.len() / 2];
        let err = decode_png(cut, "cut.png", Palette::Expand).unwrap_err();
        assert!(err.to_string().starts_with("cut.png: "), "{err}");
        let mut rows = png_rows(cut, "cut.png", Palette::Expand).unwrap();
        let err = (0..64)
            .find_map(|_| rows.next_row().err())
            .expect("a row fails");
        assert!(err.to_string().starts_with("cut.png: "), "{err}");
    }

    /// The offset of the first IDAT chunk's data and its length.
    fn idat(png: &[u8]) -> (usize, usize) {
        let mut at = 8;
        loop {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            if &png[at + 4..at + 8] == b"IDAT" {
                return (at + 8, len);
            }
            at += 12 + len;
        }
    }

    fn decode_all_rows(png: &[u8]) -> Result<Vec<u8>> {
        let mut rows = png_rows(png, "m.png", Palette::Expand)?;
        let mut all = Vec::new();
        for _ in 0..rows.info().height {
            all.extend_from_slice(rows.next_row()?);
        }
        Ok(all)
    }

    /// A pixel flipped in the last IDAT is refused, whether its CRC gives it
    /// away or (with the CRC patched to match) only zlib's Adler-32 does.
    #[test]
    fn a_flipped_byte_in_the_image_data_is_an_error() {
        let data = vec![7u8; 16 * 4];
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, 16, 4);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_compression(png::Compression::NoCompression);
        encoder.set_filter(png::Filter::NoFilter);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&data).unwrap();
        writer.finish().unwrap();
        assert_eq!(decode_all_rows(&png).unwrap(), data);
        let (start, len) = idat(&png);
        let mut bad_crc = png.clone();
        bad_crc[start + len] ^= 1;
        let err = decode_all_rows(&bad_crc).unwrap_err().to_string();
        assert_eq!(
            err,
            "m.png: not a valid PNG: the CRC of its IDAT chunk does not match (corrupt file)"
        );
        assert!(decode_png(&bad_crc, "m.png", Palette::Expand).is_err());
        // The last stored row's last sample (before the 4-byte Adler-32),
        // with the chunk's CRC made to match.
        let mut flipped = png.clone();
        flipped[start + len - 5] ^= 1;
        let crc = crc32fast::hash(&flipped[start - 4..start + len]);
        flipped[start + len..start + len + 4].copy_from_slice(&crc.to_be_bytes());
        let err = decode_all_rows(&flipped).unwrap_err().to_string();
        assert_eq!(
            err,
            "m.png: not a valid PNG: its image data fails the zlib Adler-32 checksum (corrupt file)"
        );
        assert!(decode_png(&flipped, "m.png", Palette::Expand).is_err());
    }

    #[test]
    fn palette_indices_below_eight_bits_are_unpacked() {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, 5, 1);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Two);
        encoder.set_palette(vec![0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30]);
        let mut writer = encoder.write_header().unwrap();
        writer
            .write_image_data(&[0b00_01_10_11, 0b01_000000])
            .unwrap();
        writer.finish().unwrap();
        let image = decode_png(&out, "p.png", Palette::Indices).unwrap();
        assert_eq!(image.data, vec![0, 1, 2, 3, 1]);
        let mut rows = png_rows(&out, "p.png", Palette::Indices).unwrap();
        assert_eq!(rows.next_row().unwrap(), &[0, 1, 2, 3, 1]);
        let expanded = decode_png(&out, "p.png", Palette::Expand).unwrap();
        assert_eq!(expanded.info.channels, 3);
        assert_eq!(&expanded.data[3..6], &[10, 10, 10]);
    }
}

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

/// Something that yields an image's rows top to bottom, decoded.
pub trait RowSource {
    /// Size and layout of the rows.
    fn info(&self) -> &ImageInfo;
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

    fn next_row(&mut self) -> Result<&[u8]> {
        self.next += 1;
        Ok(self.image.row(self.next - 1))
    }
}

/// A PNG decoded one row at a time, so a mask never needs a whole-image
/// buffer (interlaced files, rare for masks, are decoded whole).
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

    fn next_row(&mut self) -> Result<&[u8]> {
        match &mut self.inner {
            PngRowsInner::Stream {
                reader,
                packed_bits,
                unpacked,
            } => {
                let row = reader
                    .next_row()
                    .map_err(|e| decode_error(&self.display, &e))?
                    .ok_or_else(|| {
                        Error::input(&self.display, "PNG data ends early (truncated file?)")
                    })?;
                match packed_bits {
                    None => Ok(row.data()),
                    Some(bits) => {
                        unpacked.clear();
                        unpack_row(row.data(), self.info.width as usize, *bits, unpacked);
                        Ok(unpacked)
                    }
                }
            }
            PngRowsInner::Whole { image, next } => {
                *next += 1;
                Ok(image.row(*next - 1))
            }
        }
    }
}

/// Opens a PNG for decoding: checks the header against [`MAX_PIXELS`] before
/// anything is allocated and sets the transformations.
fn open_png<'a>(bytes: &'a [u8], display: &str, palette: Palette) -> Result<OpenedPng<'a>> {
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
        PngRowsInner::Whole {
            image: decode_png(bytes, display, palette)?,
            next: 0,
        }
    } else {
        PngRowsInner::Stream {
            reader: Box::new(reader),
            packed_bits,
            unpacked: Vec::new(),
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
        other => format!("not a valid PNG: {other}"),
    };
    Error::input(display, what)
}

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

    /// Row-by-row encoding gives the very bytes of whole-image encoding, for
    /// every layout, every compression setting, and incompressible data.
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

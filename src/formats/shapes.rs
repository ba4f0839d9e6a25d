//! Vector shapes (polygons and boxes) read from annotation files, kept until
//! their item is decoded and then rasterised as pycocotools does
//! ([`crate::remap::rle`]). They wait in a [`ShapeStore`]: in memory while
//! small, then in an unlinked temporary file, so that the shapes of a large
//! dataset are never all in memory; an item keeps a [`ShapesRef`] of 16
//! bytes. Also the image sizes vector labels need: [`image_size`] reads a
//! PNG's or JPEG's header.

use crate::error::{Error, ErrorKind, Result};
use crate::io::Spill;
use crate::remap::rle::{Painted, PolygonError, Rle, paint, rle_from_box, rle_from_polygon};

/// One shape of an annotation, in pixel coordinates.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A closed polygon through these points.
    Polygon(Vec<[f64; 2]>),
    /// A box: left, top, width, height (as a COCO `bbox`).
    Box([f64; 4]),
    /// A mask already run-length encoded (a COCO RLE).
    Rle(Rle),
}

impl Shape {
    /// Its mask on a `width × height` image.
    pub fn rasterise(&self, height: u32, width: u32) -> std::result::Result<Rle, PolygonError> {
        match self {
            Shape::Polygon(points) => rle_from_polygon(points, height, width),
            &Shape::Box([x, y, w, h]) => rle_from_box(x, y, w, h, height, width),
            Shape::Rle(rle) if (rle.height, rle.width) == (height, width) => Ok(rle.clone()),
            Shape::Rle(rle) => Err(PolygonError::OtherSize {
                height: rle.height,
                width: rle.width,
                image: (height, width),
            }),
        }
    }
}

/// Where one item's shapes are in a [`ShapeStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShapesRef {
    offset: u64,
    len: u32,
}

/// The shapes of every item, each item's `(pixel value, shape)` list stored
/// as bytes (see the module docs).
pub struct ShapeStore {
    spill: Spill,
}

impl Default for ShapeStore {
    fn default() -> Self {
        ShapeStore {
            spill: Spill::new(Some(&std::env::temp_dir())),
        }
    }
}

const POLYGON: u8 = 0;
const BOX: u8 = 1;
const RLE: u8 = 2;

impl ShapeStore {
    /// Stores one item's shapes: `(value, shape)` in painting order.
    pub fn push(&mut self, shapes: &[(u32, Shape)]) -> Result<ShapesRef> {
        let mut bytes = Vec::new();
        for (value, shape) in shapes {
            bytes.extend_from_slice(&value.to_le_bytes());
            let coordinates: &[f64] = match shape {
                Shape::Polygon(points) => {
                    bytes.push(POLYGON);
                    bytes.extend_from_slice(&(points.len() as u32).to_le_bytes());
                    points.as_flattened()
                }
                Shape::Box(b) => {
                    bytes.push(BOX);
                    b
                }
                Shape::Rle(rle) => {
                    bytes.push(RLE);
                    for n in [rle.height, rle.width, rle.counts.len() as u32] {
                        bytes.extend_from_slice(&n.to_le_bytes());
                    }
                    for count in &rle.counts {
                        bytes.extend_from_slice(&count.to_le_bytes());
                    }
                    &[]
                }
            };
            for c in coordinates {
                bytes.extend_from_slice(&c.to_le_bytes());
            }
        }
        let len = u32::try_from(bytes.len()).map_err(|_| {
            store_error(std::io::Error::other(
                "one item's shapes take more than 4 GiB",
            ))
        })?;
        let at = ShapesRef {
            offset: self.spill.len(),
            len,
        };
        self.spill.append(&bytes).map_err(store_error)?;
        Ok(at)
    }

    /// Makes every stored item readable (call once all are pushed).
    pub fn finish(&mut self) -> Result<()> {
        self.spill.flush().map_err(store_error)
    }

    /// One item's shapes, as pushed.
    pub fn get(&self, at: ShapesRef) -> Result<Vec<(u32, Shape)>> {
        let bytes = self
            .spill
            .read_at(at.offset, at.len as usize)
            .map_err(store_error)?;
        let mut cursor = Cursor {
            bytes: &bytes,
            at: 0,
        };
        let mut shapes = Vec::new();
        while cursor.at < bytes.len() {
            let value = cursor.u32();
            let shape = match cursor.take(1)[0] {
                POLYGON => {
                    let n = cursor.u32() as usize;
                    Shape::Polygon((0..n).map(|_| [cursor.f64(), cursor.f64()]).collect())
                }
                BOX => Shape::Box([cursor.f64(), cursor.f64(), cursor.f64(), cursor.f64()]),
                _ => {
                    let (height, width, n) = (cursor.u32(), cursor.u32(), cursor.u32());
                    let counts = (0..n).map(|_| cursor.u32()).collect();
                    Shape::Rle(Rle {
                        height,
                        width,
                        counts,
                    })
                }
            };
            shapes.push((value, shape));
        }
        Ok(shapes)
    }
}

/// The store's temporary file failed.
fn store_error(e: std::io::Error) -> Error {
    Error::io(ErrorKind::Input, "the temporary file of vector shapes", &e)
}

/// Reads a [`ShapeStore`]'s bytes in order.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        self.at += n;
        &self.bytes[self.at - n..self.at]
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))
    }

    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
}

/// Rasterises `shapes` (pixel value, shape) onto a `width × height` image,
/// each as segment `segment_of(value)`, later shapes covering earlier ones.
/// The error says which shape cannot be rasterised.
pub fn paint_shapes(
    shapes: &[(u32, Shape)],
    segment_of: impl Fn(u32) -> u32,
    height: u32,
    width: u32,
) -> std::result::Result<Painted, String> {
    let masks = shapes
        .iter()
        .map(|(value, shape)| {
            let mask = shape
                .rasterise(height, width)
                .map_err(|e| format!("the shape of object {value}: {e}"))?;
            Ok((segment_of(*value), mask))
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let masks: Vec<(u32, &Rle)> = masks.iter().map(|(id, mask)| (*id, mask)).collect();
    paint(&masks, height, width)
}

/// The width and height a PNG or JPEG file starting with `bytes` declares,
/// from its header (PNG: IHDR; JPEG: the first start-of-frame marker).
pub fn image_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.get(12..16) == Some(b"IHDR") {
        let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        return (bytes.len() >= 24).then(|| (be(16), be(20)));
    }
    if !bytes.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xff {
            return None;
        }
        let marker = bytes[at + 1];
        if marker == 0xff {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        // Start of frame: 0xC0..=0xCF but DHT (C4), JPG (C8) and DAC (CC).
        if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
            let frame = bytes.get(at + 5..at + 9)?;
            let height = u16::from_be_bytes([frame[0], frame[1]]);
            let width = u16::from_be_bytes([frame[2], frame[3]]);
            return Some((u32::from(width), u32::from(height)));
        }
        at += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_shapes_come_back_as_pushed() {
        let mut store = ShapeStore::default();
        let first = vec![
            (3, Shape::Polygon(vec![[0.5, 1.25], [4.0, 1.0], [2.0, 9.5]])),
            (1, Shape::Box([1.0, 2.0, 3.0, 4.5])),
            (
                7,
                Shape::Rle(Rle {
                    height: 2,
                    width: 3,
                    counts: vec![1, 4, 1],
                }),
            ),
        ];
        let a = store.push(&first).unwrap();
        let empty = store.push(&[]).unwrap();
        let b = store.push(&first[1..]).unwrap();
        store.finish().unwrap();
        assert_eq!(store.get(a).unwrap(), first);
        assert_eq!(store.get(empty).unwrap(), vec![]);
        assert_eq!(store.get(b).unwrap(), first[1..].to_vec());
    }

    #[test]
    fn png_and_jpeg_headers_give_the_image_size() {
        let png = crate::codec::encode_png_rows(
            7,
            3,
            crate::codec::PngLayout::Gray8,
            crate::codec::Compression::Fast,
            |_, row| row.fill(0),
        );
        assert_eq!(image_size(&png), Some((7, 3)));
        // A JPEG: SOI, an APP0 segment, then SOF0 (precision, height 480, width 640).
        let jpeg = [
            &[0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46][..],
            &[0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 0x03],
        ]
        .concat();
        assert_eq!(image_size(&jpeg), Some((640, 480)));
        assert_eq!(image_size(b"GIF89a"), None);
        assert_eq!(image_size(&jpeg[..12]), None, "cut before the frame's size");
    }
}

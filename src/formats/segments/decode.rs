//! Decoding one item's mask: its bitmap's object ids, or its vector shapes
//! rasterised as pycocotools does (later shapes covering earlier ones), to
//! the segments its label lists.

use super::release::sample_place;
use crate::codec::{Palette, RowSource, png_rows, within_limits};
use crate::error::{Error, Result};
use crate::formats::api::ItemDecoder;
use crate::formats::common::read_mask_file;
use crate::formats::shapes::{ShapeStore, ShapesRef, image_size, paint_shapes};
use crate::io::Source;
use crate::losses::{Diagnostics, LossCode};
use crate::model::{Item, LabelMap, MaskRef};
use crate::remap::{id_of_rgb, label_pixels, rgb8_of_pixel_key};
use crate::report::Warning;

/// Where a mask is in the release: a mask's recipe is its index in the
/// decoder's table of these.
#[derive(Debug, Clone, Copy)]
pub(super) struct MaskPlace {
    /// The sample's index in `dataset.samples`.
    pub sample: u32,
    /// The frame's index, in a sequence.
    pub frame: Option<u32>,
    /// Its vector shapes; `None`: a bitmap.
    pub shapes: Option<ShapesRef>,
}

/// How much of an image file is read for its size.
const HEADER_BYTES: usize = 1 << 20;

/// Decodes items' bitmaps, or rasterises their shapes.
pub(super) struct SegmentsDecoder {
    /// How messages name the release.
    display: String,
    places: Vec<MaskPlace>,
    shapes: ShapeStore,
    /// `--image-size`: the size of images not in the input.
    image_size: Option<(u32, u32)>,
}

impl SegmentsDecoder {
    pub(super) fn new(
        display: String,
        places: Vec<MaskPlace>,
        shapes: ShapeStore,
        image_size: Option<(u32, u32)>,
    ) -> Self {
        SegmentsDecoder {
            display,
            places,
            shapes,
            image_size,
        }
    }

    /// `dataset.samples[3]` or `dataset.samples[3] frame 7`, for messages.
    fn place(&self, mask: &MaskRef) -> String {
        let place = self.places[mask.recipe as usize];
        let sample = sample_place(place.sample as usize);
        match place.frame {
            Some(frame) => format!("{sample} frame {frame}"),
            None => sample,
        }
    }

    /// The size of `item`'s image: its header when it is in the input, else `--image-size`.
    fn size_of(&self, source: &dyn Source, item: &Item) -> Result<(u32, u32)> {
        let Some(image) = &item.image else {
            return Ok(self.image_size.expect("checked when opened"));
        };
        let bytes = source.read_prefix(image, HEADER_BYTES)?;
        match image_size(&bytes) {
            Some((w, h)) if within_limits(w, h) => Ok((w, h)),
            Some((w, h)) => Err(Error::input(
                source.display(image),
                format!("declares a size of {w}x{h}, which no mask is made for"),
            )),
            None => Err(Error::input(
                source.display(image),
                "is not a PNG or JPEG whose size can be read from its header; give --image-size WIDTHxHEIGHT",
            )),
        }
    }

    /// Rasterises the shapes at `at` onto the item's image size.
    fn decode_shapes(
        &self,
        source: &dyn Source,
        item: &Item,
        mask: &MaskRef,
        at: ShapesRef,
        out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        let (width, height) = self.size_of(source, item)?;
        let shapes = self.shapes.get(at)?;
        let listed = &mask.listed;
        let segment_of = |value| listed.get(value).map_or(0, |entry| entry.segment);
        // The context added in `decode` names the release and the sample.
        let painted =
            paint_shapes(&shapes, segment_of, height, width).map_err(Error::invalid_input)?;
        if painted.overlapped > 0 {
            let pixels = match painted.overlapped {
                1 => "1 pixel lies",
                _ => &format!("{} pixels lie", painted.overlapped),
            };
            out.loss(
                LossCode::OverlapResolved,
                format!(
                    "{} {}: {pixels} in more than one shape; each goes to the shape latest in the list",
                    self.display,
                    self.place(mask),
                ),
            );
        }
        LabelMap::from_runs(width, height, painted.runs, listed.segments())
            .map_err(Error::invalid_input)
    }
}

impl ItemDecoder for SegmentsDecoder {
    fn decode(
        &self,
        source: &dyn Source,
        item: &Item,
        mask: &MaskRef,
        out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        match self.places[mask.recipe as usize].shapes {
            Some(at) => self
                .decode_shapes(source, item, mask, at, out)
                .map_err(|e| {
                    e.in_context(format_args!(
                        "the shapes of {} {}",
                        self.display,
                        self.place(mask)
                    ))
                }),
            None => decode_bitmap(source, mask, &mut out.warnings).map_err(|e| {
                e.in_context(format_args!(
                    "the bitmap of {} {}",
                    self.display,
                    self.place(mask)
                ))
            }),
        }
    }
}

/// How a bitmap's pixels hold object ids.
#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    /// 8-bit RGB(A): id = R + 256·G + 65536·B (alpha ignored).
    Rgb,
    /// The SDK's cache file: 16-bit gray ids (clipped at 65535).
    Gray16,
}

fn decode_bitmap(
    source: &dyn Source,
    mask: &MaskRef,
    warnings: &mut Vec<Warning>,
) -> Result<LabelMap> {
    let (bytes, display) = read_mask_file(source, &mask.files[0])?;
    let mut rows = png_rows(&bytes, &display, Palette::Indices)?;
    let info = *rows.info();
    let encoding = match (info.was_palette, info.file_bits, info.channels) {
        (false, 8, 3 | 4) => Encoding::Rgb,
        (false, 16, 1) => Encoding::Gray16,
        _ => {
            return Err(Error::input(
                display,
                format!(
                    "is a {} PNG; Segments.ai bitmaps are 8-bit RGBA (object id = R + 256·G + 65536·B), or the SDK's 16-bit gray cache files",
                    info.describe_file()
                ),
            ));
        }
    };
    let id_of_key = |key: u64| -> u32 {
        match encoding {
            Encoding::Rgb => id_of_rgb(rgb8_of_pixel_key(key)),
            Encoding::Gray16 => key as u32,
        }
    };
    let listed = &mask.listed;
    let labelled = label_pixels(&mut rows, None, |key, _| match id_of_key(key) {
        0 => Some(0),
        id => listed.get(id).map(|entry| entry.segment),
    })?;
    let unknown = labelled
        .unresolved
        .iter()
        .map(|(&(key, _), &n)| (id_of_key(key), n));
    if let Some((id, pixels)) = unknown.min() {
        let more = labelled.more_unresolved("unlisted ids");
        let clipped = if encoding == Encoding::Gray16 && id == 65535 {
            "; this 16-bit file is a cache of the SDK, which writes every id above 65535 as 65535, so these pixels' ids are lost: read the RGBA bitmap instead"
        } else {
            ""
        };
        return Err(Error::input(
            display,
            format!(
                "object id {id} on {pixels} pixels has no annotation in the label{more}{clipped}"
            ),
        ));
    }
    if encoding == Encoding::Gray16 && listed.get(65535).is_some() {
        warnings.push(Warning::new(
            "clipped-ids",
            format!("{display}: a 16-bit cache file holds id 65535, which the SDK also writes for every id above it"),
        ));
    }
    LabelMap::from_runs(info.width, info.height, labelled.runs, listed.segments())
        .map_err(|what| Error::input(display, what))
}

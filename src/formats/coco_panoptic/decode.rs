//! Decoding: one item's PNG, its ids looked up in the segments its
//! annotation lists, both ways (no unlisted id, no listed id without pixels).

use crate::codec::{Palette, RowSource, png_rows};
use crate::error::{Error, Result};
use crate::formats::api::ItemDecoder;
use crate::formats::common::read_mask_file;
use crate::io::Source;
use crate::losses::Diagnostics;
use crate::model::{Item, LabelMap, MaskRef, Origin};
use crate::remap::{id_of_rgb, label_pixels, rgb8_of_pixel_key};

/// Where an item is listed: its annotation file, and the size `images`
/// gives its image.
#[derive(Debug, Clone, Copy)]
pub(super) struct ImagePlace {
    pub file: u32,
    pub size: Option<(u32, u32)>,
}

/// Decodes one item's PNG against the segments its annotation lists.
pub(super) struct PanopticDecoder {
    /// How messages name each annotation file.
    pub files: Vec<String>,
    /// Per item: where it is listed.
    pub places: Vec<ImagePlace>,
}

impl ItemDecoder for PanopticDecoder {
    fn decode(
        &self,
        source: &dyn Source,
        item: &Item,
        mask: &MaskRef,
        _out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        let place = self.places[mask.recipe as usize];
        let image = item.origin.get(Origin::IMAGE_ID).unwrap_or("?");
        decode_png(source, mask, image, place.size).map_err(|e| {
            e.in_context(format_args!(
                "image {image} of {}",
                self.files[place.file as usize]
            ))
        })
    }
}

fn decode_png(
    source: &dyn Source,
    mask: &MaskRef,
    image: &str,
    size: Option<(u32, u32)>,
) -> Result<LabelMap> {
    let (bytes, display) = read_mask_file(source, &mask.files[0])?;
    let mut rows = png_rows(&bytes, &display, Palette::Indices)?;
    let info = *rows.info();
    if info.was_palette || info.file_bits != 8 || !matches!(info.channels, 3 | 4) {
        return Err(Error::input(
            display,
            format!(
                "is a {} PNG; COCO panoptic PNGs are 8-bit RGB (segment id = R + 256·G + 65536·B)",
                info.describe_file()
            ),
        ));
    }
    if let Some((w, h)) = size.filter(|&s| s != (info.width, info.height)) {
        return Err(Error::input(
            display,
            format!(
                "is {}x{}, but 'images' gives image {image} as {w}x{h}",
                info.width, info.height
            ),
        ));
    }
    let listed = &mask.listed;
    let labelled = label_pixels(&mut rows, None, |key, _| {
        match id_of_rgb(rgb8_of_pixel_key(key)) {
            0 => Some(0),
            id => listed.get(id).map(|entry| entry.segment),
        }
    })?;
    let unlisted = labelled
        .unresolved
        .iter()
        .map(|(&(key, _), &n)| (id_of_rgb(rgb8_of_pixel_key(key)), n));
    if let Some((id, pixels)) = unlisted.min() {
        let more = labelled.more_unresolved("unlisted ids");
        return Err(Error::input(
            display,
            format!(
                "segment id {id} is on {pixels} pixels, but segments_info does not list it{more}"
            ),
        ));
    }
    let map = LabelMap::from_runs(info.width, info.height, labelled.runs, listed.segments())
        .map_err(|what| Error::input(&display, what))?;
    let counts = map.pixel_counts();
    let classed = listed.entries().iter().filter(|e| e.class != 0);
    if let Some(absent) = classed
        .into_iter()
        .find(|e| counts[e.segment as usize] == 0)
    {
        return Err(Error::input(
            display,
            format!(
                "has no pixel (0 pixels) of segment id {}, which segments_info lists",
                absent.value
            ),
        ));
    }
    Ok(map)
}

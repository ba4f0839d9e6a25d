//! Decoding: one item's annotations rasterised (RLEs as they are, polygon
//! rings as pycocotools' `annToMask` fills them) and painted in file
//! order, a later annotation covering earlier ones.

use crate::error::{Error, Result};
use crate::formats::api::ItemDecoder;
use crate::formats::shapes::{ShapeStore, ShapesRef};
use crate::io::Source;
use crate::losses::{Diagnostics, LossCode};
use crate::model::{Item, LabelMap, MaskRef, Origin};
use crate::remap::rle::{Rle, paint};

/// Most runs the masks of one image's annotations may have together
/// (64 MiB of counts).
const MAX_HELD_COUNTS: usize = 4 * crate::remap::MAX_RUNS;

/// Where an item is listed: its annotation file, the size `images` gives
/// its image, and its annotations' shapes in file order.
pub(super) struct Place {
    pub file: u32,
    pub size: Option<(u32, u32)>,
    pub annotations: Vec<ShapesRef>,
    /// `(width, height)` of its first RLE annotation, for an image entry
    /// without a size.
    pub rle_size: Option<(u32, u32)>,
}

/// Rasterises one item's annotations.
pub(super) struct CocoDecoder {
    /// How messages name each annotation file.
    pub files: Vec<String>,
    /// Per item: where it is listed.
    pub places: Vec<Place>,
    /// Every annotation's shapes.
    pub shapes: ShapeStore,
}

impl ItemDecoder for CocoDecoder {
    fn decode(
        &self,
        _source: &dyn Source,
        item: &Item,
        mask: &MaskRef,
        out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        let place = &self.places[mask.recipe as usize];
        let file = &self.files[place.file as usize];
        let image = item.origin.get(Origin::IMAGE_ID).unwrap_or("?");
        let (width, height) = place.size.expect("items with a mask have a size");
        let listed = &mask.listed;
        let mut masks: Vec<(u32, Rle)> = Vec::new();
        let mut counts = 0usize;
        for &at in &place.annotations {
            for (value, shape) in self.shapes.get(at)? {
                let rle = shape.rasterise(height, width).map_err(|e| {
                    Error::input(
                        file,
                        format!("annotations[{value}] (image {image}): 'segmentation' {e}"),
                    )
                })?;
                // Every mask is held until painted: their runs are bounded.
                counts += rle.counts.len();
                if counts > MAX_HELD_COUNTS {
                    return Err(Error::input(
                        file,
                        format!(
                            "image {image}: its annotations' masks have more than {MAX_HELD_COUNTS} runs together; it is refused as too fragmented"
                        ),
                    ));
                }
                let segment = listed.get(value).map_or(0, |entry| entry.segment);
                masks.push((segment, rle));
            }
        }
        let masks: Vec<(u32, &Rle)> = masks.iter().map(|(id, rle)| (*id, rle)).collect();
        let painted = paint(&masks, height, width)
            .map_err(|what| Error::input(file, format!("image {image}: {what}")))?;
        if painted.overlapped > 0 {
            out.loss(
                LossCode::OverlapResolved,
                format!(
                    "{file} image {image}: {} pixels lie in more than one annotation; each goes to the annotation latest in the file",
                    painted.overlapped
                ),
            );
        }
        LabelMap::from_runs(width, height, painted.runs, listed.segments())
            .map_err(|what| Error::input(file, format!("image {image}: {what}")))
    }
}

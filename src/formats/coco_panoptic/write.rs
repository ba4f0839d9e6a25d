//! Writing: a segment-id PNG and an `images` and `annotations` entry per
//! item; once every item is written, one annotation file per subset, its
//! entries streamed from where they waited.

use super::{FILE_PREFIX, INFO, MAX_SEGMENT_ID, SEGMENT_KEYS};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::Result;
use crate::formats::api::{Dataset, Encoded, OutputFile, Record, Writer, Written};
use crate::formats::coco_shared::{
    ANNOTATIONS_DIR, AnnotationIds, ISCROWD, ImageIds, areas_and_boxes, category_entries,
    crowd_flag, empty_folders, image_entry, plan_category_ids, record_text, subset_of, subsets_of,
    write_annotation_files,
};
use crate::formats::colors::distinct_rgb8;
use crate::io::Sink;
use crate::losses::{Capabilities, Diagnostics};
use crate::model::{Item, LabelMap, Segment, key_to_path};
use crate::remap::{paint_row, rgb_of_id};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

/// Writes a COCO panoptic dataset.
pub(super) struct PanopticWriter<'a> {
    compression: Compression,
    /// `categories`, in catalog order.
    categories: Vec<Value>,
    /// Each class's category id, by class id (index 0 unused).
    category_ids: Vec<u32>,
    /// Each item's image id, by its index in the dataset's items.
    image_ids: ImageIds,
    /// The subsets written, as their file names say them.
    subsets: Vec<String>,
    items: &'a [Item],
}

impl<'a> PanopticWriter<'a> {
    /// Plans categories, image ids and subsets from the metadata.
    pub(super) fn new(
        dataset: &'a Dataset,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Self> {
        let catalog = &dataset.catalog;
        let category_ids = plan_category_ids(catalog, out)?;
        let palette = distinct_rgb8(catalog, &mut out.warnings);
        let categories = category_entries(catalog, &category_ids, &palette);
        let image_ids = ImageIds::plan(&dataset.items);
        let dotted: Vec<&str> = dataset
            .items
            .iter()
            .map(|i| i.key.as_str())
            .filter(|k| k.contains('.'))
            .collect();
        if let Some(first) = dotted.first() {
            out.warn(
                "dotted-keys",
                format!(
                    "{} item keys hold a dot (e.g. '{first}'); panopticapi's converters cut file names at the first dot",
                    dotted.len()
                ),
            );
        }
        Ok(PanopticWriter {
            compression,
            categories,
            category_ids,
            image_ids,
            subsets: subsets_of(&dataset.items),
            items: &dataset.items,
        })
    }
}

/// Segment ids (by segment, index 0 unused): thing instance numbers where
/// they are distinct within the image and fit in 24 bits, the smallest
/// ids left for the other segments, in segment order.
fn segment_ids(segments: &[Segment]) -> Vec<u32> {
    let numbers: Vec<u32> = segments.iter().filter_map(|s| s.instance).collect();
    let distinct: HashSet<u32> = numbers.iter().copied().collect();
    let keep = distinct.len() == numbers.len()
        && numbers.iter().all(|&k| (1..=MAX_SEGMENT_ID).contains(&k));
    let mut free = (1..).filter(|k| !(keep && distinct.contains(k)));
    std::iter::once(0)
        .chain(segments.iter().map(|s| match (keep, s.instance) {
            (true, Some(k)) => k,
            _ => free.next().expect("ids enough"),
        }))
        .collect()
}

impl PanopticWriter<'_> {
    /// The item's PNG in `files`, and its `segments_info`: the segments
    /// with pixels, in segment order (which reading keeps).
    fn annotation(&self, item: &Item, map: &LabelMap, files: &mut Vec<OutputFile>) -> Value {
        let ids = match map.segments().len() > MAX_SEGMENT_ID as usize {
            false => segment_ids(map.segments()),
            // Only the segments with pixels get ids (the planned losses
            // let at most MAX_SEGMENT_ID of them through).
            true => map.number_segments_with_pixels(),
        };
        let palette: Vec<[u8; 3]> = ids.iter().map(|&id| rgb_of_id(id)).collect();
        let (w, h) = (map.width(), map.height());
        let png = encode_png_rows(w, h, PngLayout::Rgb8, self.compression, |y, row| {
            paint_row(map.row(y), &palette, row)
        });
        let name = format!("{}.png", key_to_path(&item.key));
        let folder = format!("{ANNOTATIONS_DIR}{FILE_PREFIX}{}/", subset_of(item));
        files.push(OutputFile::new(format!("{folder}{name}"), png));
        let measured = areas_and_boxes(map);
        let listed: Vec<(u32, Value)> = map
            .segments()
            .iter()
            .enumerate()
            .filter(|(i, _)| measured[i + 1].0 > 0)
            .map(|(i, segment)| {
                let (area, bbox) = measured[i + 1];
                let id = ids[i + 1];
                let mut info = Map::new();
                info.insert("id".into(), id.into());
                info.insert(
                    "category_id".into(),
                    self.category_ids[segment.class as usize].into(),
                );
                info.insert("area".into(), area.into());
                info.insert("bbox".into(), json!(bbox));
                info.insert(ISCROWD.into(), crowd_flag(&segment.attributes).into());
                for (key, value) in &segment.attributes {
                    if key != ISCROWD && !SEGMENT_KEYS.contains(&key.as_str()) {
                        info.insert(key.clone(), value.clone());
                    }
                }
                (id, Value::Object(info))
            })
            .collect();
        json!({
            "file_name": name,
            "segments_info": listed.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        })
    }
}

impl Writer for PanopticWriter<'_> {
    fn capabilities(&self) -> Capabilities {
        INFO.capabilities
    }

    fn folders(&self) -> Vec<String> {
        empty_folders()
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        _out: &mut Diagnostics,
    ) -> Result<Encoded> {
        let (image, file) = image_entry(item, map, image);
        let mut files: Vec<OutputFile> = file.into_iter().collect();
        let annotation = map.map(|map| self.annotation(item, map, &mut files));
        let annotations: Vec<(Option<u64>, Value)> =
            annotation.into_iter().map(|a| (None, a)).collect();
        Ok(Encoded {
            files,
            record: Record {
                text: record_text(item, &image, &annotations),
                ..Record::default()
            },
        })
    }

    fn finish(&self, written: &Written, sink: &mut dyn Sink, _out: &mut Diagnostics) -> Result<()> {
        let image_id = |index| self.image_ids.of(self.items, index);
        let ids = AnnotationIds::None;
        write_annotation_files(
            sink,
            written,
            FILE_PREFIX,
            &self.subsets,
            &image_id,
            ids,
            &self.categories,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_ids_keep_distinct_instance_numbers_and_fill_the_rest() {
        let seg = |class, instance| Segment::new(class, instance);
        let ids = segment_ids(&[seg(1, Some(3937500)), seg(2, None), seg(1, Some(1))]);
        assert_eq!(ids, vec![0, 3937500, 2, 1]);
        let clash = segment_ids(&[seg(1, Some(5)), seg(3, Some(5))]);
        assert_eq!(clash, vec![0, 1, 2]);
        let too_large = segment_ids(&[seg(1, Some(1 << 24))]);
        assert_eq!(too_large, vec![0, 1]);
    }
}

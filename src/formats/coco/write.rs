//! Writing: per item an `images` entry and its annotations, each mask
//! encoded from the label map's runs (no dense mask per object); once
//! every item is written, one annotation file per subset, its entries
//! streamed from where they waited.

use super::{ANNOTATION_KEYS, FILE_PREFIX, INFO, polygons};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, Encoded, OutputFile, Record, Writer, Written};
use crate::formats::coco_shared::{
    AnnotationIds, ISCROWD, ImageIds, areas_and_boxes, category_entries, crowd_flag, empty_folders,
    image_entry, plan_category_ids, record_text, subsets_of, write_annotation_files,
};
use crate::formats::colors::distinct_rgb8;
use crate::formats::options::FormatOptions;
use crate::io::Sink;
use crate::losses::{Capabilities, Diagnostics, LossCode};
use crate::model::{ClassId, ClassKind, Item, LabelMap, Origin, Segment};
use crate::remap::rle::{Rle, union};
use crate::remap::rle_encode::rles_of_segments;
use crate::remap::trace;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Writes a COCO instances dataset.
pub(super) struct CocoWriter<'a> {
    /// `categories`, in catalog order (things only under `--things-only`).
    categories: Vec<Value>,
    /// Each class's category id, by class id (index 0 unused).
    category_ids: Vec<u32>,
    image_ids: ImageIds,
    /// The subsets written, as their file names say them.
    subsets: Vec<String>,
    items: &'a [Item],
    /// Each class's kind, by class id (index 0 unused).
    kinds: Vec<ClassKind>,
    /// `--things-only`: stuff classes are not written.
    things_only: bool,
    /// `--segmentation polygon`: the polygons written so far.
    polygons: Option<polygons::Tally>,
}

impl<'a> CocoWriter<'a> {
    /// Plans categories, image ids and subsets from the metadata.
    pub(super) fn new(
        dataset: &'a Dataset,
        options: &FormatOptions,
        out: &mut Diagnostics,
    ) -> Result<Self> {
        let catalog = &dataset.catalog;
        let things_only = options.flag("things-only");
        let category_ids = plan_category_ids(catalog, out)?;
        let palette = distinct_rgb8(catalog, &mut out.warnings);
        let entries = category_entries(catalog, &category_ids, &palette);
        let stuff: Vec<&str> = catalog
            .iter()
            .filter(|(_, class)| class.kind == ClassKind::Stuff)
            .map(|(_, class)| class.name.as_str())
            .collect();
        let categories = match things_only {
            false => entries,
            true => catalog
                .iter()
                .zip(entries)
                .filter(|((_, class), _)| class.kind == ClassKind::Thing)
                .map(|(_, entry)| entry)
                .collect(),
        };
        if things_only && let Some(first) = stuff.first() {
            out.loss(
                LossCode::StuffDropped,
                format!(
                    "{} stuff classes (e.g. '{first}') are not written: --things-only",
                    stuff.len()
                ),
            );
        }
        Ok(CocoWriter {
            categories,
            category_ids,
            image_ids: ImageIds::plan(&dataset.items),
            subsets: subsets_of(&dataset.items),
            items: &dataset.items,
            kinds: std::iter::once(ClassKind::Stuff)
                .chain(catalog.iter().map(|(_, class)| class.kind))
                .collect(),
            things_only,
            polygons: match options.value("segmentation") {
                Some("polygon") => Some(polygons::Tally::default()),
                _ => None,
            },
        })
    }

    /// The item's annotations, in segment order: one per thing segment with
    /// pixels, one per stuff class (at its first segment), each with the
    /// annotation id it would like (a thing's instance number).
    fn annotations(
        &self,
        item: &Item,
        map: &LabelMap,
        out: &mut Diagnostics,
    ) -> Result<Vec<(Option<u64>, Value)>> {
        let mut rles = rles_of_segments(map);
        let measured = areas_and_boxes(map);
        let outlines = match self.polygons {
            Some(_) => {
                let boxes: Vec<[u32; 4]> = measured.iter().map(|(_, b)| *b).collect();
                trace::outlines(map, &boxes)
            }
            None => Vec::new(),
        };
        let segments = map.segments();
        // Each annotation's segments: a thing's own, a stuff class's all.
        let mut stuff: HashMap<ClassId, usize> = HashMap::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            if measured[i + 1].0 == 0 {
                continue;
            }
            match self.kinds[segment.class as usize] {
                ClassKind::Thing => members.push(vec![i]),
                _ if self.things_only => {}
                _ => match stuff.get(&segment.class) {
                    Some(&at) => members[at].push(i),
                    None => {
                        stuff.insert(segment.class, members.len());
                        members.push(vec![i]);
                    }
                },
            }
        }
        let mut approximated: Vec<f64> = Vec::new();
        let annotations = members
            .iter()
            .map(|parts| {
                let first = &segments[parts[0]];
                let mask = match parts.as_slice() {
                    [one] => std::mem::take(&mut rles[*one]),
                    _ => union(&parts.iter().map(|&m| std::mem::take(&mut rles[m])).collect::<Vec<_>>()),
                };
                let (area, bbox) = joined(parts.iter().map(|&m| measured[m + 1]));
                let asked = match self.kinds[first.class as usize] {
                    ClassKind::Thing => first.instance.map(u64::from),
                    ClassKind::Stuff => None,
                };
                let crowd = crowd_flag(&first.attributes) == 1;
                let segmentation = match &self.polygons {
                    Some(tally) if !crowd => {
                        let rings: Vec<&trace::Ring> =
                            parts.iter().flat_map(|&m| &outlines[m]).collect();
                        let traced = polygons::traced(&rings, &mask).map_err(|e| {
                            Error::invalid_input(format!(
                                "item '{}': the outline of an object of category {} cannot be a polygon pycocotools fills ({e}); write this dataset with --segmentation rle",
                                item.key,
                                self.category_ids[first.class as usize]
                            ))
                        })?;
                        tally.add(&item.key, &traced);
                        if traced.both < traced.either {
                            approximated.push(polygons::ratio(&traced));
                        }
                        Segmentation::Polygons(traced.segmentation, traced.area)
                    }
                    _ => Segmentation::Rle(mask, crowd),
                };
                Ok((asked, self.annotation(first, segmentation, area, bbox)))
            })
            .collect::<Result<Vec<_>>>()?;
        if !approximated.is_empty() {
            let ious: Vec<String> = approximated.iter().map(|r| format!("{r:.4}")).collect();
            out.loss(
                LossCode::PolygonApproximation,
                format!(
                    "item '{}': the polygons of {} of {} objects fill their holes (IoU {})",
                    item.key,
                    approximated.len(),
                    members.len(),
                    ious.join(", ")
                ),
            );
        }
        Ok(annotations)
    }

    /// One annotation (without `id` and `image_id`).
    fn annotation(
        &self,
        segment: &Segment,
        segmentation: Segmentation,
        area: u64,
        bbox: [u32; 4],
    ) -> Value {
        let crowd = crowd_flag(&segment.attributes);
        let (segmentation, area) = match segmentation {
            // COCO's own crowd regions list their counts.
            Segmentation::Rle(mask, true) => (rle_json(&mask, json!(mask.counts)), area),
            Segmentation::Rle(mask, false) => (rle_json(&mask, mask.to_coco_string().into()), area),
            Segmentation::Polygons(rings, filled) => (rings, filled),
        };
        let mut annotation = Map::new();
        annotation.insert(
            "category_id".into(),
            self.category_ids[segment.class as usize].into(),
        );
        annotation.insert("segmentation".into(), segmentation);
        annotation.insert("area".into(), area.into());
        annotation.insert("bbox".into(), json!(bbox));
        annotation.insert(ISCROWD.into(), crowd.into());
        for (key, value) in &segment.attributes {
            if key != ISCROWD && !ANNOTATION_KEYS.contains(&key.as_str()) {
                annotation.insert(key.clone(), value.clone());
            }
        }
        Value::Object(annotation)
    }
}

/// How one annotation's mask is written.
enum Segmentation {
    /// As an RLE: listed counts when a crowd, else pycocotools' string.
    Rle(Rle, bool),
    /// As polygon rings, and the pixels they fill.
    Polygons(Value, u64),
}

fn rle_json(mask: &Rle, counts: Value) -> Value {
    json!({"size": [mask.height, mask.width], "counts": counts})
}

/// The pixels and box of several segments together.
fn joined(parts: impl Iterator<Item = (u64, [u32; 4])>) -> (u64, [u32; 4]) {
    let (mut area, mut x0, mut y0, mut x1, mut y1) = (0, u32::MAX, u32::MAX, 0, 0);
    for (pixels, [x, y, w, h]) in parts {
        area += pixels;
        (x0, y0) = (x0.min(x), y0.min(y));
        (x1, y1) = (x1.max(x + w), y1.max(y + h));
    }
    (area, [x0, y0, x1 - x0, y1 - y0])
}

impl Writer for CocoWriter<'_> {
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
        out: &mut Diagnostics,
    ) -> Result<Encoded> {
        let (entry, file) = image_entry(item, map, image);
        let files: Vec<OutputFile> = file.into_iter().collect();
        let annotations = match map {
            Some(map) => self.annotations(item, map, out)?,
            None => Vec::new(),
        };
        Ok(Encoded {
            files,
            record: Record {
                text: record_text(item, &entry, &annotations),
                ..Record::default()
            },
        })
    }

    fn finish(&self, written: &Written, sink: &mut dyn Sink, out: &mut Diagnostics) -> Result<()> {
        let ids = self
            .plan_annotation_ids(written)
            .map_err(|e| Error::output("the written records", e.to_string()))?;
        // Where instance numbers mean something beyond one image: a COCO
        // source's annotation ids, a sequence's track ids.
        let meaningful = matches!(self.image_ids, ImageIds::Kept)
            || self
                .items
                .iter()
                .any(|i| i.origin.get(Origin::SEQUENCE).is_some());
        if ids == AnnotationIds::Counted && meaningful {
            out.warn(
                "annotation-ids-renumbered",
                "COCO annotation ids are unique in a dataset, and the instance numbers (a COCO source's annotation ids, or track ids across frames) do not increase through each file, so annotations are numbered 1, 2, … instead",
            );
        }
        if let Some(summary) = self.polygons.as_ref().and_then(polygons::Tally::summary) {
            out.warn("polygon-iou", summary);
        }
        let image_id = |index| self.image_ids.of(self.items, index);
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

impl CocoWriter<'_> {
    /// The annotation ids asked for when every annotation asks one and
    /// they increase through each subset's file, the files' ranges apart
    /// (so unique in the dataset); else ids counted through the dataset.
    fn plan_annotation_ids(&self, written: &Written) -> std::io::Result<AnnotationIds> {
        // Per subset: (first, last) asked id.
        let mut ranges: HashMap<String, (u64, u64)> = HashMap::new();
        for record in written.records() {
            let (_, record) = record?;
            let mut lines = record.text.split('\n');
            let subset = lines.next().unwrap_or_default();
            for line in lines.skip(1) {
                let asked = line
                    .split_once('\t')
                    .and_then(|(id, _)| id.parse::<u64>().ok());
                let Some(id) = asked.filter(|&id| id >= 1) else {
                    return Ok(AnnotationIds::Counted);
                };
                match ranges.get_mut(subset) {
                    Some((_, last)) if id <= *last => return Ok(AnnotationIds::Counted),
                    Some((_, last)) => *last = id,
                    None => {
                        ranges.insert(subset.to_string(), (id, id));
                    }
                }
            }
        }
        let mut spans: Vec<(u64, u64)> = ranges.into_values().collect();
        spans.sort_unstable();
        let apart = spans.windows(2).all(|pair| pair[0].1 < pair[1].0);
        Ok(match apart {
            true => AnnotationIds::Asked,
            false => AnnotationIds::Counted,
        })
    }
}

//! Writing: a segment-id PNG and an `images` and `annotations` entry per
//! item; once every item is written, one annotation file per subset, its
//! entries streamed from where they waited.

use super::{
    ANNOTATIONS_DIR, CATEGORY_KEYS, DEFAULT_SUBSET, FILE_PREFIX, IMAGES_DIR, INFO, ISCROWD,
    MAX_SEGMENT_ID, SEGMENT_KEYS, crowd_flag,
};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, Encoded, OutputFile, Record, Writer, Written};
use crate::formats::colors::distinct_rgb8;
use crate::formats::common::source_image;
use crate::formats::shapes::image_size;
use crate::io::Sink;
use crate::losses::{Capabilities, Diagnostics};
use crate::model::{Catalog, ClassKind, ClassNumber, Item, LabelMap, Origin, Segment, key_to_path};
use crate::remap::{paint_row, rgb_of_id};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;

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

/// Where image ids come from.
enum ImageIds {
    /// The source's, in the items' origin.
    Kept,
    /// The item's position in the dataset plus one.
    Positions,
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
        let categories = catalog
            .iter()
            .map(|(id, class)| {
                let mut category = Map::new();
                category.insert("id".into(), category_ids[id as usize].into());
                category.insert("name".into(), class.name.clone().into());
                if let Some(supercategory) = class.attributes.get("supercategory") {
                    category.insert("supercategory".into(), supercategory.clone());
                }
                let thing = class.kind == ClassKind::Thing;
                category.insert("isthing".into(), u8::from(thing).into());
                category.insert("color".into(), json!(palette[id as usize]));
                for (key, value) in &class.attributes {
                    if !CATEGORY_KEYS.contains(&key.as_str()) {
                        category.insert(key.clone(), value.clone());
                    }
                }
                Value::Object(category)
            })
            .collect();
        let image_ids = match kept_image_ids(&dataset.items) {
            true => ImageIds::Kept,
            false => ImageIds::Positions,
        };
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
        let subsets: BTreeSet<String> = dataset.items.iter().map(subset_of).collect();
        Ok(PanopticWriter {
            compression,
            categories,
            category_ids,
            image_ids,
            subsets: subsets.into_iter().collect(),
            items: &dataset.items,
        })
    }

    fn image_id(&self, index: usize) -> u64 {
        match self.image_ids {
            ImageIds::Kept => kept_image_id(&self.items[index]).expect("checked when planned"),
            ImageIds::Positions => index as u64 + 1,
        }
    }
}

/// Each class's category id (index 0 unused): the id `--map` gave it, else
/// the source's (a COCO category id) unless another class has it, else the
/// smallest free id from 1, in class order.
fn plan_category_ids(catalog: &Catalog, out: &mut Diagnostics) -> Result<Vec<u32>> {
    let mut taken: HashMap<u32, &str> = HashMap::new();
    let mut ids = vec![0u32; catalog.len() + 1];
    for (id, class) in catalog.iter() {
        if let Some(ClassNumber::Mapped(n)) = class.number {
            if n == 0 {
                return Err(Error::usage(format!(
                    "--map gives '{}' category id 0; COCO category ids start at 1",
                    class.name
                )));
            }
            if let Some(other) = taken.insert(n, &class.name) {
                return Err(Error::usage(format!(
                    "classes '{other}' and '{}' would both have category id {n}",
                    class.name
                )));
            }
            ids[id as usize] = n;
        }
    }
    let mut moved = Vec::new();
    for (id, class) in catalog.iter() {
        if let Some(ClassNumber::Source(n)) = class.number {
            match taken.contains_key(&n) {
                true => moved.push(class.name.as_str()),
                false => {
                    taken.insert(n, &class.name);
                    ids[id as usize] = n;
                }
            }
        }
    }
    let mut next = 1;
    for (id, _) in catalog.iter() {
        if ids[id as usize] == 0 {
            while taken.contains_key(&next) {
                next += 1;
            }
            ids[id as usize] = next;
            next += 1;
        }
    }
    if let Some(first) = moved.first() {
        out.warn(
            "category-ids-renumbered",
            format!(
                "{} classes cannot keep their source's category id, which another class has (e.g. '{first}'); they get free ids",
                moved.len()
            ),
        );
    }
    Ok(ids)
}

/// The subset an item is written in, as file names say it.
fn subset_of(item: &Item) -> String {
    key_to_path(item.subset.as_deref().unwrap_or(DEFAULT_SUBSET)).into_owned()
}

/// The image id the item's source gave, when it is an integer ≥ 1.
fn kept_image_id(item: &Item) -> Option<u64> {
    item.origin
        .get(Origin::IMAGE_ID)?
        .parse()
        .ok()
        .filter(|&id| id >= 1)
}

/// Whether every item has an image id of its source, all distinct.
fn kept_image_ids(items: &[Item]) -> bool {
    let mut seen = HashSet::with_capacity(items.len());
    !items.is_empty()
        && items
            .iter()
            .all(|item| kept_image_id(item).is_some_and(|id| seen.insert(id)))
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

/// Pixels and `[x, y, w, h]` of each segment (index = segment id).
fn areas_and_boxes(map: &LabelMap) -> Vec<(u64, [u32; 4])> {
    let mut found = vec![(0u64, [u32::MAX, u32::MAX, 0, 0]); map.segments().len() + 1];
    for y in 0..map.height() as usize {
        let mut x = 0u32;
        for run in map.row(y) {
            if run.id != 0 {
                let (area, [x0, y0, x1, y1]) = &mut found[run.id as usize];
                *area += u64::from(run.len);
                *x0 = (*x0).min(x);
                *y0 = (*y0).min(y as u32);
                *x1 = (*x1).max(x + run.len);
                *y1 = (*y1).max(y as u32 + 1);
            }
            x += run.len;
        }
    }
    found
        .into_iter()
        .map(|(area, [x0, y0, x1, y1])| match area {
            0 => (0, [0; 4]),
            _ => (area, [x0, y0, x1 - x0, y1 - y0]),
        })
        .collect()
}

impl PanopticWriter<'_> {
    /// The item's PNG in `files`, and its `segments_info`: the segments
    /// with pixels, in segment-id order.
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
        let mut listed: Vec<(u32, Value)> = map
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
        listed.sort_by_key(|(id, _)| *id);
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
        // Datumaro's importer refuses a dataset without it, images or not.
        vec![IMAGES_DIR.trim_end_matches('/').to_string()]
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        _out: &mut Diagnostics,
    ) -> Result<Encoded> {
        let mut files = Vec::new();
        let subset = subset_of(item);
        let stem = key_to_path(&item.key);
        let file_name = match source_image(item, image, ".jpg") {
            Some((bytes, ext)) => {
                let name = format!("{stem}{ext}");
                files.push(OutputFile::new(
                    format!("{IMAGES_DIR}{subset}/{name}"),
                    bytes,
                ));
                name
            }
            None => format!("{stem}.jpg"),
        };
        let annotation = map.map(|map| self.annotation(item, map, &mut files));
        // The size: the mask's, else the source image's header's, else none.
        let size = map
            .map(|m| (m.width(), m.height()))
            .or_else(|| image.and_then(image_size));
        let mut image = json!({"file_name": file_name});
        if let Some((width, height)) = size {
            image["width"] = width.into();
            image["height"] = height.into();
        }
        // Three lines (compact JSON holds no line break, nor does an escaped
        // subset): `finish` writes the entries as they are, ids spliced in.
        let json = |value: &Value| serde_json::to_string(value).expect("JSON values serialise");
        let text = format!(
            "{subset}\n{}\n{}",
            json(&image),
            annotation.as_ref().map_or_else(String::new, json)
        );
        Ok(Encoded {
            files,
            record: Record {
                text,
                ..Record::default()
            },
        })
    }

    fn finish(&self, written: &Written, sink: &mut dyn Sink, _out: &mut Diagnostics) -> Result<()> {
        for subset in &self.subsets {
            let path = format!("{ANNOTATIONS_DIR}{FILE_PREFIX}{subset}.json");
            let wrote = self.write_subset(written, subset, &path, sink);
            wrote.map_err(|e| Error::output(&path, e.to_string()))?;
        }
        Ok(())
    }
}

impl PanopticWriter<'_> {
    /// Writes the annotation file of `subset`: its images, then its
    /// annotations, each a pass over the records.
    fn write_subset(
        &self,
        written: &Written,
        subset: &str,
        path: &str,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let info = json!({
            "description": format!("written by maskconv {}", env!("CARGO_PKG_VERSION")),
            "version": "1.0",
        });
        let categories = serde_json::to_string(&self.categories).expect("JSON values serialise");
        sink.write_stream(path, &mut |file: &mut dyn Write| {
            write!(file, "{{\"info\":{info},\"licenses\":[],\"images\":[")?;
            for pass in ["images", "annotations"] {
                if pass == "annotations" {
                    file.write_all(b"],\"annotations\":[")?;
                }
                let mut first = true;
                for record in written.indexed_records() {
                    let (index, record) = record?;
                    let mut lines = record.text.splitn(3, '\n');
                    let (in_subset, image, annotation) = (lines.next(), lines.next(), lines.next());
                    let (Some(in_subset), Some(image), Some(annotation)) =
                        (in_subset, image, annotation)
                    else {
                        return Err(std::io::Error::other("a record of another writer"));
                    };
                    if in_subset != subset {
                        continue;
                    }
                    let (key, entry) = match pass {
                        "images" => ("id", image),
                        _ if annotation.is_empty() => continue,
                        _ => ("image_id", annotation),
                    };
                    if !first {
                        file.write_all(b",")?;
                    }
                    first = false;
                    // `{"key":id,` and the entry's fields after its `{`.
                    let fields = entry.strip_prefix('{').expect("an entry is a JSON object");
                    let comma = if fields == "}" { "" } else { "," };
                    write!(file, "{{\"{key}\":{}{comma}{fields}", self.image_id(index))?;
                }
            }
            write!(file, "],\"categories\":{categories}}}")
        })
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

    #[test]
    fn areas_and_boxes_measure_each_segment() {
        let map = LabelMap::new(
            4,
            3,
            vec![0, 1, 1, 0, 0, 1, 2, 0, 0, 0, 2, 2],
            vec![Segment::new(1, None), Segment::new(2, None)],
        )
        .unwrap();
        let found = areas_and_boxes(&map);
        assert_eq!(found[1], (3, [1, 0, 2, 2]));
        assert_eq!(found[2], (3, [2, 1, 2, 2]));
    }
}

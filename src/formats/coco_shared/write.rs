//! Writing what both COCO formats share: category and image ids, the
//! `categories` and `images` entries, and the annotation file from records.

use super::{ANNOTATIONS_DIR, CATEGORY_KEYS, DEFAULT_SUBSET, IMAGES_DIR, SUPERCATEGORY};
use crate::error::{Error, Result};
use crate::formats::api::{OutputFile, Written};
use crate::formats::common::source_image;
use crate::formats::shapes::image_size;
use crate::io::Sink;
use crate::losses::Diagnostics;
use crate::model::{Catalog, ClassKind, ClassNumber, Item, LabelMap, Origin, key_to_path};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::io::Write;

/// Each class's category id (index 0 unused): the id `--map` gave it, else
/// the source's (a COCO category id) unless another class has it, else the
/// smallest free id from 1, in class order.
pub fn plan_category_ids(catalog: &Catalog, out: &mut Diagnostics) -> Result<Vec<u32>> {
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

/// The `categories` entries, in catalog order: `id` (from `ids`), `name`,
/// `supercategory` when the class has one, `isthing`, `color` (from
/// `palette`, by class id) and the class's other attributes.
pub fn category_entries(catalog: &Catalog, ids: &[u32], palette: &[[u8; 3]]) -> Vec<Value> {
    catalog
        .iter()
        .map(|(id, class)| {
            let mut category = Map::new();
            category.insert("id".into(), ids[id as usize].into());
            category.insert("name".into(), class.name.clone().into());
            if let Some(supercategory) = class.attributes.get(SUPERCATEGORY) {
                category.insert(SUPERCATEGORY.into(), supercategory.clone());
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
        .collect()
}

/// The subsets `items` are written in, as file names say them, sorted.
pub fn subsets_of(items: &[Item]) -> Vec<String> {
    let subsets: std::collections::BTreeSet<String> = items.iter().map(subset_of).collect();
    subsets.into_iter().collect()
}

/// The folders a written COCO dataset has even without files in them:
/// Datumaro's importers refuse one without `images/`.
pub fn empty_folders() -> Vec<String> {
    vec![IMAGES_DIR.trim_end_matches('/').to_string()]
}

/// The subset an item is written in, as file names say it.
pub fn subset_of(item: &Item) -> String {
    key_to_path(item.subset.as_deref().unwrap_or(DEFAULT_SUBSET)).into_owned()
}

/// Where written image ids come from.
pub enum ImageIds {
    /// The source's, in the items' origin.
    Kept,
    /// The item's position in the dataset plus one.
    Positions,
}

impl ImageIds {
    /// The source's ids when every item has a distinct integer one ≥ 1,
    /// else positions.
    pub fn plan(items: &[Item]) -> Self {
        let mut seen = HashSet::with_capacity(items.len());
        let kept = !items.is_empty()
            && items
                .iter()
                .all(|item| kept_image_id(item).is_some_and(|id| seen.insert(id)));
        match kept {
            true => ImageIds::Kept,
            false => ImageIds::Positions,
        }
    }

    /// The image id of item `index` of `items`.
    pub fn of(&self, items: &[Item], index: usize) -> u64 {
        match self {
            ImageIds::Kept => kept_image_id(&items[index]).expect("checked when planned"),
            ImageIds::Positions => index as u64 + 1,
        }
    }
}

/// The image id the item's source gave, when it is an integer ≥ 1.
fn kept_image_id(item: &Item) -> Option<u64> {
    item.origin
        .get(Origin::IMAGE_ID)?
        .parse()
        .ok()
        .filter(|&id| id >= 1)
}

/// Pixels and `[x, y, w, h]` of each segment (index = segment id).
pub fn areas_and_boxes(map: &LabelMap) -> Vec<(u64, [u32; 4])> {
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

/// The item's `images` entry without `id` (`file_name`, and the size: the
/// mask's, else the source image header's), and its source image's file
/// under `images/<subset>/` when the writer was given one.
pub fn image_entry(
    item: &Item,
    map: Option<&LabelMap>,
    image: Option<&[u8]>,
) -> (Value, Option<OutputFile>) {
    let stem = key_to_path(&item.key);
    let (file_name, file) = match source_image(item, image, ".jpg") {
        Some((bytes, ext)) => {
            let name = format!("{stem}{ext}");
            let path = format!("{IMAGES_DIR}{}/{name}", subset_of(item));
            (name, Some(OutputFile::new(path, bytes)))
        }
        // Without one, `<key>.jpg`, as detectron2 assumes.
        None => (format!("{stem}.jpg"), None),
    };
    let size = map
        .map(|m| (m.width(), m.height()))
        .or_else(|| image.and_then(image_size));
    let mut entry = json!({"file_name": file_name});
    if let Some((width, height)) = size {
        entry["width"] = width.into();
        entry["height"] = height.into();
    }
    (entry, file)
}

/// An item's record text (see the module docs): its subset, its image
/// entry, and its annotations, each with the id the writer would like.
pub fn record_text(item: &Item, image: &Value, annotations: &[(Option<u64>, Value)]) -> String {
    // Compact JSON holds no line break or tab, nor does an escaped subset.
    let json = |value: &Value| serde_json::to_string(value).expect("JSON values serialise");
    let mut text = format!("{}\n{}", subset_of(item), json(image));
    for (id, annotation) in annotations {
        text.push('\n');
        if let Some(id) = id {
            text.push_str(&format!("{id}\t"));
        }
        text.push_str(&json(annotation));
    }
    text
}

/// How [`write_annotation_file`] numbers annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationIds {
    /// They have none (COCO panoptic: one annotation per image).
    None,
    /// The ids the records ask for.
    Asked,
    /// 1, 2, … in record order across the whole dataset (so unique in it).
    Counted,
}

/// Writes `annotations/<prefix><subset>.json` for each of `subsets` into
/// `sink` (see [`write_annotation_file`]).
pub fn write_annotation_files(
    sink: &mut dyn Sink,
    written: &Written,
    prefix: &str,
    subsets: &[String],
    image_id: &dyn Fn(usize) -> u64,
    ids: AnnotationIds,
    categories: &[Value],
) -> Result<()> {
    for subset in subsets {
        let path = format!("{ANNOTATIONS_DIR}{prefix}{subset}.json");
        let wrote = sink.write_stream(&path, &mut |file| {
            write_annotation_file(file, written, subset, image_id, ids, categories)
        });
        wrote.map_err(|e| Error::output(&path, e.to_string()))?;
    }
    Ok(())
}

/// Writes the annotation file of `subset` to `file`: `info`, `licenses`,
/// its images (ids from `image_id`, by item index), its annotations (with
/// `image_id` and, as `ids` says, `id`), then `categories`.
pub fn write_annotation_file(
    file: &mut dyn Write,
    written: &Written,
    subset: &str,
    image_id: &dyn Fn(usize) -> u64,
    ids: AnnotationIds,
    categories: &[Value],
) -> std::io::Result<()> {
    let info = json!({
        "description": format!("written by maskconv {}", env!("CARGO_PKG_VERSION")),
        "version": "1.0",
    });
    let categories = serde_json::to_string(categories).expect("JSON values serialise");
    write!(file, "{{\"info\":{info},\"licenses\":[],\"images\":[")?;
    for pass in ["images", "annotations"] {
        if pass == "annotations" {
            file.write_all(b"],\"annotations\":[")?;
        }
        let mut first = true;
        let mut counted = 0u64;
        for record in written.indexed_records() {
            let (index, record) = record?;
            let mut lines = record.text.split('\n');
            let (Some(in_subset), Some(image)) = (lines.next(), lines.next()) else {
                return Err(std::io::Error::other("a record of another writer"));
            };
            let mine = in_subset == subset;
            if pass == "images" {
                if mine {
                    splice(file, &mut first, &[("id", image_id(index))], image)?;
                }
                continue;
            }
            for line in lines {
                counted += 1;
                if !mine {
                    continue;
                }
                let (asked, entry) = match line.split_once('\t') {
                    Some((id, entry)) => (id.parse().ok(), entry),
                    None => (None, line),
                };
                let image = ("image_id", image_id(index));
                match ids {
                    AnnotationIds::None => splice(file, &mut first, &[image], entry)?,
                    AnnotationIds::Asked => {
                        let id = asked.ok_or_else(|| std::io::Error::other("an id not asked"))?;
                        splice(file, &mut first, &[("id", id), image], entry)?
                    }
                    AnnotationIds::Counted => {
                        splice(file, &mut first, &[("id", counted), image], entry)?
                    }
                }
            }
        }
    }
    write!(file, "],\"categories\":{categories}}}")
}

/// Writes `entry` (a JSON object) with `fields` first, after a comma unless first.
fn splice(
    file: &mut dyn Write,
    first: &mut bool,
    fields: &[(&str, u64)],
    entry: &str,
) -> std::io::Result<()> {
    if !*first {
        file.write_all(b",")?;
    }
    *first = false;
    let rest = entry.strip_prefix('{').expect("an entry is a JSON object");
    file.write_all(b"{")?;
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            file.write_all(b",")?;
        }
        write!(file, "\"{key}\":{value}")?;
    }
    let comma = if rest == "}" { "" } else { "," };
    write!(file, "{comma}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Segment;

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

    #[test]
    fn spliced_fields_lead_the_entry() {
        let mut out = Vec::new();
        let mut first = true;
        splice(
            &mut out,
            &mut first,
            &[("id", 3), ("image_id", 9)],
            "{\"a\":1}",
        )
        .unwrap();
        splice(&mut out, &mut first, &[("id", 4)], "{}").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":3,\"image_id\":9,\"a\":1},{\"id\":4}"
        );
    }
}

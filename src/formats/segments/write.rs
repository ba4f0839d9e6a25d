//! Writing: an RGBA id bitmap and a label body per item, and one release
//! file holding every key the SDK's `SegmentsDataset` reads.

use super::{
    BITMAP_DIR, DEFAULT_LABELSET, IMAGE_DIR, INFO, LABEL_DIR, MAX_ID, RELEASE, SUBSET_KEY,
};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::{Error, Result};
use crate::formats::colors::distinct_rgb8;
use crate::formats::mask_url::output_url;
use crate::formats::{Dataset, OutputFile, WriteOptions, Writer, file_extension};
use crate::model::{ClassKind, Item, LabelMap, Segment};
use crate::pyjson;
use crate::remap::paint_row;
use crate::report::Note;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Category keys the writer sets itself; class attributes by these names are dropped.
const CATEGORY_KEYS: [&str; 4] = ["id", "name", "color", "has_instances"];

/// Writes a Segments.ai release.
pub(super) struct SegmentsWriter {
    compression: Compression,
    /// Prefix of bitmap and image URLs, ending in `/` (`None`: relative paths).
    url_prefix: Option<String>,
    /// `task_attributes.categories`, in catalog order (category id = class id).
    categories: Vec<Value>,
    /// Every encoded item's sample, by key, until `finish`.
    samples: Mutex<HashMap<String, Value>>,
}

impl SegmentsWriter {
    pub(super) fn new(options: &WriteOptions) -> Self {
        SegmentsWriter {
            compression: options.compression,
            url_prefix: options.url_folder(),
            categories: Vec::new(),
            samples: Mutex::new(HashMap::new()),
        }
    }

    fn url(&self, path: &str) -> String {
        output_url(self.url_prefix.as_deref(), path)
    }
}

/// Object ids 1..N for the N segments (index 0 unused): thing instance
/// numbers are kept when they are distinct and within 1..N (CVAT object
/// numbers usually are), the other segments taking the ids left, in segment
/// order; else ids follow segment order. Small ids matter: the SDK's cache
/// clips ids above 65535, and some of its exports wrap them at 256.
fn object_ids(segments: &[Segment]) -> Vec<u32> {
    let n = segments.len() as u32;
    let numbers: Vec<u32> = segments.iter().filter_map(|s| s.instance).collect();
    let distinct: HashSet<u32> = numbers.iter().copied().collect();
    let keep = distinct.len() == numbers.len() && numbers.iter().all(|&k| (1..=n).contains(&k));
    let mut free = (1..=n).filter(|k| !(keep && distinct.contains(k)));
    std::iter::once(0)
        .chain(
            segments
                .iter()
                .map(|segment| match (keep, segment.instance) {
                    (true, Some(k)) => k,
                    _ => free.next().expect("N segments have N ids"),
                }),
        )
        .collect()
}

/// Whether a value fits the SDK's `ObjectAttributes` (`str | bool | int |
/// float | list[str] | None`).
fn is_sdk_attribute(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().all(Value::is_string),
        Value::Object(_) => false,
        _ => true,
    }
}

/// A deterministic UUID (version 8, RFC 9562) from `key`: 128-bit FNV-1a.
fn uuid_of(key: &str) -> String {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in b"maskconv-sample:".iter().chain(key.as_bytes()) {
        hash ^= u128::from(*byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    let mut bytes = hash.to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl Writer for SegmentsWriter {
    fn begin(
        &mut self,
        dataset: &Dataset,
        losses: &mut Vec<Note>,
        warnings: &mut Vec<Note>,
    ) -> Result<Vec<OutputFile>> {
        // 16-bit colours that are one 8-bit colour stay distinct (recoloured
        // with a warning), as CVAT's labelmap needs them when converted on.
        let palette = distinct_rgb8(&dataset.catalog, warnings);
        self.categories = dataset
            .catalog
            .iter()
            .map(|(id, class)| {
                let mut category = Map::new();
                category.insert("id".into(), id.into());
                category.insert("name".into(), class.name.clone().into());
                if class.color.is_some() {
                    category.insert("color".into(), json!(palette[id as usize]));
                }
                category.insert("has_instances".into(), (class.kind == ClassKind::Thing).into());
                for (key, value) in &class.attributes {
                    if CATEGORY_KEYS.contains(&key.as_str()) {
                        losses.push(Note::new(
                            "class-attributes",
                            format!(
                                "class '{}': attribute '{key}' would overwrite the category's own '{key}' and is dropped",
                                class.name
                            ),
                        ));
                    } else {
                        category.insert(key.clone(), value.clone());
                    }
                }
                Value::Object(category)
            })
            .collect();
        Ok(Vec::new())
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        losses: &mut Vec<Note>,
    ) -> Result<Option<Vec<OutputFile>>> {
        let mut files = Vec::new();
        let (image_url, extension) = match (image, &item.image) {
            (Some(bytes), Some(source)) => {
                let ext = file_extension(source, ".png");
                let path = format!("{IMAGE_DIR}{}{ext}", item.key);
                files.push(OutputFile::new(path.clone(), bytes));
                (self.url(&path), ext.to_string())
            }
            // No image in the input: the URL the source gave, if any (its
            // extension names the sample, as the SDK names cached images).
            _ => match &item.image_url {
                Some(url) => (url.clone(), file_extension(url, ".png").to_string()),
                None => (String::new(), ".png".to_string()),
            },
        };
        let label = match map {
            None => Value::Null,
            Some(map) => {
                let segments = map.segments();
                if segments.len() > MAX_ID as usize {
                    return Err(Error::input(
                        format!("item '{}'", item.key),
                        format!(
                            "has {} segments but a Segments.ai bitmap holds 24-bit object ids (at most {MAX_ID}) (loss 'too-many-segments')",
                            segments.len()
                        ),
                    )
                    .in_format(INFO.name));
                }
                let ids = object_ids(segments);
                let palette: Vec<[u8; 4]> = ids
                    .iter()
                    .map(|&id| [id as u8, (id >> 8) as u8, (id >> 16) as u8, 255])
                    .collect();
                let (w, h) = (map.width(), map.height());
                let png = encode_png_rows(w, h, PngLayout::Rgba8, self.compression, |y, row| {
                    paint_row(map.row(y), &palette, row)
                });
                let bitmap = format!("{BITMAP_DIR}{}.png", item.key);
                files.push(OutputFile::new(bitmap.clone(), png));

                // Annotations in id order, as the reader orders segments: a
                // release written twice is the same bytes.
                let mut by_id: Vec<(&Segment, u32)> =
                    segments.iter().zip(ids[1..].iter().copied()).collect();
                by_id.sort_by_key(|&(_, id)| id);
                let mut dropped = false;
                let annotations: Vec<Value> = by_id
                    .into_iter()
                    .map(|(segment, id)| {
                        let mut annotation = Map::new();
                        annotation.insert("id".into(), id.into());
                        annotation.insert("category_id".into(), segment.class.into());
                        let attributes: Map<String, Value> = segment
                            .attributes
                            .iter()
                            .filter(|(_, v)| {
                                let ok = is_sdk_attribute(v);
                                dropped |= !ok;
                                ok
                            })
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        if !attributes.is_empty() {
                            annotation.insert("attributes".into(), Value::Object(attributes));
                        }
                        Value::Object(annotation)
                    })
                    .collect();
                if dropped {
                    losses.push(Note::new(
                        "segment-attributes",
                        format!(
                            "item '{}': segment attributes that are objects or non-string lists do not fit Segments.ai's annotation attributes and are dropped",
                            item.key
                        ),
                    ));
                }
                let body = json!({
                    "format_version": "0.1",
                    "annotations": annotations,
                    "segmentation_bitmap": {"url": self.url(&bitmap)},
                });
                files.push(OutputFile::new(
                    format!("{LABEL_DIR}{}.json", item.key),
                    pyjson::dumps_indented(&body, 2) + "\n",
                ));
                json!({"label_status": "LABELED", "attributes": body})
            }
        };
        let mut metadata = Map::new();
        if let Some(subset) = &item.subset {
            metadata.insert(SUBSET_KEY.into(), subset.clone().into());
        }
        let sample = json!({
            "uuid": item.source_id.clone().unwrap_or_else(|| uuid_of(&item.key)),
            "name": format!("{}{extension}", item.key),
            "metadata": metadata,
            "attributes": {"image": {"url": image_url}},
            "labels": {DEFAULT_LABELSET: label},
        });
        self.samples
            .lock()
            .expect("no writer thread panicked")
            .insert(item.key.clone(), sample);
        Ok(Some(files))
    }

    fn finish(&self, written: &[&Item], _losses: &mut Vec<Note>) -> Result<Vec<OutputFile>> {
        let mut samples = self.samples.lock().expect("no writer thread panicked");
        let samples: Vec<Value> = written
            .iter()
            .filter_map(|item| samples.remove(&item.key))
            .collect();
        let release = json!({
            "name": "maskconv",
            "description": format!("written by maskconv {}", env!("CARGO_PKG_VERSION")),
            "dataset": {
                "name": "dataset",
                "owner": "maskconv",
                "task_type": "segmentation-bitmap",
                "task_attributes": {"format_version": "0.1", "categories": self.categories},
                "labelsets": [{"name": DEFAULT_LABELSET, "description": ""}],
                "samples": samples,
            },
        });
        Ok(vec![OutputFile::new(
            RELEASE,
            pyjson::dumps_indented(&release, 2) + "\n",
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_1_to_n_keeping_instance_numbers_that_fit() {
        let seg = |class, instance| Segment::new(class, instance);
        let kept = object_ids(&[seg(1, Some(3)), seg(2, None), seg(1, Some(1)), seg(3, None)]);
        assert_eq!(kept, vec![0, 3, 2, 1, 4]);
        let clash = object_ids(&[seg(1, Some(1)), seg(2, Some(1))]);
        assert_eq!(clash, vec![0, 1, 2]);
        let large = object_ids(&[seg(1, Some(70000)), seg(2, None)]);
        assert_eq!(large, vec![0, 1, 2], "ids stay within 1..N");
    }

    #[test]
    fn sample_uuids_are_deterministic_version_8_uuids() {
        let a = uuid_of("frame_1");
        assert_eq!(a, uuid_of("frame_1"));
        assert_ne!(a, uuid_of("frame_2"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
    }
}

//! The annotation file: NDJSON, a JSON array, or export rows, parsed into
//! one [`Record`] per item, with every problem named by line (or element).

use super::BACKGROUND;
use crate::formats::strip_bom;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// One segment of a `SegmentationAnnotation`: mask value `index` means `label`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SegmentRecord {
    pub label: String,
    pub index: u8,
    pub metadata: Option<Map<String, Value>>,
}

/// One item's annotation, as the file gives it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Record {
    /// `reference_id` (or, for predictions that lack one, the dataset item id).
    pub key: String,
    /// `None`: an export row whose `segmentation` is null (an item without mask).
    pub mask_url: Option<String>,
    pub segments: Vec<SegmentRecord>,
    /// Where in the file: `line 3`, `element 3`, or `the file`.
    pub place: String,
}

/// What the file holds: the records, and how many annotations of other
/// types (box, polygon, …) were passed over, by type.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub records: Vec<Record>,
    pub other_types: Vec<(String, usize)>,
    /// Records with a non-null `annotation_id` (which the model cannot keep).
    pub annotation_ids: usize,
}

/// Annotation `type`s the SDK reads as something other than a segmentation.
const OTHER_TYPES: [&str; 7] = [
    "box",
    "line",
    "polygon",
    "keypoints",
    "cuboid",
    "category",
    "multicategory",
];

/// Parses the whole file. The error is `(place, what)` for one message.
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("is not UTF-8 text: {e}"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parsed = Parsed::default();
    let mut other: HashMap<String, usize> = HashMap::new();
    let mut add = |value: Value, place: String, parsed: &mut Parsed| -> Result<(), String> {
        match record_of(value, &place)? {
            Element::Record(record, has_id) => {
                parsed.annotation_ids += usize::from(has_id);
                parsed.records.push(record);
            }
            Element::Other(kind) => *other.entry(kind).or_default() += 1,
        }
        Ok(())
    };
    if text.trim().is_empty() {
        return Ok(parsed);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(elements)) => {
            for (i, value) in elements.into_iter().enumerate() {
                add(value, format!("element {}", i + 1), &mut parsed)?;
            }
        }
        Ok(Value::Object(mut object)) => match export_rows_key(&object) {
            // An export response: {"exportedRows": [...]} or a page {"data": [...], ...}.
            Some(key) => {
                let Some(Value::Array(rows)) = object.remove(key) else {
                    unreachable!("export_rows_key checked it is a list")
                };
                for (i, value) in rows.into_iter().enumerate() {
                    add(value, format!("{key} row {}", i + 1), &mut parsed)?;
                }
            }
            None => add(Value::Object(object), "the file".into(), &mut parsed)?,
        },
        Ok(_) => return Err("holds neither annotation objects nor a list of them".into()),
        // More than one value: NDJSON, one annotation per line.
        Err(e) if e.to_string().starts_with("trailing characters") => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value: Value = serde_json::from_str(line).map_err(|e| {
                    format!(
                        "line {}, column {}: not valid JSON: {}",
                        i + 1,
                        e.column(),
                        bare(&e)
                    )
                })?;
                add(value, format!("line {}", i + 1), &mut parsed)?;
            }
        }
        Err(e) => return Err(format!("not valid JSON: {e}")),
    }
    let mut other_types: Vec<(String, usize)> = other.into_iter().collect();
    other_types.sort();
    parsed.other_types = other_types;
    Ok(parsed)
}

/// A serde_json message without its ` at line L column C` suffix.
fn bare(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

/// The key holding export rows when `object` is an export response rather
/// than an annotation: `exportedRows`, or `data` (a page), holding a list.
fn export_rows_key(object: &Map<String, Value>) -> Option<&'static str> {
    if ["mask_url", "reference_id", "item"]
        .iter()
        .any(|k| object.contains_key(*k))
    {
        return None;
    }
    ["exportedRows", "data"]
        .into_iter()
        .find(|key| matches!(object.get(*key), Some(Value::Array(_))))
}

enum Element {
    /// A segmentation, and whether it has an `annotation_id`.
    Record(Record, bool),
    /// An annotation of another type.
    Other(String),
}

fn record_of(value: Value, place: &str) -> Result<Element, String> {
    let Value::Object(mut object) = value else {
        return Err(format!("{place}: expected a JSON object"));
    };
    // An export row: {"item": {...}, "segmentation": {...} | null, "box": [...], ...}.
    if let (Some(item), Some(segmentation)) = (object.get("item"), object.get("segmentation")) {
        let Value::Object(item) = item else {
            return Err(format!("{place}: 'item' is not an object"));
        };
        let key = key_of(item)
            .ok_or_else(|| {
                format!("{place}: the export row's item has no reference_id (nor dataset_item_id)")
            })?
            .map_err(|what| format!("{place}: item: {what}"))?;
        return match segmentation {
            Value::Null => Ok(Element::Record(
                Record {
                    key,
                    mask_url: None,
                    segments: Vec::new(),
                    place: place.to_string(),
                },
                false,
            )),
            Value::Object(annotation) => {
                let mut annotation = annotation.clone();
                if matches!(annotation.get("reference_id"), None | Some(Value::Null)) {
                    annotation.insert("reference_id".into(), Value::String(key));
                }
                annotation_of(annotation, place).map(|(r, id)| Element::Record(r, id))
            }
            _ => Err(format!(
                "{place}: 'segmentation' is neither an object nor null"
            )),
        };
    }
    if let Some(Value::String(kind)) = object.get("type")
        && OTHER_TYPES.contains(&kind.as_str())
    {
        return Ok(Element::Other(kind.clone()));
    }
    object.remove("type");
    annotation_of(object, place).map(|(r, id)| Element::Record(r, id))
}

/// `reference_id`, else `dataset_item_id`, else `item_id` (predictions may
/// name their item by dataset id only). `None` when none is present.
fn key_of(object: &Map<String, Value>) -> Option<Result<String, String>> {
    ["reference_id", "dataset_item_id", "item_id"]
        .iter()
        .find_map(|field| match object.get(*field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(Ok(s.clone())),
            Some(other) => Some(Err(format!("'{field}' is {other}, not a non-empty string"))),
        })
}

fn annotation_of(object: Map<String, Value>, place: &str) -> Result<(Record, bool), String> {
    let key = key_of(&object)
        .ok_or_else(|| format!("{place}: has no reference_id (the SDK requires one)"))?
        .map_err(|what| format!("{place}: {what}"))?;
    let mask_url = match object.get("mask_url") {
        None | Some(Value::Null) => {
            return Err(format!(
                "{place}: has no mask_url (the SDK rejects it: 'Missing mask_url in json')"
            ));
        }
        Some(Value::String(url)) if url.is_empty() => {
            return Err(format!("{place}: mask_url is empty"));
        }
        Some(Value::String(url)) => url.clone(),
        Some(other) => return Err(format!("{place}: mask_url is {other}, not a string")),
    };
    let segments = match object.get("annotations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                segment_of(s).map_err(|what| format!("{place}: segment {}: {what}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(format!("{place}: 'annotations' is not a list of segments")),
    };
    let mut seen = [false; 256];
    for segment in &segments {
        if std::mem::replace(&mut seen[usize::from(segment.index)], true) {
            return Err(format!(
                "{place}: two segments have index {}; each mask value means one segment",
                segment.index
            ));
        }
    }
    let has_id = !matches!(object.get("annotation_id"), None | Some(Value::Null));
    Ok((
        Record {
            key,
            mask_url: Some(mask_url),
            segments,
            place: place.to_string(),
        },
        has_id,
    ))
}

fn segment_of(value: &Value) -> Result<SegmentRecord, String> {
    let Value::Object(object) = value else {
        return Err("is not an object".into());
    };
    let label = match object.get("label") {
        Some(Value::String(label)) if !label.is_empty() => label.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err("has no label".into());
        }
        Some(other) => return Err(format!("label {other} is not a string")),
    };
    let index = match object.get("index") {
        None | Some(Value::Null) => return Err(format!("'{label}' has no index")),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(i) if i <= 255 => i as u8,
            Some(i) => {
                return Err(format!(
                    "'{label}' has index {i}, but mask pixels are 8-bit (0..255)"
                ));
            }
            None => {
                return Err(format!(
                    "'{label}' has index {n}, which is not an integer 0..255"
                ));
            }
        },
        Some(other) => {
            return Err(format!(
                "'{label}' has index {other}, which is not an integer 0..255"
            ));
        }
    };
    let metadata = match object.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(other) => return Err(format!("'{label}' has metadata {other}, not an object")),
    };
    Ok(SegmentRecord {
        label,
        index,
        metadata,
    })
}

/// Whether `label` is Nucleus' background (read as unlabeled).
pub(super) fn is_background(label: &str) -> bool {
    label == BACKGROUND
}

/// Whether `bytes` starts like a Nucleus annotation file: its first JSON
/// object (or the first element of a top-level array) is an annotation
/// (`mask_url`, or at least `reference_id` / `dataset_item_id`, so that a
/// broken annotation gets a Nucleus error), an export row (`item` +
/// `segmentation`) or an export (`exportedRows`). Parses one object, not
/// the whole file.
pub(super) fn looks_like_nucleus(bytes: &[u8]) -> bool {
    let text = strip_bom(bytes);
    let mut rest = text.trim_ascii_start();
    if let Some(inner) = rest.strip_prefix(b"[") {
        rest = inner.trim_ascii_start();
    }
    let first = serde_json::Deserializer::from_slice(rest)
        .into_iter::<Value>()
        .next();
    match first {
        Some(Ok(Value::Object(object))) => {
            [
                "mask_url",
                "reference_id",
                "dataset_item_id",
                "exportedRows",
            ]
            .iter()
            .any(|key| object.contains_key(*key))
                || export_rows_key(&object).is_some()
                || (object.contains_key("item") && object.contains_key("segmentation"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_arrays_single_objects_and_export_rows_parse() {
        let ndjson = br#"{"type": "mask", "mask_url": "m/a.png", "annotations": [{"label": "car", "index": 1, "metadata": {"c": "red"}}], "annotation_id": "x", "reference_id": "a"}

{"mask_url": "m/b.png", "item_id": "di_1"}
{"type": "box", "reference_id": "a"}
"#;
        let parsed = parse(ndjson).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[0].segments[0].label, "car");
        assert_eq!(parsed.records[1].key, "di_1");
        assert_eq!(parsed.records[1].place, "line 3");
        assert_eq!(parsed.annotation_ids, 1);
        assert_eq!(parsed.other_types, vec![("box".to_string(), 1)]);

        let array = br#"[{"mask_url": "a.png", "reference_id": "a"}]"#;
        assert_eq!(parse(array).unwrap().records[0].place, "element 1");
        let rows = br#"{"exportedRows": [{"item": {"reference_id": "r"}, "segmentation": null, "box": []},
            {"item": {"reference_id": "s"}, "segmentation": {"mask_url": "s.png", "annotations": []}}]}"#;
        let records = parse(rows).unwrap().records;
        assert_eq!(records[0].mask_url, None);
        assert_eq!(records[1].key, "s");
        let pretty = b"{\n  \"mask_url\": \"a.png\",\n  \"reference_id\": \"a\"\n}\n";
        assert_eq!(parse(pretty).unwrap().records[0].place, "the file");
        // Unknown keys are ignored, "data" included; a page has other keys.
        let extra = br#"{"mask_url": "a.png", "reference_id": "a", "data": 1}"#;
        assert_eq!(parse(extra).unwrap().records.len(), 1);
        let page =
            br#"{"data": [{"item": {"reference_id": "r"}, "segmentation": null}], "next": "x"}"#;
        assert_eq!(parse(page).unwrap().records[0].place, "data row 1");
        assert!(parse(b"  \n").unwrap().records.is_empty());
        // A null reference_id in a row's segmentation takes the item's.
        let null_id = br#"[{"item": {"reference_id": "r"}, "segmentation": {"mask_url": "m.png", "reference_id": null}}]"#;
        assert_eq!(parse(null_id).unwrap().records[0].key, "r");
    }

    #[test]
    fn bad_annotations_are_named_by_line() {
        let cases: [(&[u8], &str); 9] = [
            (b"{\"mask_url\": \"a.png\", \"reference_id\": \"a\"}\n{\"mask_url\": ", "line 2, column 13: not valid JSON"),
            (b"{\"reference_id\": \"a\"}", "the file: has no mask_url"),
            (b"{\"mask_url\": \"a.png\"}", "the file: has no reference_id"),
            (b"{\"mask_url\": \"\", \"reference_id\": \"a\"}", "mask_url is empty"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"label": "x", "index": 300}]}"#, "index 300"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"label": "x", "index": "3"}]}"#, "not an integer"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"label": "x", "index": 1.5}]}"#, "not an integer"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"label": "x", "index": 1}, {"label": "y", "index": 1}]}"#, "two segments have index 1"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"index": 1}]}"#, "segment 1: has no label"),
        ];
        for (bytes, expected) in cases {
            let err = parse(bytes).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn detection_reads_only_the_first_object() {
        assert!(looks_like_nucleus(b"{\"mask_url\": \"a\"}\n{broken"));
        assert!(looks_like_nucleus(
            b" [ {\"item\": {}, \"segmentation\": null}, oops"
        ));
        assert!(!looks_like_nucleus(b"{\"dataset\": {}}"));
        assert!(!looks_like_nucleus(b"not json"));
    }
}

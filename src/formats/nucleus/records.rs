//! One annotation of the annotation file: what an element, a line or an
//! export row says, as one [`Record`] per item, with every problem named by
//! its place (line, element, row).

use super::BACKGROUND;
use crate::formats::common::{first_object, strip_bom};
use serde_json::{Map, Value};

/// One segment of a `SegmentationAnnotation`: mask value `index` means `label`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SegmentRecord {
    pub label: String,
    pub index: u8,
    pub metadata: Option<Map<String, Value>>,
}

/// Where in the annotation file an annotation is, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// `line 3` of an NDJSON file.
    Line(u32),
    /// `element 3` of a JSON array.
    Element(u32),
    /// `exportedRows row 3` (or `data row 3`) of an export.
    Row(&'static str, u32),
    /// A file holding one annotation.
    File,
}

impl Place {
    /// Its number (0 for [`Place::File`]).
    pub fn number(self) -> u32 {
        match self {
            Place::Line(n) | Place::Element(n) | Place::Row(_, n) => n,
            Place::File => 0,
        }
    }

    /// The place of the same kind numbered `n`.
    pub fn numbered(self, n: u32) -> Place {
        match self {
            Place::Line(_) => Place::Line(n),
            Place::Element(_) => Place::Element(n),
            Place::Row(key, _) => Place::Row(key, n),
            Place::File => Place::File,
        }
    }
}

impl Place {
    /// The file's name with this place in it: `a.ndjson line 3`, or just
    /// `a.json` for the whole file.
    pub fn in_file(self, display: &str) -> String {
        match self {
            Place::File => display.to_string(),
            place => format!("{display} {place}"),
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Element(n) => write!(f, "element {n}"),
            Place::Row(key, n) => write!(f, "{key} row {n}"),
            Place::File => f.write_str("the file"),
        }
    }
}

impl PartialEq<&str> for Place {
    fn eq(&self, other: &&str) -> bool {
        self.to_string().as_str() == *other
    }
}

/// One item's annotation, as the file gives it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Record {
    /// `reference_id` (or, for predictions that lack one, the dataset item id).
    pub key: String,
    /// `None`: an export row whose `segmentation` is null (an item without mask).
    pub mask_url: Option<String>,
    pub segments: Vec<SegmentRecord>,
    /// Where in the file.
    pub place: Place,
}

/// What the file holds besides its records: how many annotations of other
/// types (box, polygon, …) were passed over, by type, and how many had an
/// `annotation_id` (which the model cannot keep).
#[derive(Debug, Default)]
pub(super) struct Summary {
    pub other_types: Vec<(String, usize)>,
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

/// A serde_json message without its ` at line L column C` suffix.
pub(super) fn bare(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message,
    }
}

/// The key holding export rows when `object` is an export response rather
/// than an annotation: `exportedRows`, or `data` (a page), holding a list.
pub(super) fn export_rows_key(object: &Map<String, Value>) -> Option<&'static str> {
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

pub(super) enum Element {
    /// A segmentation, and whether it has an `annotation_id`.
    Record(Record, bool),
    /// An annotation of another type.
    Other(String),
}

pub(super) fn record_of(value: Value, place: Place) -> std::result::Result<Element, String> {
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
                    place,
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
fn key_of(object: &Map<String, Value>) -> Option<std::result::Result<String, String>> {
    ["reference_id", "dataset_item_id", "item_id"]
        .iter()
        .find_map(|field| match object.get(*field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(Ok(s.clone())),
            Some(other) => Some(Err(format!("'{field}' is {other}, not a non-empty string"))),
        })
}

fn annotation_of(
    object: Map<String, Value>,
    place: Place,
) -> std::result::Result<(Record, bool), String> {
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
            .collect::<std::result::Result<Vec<_>, _>>()?,
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
            place,
        },
        has_id,
    ))
}

fn segment_of(value: &Value) -> std::result::Result<SegmentRecord, String> {
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

/// Whether `bytes` (a file's first megabyte) starts like a Nucleus
/// annotation file: its first JSON object (or the first element of a
/// top-level array) is an annotation (`mask_url`, or at least
/// `reference_id` / `dataset_item_id`, so that a broken annotation gets a
/// Nucleus error), an export row (`item` + `segmentation`) or an export
/// (`exportedRows`, or a `data` page). Looks at keys, not whole values.
pub(super) fn looks_like_nucleus(bytes: &[u8]) -> bool {
    let Some(first) = first_object(strip_bom(bytes)) else {
        return false;
    };
    // `annotation_id` too: a file written with sorted keys has a long
    // `annotations` list before `mask_url`.
    [
        "mask_url",
        "reference_id",
        "dataset_item_id",
        "annotation_id",
        "exportedRows",
    ]
    .iter()
    .any(|key| first.has(key))
        || first.has_array("data") && !first.has("item")
        || (first.has("item") && first.has("segmentation"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

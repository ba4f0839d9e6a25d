//! The release JSON, read as a stream: its samples one at a time (a release
//! of 100 000 samples is never one tree in memory), then its categories,
//! with every problem named by its place in the file
//! (`dataset.samples[3].labels…`).

use super::label::label_of;
pub(super) use super::label::{Annotation, Label, VectorShape};
use crate::formats::common::{first_object, strip_bom};
use crate::formats::json_stream::{Held, MAX_HELD_BYTES, StreamError, stream_array};
use serde_json::{Map, Value};
use std::io::Read;

/// One category of `dataset.task_attributes.categories`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Category {
    pub id: u64,
    pub name: String,
    pub color: Option<[u8; 3]>,
    pub has_instances: bool,
    /// Every other key (`attributes`, `link_attributes`, …), kept as is.
    pub extra: Map<String, Value>,
}

/// One image of a sample: a single image's, or a sequence's frame.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Frame {
    pub image_url: Option<String>,
    pub label: Label,
}

/// One sample of `dataset.samples`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample {
    /// Its index in `dataset.samples`.
    pub index: usize,
    pub uuid: Option<String>,
    pub name: String,
    pub metadata: Map<String, Value>,
    /// Whether it is an image sequence (`attributes.frames`).
    pub sequence: bool,
    /// Its images: one for a single image, the frames of a sequence.
    pub frames: Vec<Frame>,
}

/// The label of an image whose sample has no label in the label set.
const NO_LABEL: Label = Label::Without("null");

/// `dataset.samples[i]`, for messages.
pub(super) fn sample_place(index: usize) -> String {
    format!("dataset.samples[{index}]")
}

/// Whether a file at `path` starting with `bytes` is a release: a JSON
/// object with a top-level `dataset` key (a broken `dataset` then gets a
/// Segments.ai error).
pub(super) fn looks_like_release(_path: &str, bytes: &[u8]) -> bool {
    first_object(strip_bom(bytes)).is_some_and(|first| !first.in_array && first.has("dataset"))
}

/// What a release says of itself once its samples are read.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Header {
    pub categories: Vec<Category>,
    /// `dataset.task_type`, when given.
    pub task_type: Option<String>,
}

/// A sample `each` refused: its index in `dataset.samples`, and why.
pub(super) type Refusal<E> = (usize, E);

/// Reads the release from `reader`, handing each sample (with its label in
/// `labelset`) to `each` as it is read, and returns the categories and the
/// first sample `each` refused. A malformed release (in words, naming the
/// place) is the error, whatever `each` said: the release as a whole first,
/// then the first malformed sample, as if the file had been read whole.
pub(super) fn parse_stream<E>(
    mut reader: impl Read,
    labelset: &str,
    each: &mut dyn FnMut(Sample) -> Result<(), E>,
) -> Result<(Header, Option<Refusal<E>>), String> {
    let mut head = Vec::with_capacity(3);
    (&mut reader)
        .take(3)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot be read: {e}"))?;
    let release = std::io::Cursor::new(strip_bom(&head).to_vec()).chain(reader);
    let mut malformed: Option<String> = None;
    let mut refused: Option<Refusal<E>> = None;
    let streamed = stream_array(release, &["dataset", "samples"], &mut |i, value| {
        if malformed.is_none() {
            match sample_of(&value, labelset, i) {
                Ok(sample) if refused.is_none() => refused = each(sample).err().map(|e| (i, e)),
                Ok(_) => {}
                Err(what) => malformed = Some(what),
            }
        }
        Ok::<(), ()>(())
    });
    let root = match streamed {
        Ok(root) => root,
        Err(StreamError::Syntax(e)) if e.is_io() => return Err(format!("cannot be read: {e}")),
        Err(StreamError::Syntax(e)) => return Err(format!("not valid JSON: {e}")),
        Err(StreamError::Element(())) => unreachable!("samples are never refused while streaming"),
        Err(StreamError::TooLarge(held)) => {
            let what = match held {
                Held::Element => "one sample",
                Held::Rest => "the release without its samples",
            };
            let limit = MAX_HELD_BYTES >> 20;
            return Err(format!(
                "{what} is longer than {limit} MiB; a release this shaped is refused"
            ));
        }
    };
    let header = header_of(&root, labelset)?;
    match malformed {
        Some(what) => Err(what),
        None => Ok((header, refused)),
    }
}

/// The task types whose labels are read: bitmaps and vector labels, of
/// single images and of image sequences.
pub(super) const TASK_TYPES: [&str; 6] = [
    "segmentation-bitmap",
    "segmentation-bitmap-highres",
    "image-segmentation-sequence",
    "vector",
    "bboxes",
    "image-vector-sequence",
];

/// Whether labels of `task_type` are vector labels, where a label without
/// annotations is an empty mask rather than none.
pub(super) fn is_vector_task(task_type: &str) -> bool {
    ["vector", "bboxes", "image-vector-sequence"].contains(&task_type)
}

/// The release's categories and task type, once its samples are read: the checks of the
/// release as a whole (its `dataset`, task type, categories, labelsets).
fn header_of(root: &Value, labelset: &str) -> Result<Header, String> {
    let dataset = root
        .get("dataset")
        .and_then(Value::as_object)
        .ok_or("has no 'dataset' object; a Segments.ai release has dataset.task_attributes.categories and dataset.samples")?;
    if let Some(Value::String(task)) = dataset.get("task_type")
        && !TASK_TYPES.contains(&task.as_str())
    {
        return Err(format!(
            "dataset.task_type is '{task}'; maskconv reads image releases of the types {}",
            TASK_TYPES.join(", ")
        ));
    }
    let categories = dataset
        .get("task_attributes")
        .and_then(|t| t.get("categories"))
        .and_then(Value::as_array)
        .ok_or("has no dataset.task_attributes.categories list")?;
    let categories = categories
        .iter()
        .enumerate()
        .map(|(i, c)| {
            category_of(c)
                .map_err(|what| format!("dataset.task_attributes.categories[{i}]: {what}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(Value::Array(sets)) = dataset.get("labelsets") {
        let names: Vec<&str> = sets
            .iter()
            .filter_map(|s| s.get("name").and_then(Value::as_str))
            .collect();
        if !names.contains(&labelset) {
            return Err(format!(
                "has no labelset '{labelset}' (dataset.labelsets: {}); choose one with --labelset",
                names.join(", ")
            ));
        }
    }
    dataset
        .get("samples")
        .and_then(Value::as_array)
        .ok_or("has no dataset.samples list")?;
    let task_type = dataset
        .get("task_type")
        .and_then(Value::as_str)
        .map(String::from);
    Ok(Header {
        categories,
        task_type,
    })
}

fn category_of(value: &Value) -> Result<Category, String> {
    let Value::Object(object) = value else {
        return Err("is not an object".into());
    };
    let id = object
        .get("id")
        .and_then(Value::as_u64)
        .ok_or("has no integer 'id'")?;
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => return Err(format!("category {id} has no name")),
    };
    let color = match object.get("color") {
        None | Some(Value::Null) => None,
        Some(Value::Array(channels)) if channels.len() == 3 || channels.len() == 4 => {
            let rgb: Option<Vec<u8>> = channels[..3]
                .iter()
                .map(|c| c.as_u64().and_then(|c| u8::try_from(c).ok()))
                .collect();
            let rgb =
                rgb.ok_or_else(|| format!("category '{name}': color is not 0..255 values"))?;
            Some([rgb[0], rgb[1], rgb[2]])
        }
        Some(other) => {
            return Err(format!(
                "category '{name}': color {other} is not [r, g, b(, a)]"
            ));
        }
    };
    // `has_instances` may be missing or null (the SDK's panoptic export crashes on null): stuff.
    let has_instances = object.get("has_instances").and_then(Value::as_bool) == Some(true);
    let extra = object
        .iter()
        .filter(|(k, _)| !["id", "name", "color", "has_instances"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Category {
        id,
        name,
        color,
        has_instances,
        extra,
    })
}

fn sample_of(value: &Value, labelset: &str, index: usize) -> Result<Sample, String> {
    let place = sample_place(index);
    let Value::Object(object) = value else {
        return Err(format!("{place}: is not an object"));
    };
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => return Err(format!("{place}: has no name")),
    };
    let uuid = object
        .get("uuid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(String::from);
    let metadata = match object.get("metadata") {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    let attributes = object.get("attributes");
    let image_frames = attributes.and_then(|a| a.get("frames"));
    let label_place = format!("{place}.labels.{labelset}");
    let label = match object.get("labels").and_then(|l| l.get(labelset)) {
        None | Some(Value::Null) => None,
        Some(Value::Object(label)) => Some(label),
        Some(_) => return Err(format!("{label_place}: is neither an object nor null")),
    };
    let skipped = label
        .and_then(|l| l.get("label_status"))
        .and_then(Value::as_str)
        == Some("SKIPPED");
    let body = label.and_then(|l| l.get("attributes"));
    let label_frames = body.and_then(|b| b.get("frames"));
    let sequence = image_frames.is_some() || label_frames.is_some();
    // One image's label: the sample's (a single image) or a frame's.
    let image_label =
        |attributes: Option<&Map<String, Value>>, place: &str| match (label, skipped, attributes) {
            (None, ..) => Ok(NO_LABEL),
            (_, true, _) => Ok(Label::Without("SKIPPED")),
            (_, _, Some(attributes)) => label_of(attributes, place),
            (_, _, None) => Ok(Label::Without("no bitmap")),
        };
    if !sequence {
        let label = image_label(
            body.and_then(Value::as_object),
            &format!("{label_place}.attributes"),
        )?;
        let image_url = attributes.and_then(image_url_of);
        return Ok(Sample {
            index,
            uuid,
            name,
            metadata,
            sequence,
            frames: vec![Frame { image_url, label }],
        });
    }
    let image_frames = match image_frames {
        None => &Vec::new(),
        Some(Value::Array(frames)) => frames,
        Some(_) => return Err(format!("{place}.attributes.frames: is not a list")),
    };
    let label_frames = match label_frames {
        None => &Vec::new(),
        Some(Value::Array(frames)) => frames,
        Some(_) => return Err(format!("{label_place}.attributes.frames: is not a list")),
    };
    if !label_frames.is_empty()
        && !image_frames.is_empty()
        && label_frames.len() != image_frames.len()
    {
        return Err(format!(
            "{label_place}.attributes.frames: {} frames, but the sample has {} images",
            label_frames.len(),
            image_frames.len()
        ));
    }
    let frames = (0..image_frames.len().max(label_frames.len()))
        .map(|i| {
            let frame_place = format!("{label_place}.attributes.frames[{i}]");
            let frame = match label_frames.get(i) {
                Some(Value::Object(frame)) => Some(frame),
                Some(_) if label.is_some() && !skipped => {
                    return Err(format!("{frame_place}: is not an object"));
                }
                _ => None,
            };
            let label = image_label(frame, &frame_place)?;
            let image_url = image_frames.get(i).and_then(image_url_of);
            Ok(Frame { image_url, label })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Sample {
        index,
        uuid,
        name,
        metadata,
        sequence,
        frames,
    })
}

/// `image.url` of a sample's (or a frame's) attributes, when not empty.
fn image_url_of(attributes: &Value) -> Option<String> {
    attributes
        .get("image")
        .and_then(|i| i.get("url"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A release read whole (tests only).
    #[derive(Debug)]
    struct Release {
        categories: Vec<Category>,
        samples: Vec<Sample>,
    }

    fn parse(bytes: &[u8], labelset: &str) -> Result<Release, String> {
        let mut samples = Vec::new();
        let (Header { categories, .. }, _) = parse_stream(bytes, labelset, &mut |s| {
            samples.push(s);
            Ok::<(), ()>(())
        })?;
        Ok(Release {
            categories,
            samples,
        })
    }

    const RELEASE: &str = r#"{"name": "v1", "dataset": {"name": "d", "owner": "o",
        "task_type": "segmentation-bitmap",
        "task_attributes": {"format_version": "0.1", "categories": [
            {"id": 1, "name": "car", "color": [255, 0, 0], "has_instances": true},
            {"id": 7, "name": "road", "color": [0, 0, 255, 255], "has_instances": null,
             "attributes": [{"name": "wet", "input_type": "checkbox"}]}]},
        "labelsets": [{"name": "ground-truth"}, {"name": "model"}],
        "samples": [
            {"uuid": "u1", "name": "a/img1.jpg", "metadata": {"subset": "train"},
             "attributes": {"image": {"url": "https://h/img1.jpg"}},
             "labels": {"ground-truth": {"label_status": "LABELED", "attributes": {
                "format_version": "0.1",
                "annotations": [{"id": 1, "category_id": 1, "attributes": {"occluded": true}},
                                {"id": 300, "category_id": 7}],
                "segmentation_bitmap": {"url": "bitmaps/img1.png"}}}}},
            {"uuid": "u2", "name": "img2.jpg", "labels": {"ground-truth": null}},
            {"uuid": "u3", "name": "img3.jpg", "labels": {"ground-truth": {"label_status": "SKIPPED"}}},
            {"uuid": "u4", "name": "img4.jpg", "labels": {"ground-truth": {"label_status": "LABELED",
                "attributes": {"annotations": [], "segmentation_bitmap": {"url": null}}}}}]}}"#;

    #[test]
    fn a_release_parses_with_its_null_skipped_and_bitmapless_labels() {
        assert!(looks_like_release("release.json", RELEASE.as_bytes()));
        let release = parse(RELEASE.as_bytes(), "ground-truth").unwrap();
        assert_eq!(release.categories[0].color, Some([255, 0, 0]));
        assert!(release.categories[0].has_instances);
        assert!(!release.categories[1].has_instances, "null is stuff");
        assert!(release.categories[1].extra.contains_key("attributes"));
        let labels: Vec<&Label> = release.samples.iter().map(|s| &s.frames[0].label).collect();
        assert!(matches!(labels[0], Label::Bitmap { annotations, .. } if annotations.len() == 2));
        assert_eq!(labels[1], &Label::Without("null"));
        assert_eq!(labels[2], &Label::Without("SKIPPED"));
        assert_eq!(labels[3], &Label::Without("no bitmap"));
        assert_eq!(release.samples[0].metadata["subset"], "train");
        // Another label set: every sample is unlabeled there.
        let model = parse(RELEASE.as_bytes(), "model").unwrap();
        assert!(
            model
                .samples
                .iter()
                .all(|s| s.frames[0].label == Label::Without("null"))
        );
    }

    #[test]
    fn a_release_with_a_byte_order_mark_reads_as_without() {
        let with_bom = [b"\xef\xbb\xbf".as_slice(), RELEASE.as_bytes()].concat();
        assert!(looks_like_release("release.json", &with_bom));
        let read = parse(&with_bom, "ground-truth").unwrap();
        let plain = parse(RELEASE.as_bytes(), "ground-truth").unwrap();
        assert_eq!(read.categories, plain.categories);
        assert_eq!(read.samples, plain.samples);
        // Shorter than a byte order mark: read as it is.
        assert!(
            parse(b"{}", "ground-truth")
                .unwrap_err()
                .contains("no 'dataset'")
        );
    }

    #[test]
    fn broken_releases_are_named_by_place() {
        let cases = [
            (r#"{"name": "v1"}"#.to_string(), "has no 'dataset' object"),
            (r#"{"dataset": {"samples": []}}"#.to_string(), "categories"),
            (
                RELEASE.replace(r#""id": 300"#, r#""id": 16777216"#),
                "annotations[1]: id 16777216",
            ),
            (
                RELEASE.replace(r#""id": 300"#, r#""id": 1"#),
                "id 1 is listed twice",
            ),
            (
                RELEASE.replace(r#""name": "car", "#, ""),
                "categories[0]: category 1 has no name",
            ),
        ];
        for (text, needle) in cases {
            let err = parse(text.as_bytes(), "ground-truth").unwrap_err();
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
        let err = parse(RELEASE.as_bytes(), "nope").unwrap_err();
        assert!(err.contains("ground-truth, model"), "{err}");
    }
}

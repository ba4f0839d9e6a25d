//! Writing: an RGBA id bitmap and a label body per item, and one release
//! file holding every key the SDK's `SegmentsDataset` reads — its samples
//! wait in item order and are streamed into `release.json` last.

use super::sequences::{self, Sequence};
use super::{
    BITMAP_DIR, CATEGORY_KEYS, DEFAULT_LABELSET, IMAGE_DIR, INFO, LABEL_DIR, MAX_ID, RELEASE,
    SERVICE, SINGLE_IMAGES, SUBSET_KEY, is_sdk_attribute,
};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::Result;
use crate::formats::api::{Dataset, Encoded, OutputFile, Record, Writer, Written};
use crate::formats::colors::distinct_rgb8;
use crate::formats::common::{file_extension, source_image};
use crate::formats::mask_url::{output_url, url_folder};
use crate::formats::options::FormatOptions;
use crate::io::Sink;
use crate::losses::{Capabilities, Diagnostics};
use crate::model::{ClassKind, Item, LabelMap, Origin, Segment, key_to_path};
use crate::pyjson;
use crate::remap::{paint_row, rgb_of_id};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::io::Write;

/// Writes a Segments.ai release.
pub(super) struct SegmentsWriter {
    compression: Compression,
    /// Prefix of bitmap and image URLs, ending in `/` (`None`: relative paths).
    url_prefix: Option<String>,
    /// `task_attributes.categories`, in catalog order (category id = class id).
    categories: Vec<Value>,
    /// Each class's kind, by class id (index 0 unused).
    kinds: Vec<ClassKind>,
    /// The sequences the items are the frames of; `None`: single images.
    sequences: Option<Vec<Sequence>>,
}

impl SegmentsWriter {
    /// Plans the categories: ids 1..N in class order, colours that stay
    /// distinct at 8 bits, class attributes as extra category keys.
    pub(super) fn new(
        dataset: &Dataset,
        options: &FormatOptions,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Self> {
        // 16-bit colours that are one 8-bit colour stay distinct (recoloured
        // with a warning), as CVAT's labelmap needs them when converted on.
        let palette = distinct_rgb8(&dataset.catalog, &mut out.warnings);
        let categories = dataset
            .catalog
            .iter()
            .map(|(id, class)| {
                let mut category = Map::new();
                category.insert("id".into(), id.into());
                category.insert("name".into(), class.name.clone().into());
                if class.color.is_some() {
                    category.insert("color".into(), json!(palette[id as usize]));
                }
                category.insert(
                    "has_instances".into(),
                    (class.kind == ClassKind::Thing).into(),
                );
                for (key, value) in &class.attributes {
                    if !CATEGORY_KEYS.contains(&key.as_str()) {
                        category.insert(key.clone(), value.clone());
                    }
                }
                Value::Object(category)
            })
            .collect();
        let sequences = match sequences::plan(&dataset.items) {
            Some(_) if options.flag(SINGLE_IMAGES.name) => None,
            Some((sequences, from_sequences)) => {
                if !from_sequences {
                    out.warn(
                        "sequences-from-keys",
                        format!(
                            "every item key is <sequence>/<frame>, so the {} items are written as {} image sequences; --single-images writes them as images",
                            dataset.items.len(),
                            sequences.len()
                        ),
                    );
                }
                Some(sequences)
            }
            None => None,
        };
        let kinds = std::iter::once(ClassKind::Stuff)
            .chain(dataset.catalog.classes().iter().map(|c| c.kind))
            .collect();
        Ok(SegmentsWriter {
            compression,
            url_prefix: url_folder(options)?,
            categories,
            kinds,
            sequences,
        })
    }

    fn url(&self, path: &str) -> String {
        output_url(self.url_prefix.as_deref(), path)
    }

    /// `release.json` with no samples, split where the samples go: the
    /// text before the `[` of `"samples": []`, and after its `]`.
    fn release_around_samples(&self) -> (String, String) {
        let release = json!({
            "name": "maskconv",
            "description": format!("written by maskconv {}", env!("CARGO_PKG_VERSION")),
            "dataset": {
                "name": "dataset",
                "owner": "maskconv",
                "task_type": match self.sequences {
                    Some(_) => "image-segmentation-sequence",
                    None => "segmentation-bitmap",
                },
                "task_attributes": {"format_version": "0.1", "categories": self.categories},
                "labelsets": [{"name": DEFAULT_LABELSET, "description": ""}],
                "samples": [],
            },
        });
        let text = pyjson::dumps_indented(&release, 2) + "\n";
        let at = text.rfind("\"samples\": []").expect("the samples key") + "\"samples\": ".len();
        (text[..at].to_string(), text[at + 2..].to_string())
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

/// A deterministic UUID (version 8, RFC 9562) from `key`: 128-bit FNV-1a.
pub(super) fn uuid_of(key: &str) -> String {
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

/// How deep a sample sits in `release.json`: in `dataset.samples`.
const SAMPLE_DEPTH: usize = 3;

impl SegmentsWriter {
    /// The item's image: copied to `images/` when the input has it, else the
    /// URL the source gave; with the extension its sample is named with.
    fn image_of(
        &self,
        item: &Item,
        image: Option<&[u8]>,
        files: &mut Vec<OutputFile>,
    ) -> (String, String) {
        match source_image(item, image, ".png") {
            Some((bytes, ext)) => {
                let path = format!("{IMAGE_DIR}{}{ext}", key_to_path(&item.key));
                let url = self.url(&path);
                files.push(OutputFile::new(path, bytes));
                (url, ext.to_string())
            }
            // No image in the input: the URL the source gave, if any (its
            // extension names the sample, as the SDK names cached images).
            None => match item.origin.get(Origin::IMAGE_URL) {
                Some(url) => (url.to_string(), file_extension(url, ".png").to_string()),
                None => (String::new(), ".png".to_string()),
            },
        }
    }

    /// The item's bitmap with object ids `ids` (by segment, index 0
    /// unused) in `files`, and its label attributes: annotations in id
    /// order (as the reader orders segments, so a release written twice is
    /// the same bytes), with track ids in sequences.
    fn label_of(
        &self,
        item: &Item,
        map: &LabelMap,
        ids: &[u32],
        files: &mut Vec<OutputFile>,
    ) -> Value {
        let palette: Vec<[u8; 4]> = ids
            .iter()
            .map(|&id| {
                let [r, g, b] = rgb_of_id(id);
                [r, g, b, 255]
            })
            .collect();
        let (w, h) = (map.width(), map.height());
        let png = encode_png_rows(w, h, PngLayout::Rgba8, self.compression, |y, row| {
            paint_row(map.row(y), &palette, row)
        });
        let bitmap = format!("{BITMAP_DIR}{}.png", key_to_path(&item.key));
        files.push(OutputFile::new(bitmap.clone(), png));
        let mut by_id: Vec<(&Segment, u32)> = map
            .segments()
            .iter()
            .zip(ids[1..].iter().copied())
            .filter(|&(_, id)| id != 0)
            .collect();
        by_id.sort_by_key(|&(_, id)| id);
        let track = self.sequences.is_some();
        let annotations: Vec<Value> = by_id
            .into_iter()
            .map(|(segment, id)| {
                let mut annotation = Map::new();
                annotation.insert("id".into(), id.into());
                if track {
                    annotation.insert("track_id".into(), id.into());
                }
                annotation.insert("category_id".into(), segment.class.into());
                if track {
                    annotation.insert("is_keyframe".into(), true.into());
                }
                let attributes: Map<String, Value> = segment
                    .attributes
                    .iter()
                    .filter(|(k, v)| is_sdk_attribute(k, v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !attributes.is_empty() {
                    annotation.insert("attributes".into(), Value::Object(attributes));
                }
                Value::Object(annotation)
            })
            .collect();
        json!({
            "format_version": "0.1",
            "annotations": annotations,
            "segmentation_bitmap": {"url": self.url(&bitmap)},
        })
    }
}

/// The Segments.ai sample uuid the item came from, if it did.
fn source_uuid(item: &Item) -> Option<&str> {
    item.origin.get(Origin::SERVICE_ID)?.strip_prefix(SERVICE)
}

impl Writer for SegmentsWriter {
    fn capabilities(&self) -> Capabilities {
        INFO.capabilities
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        _out: &mut Diagnostics,
    ) -> Result<Encoded> {
        let mut files = Vec::new();
        let (image_url, extension) = self.image_of(item, image, &mut files);
        let label = map.map(|map| {
            let segments = map.segments();
            let ids = match (&self.sequences, segments.len() > MAX_ID as usize) {
                (Some(_), false) => {
                    sequences::track_ids(segments, |class| self.kinds[class as usize])
                }
                (None, false) => object_ids(segments),
                // Only the segments with pixels get ids (the planned
                // losses let at most MAX_ID of them through).
                (_, true) => map.number_segments_with_pixels(),
            };
            self.label_of(item, map, &ids, &mut files)
        });
        let subset = item.subset.clone().map(Value::from);
        let text = match &self.sequences {
            // A frame: what its sequence's sample takes from it, assembled by `finish`.
            Some(_) => serde_json::to_string(&json!({
                "uuid": source_uuid(item),
                "image": image_url,
                "subset": subset,
                "frame": label,
            }))
            .expect("JSON values serialise"),
            None => {
                if let Some(body) = &label {
                    files.push(OutputFile::new(
                        format!("{LABEL_DIR}{}.json", key_to_path(&item.key)),
                        pyjson::dumps_indented(body, 2) + "\n",
                    ));
                }
                let mut metadata = Map::new();
                if let Some(subset) = subset {
                    metadata.insert(SUBSET_KEY.into(), subset);
                }
                let label = match label {
                    Some(body) => json!({"label_status": "LABELED", "attributes": body}),
                    None => Value::Null,
                };
                let sample = json!({
                    "uuid": source_uuid(item).map_or_else(|| uuid_of(&item.key), String::from),
                    "name": format!("{}{extension}", item.key),
                    "metadata": metadata,
                    "attributes": {"image": {"url": image_url}},
                    "labels": {DEFAULT_LABELSET: label},
                });
                pyjson::dumps_indented_at(&sample, 2, SAMPLE_DEPTH)
            }
        };
        Ok(Encoded {
            files,
            record: Record {
                text,
                ..Record::default()
            },
        })
    }

    fn finish(&self, written: &Written, sink: &mut dyn Sink, _out: &mut Diagnostics) -> Result<()> {
        let (head, tail) = self.release_around_samples();
        let indent = " ".repeat(2 * SAMPLE_DEPTH);
        sink.write_stream(RELEASE, &mut |file: &mut dyn Write| {
            file.write_all(head.as_bytes())?;
            file.write_all(b"[")?;
            let mut first = true;
            let mut sample = |file: &mut dyn Write, text: &str| -> std::io::Result<()> {
                if !first {
                    file.write_all(b",")?;
                }
                first = false;
                write!(file, "\n{indent}")?;
                file.write_all(text.as_bytes())
            };
            match &self.sequences {
                None => {
                    for record in written.records() {
                        sample(file, &record?.1.text)?;
                    }
                }
                Some(plan) => {
                    let mut records = written.indexed_records().peekable();
                    for sequence in plan {
                        let frames = sequences::frames(sequence, &mut records)?;
                        let (whole, _) = sequences::sample(sequence, frames);
                        sample(file, &pyjson::dumps_indented_at(&whole, 2, SAMPLE_DEPTH))?;
                    }
                }
            }
            if !written.is_empty() {
                write!(file, "\n{}", &indent[2..])?;
            }
            file.write_all(b"]")?;
            file.write_all(tail.as_bytes())
        })?;
        // Each sequence's label, for client.add_label: a second pass over
        // the records, as the sink takes one file at a time.
        if let Some(plan) = &self.sequences {
            let mut records = written.indexed_records().peekable();
            for sequence in plan {
                let frames = sequences::frames(sequence, &mut records)
                    .map_err(|e| crate::error::Error::output(RELEASE, e.to_string()))?;
                if let (_, Some(label)) = sequences::sample(sequence, frames) {
                    let path = format!("{LABEL_DIR}{}.json", key_to_path(&sequence.key));
                    sink.write_file(&path, (pyjson::dumps_indented(&label, 2) + "\n").as_bytes())?;
                }
            }
        }
        Ok(())
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

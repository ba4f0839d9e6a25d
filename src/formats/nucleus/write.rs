//! Writing: one 8-bit grayscale index mask per item and one NDJSON line per
//! item, byte-identical to the SDK's `SegmentationAnnotation.to_json()`.

use super::{ANNOTATIONS, BACKGROUND, INFO, INSTANCE_KEY, MASK_DIR, MAX_SEGMENTS};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::{Error, Result};
use crate::formats::mask_url::output_url;
use crate::formats::{Dataset, OutputFile, WriteOptions, Writer};
use crate::model::{ClassKind, Item, LabelMap};
use crate::remap::paint_row_marking;
use crate::report::Note;
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes Nucleus segmentation annotations.
pub(super) struct NucleusWriter {
    compression: Compression,
    /// Prefix of every `mask_url`, ending in `/` (`None`: relative paths).
    url_prefix: Option<String>,
    /// One mask value per class (its id) instead of one per segment.
    semantic: bool,
    /// Class names by class id (index 0 unused).
    class_names: Vec<String>,
    /// Per class id: listed by some written annotation.
    listed: Vec<AtomicBool>,
    /// The NDJSON line of every encoded item, by key, until `finish`.
    lines: Mutex<HashMap<String, String>>,
}

impl NucleusWriter {
    pub(super) fn new(options: &WriteOptions) -> Self {
        NucleusWriter {
            compression: options.compression,
            url_prefix: options.url_folder(),
            semantic: options.semantic,
            class_names: Vec::new(),
            listed: Vec::new(),
            lines: Mutex::new(HashMap::new()),
        }
    }

    /// The segments list and the per-segment-id mask values of `map`.
    fn segment_values(&self, item: &Item, map: &LabelMap) -> Result<Vec<[u8; 1]>> {
        let segments = map.segments();
        if self.semantic {
            return Ok(std::iter::once([0])
                .chain(segments.iter().map(|s| [s.class as u8]))
                .collect());
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(Error::input(
                format!("item '{}'", item.key),
                format!(
                    "has {} segments but a Nucleus mask holds at most {MAX_SEGMENTS} (values 1..255; 0 is unlabeled) (loss 'too-many-segments'); --keep-going skips such items, --semantic writes one value per class",
                    segments.len()
                ),
            )
            .in_format(INFO.name));
        }
        Ok((0..=segments.len()).map(|i| [i as u8]).collect())
    }

    /// One Segment `{label, index, metadata?}` as the SDK's `to_payload` orders it.
    fn segment_json(&self, label: &str, index: u8, metadata: Map<String, Value>) -> Value {
        let mut segment = Map::new();
        segment.insert("label".into(), label.into());
        segment.insert("index".into(), index.into());
        if !metadata.is_empty() {
            segment.insert("metadata".into(), Value::Object(metadata));
        }
        Value::Object(segment)
    }
}

impl Writer for NucleusWriter {
    fn begin(
        &mut self,
        dataset: &Dataset,
        losses: &mut Vec<Note>,
        _warnings: &mut Vec<Note>,
    ) -> Result<Vec<OutputFile>> {
        let catalog = &dataset.catalog;
        if self.url_prefix.as_deref() == Some("/") {
            return Err(Error::usage(
                "--url-prefix is empty; give the URL (or folder) OUTPUT will be uploaded to",
            ));
        }
        if let Some((_, class)) = catalog.iter().find(|(_, c)| c.name == BACKGROUND) {
            return Err(Error::input(
                format!("class '{}'", class.name),
                "cannot be written: Nucleus reads the label 'background' as unlabeled; rename the class in the source",
            )
            .in_format(INFO.name));
        }
        if self.semantic && catalog.len() > MAX_SEGMENTS {
            return Err(Error::input(
                dataset.format.name,
                format!(
                    "has {} classes but --semantic gives each class one 8-bit mask value (1..{MAX_SEGMENTS}); write without --semantic to number segments per image",
                    catalog.len()
                ),
            )
            .in_format(INFO.name));
        }
        let has_things = catalog.iter().any(|(_, c)| c.kind == ClassKind::Thing);
        if self.semantic && has_things && dataset.format.holds.instances {
            losses.push(Note::new(
                "instances-merged",
                "nucleus --semantic writes one mask value per class: the instances of each class are merged into one region",
            ));
        }
        for (_, class) in catalog.iter() {
            for key in class.attributes.keys() {
                losses.push(Note::new(
                    "class-attributes",
                    format!(
                        "class '{}': attribute '{key}' is dropped (Nucleus has no class table)",
                        class.name
                    ),
                ));
            }
        }
        self.class_names = std::iter::once(String::new())
            .chain(catalog.classes().iter().map(|c| c.name.clone()))
            .collect();
        self.listed = (0..=catalog.len())
            .map(|_| AtomicBool::new(false))
            .collect();
        Ok(Vec::new())
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        _image: Option<&[u8]>,
        losses: &mut Vec<Note>,
    ) -> Result<Option<Vec<OutputFile>>> {
        let Some(map) = map else {
            losses.push(Note::new(
                "item-without-mask",
                format!(
                    "item '{}' has no mask, and a Nucleus annotation needs one: it is not written",
                    item.key
                ),
            ));
            return Ok(None);
        };
        let values = self.segment_values(item, map)?;
        let segments = map.segments();
        let mut present = vec![false; segments.len() + 1];
        let (w, h) = (map.width(), map.height());
        let png = encode_png_rows(w, h, PngLayout::Gray8, self.compression, |y, row| {
            paint_row_marking(map.row(y), &values, row, &mut present);
        });

        let mut annotations = Vec::new();
        if present[0] {
            annotations.push(self.segment_json(BACKGROUND, 0, Map::new()));
        }
        if self.semantic {
            let classes: BTreeSet<u32> = segments
                .iter()
                .zip(&present[1..])
                .filter(|(_, shown)| **shown)
                .map(|(s, _)| s.class)
                .collect();
            for class in classes {
                self.listed[class as usize].store(true, Ordering::Relaxed);
                let name = &self.class_names[class as usize];
                annotations.push(self.segment_json(name, class as u8, Map::new()));
            }
            if segments.iter().any(|s| !s.attributes.is_empty()) {
                losses.push(Note::new(
                    "segment-attributes",
                    format!(
                        "item '{}': nucleus --semantic merges segments, so their attributes are dropped",
                        item.key
                    ),
                ));
            }
        } else {
            for (i, segment) in segments.iter().enumerate() {
                self.listed[segment.class as usize].store(true, Ordering::Relaxed);
                let mut metadata = segment.attributes.clone();
                if let Some(instance) = segment.instance {
                    if metadata.contains_key(INSTANCE_KEY) {
                        losses.push(Note::new(
                            "segment-attributes",
                            format!(
                                "item '{}': attribute '{INSTANCE_KEY}' is replaced by the segment's instance number",
                                item.key
                            ),
                        ));
                    }
                    metadata.insert(INSTANCE_KEY.into(), instance.into());
                }
                let name = &self.class_names[segment.class as usize];
                annotations.push(self.segment_json(name, values[i + 1][0], metadata));
            }
        }

        let path = format!("{MASK_DIR}{}.png", item.key);
        let mask_url = output_url(self.url_prefix.as_deref(), &path);
        let line = json!({
            "type": "mask",
            "mask_url": mask_url,
            "annotations": annotations,
            "annotation_id": null,
            "reference_id": item.key,
        });
        self.lines
            .lock()
            .expect("no writer thread panicked")
            .insert(item.key.clone(), crate::pyjson::dumps(&line));
        Ok(Some(vec![OutputFile::new(path, png)]))
    }

    fn finish(&self, written: &[&Item], losses: &mut Vec<Note>) -> Result<Vec<OutputFile>> {
        let lines = self.lines.lock().expect("no writer thread panicked");
        let mut text = String::new();
        for item in written {
            if let Some(line) = lines.get(&item.key) {
                text.push_str(line);
                text.push('\n');
            }
        }
        for (id, listed) in self.listed.iter().enumerate().skip(1) {
            if !listed.load(Ordering::Relaxed) {
                losses.push(Note::new(
                    "class-unlisted",
                    format!(
                        "class '{}' is in no written annotation; Nucleus has no class table, so it is not kept",
                        self.class_names[id]
                    ),
                ));
            }
        }
        Ok(vec![OutputFile::new(ANNOTATIONS, text)])
    }
}

//! Writing: one 8-bit grayscale index mask per item and one NDJSON line per
//! item, byte-identical to the SDK's `SegmentationAnnotation.to_json()`; the
//! lines wait in item order and are streamed into `annotations.ndjson` last.

use super::{ANNOTATIONS, BACKGROUND, INFO, INSTANCE_KEY, MASK_DIR, MAX_SEGMENTS, SEMANTIC};
use crate::codec::{Compression, PngLayout, encode_png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, Encoded, OutputFile, Record, Writer, Written};
use crate::formats::mask_url::{output_url, url_folder};
use crate::formats::options::FormatOptions;
use crate::io::Sink;
use crate::losses::{Capabilities, Diagnostics, Keeps, LossCode};
use crate::model::{Catalog, ClassId, Item, LabelMap, key_to_path};
use crate::remap::paint_row_marking;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::io::Write;

/// Writes Nucleus segmentation annotations.
pub(super) struct NucleusWriter<'a> {
    catalog: &'a Catalog,
    compression: Compression,
    /// Prefix of every `mask_url`, ending in `/` (`None`: relative paths).
    url_prefix: Option<String>,
    /// One mask value per class (its id) instead of one per segment.
    semantic: bool,
}

impl<'a> NucleusWriter<'a> {
    /// Checks what Nucleus cannot write at all: a class named `background`,
    /// and more than 255 classes under `--semantic`.
    pub(super) fn new(
        dataset: &'a Dataset,
        options: &FormatOptions,
        compression: Compression,
        _out: &mut Diagnostics,
    ) -> Result<Self> {
        let catalog = &dataset.catalog;
        let url_prefix = url_folder(options)?;
        let semantic = options.flag(SEMANTIC.name);
        if let Some((_, class)) = catalog.iter().find(|(_, c)| c.name == BACKGROUND) {
            return Err(Error::input(
                format!("class '{}'", class.name),
                "cannot be written: Nucleus reads the label 'background' as unlabeled; rename the class in the source",
            ));
        }
        if semantic && catalog.len() > MAX_SEGMENTS {
            return Err(Error::input(
                dataset.format.name,
                format!(
                    "has {} classes but --semantic gives each class one 8-bit mask value (1..{MAX_SEGMENTS}); write without --semantic to number segments per image",
                    catalog.len()
                ),
            ));
        }
        Ok(NucleusWriter {
            catalog,
            compression,
            url_prefix,
            semantic,
        })
    }

    /// The mask value of every segment id (index 0: unlabeled, 0). Per
    /// image, segments get 1..N; when they are more than 255, only those
    /// with pixels are numbered (the planned losses let at most 255 through).
    fn segment_values(&self, map: &LabelMap) -> Vec<[u8; 1]> {
        let segments = map.segments();
        if self.semantic {
            return std::iter::once([0])
                .chain(segments.iter().map(|s| [s.class as u8]))
                .collect();
        }
        if segments.len() <= MAX_SEGMENTS {
            return (0..=segments.len()).map(|i| [i as u8]).collect();
        }
        map.number_segments_with_pixels()
            .into_iter()
            .map(|n| [n as u8])
            .collect()
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

impl Writer for NucleusWriter<'_> {
    fn capabilities(&self) -> Capabilities {
        match self.semantic {
            false => INFO.capabilities,
            true => Capabilities {
                instances: false,
                max_segments: None,
                segment_attributes: Keeps::Nothing,
                ..INFO.capabilities
            },
        }
    }

    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        _image: Option<&[u8]>,
        out: &mut Diagnostics,
    ) -> Result<Encoded> {
        let map = map.expect("Nucleus capabilities hold no item without mask");
        let values = self.segment_values(map);
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
        let mut listed: BTreeSet<ClassId> = BTreeSet::new();
        if self.semantic {
            let classes: BTreeSet<u32> = segments
                .iter()
                .zip(&present[1..])
                .filter(|(_, shown)| **shown)
                .map(|(s, _)| s.class)
                .collect();
            for class in classes {
                listed.insert(class);
                let name = &self.catalog.get(class).name;
                annotations.push(self.segment_json(name, class as u8, Map::new()));
            }
        } else {
            for (i, segment) in segments.iter().enumerate() {
                let value = values[i + 1][0];
                if value == 0 {
                    continue; // not numbered: no pixels among too many segments
                }
                listed.insert(segment.class);
                let mut metadata = segment.attributes.clone();
                if let Some(instance) = segment.instance {
                    if metadata.contains_key(INSTANCE_KEY) {
                        out.loss(
                            LossCode::SegmentAttributes,
                            format!(
                                "item '{}': attribute '{INSTANCE_KEY}' is replaced by the segment's instance number",
                                item.key
                            ),
                        );
                    }
                    metadata.insert(INSTANCE_KEY.into(), instance.into());
                }
                let name = &self.catalog.get(segment.class).name;
                annotations.push(self.segment_json(name, value, metadata));
            }
        }

        let path = format!("{MASK_DIR}{}.png", key_to_path(&item.key));
        let mask_url = output_url(self.url_prefix.as_deref(), &path);
        let line = json!({
            "type": "mask",
            "mask_url": mask_url,
            "annotations": annotations,
            "annotation_id": null,
            "reference_id": item.key,
        });
        Ok(Encoded {
            files: vec![OutputFile::new(path, png)],
            record: Record {
                text: crate::pyjson::dumps(&line),
                classes: listed.into_iter().collect(),
            },
        })
    }

    fn finish(&self, written: &Written, sink: &mut dyn Sink, out: &mut Diagnostics) -> Result<()> {
        let mut listed = vec![false; self.catalog.len() + 1];
        sink.write_stream(ANNOTATIONS, &mut |file: &mut dyn Write| {
            for record in written.records() {
                let (_, record) = record?;
                file.write_all(record.text.as_bytes())?;
                file.write_all(b"\n")?;
                for class in record.classes {
                    listed[class as usize] = true;
                }
            }
            Ok(())
        })?;
        for (id, class) in self.catalog.iter() {
            if !listed[id as usize] {
                out.loss(
                    LossCode::ClassUnlisted,
                    format!(
                        "class '{}' is in no written annotation; Nucleus has no class table, so it is not kept",
                        class.name
                    ),
                );
            }
        }
        Ok(())
    }
}

//! Reading: each annotation file streamed (its `images` and `annotations`
//! one element at a time, whatever their order), the categories resolved
//! once the file is read, and each PNG decoded against its listed segments.

use super::decode::{ImagePlace, PanopticDecoder};
use super::{FILE_PREFIX, INFO, MAX_SEGMENT_ID, SEGMENT_KEYS};
use crate::error::{Error, Result};
use crate::formats::api::Dataset;
use crate::formats::coco_shared::{
    ANNOTATIONS_DIR, AnnotationFile, DEFAULT_SUBSET, ISCROWD, ImageEntry, category_warnings,
    check_inside, classes_of, id_text, promote_stuff_with_instances, read_annotation_files,
    stream_annotation_file,
};
use crate::io::Source;
use crate::model::{
    Attributes, Catalog, ClassKind, FileRef, Item, ListedSegments, MaskRef, Origin,
};
use crate::report::Warning;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Reads every annotation file of `source`.
pub(super) fn open(source: Arc<dyn Source>) -> Result<Dataset> {
    let mut reading = Reading::default();
    let read = read_annotation_files(&*source, FILE_PREFIX, INFO.name, &mut |index, file| {
        reading.file = index;
        reading.read_file(&*source, file)
    })?;
    let (displays, categories) = (read.displays, read.categories);
    let display = &displays[0];
    let catalog = reading.resolve(display, &displays, &categories)?;
    let decoder = PanopticDecoder {
        files: displays,
        places: reading.places,
    };
    Dataset::new(
        &INFO,
        source,
        catalog,
        reading.items,
        reading.warnings,
        Box::new(decoder),
    )
}

/// What the files read so far hold.
#[derive(Default)]
struct Reading {
    items: Vec<Item>,
    /// Per item (a mask's recipe is its item's index): where it is listed.
    places: Vec<ImagePlace>,
    /// The file being read: its index in the list of annotation files.
    file: u32,
    /// Category ids met in segments, numbered 1.. in order of first
    /// appearance (what listed entries hold until the catalog is known).
    provisional: HashMap<i64, u32>,
    /// Per provisional number: where it was first met (and the segment's
    /// id), for messages: 16 bytes, not a message, per category id.
    first_use: Vec<(SegmentPlace, u32)>,
    warnings: Vec<Warning>,
}

/// Where an image id of one file is: its item, and whether `images` listed it.
struct Seen {
    item: usize,
    listed_image: bool,
    annotated: bool,
}

impl Reading {
    /// Streams one annotation file into items; returns its categories.
    fn read_file(&mut self, source: &dyn Source, file: &AnnotationFile) -> Result<Vec<Value>> {
        let display = source.display(file.path);
        let subset = (file.subset != DEFAULT_SUBSET).then(|| file.subset.to_string());
        let png_dir = format!(
            "{}{ANNOTATIONS_DIR}{FILE_PREFIX}{}/",
            file.root, file.subset
        );
        let mut by_image: HashMap<String, Seen> = HashMap::new();
        let mut each = |array: usize, index: usize, value: Value| match array {
            0 => self.image(&value, index, file, &subset, &mut by_image, source),
            _ => self.annotation(&value, index, &png_dir, &subset, &mut by_image, source),
        };
        let mut root =
            stream_annotation_file(source, file.path, "a COCO panoptic file", &mut each)?;
        if let Some((id, _)) = by_image
            .iter()
            .find(|(_, seen)| seen.annotated && !seen.listed_image)
        {
            return Err(Error::input(
                &display,
                format!("an annotation names image_id {id}, which 'images' does not list"),
            ));
        }
        match root.remove("categories") {
            Some(Value::Array(categories)) => Ok(categories),
            _ => unreachable!("checked by stream_annotation_file"),
        }
    }

    /// The item of image id `id` in this file, made when first met.
    fn item_of<'a>(&mut self, id: &str, by_image: &'a mut HashMap<String, Seen>) -> &'a mut Seen {
        let (items, places, file) = (&mut self.items, &mut self.places, self.file);
        by_image.entry(id.to_string()).or_insert_with(|| {
            let mut item = Item::new(String::new());
            item.origin.set(Origin::IMAGE_ID, id);
            items.push(item);
            places.push(ImagePlace { file, size: None });
            Seen {
                item: items.len() - 1,
                listed_image: false,
                annotated: false,
            }
        })
    }

    /// One element of `images`: the item's key (until an annotation names
    /// its PNG) and its source image, when the input has it.
    fn image(
        &mut self,
        value: &Value,
        index: usize,
        file: &AnnotationFile,
        subset: &Option<String>,
        by_image: &mut HashMap<String, Seen>,
        source: &dyn Source,
    ) -> std::result::Result<(), String> {
        let entry = ImageEntry::parse(value, index)?;
        let seen = self.item_of(&entry.id, by_image);
        if seen.listed_image {
            return Err(format!(
                "images[{index}]: image id {} is listed twice",
                entry.id
            ));
        }
        seen.listed_image = true;
        let at = seen.item;
        let item = &mut self.items[at];
        item.subset.clone_from(subset);
        item.key = entry.key();
        item.image = entry.find_image(source, file);
        self.places[at].size = entry.size;
        Ok(())
    }

    /// One element of `annotations`: the item's mask, keyed by its PNG.
    fn annotation(
        &mut self,
        value: &Value,
        index: usize,
        png_dir: &str,
        subset: &Option<String>,
        by_image: &mut HashMap<String, Seen>,
        source: &dyn Source,
    ) -> std::result::Result<(), String> {
        let place = format!("annotations[{index}]");
        let id = id_text(value.get("image_id"))
            .ok_or_else(|| format!("{place} has no integer or text 'image_id'"))?;
        let png = value
            .get("file_name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("{place} (image {id}) has no 'file_name'"))?;
        let segments = value
            .get("segments_info")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{place} (image {id}) has no 'segments_info' array"))?;
        check_inside(png).map_err(|what| format!("{place} (image {id}): {what}"))?;
        let mut values = Vec::with_capacity(segments.len());
        for (s, segment) in segments.iter().enumerate() {
            let at = SegmentPlace {
                file: self.file,
                annotation: index as u32,
                segment: s as u32,
            };
            values.push(
                self.segment(segment, at)
                    .map_err(|what| format!("image {id}: {at}{what}"))?,
            );
        }
        let listed = ListedSegments::in_listed_order(values)
            .map_err(|twice| format!("{place} (image {id}) lists segment id {twice} twice"))?;
        let seen = self.item_of(&id, by_image);
        if seen.annotated {
            return Err(format!("{place}: image id {id} has a second annotation"));
        }
        seen.annotated = true;
        let at = seen.item;
        let item = &mut self.items[at];
        item.subset.clone_from(subset);
        let path = format!("{png_dir}{png}");
        item.mask = Some(MaskRef {
            files: vec![FileRef::in_input(source.files(), path)],
            listed,
            recipe: at as u32,
        });
        Ok(())
    }

    /// One entry of `segments_info`: `(segment id, provisional category,
    /// instance 0 until kinds are known, attributes)`. The error follows
    /// the entry's place.
    fn segment(
        &mut self,
        segment: &Value,
        at: SegmentPlace,
    ) -> std::result::Result<(u32, u32, u32, Attributes), String> {
        let Some(fields) = segment.as_object() else {
            return Err(" is not an object".into());
        };
        let id = fields
            .get("id")
            .and_then(Value::as_u64)
            .filter(|&id| (1..=u64::from(MAX_SEGMENT_ID)).contains(&id))
            .ok_or_else(|| format!(" has no segment 'id' in 1..{MAX_SEGMENT_ID} (an 8-bit RGB PNG holds 24-bit ids)"))?;
        let category = fields
            .get("category_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| format!(" (segment {id}) has no integer 'category_id'"))?;
        // Category 0 is Datumaro's "no label": unlabeled pixels.
        let class = match category {
            0 => 0,
            _ => {
                let next = self.provisional.len() as u32 + 1;
                let class = *self.provisional.entry(category).or_insert(next);
                if class == next {
                    self.first_use.push((at, id as u32));
                }
                class
            }
        };
        let mut attributes = Map::new();
        for (key, value) in fields {
            match key.as_str() {
                ISCROWD if value.as_u64() == Some(0) => {}
                k if SEGMENT_KEYS.contains(&k) => {}
                _ => {
                    attributes.insert(key.clone(), value.clone());
                }
            }
        }
        Ok((id as u32, class, 0, attributes))
    }
}

/// Where an entry of `segments_info` is: its file, annotation and place.
#[derive(Debug, Clone, Copy)]
struct SegmentPlace {
    file: u32,
    annotation: u32,
    segment: u32,
}

impl std::fmt::Display for SegmentPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "annotations[{}].segments_info[{}]",
            self.annotation, self.segment
        )
    }
}

impl Reading {
    /// The catalog from `categories` (in file order), and every listed
    /// segment's class and instance (a thing's instance is its segment id).
    fn resolve(
        &mut self,
        display: &str,
        files: &[String],
        categories: &[Value],
    ) -> Result<Catalog> {
        let (mut classes, by_id) =
            classes_of(categories).map_err(|what| Error::input(display, what))?;
        let mut class_of_provisional = vec![0u32; self.provisional.len() + 1];
        for (&category, &provisional) in &self.provisional {
            let Some(&class) = by_id.get(&category) else {
                let (at, segment) = self.first_use[provisional as usize - 1];
                return Err(Error::input(
                    &files[at.file as usize],
                    format!(
                        "{at} (segment {segment}) has category_id {category}, which 'categories' does not list"
                    ),
                ));
            };
            class_of_provisional[provisional as usize] = class;
        }
        let promoted =
            promote_stuff_with_instances(&self.items, &class_of_provisional, &mut classes);
        let catalog = Catalog::new(classes).map_err(|what| Error::input(display, what))?;
        self.warnings.extend(category_warnings(
            display, &catalog, &by_id, &promoted, "segments",
        ));
        for mask in self.items.iter_mut().filter_map(|i| i.mask.as_mut()) {
            for entry in mask
                .listed
                .entries_mut()
                .iter_mut()
                .filter(|e| e.class != 0)
            {
                entry.class = class_of_provisional[entry.class as usize];
                if catalog.get(entry.class).kind == ClassKind::Thing {
                    entry.instance = entry.value;
                }
            }
        }
        Ok(catalog)
    }
}

//! Reading: each annotation file streamed (its `images` and `annotations`
//! one element at a time, whatever their order), every annotation's
//! segmentation checked and stored as shapes until its item is decoded,
//! the categories resolved once the file is read.

use super::decode::{CocoDecoder, Place};
use super::{ANNOTATION_KEYS, FILE_PREFIX, INFO};
use crate::codec::{MAX_PIXELS, MAX_SIDE, within_limits};
use crate::error::{Error, Result};
use crate::formats::api::Dataset;
use crate::formats::coco_shared::{
    AnnotationFile, DEFAULT_SUBSET, ISCROWD, ImageEntry, category_warnings, classes_of, id_text,
    promote_stuff_with_instances, read_annotation_files, stream_annotation_file,
};
use crate::formats::shapes::{Shape, ShapeStore};
use crate::io::Source;
use crate::losses::{Loss, LossCode};
use crate::model::{Attributes, Catalog, ClassKind, Item, ListedSegments, MaskRef, Origin};
use crate::remap::rle::Rle;
use crate::report::Warning;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
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
    reading.make_masks(&displays)?;
    let catalog = reading.resolve(display, &displays, &categories)?;
    reading.shapes.finish()?;
    let decoder = CocoDecoder {
        files: displays,
        places: reading.places,
        shapes: reading.shapes,
    };
    let losses = reading.losses;
    Dataset::new(
        &INFO,
        source,
        catalog,
        reading.items,
        reading.warnings,
        Box::new(decoder),
    )
    .map(|dataset| dataset.with_losses(losses))
}

/// One annotation as listed, until its item's mask is made: `(value =
/// its index in the file's annotations, provisional class, annotation id
/// as instance number (0: none), attributes)`: 24 bytes, most annotations
/// having no attributes.
type Listing = (u32, u32, u32, Option<Box<Attributes>>);

/// What the files read so far hold.
#[derive(Default)]
struct Reading {
    items: Vec<Item>,
    /// Per item (a mask's recipe is its item's index): where it is listed.
    places: Vec<Place>,
    /// Per item: its annotations, in file order.
    listings: Vec<Vec<Listing>>,
    shapes: ShapeStore,
    /// The file being read: its index in the list of annotation files.
    file: u32,
    /// Category ids met in annotations, numbered 1.. in order of first
    /// appearance (what listings hold until the catalog is known).
    provisional: HashMap<i64, u32>,
    /// Per provisional number: where it was first met (file, annotation
    /// index, annotation id), for messages.
    first_use: Vec<(u32, u32, i64)>,
    warnings: Vec<Warning>,
    losses: Vec<Loss>,
}

/// Where an image id of one file is: its item, and whether `images` listed it.
struct Seen {
    item: usize,
    listed_image: bool,
}

/// What one file's annotations held that is worth a note.
#[derive(Default)]
struct Tally {
    /// Annotation ids met, to find repeats.
    ids: HashSet<i64>,
    /// Annotations whose id is below 1 or repeats: (count, first place).
    bad_ids: (u64, Option<String>),
    /// Annotations without segmentation: (count, first place).
    boxes_only: (u64, Option<String>),
}

impl Reading {
    /// Streams one annotation file into items; returns its categories.
    fn read_file(&mut self, source: &dyn Source, file: &AnnotationFile) -> Result<Vec<Value>> {
        let display = source.display(file.path);
        let subset = (file.subset != DEFAULT_SUBSET).then(|| file.subset.to_string());
        let mut by_image: HashMap<String, Seen> = HashMap::new();
        let mut tally = Tally::default();
        let mut each = |array: usize, index: usize, value: Value| match array {
            0 => self.image(&value, index, file, &subset, &mut by_image, source),
            _ => self.annotation(&value, index, &subset, &mut by_image, &mut tally),
        };
        let mut root =
            stream_annotation_file(source, file.path, "a COCO instances file", &mut each)?;
        if let Some((id, _)) = by_image.iter().find(|(_, seen)| !seen.listed_image) {
            return Err(Error::input(
                &display,
                format!("an annotation names image_id {id}, which 'images' does not list"),
            ));
        }
        if let (n, Some(first)) = tally.bad_ids {
            self.warnings.push(Warning::new(
                "annotation-ids",
                format!(
                    "{display}: {n} annotations have an id below 1 or one an earlier annotation has (first {first}); pycocotools' COCOeval then miscounts them, and maskconv writes new ids"
                ),
            ));
        }
        if let (n, Some(first)) = tally.boxes_only {
            self.losses.push(Loss::new(
                LossCode::BoxWithoutMask,
                format!(
                    "{display}: {n} annotations have no segmentation, only a box (first {first}); the model holds masks, so they are not kept"
                ),
            ));
        }
        match root.remove("categories") {
            Some(Value::Array(categories)) => Ok(categories),
            _ => unreachable!("checked by stream_annotation_file"),
        }
    }

    /// The item of image id `id` in this file, made when first met.
    fn item_of<'a>(&mut self, id: &str, by_image: &'a mut HashMap<String, Seen>) -> &'a mut Seen {
        let (items, places, listings, file) = (
            &mut self.items,
            &mut self.places,
            &mut self.listings,
            self.file,
        );
        by_image.entry(id.to_string()).or_insert_with(|| {
            let mut item = Item::new(String::new());
            item.origin.set(Origin::IMAGE_ID, id);
            items.push(item);
            places.push(Place {
                file,
                size: None,
                annotations: Vec::new(),
                rle_size: None,
            });
            listings.push(Vec::new());
            Seen {
                item: items.len() - 1,
                listed_image: false,
            }
        })
    }

    /// One element of `images`: the item's key, size and source image.
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
        // Datumaro writes 0 × 0 for an item without an image.
        let size = entry.size.filter(|&(w, h)| w > 0 || h > 0);
        if let Some((w, h)) = size.filter(|&(w, h)| !within_limits(w, h)) {
            return Err(format!(
                "images[{index}] (image {}) is {w}x{h}, beyond the limits of {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels",
                entry.id
            ));
        }
        self.places[at].size = size;
        Ok(())
    }

    /// One element of `annotations`: checked, its shapes stored, listed
    /// for its item.
    fn annotation(
        &mut self,
        value: &Value,
        index: usize,
        subset: &Option<String>,
        by_image: &mut HashMap<String, Seen>,
        tally: &mut Tally,
    ) -> std::result::Result<(), String> {
        let place = format!("annotations[{index}]");
        let fields = value
            .as_object()
            .ok_or_else(|| format!("{place} is not an object"))?;
        let id = fields
            .get("id")
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("{place} has no integer 'id'"))?;
        let at = format!("{place} (id {id})");
        let image = id_text(fields.get("image_id"))
            .ok_or_else(|| format!("{at} has no integer or text 'image_id'"))?;
        let category = fields
            .get("category_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("{at} has no integer 'category_id'"))?;
        let crowd = match fields.get(ISCROWD) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => match v.as_u64() {
                Some(0) => false,
                Some(1) => true,
                _ => return Err(format!("{at} has an 'iscrowd' that is not 0 or 1")),
            },
        };
        let shapes = segmentation(fields.get("segmentation"))
            .map_err(|what| format!("{at}: 'segmentation' {what}"))?;
        if id < 1 || !tally.ids.insert(id) {
            tally.bad_ids.0 += 1;
            tally.bad_ids.1.get_or_insert_with(|| at.clone());
        }
        let Some(shapes) = shapes else {
            tally.boxes_only.0 += 1;
            tally.boxes_only.1.get_or_insert(at);
            return Ok(());
        };
        let mut attributes = Map::new();
        if crowd {
            attributes.insert(ISCROWD.into(), 1.into());
        }
        for (key, value) in fields {
            if key != ISCROWD && !ANNOTATION_KEYS.contains(&key.as_str()) {
                attributes.insert(key.clone(), value.clone());
            }
        }
        // Category 0 is Datumaro's "no label": unlabeled pixels.
        let class = match category {
            0 => 0,
            _ => {
                let next = self.provisional.len() as u32 + 1;
                let class = *self.provisional.entry(category).or_insert(next);
                if class == next {
                    self.first_use.push((self.file, index as u32, id));
                }
                class
            }
        };
        let rle_size = shapes.iter().find_map(|shape| match shape {
            Shape::Rle(rle) => Some((rle.width, rle.height)),
            _ => None,
        });
        let value = index as u32;
        let stored: Vec<(u32, Shape)> = shapes.into_iter().map(|s| (value, s)).collect();
        let stored = self.shapes.push(&stored).map_err(|e| e.to_string())?;
        let instance = u32::try_from(id).unwrap_or(0);
        let item = self.item_of(&image, by_image).item;
        self.items[item].subset.clone_from(subset);
        let place = &mut self.places[item];
        place.annotations.push(stored);
        place.rle_size = place.rle_size.or(rle_size);
        let attributes = (!attributes.is_empty()).then(|| Box::new(attributes));
        self.listings[item].push((value, class, instance, attributes));
        Ok(())
    }

    /// Every item's mask: its listings (an image with a size and no
    /// annotation has an empty one; without a size, none).
    fn make_masks(&mut self, files: &[String]) -> Result<()> {
        let mut sized_by_rle: (u64, Option<String>) = (0, None);
        for (at, item) in self.items.iter_mut().enumerate() {
            let listing = std::mem::take(&mut self.listings[at]);
            let place = &mut self.places[at];
            if place.size.is_none() && !listing.is_empty() && place.rle_size.is_some() {
                place.size = place.rle_size;
                sized_by_rle.0 += 1;
                let image = item.origin.get(Origin::IMAGE_ID).unwrap_or("?");
                sized_by_rle.1.get_or_insert_with(|| {
                    format!("image {image} of {}", files[place.file as usize])
                });
            }
            if place.size.is_none() {
                if listing.is_empty() {
                    continue;
                }
                return Err(Error::input(
                    &files[place.file as usize],
                    format!(
                        "image {} has annotations but no 'width' and 'height'",
                        item.origin.get(Origin::IMAGE_ID).unwrap_or("?")
                    ),
                ));
            }
            let listing = listing
                .into_iter()
                .map(|(value, class, instance, attributes)| {
                    (
                        value,
                        class,
                        instance,
                        attributes.map(|a| *a).unwrap_or_default(),
                    )
                })
                .collect();
            let listed =
                ListedSegments::new(listing).expect("values are distinct annotation indices");
            item.mask = Some(MaskRef {
                files: Vec::new(),
                listed,
                recipe: at as u32,
            });
        }
        if let (n, Some(first)) = sized_by_rle {
            self.warnings.push(Warning::new(
                "image-size-from-rle",
                format!(
                    "{n} images have no width and height (first {first}; Datumaro writes 0 for an item without an image): their size is their RLE annotations' 'size'"
                ),
            ));
        }
        Ok(())
    }

    /// The catalog from `categories` (in file order), and every listed
    /// annotation's class (a stuff annotation has no instance number).
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
                let (file, index, id) = self.first_use[provisional as usize - 1];
                return Err(Error::input(
                    &files[file as usize],
                    format!(
                        "annotations[{index}] (id {id}) has category_id {category}, which 'categories' does not list"
                    ),
                ));
            };
            class_of_provisional[provisional as usize] = class;
        }
        let promoted =
            promote_stuff_with_instances(&self.items, &class_of_provisional, &mut classes);
        let catalog = Catalog::new(classes).map_err(|what| Error::input(display, what))?;
        self.warnings.extend(category_warnings(
            display,
            &catalog,
            &by_id,
            &promoted,
            "annotations",
        ));
        for mask in self.items.iter_mut().filter_map(|i| i.mask.as_mut()) {
            for entry in mask
                .listed
                .entries_mut()
                .iter_mut()
                .filter(|e| e.class != 0)
            {
                entry.class = class_of_provisional[entry.class as usize];
                if catalog.get(entry.class).kind == ClassKind::Stuff {
                    entry.instance = 0;
                }
            }
        }
        Ok(catalog)
    }
}

/// An annotation's `segmentation` as shapes (`None`: it has none); the
/// error follows "'segmentation' ".
fn segmentation(value: Option<&Value>) -> std::result::Result<Option<Vec<Shape>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(rings))
            if rings
                .iter()
                .all(|r| r.as_array().is_some_and(Vec::is_empty)) =>
        {
            Ok(None)
        }
        Some(Value::Array(rings)) => rings
            .iter()
            .enumerate()
            .map(|(j, ring)| polygon(ring).map_err(|what| format!("ring {j} {what}")))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Some),
        Some(Value::Object(rle)) => {
            let size: Option<Vec<u32>> = rle.get("size").and_then(Value::as_array).and_then(|s| {
                s.iter()
                    .map(|v| v.as_u64().and_then(|v| u32::try_from(v).ok()))
                    .collect()
            });
            let Some([height, width]) = size
                .as_deref()
                .map(<[u32]>::to_vec)
                .and_then(|s| <[u32; 2]>::try_from(s).ok())
            else {
                return Err("is an RLE without a 'size' [height, width]".into());
            };
            if !within_limits(width, height) {
                return Err(format!(
                    "is an RLE of size [{height}, {width}], beyond the limits of {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels"
                ));
            }
            let rle = match rle.get("counts") {
                Some(Value::String(text)) => Rle::from_coco_string(text, height, width),
                Some(Value::Array(counts)) => {
                    let counts: Option<Vec<u32>> = counts
                        .iter()
                        .map(|c| c.as_u64().and_then(|c| u32::try_from(c).ok()))
                        .collect();
                    let counts = counts.ok_or(
                        "is an RLE whose counts are not all integers in 0..2^32".to_string(),
                    )?;
                    Rle::checked(counts, height, width)
                }
                _ => Err("its 'counts' are neither a string nor a list".into()),
            };
            rle.map(|rle| Some(vec![Shape::Rle(rle)]))
                .map_err(|what| format!("is an RLE whose {what}"))
        }
        Some(_) => Err("is neither a list of polygons nor an RLE object".into()),
    }
}

/// One polygon ring `[x0, y0, x1, y1, …]`.
fn polygon(ring: &Value) -> std::result::Result<Shape, String> {
    let coordinates: Option<Vec<f64>> = ring.as_array().and_then(|r| {
        r.iter()
            .map(|c| c.as_f64().filter(|c| c.is_finite()))
            .collect()
    });
    let coordinates = coordinates.ok_or("is not a list of numbers")?;
    if coordinates.len() < 6 || coordinates.len() % 2 != 0 {
        return Err(format!(
            "has {} coordinates; a polygon has an even number of them, at least 6",
            coordinates.len()
        ));
    }
    Ok(Shape::Polygon(
        coordinates.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
    ))
}

//! Reading: the release's samples become the items (streamed, one at a
//! time; a sequence's frames are an item each), their annotations the
//! masks' listed segments, its categories the catalog. Bitmaps and vector
//! shapes are decoded in `decode`.

use super::decode::{MaskPlace, SegmentsDecoder};
use super::release::{
    self, Annotation, Category, Header, Label, Sample, VectorShape, sample_place,
};
use super::sequences::frame_key;
use super::{DEFAULT_LABELSET, IMAGE_SIZE, INFO, LABELSET, SERVICE, SUBSET_KEY};
use crate::error::{Error, Result};
use crate::formats::api::Dataset;
use crate::formats::common::{annotation_file, folder_of, top_files};
use crate::formats::mask_url::{mask_roots, resolve, resolve_for};
use crate::formats::options::FormatOptions;
use crate::formats::shapes::{Shape, ShapeStore};
use crate::io::Source;
use crate::losses::{Loss, LossCode};
use crate::model::{
    Catalog, Class, ClassId, ClassKind, Color, FileRef, Item, ListedSegments, MaskRef, Origin,
};
use crate::report::Warning;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What reading the samples found, beyond the items, for the notes.
#[derive(Default)]
struct Found {
    /// Images without mask, by why.
    without: BTreeMap<&'static str, usize>,
    /// Vector annotations without area, by type.
    without_area: BTreeMap<&'static str, usize>,
    /// Images whose URL is a relative path to no file of the input.
    missing_images: usize,
    /// Items whose label has no annotations (an empty mask where the task
    /// type is a vector one): the item's index, its mask's place, and the
    /// error when its size is unknown.
    unannotated: Vec<(usize, MaskPlace, Option<Error>)>,
}

/// Reads the release in `source`, a sample at a time.
pub(super) fn open(source: Arc<dyn Source>, options: &FormatOptions) -> Result<Dataset> {
    let roots = mask_roots(options)?;
    let image_size = options
        .value(IMAGE_SIZE.name)
        .map(super::parse_image_size)
        .transpose()
        .map_err(Error::usage)?;
    let path = annotation_file(
        &*source,
        &top_files(&*source, &[".json"]),
        release::looks_like_release,
        "Segments.ai release: expected a .json file at the top with dataset.task_attributes and dataset.samples",
    )?;
    let display = source.display(&path);
    let labelset = options.value(LABELSET.name).unwrap_or(DEFAULT_LABELSET);
    let base = folder_of(&path);

    let mut items: Vec<Item> = Vec::new();
    let mut places: Vec<MaskPlace> = Vec::new();
    let mut shapes = ShapeStore::default();
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut found = Found::default();
    // Category ids as met in annotations, numbered 1.. until the categories are read.
    let mut category_ids: Vec<u64> = Vec::new();
    let mut category_number: HashMap<u64, ClassId> = HashMap::new();
    let mut each = |sample: Sample| -> Result<()> {
        let place = sample_place(sample.index);
        let sample_key = key_of(&sample.name);
        for (f, frame) in sample.frames.iter().enumerate() {
            let key = match sample.sequence {
                true => frame_key(&sample_key, f, sample.frames.len()),
                false => sample_key.clone(),
            };
            if let Some(first) = keys.insert(key.clone(), sample.index) {
                return Err(Error::input(
                    &display,
                    format!(
                        "{place}: sample name '{}' gives item key '{key}', as {} does; keys are sample names without extension (and /frame for sequences)",
                        sample.name,
                        sample_place(first)
                    ),
                ));
            }
            let frame_place = match sample.sequence {
                true => format!("{place}.labels.{labelset}.attributes.frames[{f}]"),
                false => format!("{place}.labels.{labelset}"),
            };
            let mut item = Item::new(key);
            item.subset = match sample.metadata.get(SUBSET_KEY) {
                Some(Value::String(subset)) if !subset.is_empty() => Some(subset.clone()),
                _ => None,
            };
            item.image = image_in_input(&*source, frame.image_url.as_deref(), base);
            if item.image.is_none()
                && let Some(url) = &frame.image_url
            {
                // A relative path that is not in the input names nothing elsewhere.
                if url.contains("://") || url.starts_with('/') {
                    item.origin.set(Origin::IMAGE_URL, url.clone());
                } else {
                    found.missing_images += 1;
                }
            }
            if let Some(uuid) = &sample.uuid {
                item.origin
                    .set(Origin::SERVICE_ID, format!("{SERVICE}{uuid}"));
            }
            if sample.sequence {
                item.origin.set(Origin::SEQUENCE, sample_key.clone());
            }
            let mut number = |id: u64| {
                *category_number.entry(id).or_insert_with(|| {
                    category_ids.push(id);
                    category_ids.len() as ClassId
                })
            };
            let place = MaskPlace {
                sample: sample.index as u32,
                frame: sample.sequence.then_some(f as u32),
                shapes: None,
            };
            let needs_size = |item: &Item| match (&item.image, image_size) {
                (None, None) => Err(Error::input(
                    &display,
                    format!(
                        "{frame_place}: vector labels need the image's size, and its image {} is not in the input; give --image-size WIDTHxHEIGHT",
                        frame
                            .image_url
                            .as_deref()
                            .map_or("(none)".to_string(), |u| format!("'{u}'"))
                    ),
                )),
                _ => Ok(()),
            };
            match &frame.label {
                Label::Without(why) => {
                    *found.without.entry(why).or_default() += 1;
                    if *why == "no annotations" {
                        found
                            .unannotated
                            .push((items.len(), place, needs_size(&item).err()));
                    }
                }
                Label::Bitmap { url, annotations } => {
                    let bitmap = resolve_for(url, base, &*source, &roots, || {
                        format!("{display} {frame_place}")
                    })?;
                    item.mask = Some(MaskRef {
                        files: vec![bitmap],
                        listed: listed_of(annotations, &mut number),
                        recipe: places.len() as u32,
                    });
                    places.push(place);
                }
                Label::Vector { annotations } => {
                    needs_size(&item)?;
                    let mut drawn = Vec::with_capacity(annotations.len());
                    let mut with_area: Vec<&Annotation> = Vec::with_capacity(annotations.len());
                    for annotation in annotations {
                        let shape = match annotation
                            .shape
                            .as_ref()
                            .expect("vector annotations have shapes")
                        {
                            VectorShape::Polygon(points) => Shape::Polygon(points.clone()),
                            &VectorShape::Box(b) => Shape::Box(b),
                            VectorShape::WithoutArea(kind) => {
                                *found.without_area.entry(kind).or_default() += 1;
                                continue;
                            }
                        };
                        drawn.push((annotation.id, shape));
                        with_area.push(annotation);
                    }
                    let at = shapes.push(&drawn)?;
                    item.mask = Some(MaskRef {
                        files: Vec::new(),
                        listed: listed_of(with_area, &mut number),
                        recipe: places.len() as u32,
                    });
                    places.push(MaskPlace {
                        shapes: Some(at),
                        ..place
                    });
                }
            }
            items.push(item);
        }
        Ok(())
    };
    let mut header = None;
    let mut refused = None;
    source.read_with(&path, &mut |reader| {
        let (read, refusal) = release::parse_stream(reader, labelset, &mut each)
            .map_err(|what| Error::input(&display, what))?;
        (header, refused) = (Some(read), refusal);
        Ok(())
    })?;
    let Header {
        categories,
        task_type,
    } = header.expect("a release read");
    let (catalog, class_of) =
        catalog_of(&categories).map_err(|what| Error::input(&display, what))?;
    // The first problem in sample order: a sample refused while reading, or
    // an annotation of a category the release does not have.
    let classified = classify(&mut items, &places, &category_ids, &class_of);
    let stuff_tracks = match (refused, classified) {
        (Some((at, e)), Err((index, _))) if at <= index => return Err(e),
        (Some((_, e)), Ok(_)) => return Err(e),
        (_, Err((index, what))) => {
            let place = sample_place(index);
            let what = format!("{place}.labels.{labelset}: {what}");
            return Err(Error::input(&display, what));
        }
        (None, Ok(stuff_tracks)) => stuff_tracks,
    };
    let mut losses = Vec::new();
    if stuff_tracks > 0 {
        losses.push(Loss::new(
            LossCode::StuffTrackIds,
            format!(
                "{display}: {stuff_tracks} annotations of categories without instances have track ids in sequences, which are not kept (stuff has no instance); written sequences give them new ones"
            ),
        ));
    }
    if !found.without_area.is_empty() {
        let counts: Vec<String> = found
            .without_area
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        losses.push(Loss::new(
            LossCode::VectorWithoutArea,
            format!(
                "{display}: {} vector annotations cover no pixels and are not kept ({})",
                found.without_area.values().sum::<usize>(),
                counts.join(", ")
            ),
        ));
    }
    if task_type.as_deref().is_some_and(release::is_vector_task) {
        // An empty vector label is an image with nothing drawn on it.
        for (index, place, size_unknown) in std::mem::take(&mut found.unannotated) {
            if let Some(e) = size_unknown {
                return Err(e);
            }
            items[index].mask = Some(MaskRef {
                files: Vec::new(),
                listed: ListedSegments::default(),
                recipe: places.len() as u32,
            });
            let at = shapes.push(&[])?;
            places.push(MaskPlace {
                shapes: Some(at),
                ..place
            });
        }
        found.without.remove("no annotations");
    } else if let Some(n) = found.without.remove("no annotations") {
        // Not a vector task: a label without annotations has no bitmap.
        *found.without.entry("no bitmap").or_default() += n;
    }
    shapes.finish()?;
    let warnings = notes(&display, labelset, &found);
    let decoder = SegmentsDecoder::new(display, places, shapes, image_size);
    Dataset::new(&INFO, source, catalog, items, warnings, Box::new(decoder))
        .map(|dataset| dataset.with_losses(losses))
}

/// The listed segments of one image's annotations: object id → category
/// (numbered by `number` until the categories are read), instance (the
/// track id in sequences, else the object id), attributes.
fn listed_of<'a>(
    annotations: impl IntoIterator<Item = &'a Annotation>,
    number: &mut impl FnMut(u64) -> ClassId,
) -> ListedSegments {
    let values = annotations
        .into_iter()
        .map(|a| {
            (
                a.id,
                number(a.category_id),
                a.track_id.unwrap_or(a.id),
                a.attributes.clone(),
            )
        })
        .collect();
    ListedSegments::new(values).expect("ids are checked unique")
}

/// The warnings of reading: images without mask, image URLs to no file.
fn notes(display: &str, labelset: &str, found: &Found) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if !found.without.is_empty() {
        let counts: Vec<String> = found
            .without
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        let n = found.without.values().sum::<usize>();
        let images = if n == 1 { "image has" } else { "images have" };
        warnings.push(Warning::new(
            "samples-without-label",
            format!(
                "{display}: {n} {images} no mask in labelset '{labelset}' ({}); they are items without mask",
                counts.join(", ")
            ),
        ));
    }
    if found.missing_images > 0 {
        warnings.push(Warning::new(
            "image-not-found",
            format!(
                "{display}: {} image URLs are relative paths to files not in the input; they are not kept",
                found.missing_images
            ),
        ));
    }
    warnings
}

/// Each category id's class and kind.
type ClassOf = HashMap<u64, (ClassId, ClassKind)>;

/// The catalog (one class per category, in their order) and each category
/// id's class and kind.
fn catalog_of(categories: &[Category]) -> std::result::Result<(Catalog, ClassOf), String> {
    let mut class_of = ClassOf::new();
    let mut classes = Vec::with_capacity(categories.len());
    for category in categories {
        let kind = match category.has_instances {
            true => ClassKind::Thing,
            false => ClassKind::Stuff,
        };
        let mut class = Class::new(category.name.clone(), kind);
        class.color = category.color.map(Color::Rgb8);
        class.attributes = category.extra.clone();
        classes.push(class);
        if class_of
            .insert(category.id, (classes.len() as ClassId, kind))
            .is_some()
        {
            return Err(format!("two categories have id {}", category.id));
        }
    }
    Ok((Catalog::new(classes)?, class_of))
}

/// Gives the listed segments their classes, now that the categories are
/// known: a thing's instance is its object (or track) id; stuff has none.
/// Returns how many stuff annotations of sequences lost a track id; the
/// error is the sample index and what is wrong.
fn classify(
    items: &mut [Item],
    places: &[MaskPlace],
    category_ids: &[u64],
    class_of: &ClassOf,
) -> std::result::Result<usize, (usize, String)> {
    let mut stuff_tracks = 0;
    for mask in items.iter_mut().filter_map(|item| item.mask.as_mut()) {
        let place = places[mask.recipe as usize];
        for entry in mask.listed.entries_mut() {
            let category = category_ids[entry.class as usize - 1];
            let &(class, kind) = class_of.get(&category).ok_or_else(|| {
                let what = format!(
                    "annotation id {} has category_id {category}, which is not a category of the release",
                    entry.value
                );
                (place.sample as usize, what)
            })?;
            entry.class = class;
            if kind == ClassKind::Stuff {
                stuff_tracks += usize::from(place.frame.is_some());
                entry.instance = 0;
            }
        }
    }
    Ok(stuff_tracks)
}

/// The item key of a sample: its name without the extension (as the SDK's
/// `splitext`), keeping folders.
fn key_of(name: &str) -> String {
    let file_start = name.rfind('/').map_or(0, |slash| slash + 1);
    match name[file_start..].rfind('.') {
        Some(dot) if dot > 0 => name[..file_start + dot].to_string(),
        _ => name.to_string(),
    }
}

/// An image as a file of the input, when its URL names one.
fn image_in_input(source: &dyn Source, url: Option<&str>, base: &str) -> Option<String> {
    let url = url?;
    match resolve(url, base, source, &[]) {
        Ok(FileRef::Input(path)) if source.contains(&path) => Some(path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_drop_the_extension_and_keep_folders() {
        assert_eq!(key_of("img1.jpg"), "img1");
        assert_eq!(key_of("a/b.c/img.png"), "a/b.c/img");
        assert_eq!(key_of("noext"), "noext");
        assert_eq!(key_of(".hidden"), ".hidden");
        assert_eq!(key_of("x.tar.gz"), "x.tar");
    }
}

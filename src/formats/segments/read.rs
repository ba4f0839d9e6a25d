//! Reading: the release's samples become the items (streamed, one at a
//! time), their annotations the masks' listed segments, its categories the
//! catalog; each bitmap's object ids are decoded to those segments.

use super::release::{self, Category, Label, Sample, sample_place};
use super::{DEFAULT_LABELSET, INFO, LABELSET, SERVICE, SUBSET_KEY};
use crate::codec::{Palette, RowSource, png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, ItemDecoder};
use crate::formats::common::{annotation_file, folder_of, read_mask_file, top_files};
use crate::formats::mask_url::{mask_roots, resolve, resolve_for};
use crate::formats::options::FormatOptions;
use crate::io::Source;
use crate::losses::Diagnostics;
use crate::model::{
    Catalog, Class, ClassId, ClassKind, Color, FileRef, Item, LabelMap, ListedSegments, MaskRef,
    Origin, check_key,
};
use crate::remap::{id_of_rgb, label_pixels, rgb8_of_pixel_key};
use crate::report::Warning;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Reads the release in `source`, a sample at a time.
pub(super) fn open(source: Arc<dyn Source>, options: &FormatOptions) -> Result<Dataset> {
    let roots = mask_roots(options)?;
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
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut without: BTreeMap<&str, usize> = BTreeMap::new();
    let mut missing_images = 0usize;
    // Category ids as met in annotations, numbered 1.. until the categories are read.
    let mut category_ids: Vec<u64> = Vec::new();
    let mut category_number: HashMap<u64, ClassId> = HashMap::new();
    let mut each = |sample: Sample| -> Result<()> {
        let place = sample_place(sample.index);
        let key = key_of(&sample.name);
        if let Some(first) = keys.insert(key.clone(), sample.index) {
            return Err(Error::input(
                &display,
                format!(
                    "{place}: sample name '{}' gives item key '{key}', as {} does; keys are sample names without extension",
                    sample.name,
                    sample_place(first)
                ),
            ));
        }
        check_key(&key).map_err(|what| {
            Error::input(
                &display,
                format!("{place}: sample name '{}': {what}", sample.name),
            )
        })?;
        let mut item = Item::new(key);
        item.subset = match sample.metadata.get(SUBSET_KEY) {
            Some(Value::String(subset)) if !subset.is_empty() => Some(subset.clone()),
            _ => None,
        };
        item.image = image_in_input(&*source, &sample, base);
        if item.image.is_none()
            && let Some(url) = &sample.image_url
        {
            // A relative path that is not in the input names nothing elsewhere.
            if url.contains("://") || url.starts_with('/') {
                item.origin.set(Origin::IMAGE_URL, url.clone());
            } else {
                missing_images += 1;
            }
        }
        if let Some(uuid) = &sample.uuid {
            item.origin
                .set(Origin::SERVICE_ID, format!("{SERVICE}{uuid}"));
        }
        match &sample.label {
            Label::Without(why) => *without.entry(why).or_default() += 1,
            Label::Bitmap { url, annotations } => {
                let bitmap = resolve_for(url, base, &*source, &roots, || {
                    format!("{display} {place}.labels.{labelset}")
                })?;
                let mut number = |id: u64| {
                    *category_number.entry(id).or_insert_with(|| {
                        category_ids.push(id);
                        category_ids.len() as ClassId
                    })
                };
                let values = annotations
                    .iter()
                    .map(|a| (a.id, number(a.category_id), a.id, a.attributes.clone()))
                    .collect();
                item.mask = Some(MaskRef {
                    files: vec![bitmap],
                    listed: ListedSegments::new(values).expect("ids are checked unique"),
                    recipe: sample.index as u32,
                });
            }
        }
        items.push(item);
        Ok(())
    };
    let mut categories = Vec::new();
    let mut refused = None;
    source.read_with(&path, &mut |reader| {
        (categories, refused) = release::parse_stream(reader, labelset, &mut each)
            .map_err(|what| Error::input(&display, what))?;
        Ok(())
    })?;
    let (catalog, class_of) =
        catalog_of(&categories).map_err(|what| Error::input(&display, what))?;
    // The first problem in sample order: a sample refused while reading, or
    // an annotation of a category the release does not have.
    let unknown = classify(&mut items, &category_ids, &class_of).err();
    match (refused, unknown) {
        (Some((at, e)), Some((index, _))) if at <= index => return Err(e),
        (Some((_, e)), None) => return Err(e),
        (_, Some((index, what))) => {
            let place = sample_place(index);
            let what = format!("{place}.labels.{labelset}: {what}");
            return Err(Error::input(&display, what));
        }
        (None, None) => {}
    }

    let mut warnings = Vec::new();
    if !without.is_empty() {
        let counts: Vec<String> = without
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        warnings.push(Warning::new(
            "samples-without-label",
            format!(
                "{display}: {} samples have no mask in labelset '{labelset}' ({}); they are items without mask",
                without.values().sum::<usize>(),
                counts.join(", ")
            ),
        ));
    }
    if missing_images > 0 {
        warnings.push(Warning::new(
            "image-not-found",
            format!(
                "{display}: {missing_images} samples' image URLs are relative paths to files not in the input; they are not kept"
            ),
        ));
    }
    let decoder = SegmentsDecoder { display };
    Dataset::new(&INFO, source, catalog, items, warnings, Box::new(decoder))
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
/// known: a thing's instance is its object id; stuff has none. The error is
/// the sample index and what is wrong.
fn classify(
    items: &mut [Item],
    category_ids: &[u64],
    class_of: &ClassOf,
) -> std::result::Result<(), (usize, String)> {
    for mask in items.iter_mut().filter_map(|item| item.mask.as_mut()) {
        let sample = mask.recipe as usize;
        for entry in mask.listed.entries_mut() {
            let category = category_ids[entry.class as usize - 1];
            let &(class, kind) = class_of.get(&category).ok_or_else(|| {
                let what = format!(
                    "annotation id {} has category_id {category}, which is not a category of the release",
                    entry.value
                );
                (sample, what)
            })?;
            entry.class = class;
            if kind == ClassKind::Stuff {
                entry.instance = 0;
            }
        }
    }
    Ok(())
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

/// The sample's image as a file of the input, when its URL names one.
fn image_in_input(source: &dyn Source, sample: &Sample, base: &str) -> Option<String> {
    let url = sample.image_url.as_deref()?;
    match resolve(url, base, source, &[]) {
        Ok(FileRef::Input(path)) if source.contains(&path) => Some(path),
        _ => None,
    }
}

/// Decodes one item's bitmap with the segments its label lists (a mask's
/// recipe is its sample's index in the release).
struct SegmentsDecoder {
    /// How messages name the release.
    display: String,
}

impl ItemDecoder for SegmentsDecoder {
    fn decode(
        &self,
        source: &dyn Source,
        _item: &Item,
        mask: &MaskRef,
        out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        decode_bitmap(source, mask, &mut out.warnings).map_err(|e| {
            let place = sample_place(mask.recipe as usize);
            e.in_context(format_args!("the bitmap of {} {place}", self.display))
        })
    }
}

/// How a bitmap's pixels hold object ids.
#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    /// 8-bit RGB(A): id = R + 256·G + 65536·B (alpha ignored).
    Rgb,
    /// The SDK's cache file: 16-bit gray ids (clipped at 65535).
    Gray16,
}

fn decode_bitmap(
    source: &dyn Source,
    mask: &MaskRef,
    warnings: &mut Vec<Warning>,
) -> Result<LabelMap> {
    let (bytes, display) = read_mask_file(source, &mask.files[0])?;
    let mut rows = png_rows(&bytes, &display, Palette::Indices)?;
    let info = *rows.info();
    let encoding = match (info.was_palette, info.file_bits, info.channels) {
        (false, 8, 3 | 4) => Encoding::Rgb,
        (false, 16, 1) => Encoding::Gray16,
        _ => {
            return Err(Error::input(
                display,
                format!(
                    "is a {} PNG; Segments.ai bitmaps are 8-bit RGBA (object id = R + 256·G + 65536·B), or the SDK's 16-bit gray cache files",
                    info.describe_file()
                ),
            ));
        }
    };
    let id_of_key = |key: u64| -> u32 {
        match encoding {
            Encoding::Rgb => id_of_rgb(rgb8_of_pixel_key(key)),
            Encoding::Gray16 => key as u32,
        }
    };
    let listed = &mask.listed;
    let labelled = label_pixels(&mut rows, None, |key, _| match id_of_key(key) {
        0 => Some(0),
        id => listed.get(id).map(|entry| entry.segment),
    })?;
    let unknown = labelled
        .unresolved
        .iter()
        .map(|(&(key, _), &n)| (id_of_key(key), n));
    if let Some((id, pixels)) = unknown.min() {
        let more = match labelled.unresolved.len() {
            1 => String::new(),
            n => format!(" ({} more unlisted ids)", n - 1),
        };
        let clipped = if encoding == Encoding::Gray16 && id == 65535 {
            "; this 16-bit file is a cache of the SDK, which writes every id above 65535 as 65535, so these pixels' ids are lost: read the RGBA bitmap instead"
        } else {
            ""
        };
        return Err(Error::input(
            display,
            format!(
                "object id {id} on {pixels} pixels has no annotation in the label{more}{clipped}"
            ),
        ));
    }
    if encoding == Encoding::Gray16 && listed.get(65535).is_some() {
        warnings.push(Warning::new(
            "clipped-ids",
            format!("{display}: a 16-bit cache file holds id 65535, which the SDK also writes for every id above it"),
        ));
    }
    LabelMap::from_runs(info.width, info.height, labelled.runs, listed.segments())
        .map_err(|what| Error::input(display, what))
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

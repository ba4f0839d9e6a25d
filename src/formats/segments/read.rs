//! Reading: the release's categories become the catalog, its samples the
//! items, and each bitmap's object ids the item's segments.

use super::release::{self, Annotation, Label, Release, Sample};
use super::{DEFAULT_LABELSET, INFO, SUBSET_KEY};
use crate::codec::{Palette, RowSource, decode_png, png_rows};
use crate::error::{Error, Result};
use crate::formats::mask_url::{MaskLocation, resolve, resolve_for};
use crate::formats::{
    Dataset, ItemDecoder, ReadOptions, annotation_file, announce_reads, top_files,
};
use crate::io::Source;
use crate::model::{Catalog, Class, ClassId, ClassKind, Color, Item, LabelMap, Segment, check_key};
use crate::remap::{count_key, key_of_rgb8, label_pixels, rgb8_of_key};
use crate::report::Note;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// What decoding one item needs, worked out from the release.
struct ItemPlan {
    /// `None`: the sample has no mask.
    bitmap: Option<MaskLocation>,
    /// Object id → segment id, for the ids the label lists.
    segment_of: HashMap<u32, u32>,
    segments: Vec<Segment>,
    /// `release.json dataset.samples[3]`, for messages.
    place: String,
}

/// Reads the release in `source` and plans every sample.
pub(super) fn open(source: Arc<dyn Source>, options: &ReadOptions) -> Result<Dataset> {
    let (path, bytes) = annotation_file(
        &*source,
        &top_files(&*source, &[".json"]),
        release::looks_like_release,
        "Segments.ai release: expected a .json file at the top with dataset.task_attributes and dataset.samples",
    )?;
    let display = source.display(&path);
    let labelset = options.labelset.as_deref().unwrap_or(DEFAULT_LABELSET);
    let Release {
        categories,
        samples,
    } = release::parse(&bytes, labelset).map_err(|what| Error::input(&display, what))?;
    let base = path.rfind('/').map_or("", |slash| &path[..=slash]);

    let mut class_of: HashMap<u64, (ClassId, ClassKind)> = HashMap::new();
    let mut classes = Vec::with_capacity(categories.len());
    for category in &categories {
        let kind = if category.has_instances {
            ClassKind::Thing
        } else {
            ClassKind::Stuff
        };
        let mut class = Class::new(category.name.clone(), kind);
        class.color = category.color.map(Color::Rgb8);
        class.attributes = category.extra.clone();
        classes.push(class);
        if class_of
            .insert(category.id, (classes.len() as ClassId, kind))
            .is_some()
        {
            return Err(Error::input(
                &display,
                format!("two categories have id {}", category.id),
            ));
        }
    }
    let catalog = Catalog::new(classes).map_err(|what| Error::input(&display, what))?;

    let mut warnings = Vec::new();
    let mut without: BTreeMap<&str, usize> = BTreeMap::new();
    let mut items = Vec::with_capacity(samples.len());
    let mut plans = Vec::with_capacity(samples.len());
    let mut keys: HashMap<String, &str> = HashMap::new();
    let mut missing_images = 0usize;
    for sample in &samples {
        let place = format!("{display} {}", sample.place);
        let key = key_of(&sample.name);
        if let Some(first) = keys.insert(key.clone(), &sample.place) {
            return Err(Error::input(
                &display,
                format!(
                    "{}: sample name '{}' gives item key '{key}', as {first} does; keys are sample names without extension",
                    sample.place, sample.name
                ),
            ));
        }
        check_key(&key).map_err(|what| {
            Error::input(
                &display,
                format!("{}: sample name '{}': {what}", sample.place, sample.name),
            )
        })?;
        let mut item = Item::new(key);
        item.subset = match sample.metadata.get(SUBSET_KEY) {
            Some(Value::String(subset)) if !subset.is_empty() => Some(subset.clone()),
            _ => None,
        };
        item.image = image_in_input(&*source, sample, base);
        if item.image.is_none()
            && let Some(url) = &sample.image_url
        {
            // A relative path that is not in the input names nothing elsewhere.
            if url.contains("://") || url.starts_with('/') {
                item.image_url = Some(url.clone());
            } else {
                missing_images += 1;
            }
        }
        item.source_id = sample.uuid.clone();
        let plan = match &sample.label {
            Label::Without(why) => {
                *without.entry(why).or_default() += 1;
                ItemPlan {
                    bitmap: None,
                    segment_of: HashMap::new(),
                    segments: Vec::new(),
                    place,
                }
            }
            Label::Bitmap { url, annotations } => {
                let bitmap = resolve_for(url, base, &*source, &options.mask_roots, || {
                    format!("{display} {}.labels.{labelset}", sample.place)
                })?;
                let (segment_of, segments) =
                    segments_of(annotations, &class_of).map_err(|what| {
                        Error::input(
                            &display,
                            format!("{}.labels.{labelset}: {what}", sample.place),
                        )
                    })?;
                ItemPlan {
                    bitmap: Some(bitmap),
                    segment_of,
                    segments,
                    place,
                }
            }
        };
        items.push(item);
        plans.push(plan);
    }
    if !without.is_empty() {
        let counts: Vec<String> = without
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        warnings.push(Note::new(
            "samples-without-label",
            format!(
                "{display}: {} samples have no mask in labelset '{labelset}' ({}); they are items without mask",
                without.values().sum::<usize>(),
                counts.join(", ")
            ),
        ));
    }
    if missing_images > 0 {
        warnings.push(Note::new(
            "image-not-found",
            format!(
                "{display}: {missing_images} samples' image URLs are relative paths to files not in the input; they are not kept"
            ),
        ));
    }
    let decoder = SegmentsDecoder { source, plans };
    Dataset::new(&INFO, catalog, items, warnings, Box::new(decoder))
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
        Ok(MaskLocation::Input(path)) if source.contains(&path) => Some(path),
        _ => None,
    }
}

/// Segments in annotation-id order: a thing's instance is its object id.
fn segments_of(
    annotations: &[Annotation],
    class_of: &HashMap<u64, (ClassId, ClassKind)>,
) -> Result<(HashMap<u32, u32>, Vec<Segment>), String> {
    let mut sorted: Vec<&Annotation> = annotations.iter().collect();
    sorted.sort_by_key(|a| a.id);
    let mut segment_of = HashMap::with_capacity(sorted.len());
    let mut segments = Vec::with_capacity(sorted.len());
    for annotation in sorted {
        let &(class, kind) = class_of.get(&annotation.category_id).ok_or_else(|| {
            format!(
                "annotation id {} has category_id {}, which is not a category of the release",
                annotation.id, annotation.category_id
            )
        })?;
        let instance = (kind == ClassKind::Thing).then_some(annotation.id);
        segments.push(Segment {
            class,
            instance,
            attributes: annotation.attributes.clone(),
        });
        segment_of.insert(annotation.id, segments.len() as u32);
    }
    Ok((segment_of, segments))
}

/// Decodes one item's bitmap with its planned segments.
struct SegmentsDecoder {
    source: Arc<dyn Source>,
    plans: Vec<ItemPlan>,
}

impl ItemDecoder for SegmentsDecoder {
    fn decode(
        &self,
        index: usize,
        _item: &Item,
        notes: &mut Vec<Note>,
    ) -> Result<Option<LabelMap>> {
        let plan = &self.plans[index];
        let Some(bitmap) = &plan.bitmap else {
            return Ok(None);
        };
        decode_bitmap(&*self.source, bitmap, plan, notes)
            .map(Some)
            .map_err(|e| e.in_context(format_args!("the bitmap of {}", plan.place)))
    }

    fn read_image(&self, item: &Item) -> Result<Option<Vec<u8>>> {
        crate::formats::read_item_image(&*self.source, item)
    }

    fn plan(&self, items: &[Item], with_images: bool) -> Vec<Note> {
        let mut reads: Vec<&str> = Vec::new();
        for (plan, item) in self.plans.iter().zip(items) {
            if let Some(MaskLocation::Input(path)) = &plan.bitmap {
                reads.push(path);
            }
            if let (true, Some(image)) = (with_images, &item.image) {
                reads.push(image);
            }
        }
        announce_reads(&*self.source, &reads)
    }

    fn local_files(&self) -> Vec<std::path::PathBuf> {
        let bitmaps = self.plans.iter().filter_map(|plan| plan.bitmap.as_ref());
        bitmaps
            .filter_map(|b| b.local_file(&*self.source))
            .collect()
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
    bitmap: &MaskLocation,
    plan: &ItemPlan,
    notes: &mut Vec<Note>,
) -> Result<LabelMap> {
    let (bytes, display) = bitmap.read(source)?;
    let mut rows = png_rows(&bytes, &display, Palette::Indices)?;
    let info = *rows.info();
    let encoding = match (info.was_palette, info.file_bits, info.channels) {
        (false, 8, 3 | 4) => Encoding::Rgb,
        (false, 16, 1) => Encoding::Gray16,
        _ => {
            let mut described = info;
            described.bits = info.file_bits;
            return Err(Error::input(
                display,
                format!(
                    "is a {} PNG; Segments.ai bitmaps are 8-bit RGBA (object id = R + 256·G + 65536·B), or the SDK's 16-bit gray cache files",
                    if info.was_palette {
                        "palette".into()
                    } else {
                        described.describe()
                    }
                ),
            ));
        }
    };
    let id_of_key = |key: u64| -> u32 {
        match encoding {
            Encoding::Rgb => {
                let [r, g, b] = rgb8_of_key(key);
                u32::from(r) | u32::from(g) << 8 | u32::from(b) << 16
            }
            Encoding::Gray16 => key as u32,
        }
    };
    let mut unknown: BTreeSet<u32> = BTreeSet::new();
    let runs = label_pixels(&mut rows, None, |key, _| {
        let id = id_of_key(key);
        if id == 0 {
            return 0;
        }
        plan.segment_of.get(&id).copied().unwrap_or_else(|| {
            unknown.insert(id);
            0
        })
    })?;
    if let Some(&id) = unknown.first() {
        let image = decode_png(&bytes, &display, Palette::Indices)?;
        let key = match encoding {
            Encoding::Rgb => key_of_rgb8([id as u8, (id >> 8) as u8, (id >> 16) as u8]),
            Encoding::Gray16 => u64::from(id),
        };
        let pixels = count_key(&image, key);
        let more = match unknown.len() {
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
    if encoding == Encoding::Gray16 && plan.segment_of.contains_key(&65535) {
        notes.push(Note::new(
            "clipped-ids",
            format!("{display}: a 16-bit cache file holds id 65535, which the SDK also writes for every id above it"),
        ));
    }
    LabelMap::from_runs(info.width, info.height, runs, plan.segments.clone())
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

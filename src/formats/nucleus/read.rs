//! Reading: finding the annotation file, turning its segment lists into the
//! catalog and per-item segments, and decoding each index mask.

use super::records::{self, Record, SegmentRecord, is_background};
use super::{INFO, INSTANCE_KEY, candidate_files, holds_annotations};
use crate::codec::{Palette, RowSource, decode_png, png_rows};
use crate::error::{Error, Result};
use crate::formats::mask_url::{MaskLocation, resolve_for};
use crate::formats::{Dataset, ItemDecoder, ReadOptions, annotation_file, announce_reads};
use crate::io::Source;
use crate::model::{Catalog, Class, ClassId, ClassKind, Item, LabelMap, Segment, check_key};
use crate::remap::{count_key, label_pixels, rgb8_of_key};
use crate::report::Note;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// What decoding one item needs, worked out from the annotation file.
struct ItemPlan {
    /// `None`: the item has no mask (an export row without segmentation).
    mask: Option<MaskLocation>,
    /// Segment id of each mask value (0: unlabeled).
    id_of_value: Vec<(u8, u32)>,
    /// The item's segments, in index order.
    segments: Vec<Segment>,
    /// Where the annotation is, for messages: `annotations.ndjson line 3`.
    place: String,
}

/// Reads the annotation file of `source` and plans every item.
pub(super) fn open(source: Arc<dyn Source>, options: &ReadOptions) -> Result<Dataset> {
    let (path, bytes) = annotation_file(
        &*source,
        &candidate_files(&*source),
        holds_annotations,
        "Nucleus annotation file: expected a .ndjson, .jsonl or .json file at the top whose objects have a mask_url",
    )?;
    let display = source.display(&path);
    let parsed = records::parse(&bytes).map_err(|what| Error::input(&display, what))?;
    let base = path.rfind('/').map_or("", |slash| &path[..=slash]);

    let mut warnings = Vec::new();
    let mut losses = Vec::new();
    if !parsed.other_types.is_empty() {
        let kinds: Vec<String> = parsed
            .other_types
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        warnings.push(Note::new(
            "other-annotations",
            format!(
                "{display}: {} annotations are not segmentations and are ignored",
                kinds.join(", ")
            ),
        ));
    }
    if parsed.annotation_ids > 0 {
        losses.push(Note::new(
            "annotation-ids",
            format!(
                "{display}: {} annotations have an annotation_id, which maskconv does not keep (a written Nucleus file has annotation_id null)",
                parsed.annotation_ids
            ),
        ));
    }

    let catalog = catalog_of(&parsed.records);
    let mut keys: HashMap<&str, &str> = HashMap::new();
    let mut items = Vec::with_capacity(parsed.records.len());
    let mut plans = Vec::with_capacity(parsed.records.len());
    for record in &parsed.records {
        check_key(&record.key).map_err(|what| {
            Error::input(
                &display,
                format!(
                    "{}: {what}; maskconv uses reference_ids as file names in every format",
                    record.place
                ),
            )
        })?;
        if let Some(first) = keys.insert(&record.key, &record.place) {
            return Err(Error::input(
                &display,
                format!(
                    "{}: reference_id '{}' was already annotated at {first}; Nucleus holds one segmentation per item (the SDK raises DuplicateIDError)",
                    record.place, record.key
                ),
            ));
        }
        let mask = record
            .mask_url
            .as_deref()
            .map(|url| {
                resolve_for(url, base, &*source, &options.mask_roots, || {
                    format!("{display} {}", record.place)
                })
            })
            .transpose()?;
        let (id_of_value, segments) = segments_of(record, &catalog, &display, &mut warnings);
        items.push(Item::new(record.key.clone()));
        plans.push(ItemPlan {
            mask,
            id_of_value,
            segments,
            place: format!("{display} {}", record.place),
        });
    }
    let decoder = NucleusDecoder { source, plans };
    Ok(Dataset::new(&INFO, catalog, items, warnings, Box::new(decoder))?.with_losses(losses))
}

/// An integer `instance` in a segment's metadata, if it has one.
fn instance_in(segment: &SegmentRecord) -> Option<u32> {
    let value = segment.metadata.as_ref()?.get(INSTANCE_KEY)?;
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
}

/// Classes in order of first appearance. A label is a thing when some image
/// has several segments of it or some segment carries an `instance`.
fn catalog_of(records: &[Record]) -> Catalog {
    let mut order: Vec<&str> = Vec::new();
    let mut things: HashSet<&str> = HashSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for record in records {
        let mut in_record: HashSet<&str> = HashSet::new();
        for segment in &record.segments {
            let label = segment.label.as_str();
            if is_background(label) {
                continue;
            }
            if seen.insert(label) {
                order.push(label);
            }
            if !in_record.insert(label) || instance_in(segment).is_some() {
                things.insert(label);
            }
        }
    }
    let classes = order
        .iter()
        .map(|label| {
            let kind = if things.contains(label) {
                ClassKind::Thing
            } else {
                ClassKind::Stuff
            };
            Class::new(*label, kind)
        })
        .collect();
    Catalog::new(classes).expect("labels are unique and non-empty")
}

/// The item's segments in index order and the segment id of each listed
/// mask value. Instances of a thing class keep their metadata `instance`
/// when those are distinct; the others get the smallest free numbers.
fn segments_of(
    record: &Record,
    catalog: &Catalog,
    display: &str,
    warnings: &mut Vec<Note>,
) -> (Vec<(u8, u32)>, Vec<Segment>) {
    let mut listed: Vec<&SegmentRecord> = record.segments.iter().collect();
    listed.sort_by_key(|s| s.index);
    let class_of = |s: &SegmentRecord| catalog.find(&s.label);
    // Instance numbers given in metadata, per class; a class whose numbers
    // repeat is renumbered.
    let mut given: BTreeMap<ClassId, Vec<u32>> = BTreeMap::new();
    for segment in &listed {
        if let (Some(class), Some(n)) = (class_of(segment), instance_in(segment)) {
            given.entry(class).or_default().push(n);
        }
    }
    let mut taken: HashMap<ClassId, BTreeSet<u32>> = HashMap::new();
    let mut renumbered: BTreeSet<ClassId> = BTreeSet::new();
    for (class, numbers) in &given {
        let distinct: BTreeSet<u32> = numbers.iter().copied().collect();
        if distinct.len() == numbers.len() {
            taken.insert(*class, distinct);
        } else {
            renumbered.insert(*class);
        }
    }
    for class in &renumbered {
        warnings.push(Note::new(
            "instance-renumbered",
            format!(
                "{display} {}: segments of '{}' repeat an instance number in their metadata; they are numbered in index order instead",
                record.place,
                catalog.get(*class).name
            ),
        ));
    }

    let mut id_of_value = Vec::with_capacity(listed.len());
    let mut segments = Vec::with_capacity(listed.len());
    for segment in listed {
        let Some(class) = class_of(segment) else {
            id_of_value.push((segment.index, 0));
            continue;
        };
        let mut attributes = segment.metadata.clone().unwrap_or_default();
        let instance = match catalog.get(class).kind {
            ClassKind::Stuff => None,
            ClassKind::Thing => {
                let kept = instance_in(segment).filter(|_| !renumbered.contains(&class));
                if kept.is_some() {
                    attributes.shift_remove(INSTANCE_KEY);
                }
                let used = taken.entry(class).or_default();
                Some(kept.unwrap_or_else(|| {
                    let free = (1..).find(|n| !used.contains(n)).expect("a free number");
                    used.insert(free);
                    free
                }))
            }
        };
        segments.push(Segment {
            class,
            instance,
            attributes,
        });
        id_of_value.push((segment.index, segments.len() as u32));
    }
    (id_of_value, segments)
}

/// Decodes one item's index mask with its planned segments.
struct NucleusDecoder {
    source: Arc<dyn Source>,
    plans: Vec<ItemPlan>,
}

impl ItemDecoder for NucleusDecoder {
    fn decode(
        &self,
        index: usize,
        _item: &Item,
        notes: &mut Vec<Note>,
    ) -> Result<Option<LabelMap>> {
        let plan = &self.plans[index];
        let Some(mask) = &plan.mask else {
            return Ok(None);
        };
        decode_mask(&*self.source, mask, plan, notes)
            .map(Some)
            .map_err(|e| e.in_context(format_args!("the mask of {}", plan.place)))
    }

    fn plan(&self, _items: &[Item], _with_images: bool) -> Vec<Note> {
        let reads: Vec<&str> = self
            .plans
            .iter()
            .filter_map(|plan| match &plan.mask {
                Some(MaskLocation::Input(path)) => Some(path.as_str()),
                _ => None,
            })
            .collect();
        announce_reads(&*self.source, &reads)
    }

    fn local_files(&self) -> Vec<std::path::PathBuf> {
        let masks = self.plans.iter().filter_map(|plan| plan.mask.as_ref());
        masks.filter_map(|m| m.local_file(&*self.source)).collect()
    }
}

/// Decodes one index mask into the item's label map: 8-bit gray, or RGB
/// whose three channels are equal (with a warning).
fn decode_mask(
    source: &dyn Source,
    mask: &MaskLocation,
    plan: &ItemPlan,
    notes: &mut Vec<Note>,
) -> Result<LabelMap> {
    let (bytes, display) = mask.read(source)?;
    let mut rows = png_rows(&bytes, &display, Palette::Indices)?;
    let info = *rows.info();
    if info.was_palette || info.file_bits != 8 || info.channels % 2 == 0 {
        let layout = if info.was_palette {
            "palette".to_string()
        } else {
            let mut described = info;
            described.bits = info.file_bits;
            described.describe()
        };
        return Err(Error::input(
            display,
            format!(
                "is a {layout} PNG; Nucleus masks are 8-bit grayscale, one segment index per pixel (8-bit RGB with three equal channels is read too)"
            ),
        ));
    }
    let mut id_of = [0u32; 256];
    let mut listed = [false; 256];
    for &(value, id) in &plan.id_of_value {
        id_of[usize::from(value)] = id;
        listed[usize::from(value)] = true;
    }
    let colour = info.channels >= 3;
    let mut unlisted: BTreeSet<u8> = BTreeSet::new();
    let mut mixed: Option<[u8; 3]> = None;
    let runs = label_pixels(&mut rows, None, |key, _| {
        let value = if colour {
            match rgb8_of_key(key) {
                [r, g, b] if r == g && g == b => r,
                rgb => {
                    mixed.get_or_insert(rgb);
                    return 0;
                }
            }
        } else {
            key as u8
        };
        if !listed[usize::from(value)] {
            unlisted.insert(value);
        }
        id_of[usize::from(value)]
    })?;
    if let Some([r, g, b]) = mixed {
        return Err(Error::input(
            display,
            format!(
                "is an RGB PNG with colour ({r},{g},{b}); Nucleus masks are 8-bit grayscale (an RGB mask is read only when its three channels are equal)"
            ),
        ));
    }
    if colour {
        notes.push(Note::new(
            "faux-single-channel",
            format!("{display}: is RGB with three equal channels; read as an 8-bit grayscale mask"),
        ));
    }
    if !unlisted.is_empty() {
        notes.push(unlisted_note(&bytes, &display, &unlisted, &plan.place)?);
    }
    LabelMap::from_runs(info.width, info.height, runs, plan.segments.clone())
        .map_err(|what| Error::input(display, what))
}

/// The warning for mask values that no Segment lists, with pixel counts
/// (the mask is decoded once more, whole, to count them).
fn unlisted_note(bytes: &[u8], display: &str, values: &BTreeSet<u8>, place: &str) -> Result<Note> {
    let image = decode_png(bytes, display, Palette::Indices)?;
    let counted: Vec<String> = values
        .iter()
        .map(|&v| {
            let key = if image.info.channels >= 3 {
                u64::from(v) * 0x01_01_01
            } else {
                u64::from(v)
            };
            format!("{v} ({} px)", count_key(&image, key))
        })
        .collect();
    Ok(Note::new(
        "unlisted-index",
        format!(
            "{display}: mask values {} have no Segment in {place}; read as unlabeled",
            counted.join(", ")
        ),
    ))
}

//! Reading: streaming the annotation file into items whose masks list their
//! segments compactly, building the catalog from the labels on the way, and
//! decoding each index mask.

use super::records::{Place, Record, SegmentRecord, Summary, is_background};
use super::stream;
use super::{INFO, INSTANCE_KEY, candidate_files, is_annotation_file};
use crate::codec::{Palette, RowSource, png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, ItemDecoder};
use crate::formats::common::{annotation_file, folder_of, read_mask_file};
use crate::formats::mask_url::{mask_roots, resolve_for};
use crate::formats::options::FormatOptions;
use crate::io::Source;
use crate::losses::{Diagnostics, Loss, LossCode};
use crate::model::{
    Attributes, Catalog, Class, ClassId, ClassKind, Item, LabelMap, ListedSegments, MaskRef,
    check_key,
};
use crate::remap::{label_pixels, rgb8_of_pixel_key};
use crate::report::Warning;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The labels met so far, in order of first appearance: the catalog to be.
#[derive(Default)]
struct Labels {
    names: Vec<String>,
    ids: HashMap<String, ClassId>,
    /// Per label: some image has several of its segments, or one carries an
    /// `instance`: a class with instances.
    things: Vec<bool>,
}

impl Labels {
    fn id(&mut self, name: &str) -> ClassId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        self.names.push(name.to_string());
        self.things.push(false);
        let id = self.names.len() as ClassId;
        self.ids.insert(name.to_string(), id);
        id
    }

    fn catalog(self) -> Catalog {
        let classes = self
            .names
            .into_iter()
            .zip(self.things)
            .map(|(name, thing)| match thing {
                true => Class::new(name, ClassKind::Thing),
                false => Class::new(name, ClassKind::Stuff),
            })
            .collect();
        Catalog::new(classes).expect("labels are unique and non-empty")
    }
}

/// Reads the annotation file of `source`, a record at a time.
pub(super) fn open(source: Arc<dyn Source>, options: &FormatOptions) -> Result<Dataset> {
    let roots = mask_roots(options)?;
    let path = annotation_file(
        &*source,
        &candidate_files(&*source),
        is_annotation_file,
        "Nucleus annotation file: expected a .ndjson, .jsonl or .json file at the top whose objects have a mask_url",
    )?;
    let display = source.display(&path);
    let base = folder_of(&path);

    let mut labels = Labels::default();
    let mut items: Vec<Item> = Vec::new();
    let mut keys: HashMap<String, Place> = HashMap::new();
    let mut renumbered = Vec::new();
    let mut first_place = None;
    let mut each = |record: Record| -> Result<()> {
        check_key(&record.key).map_err(|what| {
            Error::input(
                &display,
                format!(
                    "{}: {what}; every annotation needs a reference_id",
                    record.place
                ),
            )
        })?;
        if let Some(first) = keys.insert(record.key.clone(), record.place) {
            return Err(Error::input(
                &display,
                format!(
                    "{}: reference_id '{}' was already annotated at {first}; Nucleus holds one segmentation per item (the SDK raises DuplicateIDError)",
                    record.place, record.key
                ),
            ));
        }
        first_place.get_or_insert(record.place);
        let mut item = Item::new(record.key.clone());
        if let Some(url) = record.mask_url.as_deref() {
            let file = resolve_for(url, base, &*source, &roots, || {
                record.place.in_file(&display)
            })?;
            let listed = listed_segments(&record, &mut labels, &display, &mut renumbered);
            item.mask = Some(MaskRef {
                files: vec![file],
                listed,
                recipe: record.place.number(),
            });
        }
        items.push(item);
        Ok(())
    };
    let mut summary = Summary::default();
    source.read_with(&path, &mut |reader| {
        let fail = |what: String| Error::input(&display, what);
        summary = stream::parse_stream(reader, &fail, &mut each)?;
        Ok(())
    })?;
    number_instances(&mut items, &labels.things);

    let mut warnings = Vec::new();
    if !summary.other_types.is_empty() {
        let kinds: Vec<String> = summary
            .other_types
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        warnings.push(Warning::new(
            "other-annotations",
            format!(
                "{display}: {} annotations are not segmentations and are ignored",
                kinds.join(", ")
            ),
        ));
    }
    warnings.extend(renumbered);
    let mut losses = Vec::new();
    if summary.annotation_ids > 0 {
        losses.push(Loss::new(
            LossCode::AnnotationIds,
            format!(
                "{display}: {} annotations have an annotation_id, which maskconv does not keep (a written Nucleus file has annotation_id null)",
                summary.annotation_ids
            ),
        ));
    }
    let decoder = NucleusDecoder {
        place: first_place.unwrap_or(Place::File),
        display: display.clone(),
    };
    let catalog = labels.catalog();
    let dataset = Dataset::new(&INFO, source, catalog, items, warnings, Box::new(decoder))?;
    Ok(dataset.with_losses(losses))
}

/// An integer `instance` in a segment's metadata, if it has one.
fn instance_in(segment: &SegmentRecord) -> Option<u32> {
    let value = segment.metadata.as_ref()?.get(INSTANCE_KEY)?;
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
}

/// What each listed mask value of `record` means: its label (a class, or
/// unlabeled for `background`), the instance its metadata gives when the
/// label's numbers are distinct in the image (others are numbered once every
/// label is known, by [`number_instances`]), and the other metadata as the
/// segment's attributes. Marks the labels that have instances.
fn listed_segments(
    record: &Record,
    labels: &mut Labels,
    display: &str,
    renumbered: &mut Vec<Warning>,
) -> ListedSegments {
    let mut given: BTreeMap<ClassId, Vec<u32>> = BTreeMap::new();
    let mut seen: BTreeSet<ClassId> = BTreeSet::new();
    for segment in &record.segments {
        if is_background(&segment.label) {
            continue;
        }
        let class = labels.id(&segment.label);
        let instance = instance_in(segment);
        if !seen.insert(class) || instance.is_some() {
            labels.things[class as usize - 1] = true;
        }
        if let Some(n) = instance {
            given.entry(class).or_default().push(n);
        }
    }
    // A class whose given numbers repeat is numbered in index order instead.
    let mut repeating: BTreeSet<ClassId> = BTreeSet::new();
    for (&class, numbers) in &given {
        let distinct: BTreeSet<u32> = numbers.iter().copied().collect();
        if distinct.len() != numbers.len() {
            repeating.insert(class);
            renumbered.push(Warning::new(
                "instance-renumbered",
                format!(
                    "{}: segments of '{}' repeat an instance number in their metadata; they are numbered in index order instead",
                    record.place.in_file(display),
                    labels.names[class as usize - 1]
                ),
            ));
        }
    }
    let values = record
        .segments
        .iter()
        .map(|segment| {
            let value = u32::from(segment.index);
            if is_background(&segment.label) {
                return (value, 0, 0, Attributes::new());
            }
            let class = labels.ids[segment.label.as_str()];
            let mut attributes = segment.metadata.clone().unwrap_or_default();
            let kept = instance_in(segment).filter(|_| !repeating.contains(&class));
            if kept.is_some() {
                attributes.shift_remove(INSTANCE_KEY);
            }
            (value, class, kept.unwrap_or(0), attributes)
        })
        .collect();
    ListedSegments::new(values).expect("the annotation file lists each index once")
}

/// Numbers the instances metadata left unnumbered: each segment of a class
/// with instances gets the smallest number its class does not use in the
/// image yet, in index order. Stuff has no instance number.
fn number_instances(items: &mut [Item], things: &[bool]) {
    for mask in items.iter_mut().filter_map(|item| item.mask.as_mut()) {
        let entries = mask.listed.entries_mut();
        let mut used: HashMap<ClassId, BTreeSet<u32>> = HashMap::new();
        for entry in entries.iter().filter(|e| e.instance != 0) {
            used.entry(entry.class).or_default().insert(entry.instance);
        }
        for entry in entries.iter_mut().filter(|e| e.class != 0) {
            if !things[entry.class as usize - 1] || entry.instance != 0 {
                continue;
            }
            let used = used.entry(entry.class).or_default();
            let free = (1..).find(|n| !used.contains(n)).expect("a free number");
            used.insert(free);
            entry.instance = free;
        }
    }
}

/// Decodes one item's index mask with the segments its annotation lists.
struct NucleusDecoder {
    /// How messages name the annotation file.
    display: String,
    /// The kind of place annotations have in it (a mask's recipe is its number).
    place: Place,
}

impl ItemDecoder for NucleusDecoder {
    fn decode(
        &self,
        source: &dyn Source,
        _item: &Item,
        mask: &MaskRef,
        out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        let place = self.place.numbered(mask.recipe).in_file(&self.display);
        decode_mask(source, mask, &place, &mut out.warnings)
            .map_err(|e| e.in_context(format_args!("the mask of {place}")))
    }
}

/// Decodes one index mask: 8-bit gray, or RGB whose three channels are
/// equal (with a warning). `place` names the annotation in messages.
fn decode_mask(
    source: &dyn Source,
    mask: &MaskRef,
    place: &str,
    warnings: &mut Vec<Warning>,
) -> Result<LabelMap> {
    let (bytes, display) = read_mask_file(source, &mask.files[0])?;
    let mut rows = png_rows(&bytes, &display, Palette::Indices)?;
    let info = *rows.info();
    if info.was_palette || info.file_bits != 8 || info.channels % 2 == 0 {
        return Err(Error::input(
            display,
            format!(
                "is a {} PNG; Nucleus masks are 8-bit grayscale, one segment index per pixel (8-bit RGB with three equal channels is read too)",
                info.describe_file()
            ),
        ));
    }
    let mut id_of = [0u32; 256];
    let mut listed = [false; 256];
    for entry in mask.listed.entries() {
        id_of[entry.value as usize] = entry.segment;
        listed[entry.value as usize] = true;
    }
    let colour = info.channels >= 3;
    let mut mixed: Option<[u8; 3]> = None;
    let labelled = label_pixels(&mut rows, None, |key, _| {
        let value = if colour {
            match rgb8_of_pixel_key(key) {
                [r, g, b] if r == g && g == b => r,
                rgb => {
                    mixed.get_or_insert(rgb);
                    return None;
                }
            }
        } else {
            key as u8
        };
        listed[usize::from(value)].then_some(id_of[usize::from(value)])
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
        warnings.push(Warning::new(
            "faux-single-channel",
            format!("{display}: is RGB with three equal channels; read as an 8-bit grayscale mask"),
        ));
    }
    // Mixed colours failed above: what is left unresolved is unlisted values.
    if !labelled.unresolved.is_empty() {
        let counted: Vec<String> = labelled
            .unresolved
            .iter()
            .map(|(&(key, _), pixels)| format!("{} ({pixels} px)", key as u8))
            .collect();
        warnings.push(Warning::new(
            "unlisted-index",
            format!(
                "{display}: mask values {} have no Segment in {place}; read as unlabeled",
                counted.join(", ")
            ),
        ));
    }
    LabelMap::from_runs(
        info.width,
        info.height,
        labelled.runs,
        mask.listed.segments(),
    )
    .map_err(|what| Error::input(display, what))
}

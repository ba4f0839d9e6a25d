//! Reading: finding the dataset root, building the catalog from the label
//! map, listing items from the subset files, and decoding each item's class
//! and object PNGs into a label map.

use super::labelmap::{Label, default_labelmap, is_py_space, parse_labelmap, py_lines};
use super::{
    BACKGROUND, BLACK, CLASS_DIR, DEFAULT_SUBSET, IMAGE_DIR, INFO, LABELMAP, MAX_ROOT_DEPTH,
    OBJECT_DIR, SUBSET_DIR, find_roots,
};
use crate::codec::{ImageInfo, Palette, PngRows, RowSource, png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, ItemDecoder};
use crate::formats::colors::{voc_color, voc_index};
use crate::formats::common::{is_mac_metadata, several_datasets};
use crate::io::Source;
use crate::losses::Diagnostics;
use crate::model::{
    Catalog, Class, ClassId, ClassKind, Color, FileRef, Item, LabelMap, MaskRef, Segment,
    key_to_path, path_to_key,
};
use crate::remap::{PixelKey, label_pixels, pixel_key_of_rgb8, rgb8_of_pixel_key};
use crate::report::Warning;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Reads the metadata of the CVAT dataset in `source`.
pub(super) fn open(source: Arc<dyn Source>) -> Result<Dataset> {
    let root = single_root(&*source)?;
    let in_root = |path: &str| format!("{root}{path}");
    let mut warnings = Vec::new();

    // The label map and subset lists, fetched in one go (one pass over a .tar.gz).
    let subset_dir = in_root(SUBSET_DIR);
    let small: Vec<&str> = source
        .files()
        .iter()
        .map(String::as_str)
        .filter(|f| *f == in_root(LABELMAP) || f.starts_with(&subset_dir))
        .collect();
    source.prefetch(&small)?;
    let has_labelmap = source.contains(&in_root(LABELMAP));
    let mut labels = if has_labelmap {
        let display = source.display(&in_root(LABELMAP));
        let (labels, notes) = parse_labelmap(&source.read(&in_root(LABELMAP))?, &display)?;
        warnings.extend(notes);
        labels
    } else {
        warnings.push(Warning::new(
            "default-labelmap",
            format!(
                "{}: no labelmap.txt, using the default Pascal VOC label map (as CVAT does)",
                source.name()
            ),
        ));
        default_labelmap()
    };
    if source.contains(&in_root("dataset_meta.json")) {
        warnings.push(Warning::new(
            "dataset-meta-ignored",
            format!(
                "{}: is ignored; labels come from labelmap.txt",
                source.display(&in_root("dataset_meta.json"))
            ),
        ));
    }
    if labels.iter().all(|l| l.color.is_none()) {
        // Datumaro colours a colourless label map with the VOC colormap by line index.
        for (i, label) in labels.iter_mut().enumerate() {
            label.color = u8::try_from(i).ok().map(voc_color);
        }
    }

    let has_objects = source.files().iter().any(|f| {
        f.strip_prefix(root.as_str())
            .is_some_and(|f| f.starts_with(OBJECT_DIR))
    });
    let (catalog, class_of_label) = catalog_of(&labels, has_objects)
        .map_err(|what| Error::input(source.display(&in_root(LABELMAP)), what))?;
    let class_of_color = color_table(&labels, &class_of_label);
    warnings.extend(duplicate_colour_notes(
        &labels,
        &source.display(&in_root(LABELMAP)),
    ));

    let mut items = read_subsets(&*source, &root, &mut warnings)?;
    warnings.extend(unlisted_masks_note(&*source, &root, &items));
    let images: HashMap<&str, &str> = source
        .files()
        .iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(root.as_str())?.strip_prefix(IMAGE_DIR)?;
            let (stem, _) = rel.rsplit_once('.')?;
            Some((stem, f.as_str()))
        })
        .collect();
    for item in &mut items {
        item.image = images.get(item.key.as_str()).map(|p| p.to_string());
        item.mask = mask_of(&*source, &root, &item.key);
        // Files are named by the id; the item's key is what the id escapes.
        item.key = key_of_id(&item.key);
    }

    let decoder = CvatDecoder {
        labelmap: if has_labelmap {
            LABELMAP.to_string()
        } else {
            format!("the default Pascal VOC label map (there is no {LABELMAP})")
        },
        class_of_color,
        class_of_label,
        class_names: std::iter::once(String::new())
            .chain(catalog.iter().map(|(_, class)| class.name.clone()))
            .collect(),
    };
    Dataset::new(&INFO, source, catalog, items, warnings, Box::new(decoder))
}

/// The item's masks: its class mask and, when there is one, its object
/// mask; `None` when it has neither.
/// The item key an id of a subset file stands for: the key whose path
/// ([`key_to_path`]) it is, or the id itself when it is no such path.
fn key_of_id(id: &str) -> String {
    let key = path_to_key(id);
    match key_to_path(&key) == id {
        true => key.into_owned(),
        false => id.to_string(),
    }
}

fn mask_of(source: &dyn Source, root: &str, key: &str) -> Option<MaskRef> {
    let listed = |path: String| FileRef::in_input(source.files(), path);
    let class = listed(format!("{root}{CLASS_DIR}{key}.png"));
    let object = listed(format!("{root}{OBJECT_DIR}{key}.png"));
    match (class, object) {
        (FileRef::Input(_), FileRef::Input(_)) => None,
        (class, object @ FileRef::Listed(_)) => Some(MaskRef::new(vec![class, object])),
        (class, _) => Some(MaskRef::new(vec![class])),
    }
}

/// The one dataset root in `source`.
fn single_root(source: &dyn Source) -> Result<String> {
    let roots = find_roots(source);
    match roots.len() {
        1 => Ok(roots.into_iter().next().expect("one root")),
        0 => Err(Error::input(
            source.name(),
            format!(
                "no {SUBSET_DIR}*.txt found at the top or up to {MAX_ROOT_DEPTH} folders deep; CVAT's importer needs one"
            ),
        )),
        _ => Err(several_datasets(
            source,
            "CVAT",
            roots.iter().map(String::as_str),
        )),
    }
}

/// The catalog (every label but the background one, in labelmap order) and
/// the class of each label (0 for background). The background label is the
/// one named `background`, else the first black one.
fn catalog_of(labels: &[Label], has_objects: bool) -> Result<(Catalog, Vec<ClassId>), String> {
    let background = labels
        .iter()
        .position(|l| l.name == BACKGROUND)
        .or_else(|| labels.iter().position(|l| l.color == Some(BLACK)));
    let kind = if has_objects {
        ClassKind::Thing
    } else {
        ClassKind::Stuff
    };
    let mut classes = Vec::new();
    let mut class_of_label = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        if Some(i) == background {
            class_of_label.push(0);
            continue;
        }
        let mut class = Class::new(&label.name, kind);
        class.color = label.color.map(Color::Rgb8);
        for (key, list) in [("parts", &label.parts), ("actions", &label.actions)] {
            if !list.is_empty() {
                class
                    .attributes
                    .insert(key.into(), Value::from(list.clone()));
            }
        }
        classes.push(class);
        class_of_label.push(classes.len() as ClassId);
    }
    Ok((Catalog::new(classes)?, class_of_label))
}

/// Colour key → class, the last label of a colour winning as in CVAT; black
/// is unlabeled unless a label claims it.
fn color_table(labels: &[Label], class_of_label: &[ClassId]) -> HashMap<PixelKey, ClassId> {
    let mut table = HashMap::new();
    for (label, &class) in labels.iter().zip(class_of_label) {
        if let Some(rgb) = label.color {
            table.insert(pixel_key_of_rgb8(rgb), class);
        }
    }
    table.entry(pixel_key_of_rgb8(BLACK)).or_insert(0);
    table
}

fn duplicate_colour_notes(labels: &[Label], display: &str) -> Vec<Warning> {
    let mut by_color: BTreeMap<[u8; 3], Vec<&str>> = BTreeMap::new();
    for label in labels {
        if let Some(rgb) = label.color {
            by_color.entry(rgb).or_default().push(&label.name);
        }
    }
    by_color
        .into_iter()
        .filter(|(_, names)| names.len() > 1)
        .map(|([r, g, b], names)| {
            let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            Warning::new(
                "duplicate-colour",
                format!(
                    "{display}: labels {} share colour ({r},{g},{b}); its pixels read as '{}' (as CVAT reads them)",
                    quoted.join(", "),
                    names.last().expect("two or more names")
                ),
            )
        })
        .collect()
}

/// Items from `ImageSets/Segmentation/*.txt`: the files CVAT reads first (in
/// name order), then those with `_` in their name, which CVAT ignores.
fn read_subsets(source: &dyn Source, root: &str, warnings: &mut Vec<Warning>) -> Result<Vec<Item>> {
    let dir = format!("{root}{SUBSET_DIR}");
    let (underscored, plain): (Vec<&String>, Vec<&String>) = source
        .files()
        .iter()
        .filter(|f| {
            f.strip_prefix(&dir)
                .is_some_and(|n| !n.contains('/') && n.ends_with(".txt") && !is_mac_metadata(n))
        })
        .partition(|f| f[dir.len()..].contains('_'));
    let mut items: Vec<Item> = Vec::new();
    let mut subset_of: HashMap<String, String> = HashMap::new();
    for path in plain.into_iter().chain(underscored) {
        let display = source.display(path);
        let file_name = &path[dir.len()..];
        let subset = file_name
            .strip_suffix(".txt")
            .unwrap_or(file_name)
            .to_string();
        if file_name.contains('_') {
            warnings.push(Warning::new(
                "underscore-subset",
                format!(
                    "{display}: CVAT's importer ignores subset files whose name contains '_'; read here as subset '{subset}'"
                ),
            ));
        }
        let bytes = source.read(path)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| Error::input(&display, format!("is not valid UTF-8 ({e})")))?;
        for (number, line) in py_lines(text).enumerate() {
            let key = line.trim_matches(is_py_space);
            if key.is_empty() || key.starts_with('#') {
                continue;
            }
            if let Some(first) = subset_of.get(key) {
                warnings.push(Warning::new(
                    "item-in-two-subsets",
                    format!(
                        "{display} line {}: item '{key}' is already in subset '{first}' and stays there",
                        number + 1
                    ),
                ));
                continue;
            }
            subset_of.insert(key.to_string(), subset.clone());
            let mut item = Item::new(key);
            // `default` is where CVAT and Datumaro put items without a subset.
            item.subset = (subset != DEFAULT_SUBSET).then(|| subset.clone());
            items.push(item);
        }
    }
    Ok(items)
}

/// Masks that no subset file lists: CVAT ignores them, so do we, but say so.
fn unlisted_masks_note(source: &dyn Source, root: &str, items: &[Item]) -> Option<Warning> {
    let listed: HashSet<&str> = items.iter().map(|i| i.key.as_str()).collect();
    let unlisted: BTreeSet<&str> = source
        .files()
        .iter()
        .filter_map(|f| f.strip_prefix(root))
        .filter_map(|f| {
            f.strip_prefix(CLASS_DIR)
                .or_else(|| f.strip_prefix(OBJECT_DIR))
        })
        .filter_map(|f| f.strip_suffix(".png"))
        .filter(|key| !listed.contains(key))
        .collect();
    let first = unlisted.first()?;
    Some(Warning::new(
        "unlisted-masks",
        format!(
            "{}: {} masks (e.g. '{first}') are in no {SUBSET_DIR}*.txt and are ignored (as CVAT does)",
            source.name(),
            unlisted.len()
        ),
    ))
}

/// Decodes one item's class and object PNGs into a [`LabelMap`].
struct CvatDecoder {
    /// How messages name the label map in use.
    labelmap: String,
    class_of_color: HashMap<PixelKey, ClassId>,
    /// Class of each labelmap line (what an 8-bit gray value means); 0 = background.
    class_of_label: Vec<ClassId>,
    /// Class names by class id (for messages; index 0 unused).
    class_names: Vec<String>,
}

/// A pixel value the labelmap or the VOC colormap does not explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unexplained {
    Class(PixelKey),
    Object(PixelKey),
}

impl CvatDecoder {
    /// Opens a mask for row-by-row decoding, refusing 16-bit colour.
    fn rows<'a>(bytes: &'a [u8], display: &str, what: &str) -> Result<PngRows<'a>> {
        let rows = png_rows(bytes, display, Palette::Expand)?;
        let info = rows.info();
        if info.bits == 16 && info.channels >= 3 {
            return Err(Error::input(
                display,
                format!(
                    "is a {} image; CVAT {what} masks are 8-bit RGB (or 8-bit gray)",
                    info.describe()
                ),
            ));
        }
        Ok(rows)
    }

    /// The class behind a class-mask pixel key, `None` if it is unexplained.
    fn class_of(&self, image: &ImageInfo, key: PixelKey) -> Option<ClassId> {
        if image.channels >= 3 {
            self.class_of_color.get(&key).copied()
        } else {
            self.class_of_label.get(key as usize).copied()
        }
    }

    /// The object number behind an object-mask pixel key.
    fn object_of(image: &ImageInfo, key: PixelKey) -> Option<u32> {
        if image.channels >= 3 {
            voc_index(rgb8_of_pixel_key(key)).map(u32::from)
        } else {
            u32::try_from(key).ok().filter(|&o| o <= 255)
        }
    }

    /// The error for a pixel value nothing explains, on `pixels` pixels of
    /// the mask `display` (described by `image`).
    fn unexplained_error(
        &self,
        display: String,
        image: &ImageInfo,
        unexplained: Unexplained,
        pixels: u64,
    ) -> Error {
        let (key, is_class) = match unexplained {
            Unexplained::Class(key) => (key, true),
            Unexplained::Object(key) => (key, false),
        };
        let px = if pixels == 1 { "pixel" } else { "pixels" };
        let [r, g, b] = rgb8_of_pixel_key(key);
        let what = match (image.channels >= 3, is_class) {
            (true, true) => format!(
                "colour ({r},{g},{b}) on {pixels} {px} is not in {} (CVAT rejects it as an undeclared colour)",
                self.labelmap
            ),
            (true, false) => format!(
                "colour ({r},{g},{b}) on {pixels} {px} is not a Pascal VOC instance colour; object masks must use VOC colormap entries 1..255"
            ),
            (false, true) if key > 255 => format!(
                "16-bit gray value {key} on {pixels} {px} is not a label index (CVAT would silently wrap it to {})",
                key % 256
            ),
            (false, true) => format!(
                "gray value {key} on {pixels} {px} is not a label index: {} has {} labels (0..{})",
                self.labelmap,
                self.class_of_label.len(),
                self.class_of_label.len().saturating_sub(1)
            ),
            (false, false) => format!(
                "16-bit gray object number {key} on {pixels} {px} is above 255 (CVAT would silently wrap it to {})",
                key % 256
            ),
        };
        Error::input(display, what)
    }
}

impl ItemDecoder for CvatDecoder {
    fn decode(
        &self,
        source: &dyn Source,
        item: &Item,
        mask: &MaskRef,
        out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        let path_of = |file: &FileRef| match (file, file.input_path(source.files())) {
            (_, Some(path)) => path.to_string(),
            (FileRef::Local(path), None) => path.display().to_string(),
            _ => unreachable!("files of the input have a path in it"),
        };
        let class_path = path_of(&mask.files[0]);
        let object_path = mask.files.get(1).map(path_of);
        if !source.contains(&class_path) {
            let object = object_path.as_deref().unwrap_or_default();
            return Err(Error::input(
                source.display(object),
                format!(
                    "has no {CLASS_DIR}{}.png beside it; CVAT cannot import an object mask without its class mask",
                    item.key
                ),
            ));
        }
        let class_display = source.display(&class_path);
        let object_display = object_path.as_deref().map(|p| source.display(p));
        let class_bytes = source.read(&class_path)?;
        let object_bytes = object_path.as_deref().map(|p| source.read(p)).transpose()?;
        let mut class_rows = Self::rows(&class_bytes, &class_display, "class")?;
        let mut object_rows = match (&object_bytes, &object_display) {
            (Some(bytes), Some(display)) => Some(Self::rows(bytes, display, "object")?),
            _ => None,
        };
        let class_info = *class_rows.info();
        let object_info = object_rows.as_ref().map(|rows| *rows.info());
        if let (Some(object), Some(display)) = (&object_info, &object_display)
            && (object.width, object.height) != (class_info.width, class_info.height)
        {
            return Err(Error::input(
                display,
                format!(
                    "is {}x{} but {CLASS_DIR}{}.png is {}x{}",
                    object.width, object.height, item.key, class_info.width, class_info.height
                ),
            ));
        }

        let mut segments: Vec<Segment> = Vec::new();
        let mut segment_of: HashMap<(ClassId, u32), u32> = HashMap::new();
        let mut unexplained: BTreeSet<Unexplained> = BTreeSet::new();
        let mut objects_over_background: BTreeSet<u32> = BTreeSet::new();
        let resolve = |class_key, object_key| {
            let class = self.class_of(&class_info, class_key);
            let object = match &object_info {
                None => Some(0),
                Some(info) => Self::object_of(info, object_key),
            };
            let (Some(class), Some(object)) = (class, object) else {
                if class.is_none() {
                    unexplained.insert(Unexplained::Class(class_key));
                }
                if object.is_none() {
                    unexplained.insert(Unexplained::Object(object_key));
                }
                return None;
            };
            if class == 0 {
                if object != 0 {
                    objects_over_background.insert(object);
                }
                return Some(0);
            }
            Some(*segment_of.entry((class, object)).or_insert_with(|| {
                segments.push(Segment::new(class, (object != 0).then_some(object)));
                segments.len() as u32
            }))
        };
        let object_source = object_rows.as_mut().map(|rows| rows as &mut dyn RowSource);
        let labelled = label_pixels(&mut class_rows, object_source, resolve)?;
        if let Some(&first) = unexplained.first() {
            let mut err = match first {
                Unexplained::Class(key) => {
                    let pixels = labelled.unresolved_in_a(key);
                    self.unexplained_error(class_display, &class_info, first, pixels)
                }
                Unexplained::Object(key) => {
                    let pixels = labelled.unresolved_in_b(key);
                    let info = object_info.expect("object keys come from an object mask");
                    let display = object_display.expect("an object mask");
                    self.unexplained_error(display, &info, first, pixels)
                }
            };
            if unexplained.len() > 1 {
                err.what.push_str(&format!(
                    " (and {} more unexplained values)",
                    unexplained.len() - 1
                ));
            }
            return Err(err);
        }
        let object_display = object_display.unwrap_or_else(|| {
            let id = key_to_path(&item.key);
            let root = class_path.strip_suffix(&format!("{CLASS_DIR}{id}.png"));
            source.display(&format!("{}{OBJECT_DIR}{id}.png", root.unwrap_or("")))
        });
        out.warnings.extend(object_notes(
            &segments,
            &objects_over_background,
            &object_display,
        ));
        let has_objects = object_info.is_some();
        let map = LabelMap::from_runs(class_info.width, class_info.height, labelled.runs, segments)
            .map_err(|what| Error::input(class_display, what))?;
        if has_objects {
            out.warnings
                .extend(objectless_note(&map, &self.class_names, &object_display));
        }
        Ok(map)
    }
}

/// Class pixels that lie in no object (labelme writes its `__ignore__` area
/// so): kept as their class, where CVAT's importer drops them.
fn objectless_note(map: &LabelMap, class_names: &[String], display: &str) -> Option<Warning> {
    let counts = map.pixel_counts();
    let objectless: Vec<String> = map
        .segments()
        .iter()
        .zip(&counts[1..])
        .filter(|(s, n)| s.instance.is_none() && **n > 0)
        .map(|(s, n)| format!("'{}' ({n} px)", class_names[s.class as usize]))
        .collect();
    (!objectless.is_empty()).then(|| {
        Warning::new(
            "class-without-object",
            format!(
                "{display}: pixels of {} lie in no object; they keep their class (CVAT's importer drops them)",
                objectless.join(", ")
            ),
        )
    })
}

/// Where this reading differs from CVAT's importer: objects over background,
/// objects spanning several classes.
fn object_notes(
    segments: &[Segment],
    over_background: &BTreeSet<u32>,
    display: &str,
) -> Vec<Warning> {
    let mut notes = Vec::new();
    if !over_background.is_empty() {
        let list: Vec<String> = over_background.iter().map(u32::to_string).collect();
        notes.push(Warning::new(
            "object-over-background",
            format!(
                "{display}: object(s) {} cover background pixels, which stay unlabeled (CVAT imports them as 'background' objects)",
                list.join(", ")
            ),
        ));
    }
    let mut classes_of_object: BTreeMap<u32, usize> = BTreeMap::new();
    for object in segments.iter().filter_map(|s| s.instance) {
        *classes_of_object.entry(object).or_default() += 1;
    }
    for (object, classes) in classes_of_object.into_iter().filter(|&(_, n)| n > 1) {
        notes.push(Warning::new(
            "object-spans-classes",
            format!(
                "{display}: object {object} covers pixels of {classes} classes; each pixel keeps its class (CVAT labels the whole object with one)"
            ),
        ));
    }
    notes
}

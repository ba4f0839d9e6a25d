//! Reading: the layout found from its folders, the class table from the
//! first table there is, an item per mask (and per image without one), and
//! each mask's values looked up in the table.

use super::tables::{ClassTable, parse_classes_json, parse_data_yaml_names, parse_dataset_meta};
use super::{
    CLASSES, DATA_YAML, DATASET_META, DEFAULT_SUBSET, INFO, Layout, candidate_roots,
    key_of_flat_name,
};
use crate::codec::{Palette, RowSource, png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, ItemDecoder};
use crate::formats::common::{file_extension, is_mac_metadata, read_mask_file, read_small_file};
use crate::io::Source;
use crate::losses::Diagnostics;
use crate::model::{
    Catalog, Class, ClassId, ClassKind, Color, FileRef, Item, LabelMap, MaskRef, Segment,
    path_to_key,
};
use crate::remap::label_pixels;
use crate::report::Warning;
use std::collections::HashMap;
use std::sync::Arc;

/// A semantic dataset found in an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// `""` or `top/`.
    pub root: String,
    pub layout: Layout,
    /// Datumaro's subset folders (`None`: a flat dataset; `Some` of the
    /// other layouts is unused).
    pub subsets: Vec<String>,
}

/// Whether a file of `files` (sorted) starts with `prefix`.
fn has_prefix(files: &[String], prefix: &str) -> bool {
    files_under(files, prefix).next().is_some()
}

/// The files of `files` (sorted) below `prefix`, with their indices, and
/// the rest of their paths.
fn files_under<'a>(
    files: &'a [String],
    prefix: &'a str,
) -> impl Iterator<Item = (usize, &'a String, &'a str)> + 'a {
    let at = files.partition_point(|f| f.as_str() < prefix);
    files[at..]
        .iter()
        .enumerate()
        .map_while(move |(i, f)| Some((at + i, f, f.strip_prefix(prefix)?)))
}

/// The semantic dataset of `source`, if it holds one: `ann_dir/` (mmseg),
/// `data.yaml` and `masks/` (Ultralytics), `dataset_meta.json` and
/// `masks/` at the root or in subset folders (Datumaro).
pub(super) fn find_dataset(source: &dyn Source) -> Option<Found> {
    let files = source.files();
    for root in candidate_roots(source) {
        let found = |layout, subsets| {
            Some(Found {
                root: root.clone(),
                layout,
                subsets,
            })
        };
        let masks = format!("{root}masks/");
        if has_prefix(files, &format!("{root}ann_dir/")) {
            return found(Layout::Mmseg, Vec::new());
        }
        if source.contains(&format!("{root}{DATA_YAML}")) && has_prefix(files, &masks) {
            return found(Layout::Ultralytics, Vec::new());
        }
        if source.contains(&format!("{root}{DATASET_META}")) && has_prefix(files, &masks) {
            return found(Layout::Datumaro, Vec::new());
        }
        let subsets: Vec<String> = files
            .iter()
            .filter_map(|f| {
                f.strip_prefix(root.as_str())?
                    .strip_suffix(&format!("/{DATASET_META}"))
            })
            .filter(|s| !s.contains('/') && has_prefix(files, &format!("{root}{s}/masks/")))
            .map(String::from)
            .collect();
        if !subsets.is_empty() {
            return found(Layout::Datumaro, subsets);
        }
    }
    None
}

/// Reads the semantic dataset of `source`.
pub(super) fn open(source: Arc<dyn Source>) -> Result<Dataset> {
    let Some(found) = find_dataset(&*source) else {
        return Err(Error::input(
            source.name(),
            "holds no semantic dataset (ann_dir/, masks/ with data.yaml, or masks/ with dataset_meta.json)",
        ));
    };
    let (table, table_path) = class_table(&*source, &found)?;
    let display = source.display(&table_path);
    let mut warnings = Vec::new();
    let (catalog, class_of) = catalog_of(&table, &display, &mut warnings)?;
    let items = items_of(&*source, &found);
    let decoder = SemanticDecoder {
        class_of,
        ignore: table.ignore,
        unlabeled: table.unlabeled,
        table: display,
    };
    Dataset::new(&INFO, source, catalog, items, warnings, Box::new(decoder))
}

/// Reads one kind of class table.
type ParseTable = fn(&[u8]) -> std::result::Result<ClassTable, String>;

/// The class table: `classes.json`, else Datumaro's `dataset_meta.json`
/// (the first subset's), else `data.yaml`'s names.
fn class_table(source: &dyn Source, found: &Found) -> Result<(ClassTable, String)> {
    let root = &found.root;
    let meta = match found.subsets.first() {
        Some(subset) => format!("{root}{subset}/{DATASET_META}"),
        None => format!("{root}{DATASET_META}"),
    };
    let candidates: [(String, ParseTable); 3] = [
        (format!("{root}{CLASSES}"), parse_classes_json),
        (meta, parse_dataset_meta),
        (format!("{root}{DATA_YAML}"), |bytes| {
            parse_data_yaml_names(&String::from_utf8_lossy(bytes))
        }),
    ];
    for (path, parse) in candidates {
        if source.contains(&path) {
            let bytes = read_small_file(source, &path)?;
            let table = parse(&bytes).map_err(|what| Error::input(source.display(&path), what))?;
            return Ok((table, path));
        }
    }
    Err(Error::input(
        source.name(),
        format!(
            "holds masks but no {CLASSES} naming their classes; write one: {{\"id2label\": {{\"0\": \"road\", \"1\": \"car\"}}}}"
        ),
    ))
}

/// The catalog (the table's classes but the unlabeled one, in value
/// order) and the class of each value.
fn catalog_of(
    table: &ClassTable,
    display: &str,
    warnings: &mut Vec<Warning>,
) -> Result<(Catalog, Vec<ClassId>)> {
    let widest = table.classes.last().map_or(0, |c| c.value as usize);
    let mut class_of = vec![0; widest + 1];
    let mut classes = Vec::new();
    for entry in table
        .classes
        .iter()
        .filter(|c| Some(c.value) != table.unlabeled)
    {
        let kind = if entry.thing {
            ClassKind::Thing
        } else {
            ClassKind::Stuff
        };
        let mut class = Class::new(entry.name.clone(), kind);
        class.color = entry.color.map(Color::Rgb8);
        classes.push(class);
        class_of[entry.value as usize] = classes.len() as ClassId;
    }
    let first = u32::from(table.unlabeled == Some(0));
    let gaps = table
        .classes
        .iter()
        .filter(|c| Some(c.value) != table.unlabeled)
        .zip(first..)
        .any(|(c, expected)| c.value != expected);
    if gaps {
        warnings.push(Warning::new(
            "class-ids-renumbered",
            format!("{display}: the class ids are not {first}..{} in order; a semantic dataset maskconv writes numbers its classes from {first} in this order", first as usize + classes.len() - 1),
        ));
    }
    let catalog = Catalog::new(classes).map_err(|what| Error::input(display, what))?;
    Ok((catalog, class_of))
}

/// Where one part of the dataset keeps its masks and images, and which
/// subset they are.
struct Part {
    masks: String,
    images: String,
    /// `None`: the subset is each file's first folder below `masks`.
    subset: Option<Option<String>>,
}

fn parts(found: &Found) -> Vec<Part> {
    let root = &found.root;
    let (images, masks) = found.layout.folders();
    match (found.layout, found.subsets.as_slice()) {
        (Layout::Datumaro, []) => vec![Part {
            masks: format!("{root}{masks}/"),
            images: format!("{root}{images}/"),
            subset: Some(None),
        }],
        (Layout::Datumaro, subsets) => subsets
            .iter()
            .map(|s| Part {
                masks: format!("{root}{s}/{masks}/"),
                images: format!("{root}{s}/{images}/"),
                subset: Some((s != DEFAULT_SUBSET).then(|| s.clone())),
            })
            .collect(),
        _ => vec![Part {
            masks: format!("{root}{masks}/"),
            images: format!("{root}{images}/"),
            subset: None,
        }],
    }
}

/// `(subset, path below the subset folder)` of a file `rest` below a part's folder.
fn split_subset(part: &Part, rest: &str) -> (Option<String>, String) {
    match &part.subset {
        Some(subset) => (subset.clone(), rest.to_string()),
        None => match rest.split_once('/') {
            Some((subset, below)) => (
                (subset != DEFAULT_SUBSET).then(|| subset.to_string()),
                below.to_string(),
            ),
            None => (None, rest.to_string()),
        },
    }
}

/// The key of a mask or image named `stem` (its path below its folder,
/// without extension).
fn key_of(found: &Found, stem: &str) -> String {
    match found.layout {
        Layout::Datumaro if !stem.contains('/') => key_of_flat_name(stem),
        _ => path_to_key(stem).into_owned(),
    }
}

/// The extensions of the files read as source images (Datumaro's, and
/// what mmsegmentation and Ultralytics load).
const IMAGE_EXTENSIONS: [&str; 8] = [
    ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif",
];

/// An item per mask (`.png`), in path order, with the image of the same
/// stem in its subset; then an item without mask per image without one.
fn items_of(source: &dyn Source, found: &Found) -> Vec<Item> {
    let files = source.files();
    let mut items: Vec<Item> = Vec::new();
    let mut by_key: HashMap<(Option<String>, String), usize> = HashMap::new();
    for part in parts(found) {
        for (index, path, rest) in files_under(files, &part.masks) {
            if is_mac_metadata(path) {
                continue;
            }
            let Some(stem) = rest
                .strip_suffix(".png")
                .or_else(|| rest.strip_suffix(".PNG"))
            else {
                continue;
            };
            let (subset, stem) = split_subset(&part, stem);
            let mut item = Item::new(key_of(found, &stem));
            item.subset = subset.clone();
            item.mask = Some(MaskRef::new(vec![FileRef::Listed(index as u32)]));
            by_key.insert((subset, stem), items.len());
            items.push(item);
        }
        for (_, path, rest) in files_under(files, &part.images) {
            let ext = file_extension(rest, "").to_ascii_lowercase();
            if is_mac_metadata(path) || !IMAGE_EXTENSIONS.contains(&ext.as_str()) {
                continue;
            }
            let stem = &rest[..rest.len() - ext.len()];
            let (subset, stem) = split_subset(&part, stem);
            match by_key.get(&(subset.clone(), stem.clone())) {
                Some(&at) if items[at].image.is_none() => items[at].image = Some(path.clone()),
                Some(_) => {}
                None => {
                    let mut item = Item::new(key_of(found, &stem));
                    item.subset = subset.clone();
                    item.image = Some(path.clone());
                    by_key.insert((subset, stem), items.len());
                    items.push(item);
                }
            }
        }
    }
    items
}

/// Looks every mask value up in the class table.
struct SemanticDecoder {
    /// The class of each value (0: none).
    class_of: Vec<ClassId>,
    ignore: u32,
    unlabeled: Option<u32>,
    /// How messages name the class table.
    table: String,
}

impl ItemDecoder for SemanticDecoder {
    fn decode(
        &self,
        source: &dyn Source,
        _item: &Item,
        mask: &MaskRef,
        _out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        let (bytes, display) = read_mask_file(source, &mask.files[0])?;
        let mut rows = png_rows(&bytes, &display, Palette::Indices)?;
        let info = *rows.info();
        if info.channels != 1 || !(info.file_bits == 8 || info.file_bits == 16 || info.was_palette)
        {
            return Err(Error::input(
                display,
                format!(
                    "is a {} PNG; semantic masks are 8- or 16-bit gray (or palette) PNGs, one class id per pixel",
                    info.describe_file()
                ),
            ));
        }
        let mut segments: Vec<Segment> = Vec::new();
        let mut segment_of_class: HashMap<ClassId, u32> = HashMap::new();
        let labelled = label_pixels(&mut rows, None, |key, _| {
            let value = key as u32;
            if value == self.ignore || Some(value) == self.unlabeled {
                return Some(0);
            }
            let class = *self.class_of.get(value as usize).filter(|&&c| c != 0)?;
            Some(*segment_of_class.entry(class).or_insert_with(|| {
                segments.push(Segment::new(class, None));
                segments.len() as u32
            }))
        })?;
        if let Some((&(value, _), &pixels)) = labelled.unresolved.iter().min() {
            let more = labelled.more_unresolved("such values");
            return Err(Error::input(
                display,
                format!(
                    "value {value} on {pixels} pixels is no class of {} (nor the ignore value {}){more}",
                    self.table, self.ignore
                ),
            ));
        }
        LabelMap::from_runs(info.width, info.height, labelled.runs, segments)
            .map_err(|what| Error::input(display, what))
    }
}

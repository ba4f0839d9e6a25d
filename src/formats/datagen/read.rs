//! Reading: finding the camera folders, merging every metadata file into one
//! catalog (with a colour table per file), and decoding each 16-bit mask.

use super::metadata::{self, Leaf};
use super::{
    BACKGROUND, CAMERA_METADATA, DEFAULT_IMAGE, ENVIRONMENT, INFO, ITEM_FILE, MASK_EXR, MASK_PNG,
    METADATA, camera_path, is_mask_file, split_mask_path,
};
use crate::codec::{Palette, RowSource, png_rows};
use crate::error::{Error, Result};
use crate::formats::api::{Dataset, ItemDecoder};
use crate::formats::common::{is_mac_metadata, read_small_file, several_datasets};
use crate::io::Source;
use crate::losses::{Diagnostics, Loss, LossCode};
use crate::model::{
    Catalog, Class, ClassId, ClassKind, Color, FileRef, Item, LabelMap, MaskRef, Segment, check_key,
};
use crate::remap::{PixelKey, label_pixels, pixel_key_of_rgb16, rgb16_of_pixel_key};
use crate::report::Warning;
use rayon::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Reads the metadata of the Datagen dataset in `source`.
pub(super) fn open(source: Arc<dyn Source>) -> Result<Dataset> {
    let (root, keys) = camera_folders(&*source)?;
    let mut warnings = Vec::new();

    // Each camera's mask and metadata file (camera folder, then frame, then
    // datapoint); `None`: a camera without segmentation (an item without mask).
    let files = source.files();
    let mut metadata_paths: Vec<&str> = Vec::new();
    let mut metadata_index: HashMap<&str, usize> = HashMap::new();
    let mut masks: Vec<Option<(FileRef, usize)>> = Vec::with_capacity(keys.len());
    for key in &keys {
        let mask = FileRef::in_input(files, format!("{root}{key}/{MASK_PNG}"));
        if !matches!(mask, FileRef::Listed(_)) {
            let exr = format!("{root}{key}/{MASK_EXR}");
            if source.contains(&exr) {
                return Err(Error::input(
                    source.display(&exr),
                    "is Datagen's January-2022 EXR segmentation (float colours, flat metadata), an unsupported legacy version; current Datagen releases write 16-bit semantic_segmentation.png",
                ));
            }
            masks.push(None);
            continue;
        }
        let candidates = metadata_candidates(&root, key);
        let Some(found) = candidates.iter().find_map(|c| source.listed(c)) else {
            return Err(Error::input(
                source.display(mask.input_path(files).expect("a file of the input")),
                format!(
                    "has no {METADATA} in its camera folder, frame folder or datapoint folder ({})",
                    candidates.join(", ")
                ),
            ));
        };
        let next = metadata_paths.len();
        let index = *metadata_index.entry(found).or_insert(next);
        if index == next {
            metadata_paths.push(found);
        }
        masks.push(Some((mask, index)));
    }

    // The small files read next, fetched in one go (one pass over a .tar.gz).
    let mut small: Vec<&str> = metadata_paths.clone();
    for key in &keys {
        for name in [ENVIRONMENT, ITEM_FILE, CAMERA_METADATA] {
            small.extend(source.listed(&format!("{root}{key}/{name}")));
        }
    }
    source.prefetch(&small)?;
    drop(small);
    let (catalog, colors, table_of_file, losses) =
        catalog_of(&metadata_paths, &*source, &mut warnings)?;
    drop((metadata_paths, metadata_index));

    let mut items = Vec::with_capacity(keys.len());
    for (key, mask) in keys.into_iter().zip(masks) {
        let dir = format!("{root}{key}");
        let mut item = Item::new(key);
        item.image = source_image(&*source, &dir, &mut warnings)?;
        let item_file = format!("{dir}/{ITEM_FILE}");
        if source.contains(&item_file) {
            read_item_file(&*source, &item_file, &mut item)?;
        }
        item.mask = mask.map(|(mask, metadata)| MaskRef {
            recipe: table_of_file[metadata],
            ..MaskRef::new(vec![mask])
        });
        items.push(item);
    }

    let decoder = DatagenDecoder { colors };
    let dataset = Dataset::new(&INFO, source, catalog, items, warnings, Box::new(decoder))?;
    Ok(dataset.with_losses(losses))
}

/// The dataset root and the key of every camera folder, sorted: those
/// holding a mask, and those of the same dataset without one (holding
/// `environment.json` or `maskconv_item.json`), which are items without mask.
fn camera_folders(source: &dyn Source) -> Result<(String, Vec<String>)> {
    let mut by_root: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for file in source.files().iter().filter(|f| is_mask_file(f)) {
        if let Some((root, key)) = split_mask_path(file) {
            by_root.entry(root).or_default().insert(key);
        }
    }
    match by_root.len() {
        1 => {
            let (root, mut keys) = by_root.into_iter().next().expect("one root");
            for file in source.files() {
                let name = file.rsplit('/').next().unwrap_or(file);
                if (name == ENVIRONMENT || name == ITEM_FILE)
                    && !is_mac_metadata(file)
                    && let Some((r, key)) = split_mask_path(file)
                    && r == root
                {
                    keys.insert(key);
                }
            }
            Ok((
                root.to_string(),
                keys.into_iter().map(String::from).collect(),
            ))
        }
        0 => {
            // A datapoint folder itself, passed instead of the folder holding it?
            let single = source
                .files()
                .iter()
                .any(|f| f.matches('/').count() == 1 && f.ends_with(&format!("/{MASK_PNG}")));
            let hint = if single {
                "; it looks like one datapoint folder: pass the folder that holds the datapoint_* folders"
            } else {
                ""
            };
            Err(Error::input(
                source.name(),
                format!(
                    "has no datapoint_*/<camera>/{MASK_PNG} (nor scene_* / environment_* folders); not a Datagen dataset{hint}"
                ),
            ))
        }
        _ => Err(several_datasets(source, "Datagen", by_root.keys().copied())),
    }
}

/// Colour key → class (0: background) of one metadata file, where it says
/// something another file contradicts (rare).
type ColorTable = HashMap<PixelKey, ClassId>;

/// How many metadata files are parsed at once (in parallel) while the
/// catalog is built: their parsed trees are dropped chunk by chunk.
const PARSE_CHUNK: usize = 64;

/// The colours of every metadata file, kept small however many files there
/// are: one dataset-wide colour → class table, and per distinct file the set
/// of its entries (a bit set), since files mostly agree with each other and
/// differ only in which classes they list. A file that gives a colour
/// another class keeps a table of its own.
#[derive(Default)]
struct Colors {
    /// Colour key → (class, entry number) over every file that agrees.
    all: HashMap<PixelKey, (ClassId, u32)>,
    tables: Vec<FileColors>,
}

/// The colours one metadata file (or several identical ones) defines.
enum FileColors {
    /// These entries of the dataset-wide table (bit `n` = entry `n`).
    Entries(Vec<u64>),
    /// A table of its own, which contradicts the dataset-wide one.
    Own(ColorTable),
}

impl Colors {
    /// The class of colour `key` in table `table`, if that file defines it.
    fn class_of(&self, table: u32, key: PixelKey) -> Option<ClassId> {
        match &self.tables[table as usize] {
            FileColors::Own(own) => own.get(&key).copied(),
            FileColors::Entries(bits) => {
                let &(class, entry) = self.all.get(&key)?;
                let word = bits.get(entry as usize / 64)?;
                (word >> (entry % 64) & 1 == 1).then_some(class)
            }
        }
    }
}

/// Builds the union of every metadata file's classes, in order of first
/// appearance, and their colours (see [`Colors`]). A class with another
/// colour than in an earlier file keeps its first colour (a loss); two
/// leaves of one file sharing a colour read as the first (a warning).
#[derive(Default)]
struct CatalogBuilder {
    classes: Vec<Class>,
    /// Class name → its id and the file that defined it first.
    class_of_name: HashMap<String, (ClassId, usize)>,
    conflicts: BTreeSet<(String, [u16; 3])>,
    losses: Vec<Loss>,
    colors: Colors,
    /// Each distinct set of entries, with its index in `colors.tables`.
    interned: HashMap<Vec<u64>, u32>,
    /// The table of each file, by file index.
    table_of_file: Vec<u32>,
}

impl CatalogBuilder {
    /// Adds file `file` (at `paths[file]`) with these leaves.
    fn add(
        &mut self,
        file: usize,
        leaves: Vec<Leaf>,
        paths: &[&str],
        source: &dyn Source,
        warnings: &mut Vec<Warning>,
    ) {
        let path = paths[file];
        let mut table = ColorTable::with_capacity(leaves.len());
        for leaf in leaves {
            let class = if leaf.name == BACKGROUND {
                0
            } else if let Some(&(id, first_file)) = self.class_of_name.get(leaf.name.as_str()) {
                let first = self.classes[id as usize - 1]
                    .color
                    .expect("datagen classes have colours");
                if first != Color::Rgb16(leaf.color)
                    && self.conflicts.insert((leaf.name.clone(), leaf.color))
                {
                    self.losses.push(Loss::new(
                        LossCode::ClassColourConflict,
                        format!(
                            "{}: class '{}' has colour {} here but {first} in {}; its pixels are read by name, and the class keeps its first colour",
                            source.display(path),
                            leaf.name,
                            Color::Rgb16(leaf.color),
                            source.display(paths[first_file])
                        ),
                    ));
                }
                id
            } else {
                self.classes.push(
                    Class::new(&leaf.name, ClassKind::Stuff).with_color(Color::Rgb16(leaf.color)),
                );
                let id = self.classes.len() as ClassId;
                self.class_of_name.insert(leaf.name.clone(), (id, file));
                id
            };
            let key = pixel_key_of_rgb16(leaf.color);
            if let Some(&other) = table.get(&key) {
                let other_name = if other == 0 {
                    BACKGROUND
                } else {
                    &self.classes[other as usize - 1].name
                };
                warnings.push(Warning::new(
                    "duplicate-colour",
                    format!(
                        "{}: '{}' has the same colour {} as '{other_name}'; its pixels read as '{other_name}'",
                        source.display(path),
                        leaf.name,
                        Color::Rgb16(leaf.color)
                    ),
                ));
                continue;
            }
            table.insert(key, class);
        }
        let index = self.intern(table);
        self.table_of_file.push(index);
    }

    /// The index of `table` among the distinct ones.
    fn intern(&mut self, table: ColorTable) -> u32 {
        let all = &mut self.colors.all;
        let agrees = table
            .iter()
            .all(|(key, class)| all.get(key).is_none_or(|(c, _)| c == class));
        if !agrees {
            self.colors.tables.push(FileColors::Own(table));
            return self.colors.tables.len() as u32 - 1;
        }
        let mut bits: Vec<u64> = Vec::new();
        for (key, &class) in &table {
            let next = all.len() as u32;
            let (_, entry) = *all.entry(*key).or_insert((class, next));
            let word = entry as usize / 64;
            if bits.len() <= word {
                bits.resize(word + 1, 0);
            }
            bits[word] |= 1 << (entry % 64);
        }
        let next = self.colors.tables.len() as u32;
        let index = *self.interned.entry(bits.clone()).or_insert(next);
        if index == next {
            self.colors.tables.push(FileColors::Entries(bits));
        }
        index
    }
}

/// Parses every metadata file (a chunk at a time, in parallel) into the
/// catalog, the colours, and each file's colour table.
fn catalog_of(
    paths: &[&str],
    source: &dyn Source,
    warnings: &mut Vec<Warning>,
) -> Result<(Catalog, Colors, Vec<u32>, Vec<Loss>)> {
    let mut builder = CatalogBuilder::default();
    for (chunk_index, chunk) in paths.chunks(PARSE_CHUNK).enumerate() {
        let parsed: Vec<Result<Vec<Leaf>>> = chunk
            .par_iter()
            .map(|path| metadata::parse(&read_small_file(source, path)?, &source.display(path)))
            .collect();
        for (offset, leaves) in parsed.into_iter().enumerate() {
            builder.add(
                chunk_index * PARSE_CHUNK + offset,
                leaves?,
                paths,
                source,
                warnings,
            );
        }
    }
    let catalog =
        Catalog::new(builder.classes).map_err(|what| Error::input(source.name(), what))?;
    Ok((
        catalog,
        builder.colors,
        builder.table_of_file,
        builder.losses,
    ))
}

/// Where the metadata file of the camera folder `root + key` may be: the
/// camera folder, then the frame folder, then the datapoint folder, as
/// Datagen's SDK looks.
fn metadata_candidates(root: &str, key: &str) -> Vec<String> {
    let path = camera_path(key).expect("keys come from camera folder paths");
    let mut candidates = vec![format!("{root}{key}/{METADATA}")];
    if let Some(frame) = path.frame {
        candidates.push(format!("{root}{}/{frame}/{METADATA}", path.datapoint));
    }
    candidates.push(format!("{root}{}/{METADATA}", path.datapoint));
    candidates
}

/// The camera's visible-spectrum image: the first image `environment.json`
/// names, else `visible_spectrum.png`, else the first `visible_spectrum*`
/// file — when it exists. An `environment.json` that is not JSON is a warning.
fn source_image(
    source: &dyn Source,
    dir: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Option<String>> {
    let environment = format!("{dir}/{ENVIRONMENT}");
    if source.contains(&environment) {
        match serde_json::from_slice::<Value>(&read_small_file(source, &environment)?) {
            Ok(json) => {
                let named = json
                    .get("environments")
                    .and_then(|e| e.get(0))
                    .and_then(|e| e.get("image_name"))
                    .and_then(Value::as_str);
                if let Some(name) = named {
                    let path = format!("{dir}/{name}");
                    if !source.contains(&path) {
                        warnings.push(Warning::new(
                            "image-missing",
                            format!(
                                "{}: names the image '{name}', which is not in the camera folder; the item has no image",
                                source.display(&environment)
                            ),
                        ));
                        return Ok(None);
                    }
                    return Ok(Some(path));
                }
            }
            Err(e) => warnings.push(Warning::new(
                "environment-json",
                format!(
                    "{}: is not valid JSON ({e}); looking for the camera's image by name",
                    source.display(&environment)
                ),
            )),
        }
    }
    let default = format!("{dir}/{DEFAULT_IMAGE}");
    if source.contains(&default) {
        return Ok(Some(default));
    }
    // The files are sorted: the first one after the prefix, if it has it.
    let prefix = format!("{dir}/visible_spectrum");
    let files = source.files();
    let first = files.partition_point(|f| f.as_str() < prefix.as_str());
    Ok(files
        .get(first)
        .filter(|f| f.starts_with(&prefix) && !f[prefix.len()..].contains('/'))
        .cloned())
}

/// Reads maskconv's `maskconv_item.json`: the item's original key and subset.
fn read_item_file(source: &dyn Source, path: &str, item: &mut Item) -> Result<()> {
    let display = source.display(path);
    let json: Value = serde_json::from_slice(&read_small_file(source, path)?)
        .map_err(|e| Error::input(&display, format!("is not valid JSON: {e}")))?;
    match json.get("key") {
        Some(Value::String(key)) => {
            check_key(key).map_err(|what| Error::input(&display, format!("'key': {what}")))?;
            item.key = key.clone();
        }
        None => {}
        Some(_) => return Err(Error::input(&display, "'key' is not a string")),
    }
    match json.get("subset") {
        Some(Value::String(subset)) => item.subset = Some(subset.clone()),
        None | Some(Value::Null) => {}
        Some(_) => return Err(Error::input(&display, "'subset' is not a string")),
    }
    Ok(())
}

/// Decodes one camera's 16-bit mask with its metadata file's colours (the
/// mask's recipe is their table's index).
struct DatagenDecoder {
    colors: Colors,
}

/// The size `camera_metadata.json` in `camera_dir` claims, if it has one:
/// its `resolution_px` (a field of the `CameraMetadata` record of Datagen's
/// SDK 1.10.6; no sample file shows it, nor whether it is `[w, h]` or
/// `[h, w]`, so the caller accepts either order).
fn claimed_size(source: &dyn Source, camera_dir: &str) -> Result<Option<(u64, u64)>> {
    let path = format!("{camera_dir}/{CAMERA_METADATA}");
    if !source.contains(&path) {
        return Ok(None);
    }
    let json: Value = serde_json::from_slice(&read_small_file(source, &path)?)
        .map_err(|e| Error::input(source.display(&path), format!("is not valid JSON: {e}")))?;
    let size = json
        .get("resolution_px")
        .and_then(Value::as_array)
        .and_then(|a| match a.as_slice() {
            [w, h] => Some((w.as_f64()? as u64, h.as_f64()? as u64)),
            _ => None,
        });
    Ok(size)
}

impl ItemDecoder for DatagenDecoder {
    fn decode(
        &self,
        source: &dyn Source,
        _item: &Item,
        mask: &MaskRef,
        _out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        let Some(path) = mask.files[0].input_path(source.files()) else {
            unreachable!("a Datagen mask is one file of the input")
        };
        let display = source.display(path);
        let bytes = source.read(path)?;
        let mut rows = png_rows(&bytes, &display, Palette::Expand)?;
        let info = *rows.info();
        if info.bits != 16 || info.channels < 3 || info.was_palette {
            let hint = if info.bits == 8 && info.channels >= 3 {
                "; it was probably re-saved by a tool that drops the low byte of each 16-bit channel (PIL, an image editor), which breaks Datagen's colours — use the original file"
            } else {
                ""
            };
            return Err(Error::input(
                display,
                format!(
                    "is a {} image; Datagen masks are 16-bit RGB{hint}",
                    info.describe()
                ),
            ));
        }
        let camera_dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        if let Some((w, h)) = claimed_size(source, camera_dir)?
            && (w, h) != (u64::from(info.width), u64::from(info.height))
            && (h, w) != (u64::from(info.width), u64::from(info.height))
        {
            return Err(Error::input(
                display,
                format!(
                    "is {}x{} but {CAMERA_METADATA} beside it claims resolution {w}x{h}",
                    info.width, info.height
                ),
            ));
        }
        let table = mask.recipe;
        let mut segments: Vec<Segment> = Vec::new();
        let mut segment_of: HashMap<ClassId, u32> = HashMap::new();
        let labelled = label_pixels(&mut rows, None, |key, _| {
            match self.colors.class_of(table, key) {
                Some(0) => Some(0),
                Some(class) => Some(*segment_of.entry(class).or_insert_with(|| {
                    segments.push(Segment::new(class, None));
                    segments.len() as u32
                })),
                None => None,
            }
        })?;
        if let Some((&(key, _), &pixels)) = labelled.unresolved.first_key_value() {
            let [r, g, b] = rgb16_of_pixel_key(key);
            let (root, key) = split_mask_path(path).expect("masks are in camera folders");
            let candidates = metadata_candidates(root, key);
            let metadata = candidates.iter().find(|c| source.contains(c));
            let more = labelled.more_unresolved("unknown colours");
            return Err(Error::input(
                display,
                format!(
                    "colour ({r},{g},{b}) on {pixels} pixel{} is not in {}; every pixel must equal a metadata leaf's colour exactly{more}",
                    if pixels == 1 { "" } else { "s" },
                    source.display(metadata.expect("the metadata file was found when opening"))
                ),
            ));
        }
        LabelMap::from_runs(info.width, info.height, labelled.runs, segments)
            .map_err(|what| Error::input(display, what))
    }
}

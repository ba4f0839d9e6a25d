//! The format registry: what every format module provides ([`Format`]), what
//! reading one yields ([`Dataset`]), how one is written ([`Writer`]), and the
//! single list of formats the rest of the tool consults ([`REGISTRY`]).
//!
//! Adding a format: write `formats/<name>.rs` implementing [`Format`], add it
//! to [`REGISTRY`], add its fixtures and its README row.

pub mod colors;
pub mod cvat;
pub mod datagen;
pub mod mask_url;
pub mod nucleus;
pub mod segments;

use crate::codec::Compression;
use crate::error::{Error, Result};
use crate::io::Source;
use crate::model::{Catalog, ClassKind, Item, LabelMap};
use crate::report::Note;
use mask_url::MaskRoot;
use std::sync::Arc;

/// Every format the tool knows, in the order `maskconv formats` lists them.
pub static REGISTRY: &[&dyn Format] = &[
    &cvat::Cvat,
    &datagen::Datagen,
    &nucleus::Nucleus,
    &segments::Segments,
];

/// What a format can hold when written — the basis of every declared loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holds {
    /// Instances of a class stay distinct.
    pub instances: bool,
    /// Most segments one image can hold (`None`: no limit below 2^32).
    pub max_segments_per_item: Option<u32>,
    /// Precision of stored class colours: 8, 16, or 0 when classes have no colour.
    pub color_bits: u8,
    /// Items keep their subset (train/val/...).
    pub subsets: bool,
    /// Per-segment attributes survive.
    pub segment_attributes: bool,
    /// The item's source image is copied along when it is inside the input.
    pub source_images: bool,
}

/// Static description of a format, shown by `maskconv formats`.
#[derive(Debug, Clone, Copy)]
pub struct FormatInfo {
    /// The name used with `--from` / `--to`.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// One line: what a dataset of this format is.
    pub description: &'static str,
    /// Whether the format can be read.
    pub can_read: bool,
    /// Whether the format can be written.
    pub can_write: bool,
    /// What a written dataset of this format can hold.
    pub holds: Holds,
    /// The format-specific command-line options that apply to it
    /// (`--mask-root`, `--url-prefix`, …); others are ignored with a warning.
    pub options: &'static [&'static str],
}

/// Options that shape how a dataset is read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// `--mask-root PREFIX=DIR`: remote mask URLs are read from local folders.
    pub mask_roots: Vec<MaskRoot>,
    /// `--labelset NAME`: which of a Segments.ai release's label sets to read
    /// (`None`: `ground-truth`).
    pub labelset: Option<String>,
}

impl ReadOptions {
    /// The options given that `format` does not use, by command-line name.
    pub fn unused_by(&self, format: &FormatInfo) -> Vec<&'static str> {
        let given = [
            ("--mask-root", !self.mask_roots.is_empty()),
            ("--labelset", self.labelset.is_some()),
        ];
        unused_options(&given, format)
    }
}

/// Options that shape how a dataset is written.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// PNG compression effort.
    pub compression: Compression,
    /// `--url-prefix URL`: written mask URLs are this prefix + the mask's
    /// path in the output (Nucleus), instead of the relative path.
    pub url_prefix: Option<String>,
    /// `--semantic`: one mask value per class, the same in every image
    /// (Nucleus), instead of one per segment.
    pub semantic: bool,
}

impl WriteOptions {
    /// `--url-prefix` as a folder URL (ending in `/`), if given.
    pub fn url_folder(&self) -> Option<String> {
        self.url_prefix.as_ref().map(|prefix| {
            if prefix.ends_with('/') {
                prefix.clone()
            } else {
                format!("{prefix}/")
            }
        })
    }

    /// The options given that `format` does not use, by command-line name.
    pub fn unused_by(&self, format: &FormatInfo) -> Vec<&'static str> {
        let given = [
            ("--url-prefix", self.url_prefix.is_some()),
            ("--semantic", self.semantic),
        ];
        unused_options(&given, format)
    }
}

fn unused_options(given: &[(&'static str, bool)], format: &FormatInfo) -> Vec<&'static str> {
    given
        .iter()
        .filter(|(name, set)| *set && !format.options.contains(name))
        .map(|(name, _)| *name)
        .collect()
}

/// One format: detection, reading, writing.
pub trait Format: Sync {
    /// Name, description and capabilities.
    fn info(&self) -> &'static FormatInfo;

    /// Whether `source` looks like this format. Must be silent and cheap
    /// (file names, at most a small file read) and never fail.
    fn detect(&self, source: &dyn Source) -> bool;

    /// Reads the dataset's metadata (catalog, items). Masks are decoded later,
    /// item by item, through [`Dataset::decode`].
    fn open(&self, source: Arc<dyn Source>, options: &ReadOptions) -> Result<Dataset>;

    /// A writer for this format.
    fn writer(&self, options: &WriteOptions) -> Result<Box<dyn Writer>>;
}

/// Decodes the masks of one opened dataset, one item at a time, from any thread.
pub trait ItemDecoder: Send + Sync {
    /// Decodes item `item` (index `index` in [`Dataset::items`]). `Ok(None)`:
    /// the item exists but has no mask (no annotations). Warnings go to `notes`.
    fn decode(&self, index: usize, item: &Item, notes: &mut Vec<Note>) -> Result<Option<LabelMap>>;

    /// The bytes of the item's source image when it is a file of the input.
    fn read_image(&self, _item: &Item) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// Announces the reads of a run over `items` (masks, and source images
    /// when `with_images`) to the source; returns warnings about them.
    fn plan(&self, _items: &[Item], _with_images: bool) -> Vec<Note> {
        Vec::new()
    }

    /// Files of the local disk that decoding reads outside the input itself
    /// (masks an annotation file names by absolute or relative path), so
    /// that an OUTPUT replacing them can be refused.
    fn local_files(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// A dataset opened for reading: metadata now, masks on demand.
pub struct Dataset {
    /// The format it was read as.
    pub format: &'static FormatInfo,
    /// The dataset-wide classes.
    pub catalog: Catalog,
    /// The items, in the format's natural order.
    pub items: Vec<Item>,
    /// Warnings found while reading the metadata.
    pub warnings: Vec<Note>,
    /// What the shared model could not keep of the input's metadata (e.g. a
    /// class with two colours keeps one): losses of any conversion, so
    /// `--strict` refuses them; `inspect` and `validate` show them as warnings.
    pub losses: Vec<Note>,
    decoder: Box<dyn ItemDecoder>,
}

impl Dataset {
    /// Assembles an opened dataset; checks item keys are valid and unique.
    pub fn new(
        format: &'static FormatInfo,
        catalog: Catalog,
        items: Vec<Item>,
        warnings: Vec<Note>,
        decoder: Box<dyn ItemDecoder>,
    ) -> Result<Self> {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for item in &items {
            crate::model::check_key(&item.key)
                .map_err(|what| Error::invalid_input(what).in_format(format.name))?;
            if !seen.insert(item.key.as_str()) {
                let what = format!("item '{}' appears twice in the dataset", item.key);
                return Err(Error::invalid_input(what).in_format(format.name));
            }
        }
        Ok(Dataset {
            format,
            catalog,
            items,
            warnings,
            losses: Vec::new(),
            decoder,
        })
    }

    /// The same dataset with these reading losses (see [`Dataset::losses`]).
    pub fn with_losses(mut self, losses: Vec<Note>) -> Self {
        self.losses = losses;
        self
    }

    /// Decodes item `index`'s mask (`None`: the item has no mask) and checks
    /// that every segment names a class of the catalog.
    pub fn decode(&self, index: usize, notes: &mut Vec<Note>) -> Result<Option<LabelMap>> {
        let item = &self.items[index];
        let map = self
            .decoder
            .decode(index, item, notes)
            .map_err(|e| e.in_format(self.format.name))?;
        if let Some(map) = &map
            && let Some(bad) = map
                .segments()
                .iter()
                .find(|s| !self.catalog.contains(s.class))
        {
            return Err(Error::input(
                &item.key,
                format!(
                    "segment refers to class id {} which the catalog does not have",
                    bad.class
                ),
            )
            .in_format(self.format.name));
        }
        Ok(map)
    }

    /// Announces a run over every item to the input (masks, and source
    /// images when `with_images`): a streamed archive then keeps what it
    /// reads past. Returns warnings (e.g. an archive order that is slow to read).
    pub fn plan(&self, with_images: bool) -> Vec<Note> {
        self.decoder.plan(&self.items, with_images)
    }

    /// Files of the local disk decoding reads outside the input (see
    /// [`ItemDecoder::local_files`]).
    pub fn local_files(&self) -> Vec<std::path::PathBuf> {
        self.decoder.local_files()
    }

    /// The bytes of item `index`'s source image, when it is a file of the input.
    pub fn read_image(&self, index: usize) -> Result<Option<Vec<u8>>> {
        self.decoder.read_image(&self.items[index])
    }
}

/// One file of a written dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// `/`-separated path relative to OUTPUT.
    pub path: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

impl OutputFile {
    /// A file at `path` holding `bytes`.
    pub fn new(path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        OutputFile {
            path: path.into(),
            bytes: bytes.into(),
        }
    }
}

/// Writes one format. `begin` sees the whole catalog and item list before any
/// pixel; `encode` runs on many threads at once, one item per call; `finish`
/// learns which items were actually written.
pub trait Writer: Send + Sync {
    /// Plans the output (class colours, ids, names) from metadata alone.
    /// Returns the files to write first; pushes losses and warnings it can
    /// already name. An error here means nothing can be written.
    fn begin(
        &mut self,
        dataset: &Dataset,
        losses: &mut Vec<Note>,
        warnings: &mut Vec<Note>,
    ) -> Result<Vec<OutputFile>>;

    /// Encodes one item. `map` is `None` for an item without a mask, `image`
    /// holds its source image bytes when the input has them. `Ok(None)`: the
    /// format cannot hold this item at all, and a pushed loss says why. An
    /// error skips the item under `--keep-going` and fails the run otherwise.
    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        losses: &mut Vec<Note>,
    ) -> Result<Option<Vec<OutputFile>>>;

    /// Files that depend on which items were written (subset lists, manifests).
    /// Pushes losses only known once every item is written.
    fn finish(&self, written: &[&Item], losses: &mut Vec<Note>) -> Result<Vec<OutputFile>>;
}

/// Finds a format by name or alias (case-insensitive).
pub fn find(name: &str) -> Result<&'static dyn Format> {
    let wanted = name.to_ascii_lowercase();
    REGISTRY
        .iter()
        .copied()
        .find(|f| f.info().name == wanted || f.info().aliases.contains(&wanted.as_str()))
        .ok_or_else(|| {
            Error::usage(format!(
                "unknown format '{name}'; known formats: {}",
                names()
            ))
        })
}

/// The names of all formats, comma-separated.
pub fn names() -> String {
    REGISTRY
        .iter()
        .map(|f| f.info().name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one readable format of the [`REGISTRY`] that `source` looks like. No
/// match is an input error; several matches is a usage error listing them.
pub fn detect(source: &dyn Source) -> Result<&'static dyn Format> {
    detect_among(REGISTRY, source)
}

/// [`detect`] over any list of formats.
pub fn detect_among(
    formats: &[&'static dyn Format],
    source: &dyn Source,
) -> Result<&'static dyn Format> {
    let candidates: Vec<&'static dyn Format> = formats
        .iter()
        .copied()
        .filter(|f| f.info().can_read && f.detect(source))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::input(
            source.name(),
            format!(
                "not recognised as any dataset format ({}); pass --from FORMAT",
                names()
            ),
        )),
        many => Err(Error::usage(format!(
            "{} looks like several formats: {}; pass --from to choose one",
            source.name(),
            many.iter()
                .map(|f| f.info().name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Whether `path` is macOS Finder metadata (`__MACOSX/…`, `._name`), which
/// archives made on a Mac carry and which is never part of a dataset.
pub fn is_mac_metadata(path: &str) -> bool {
    path.split('/')
        .any(|part| part == "__MACOSX" || part.starts_with("._"))
}

/// Files directly at the input's top, or in its one top folder when every
/// file is inside one (an archive of a folder), whose names end in one of
/// `extensions` (case-insensitive): where annotation-file formats (Nucleus,
/// Segments.ai) look for their file.
pub fn top_files<'a>(source: &'a dyn Source, extensions: &[&str]) -> Vec<&'a str> {
    let files: Vec<&str> = source
        .files()
        .iter()
        .map(String::as_str)
        .filter(|f| !is_mac_metadata(f))
        .collect();
    let top = files
        .first()
        .and_then(|f| f.split_once('/'))
        .map(|(t, _)| t);
    let root = match top {
        Some(top) if files.iter().all(|f| f.starts_with(&format!("{top}/"))) => {
            format!("{top}/")
        }
        _ => String::new(),
    };
    files
        .into_iter()
        .filter(|f| {
            f.strip_prefix(root.as_str()).is_some_and(|name| {
                let lower = name.to_ascii_lowercase();
                !name.contains('/') && extensions.iter().any(|ext| lower.ends_with(ext))
            })
        })
        .collect()
}

/// The one file among `candidates` whose content `holds` (given its path
/// and bytes) says is the annotation file, and its bytes. None is an error
/// saying the input holds no `expected`; several is an error listing them.
pub fn annotation_file(
    source: &dyn Source,
    candidates: &[&str],
    holds: fn(&str, &[u8]) -> bool,
    expected: &str,
) -> Result<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for path in candidates {
        let bytes = source.read(path)?;
        if holds(path, &bytes) {
            found.push((path.to_string(), bytes));
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one file")),
        0 => Err(Error::input(source.name(), format!("holds no {expected}"))),
        _ => Err(Error::input(
            source.name(),
            format!(
                "holds several annotation files ({}); pass the one to read as INPUT",
                found
                    .iter()
                    .map(|(p, _)| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The extension of the file named at the end of `path` (`.jpg` for
/// `a/b.c/img.jpg`, or for `https://h/img.jpg?sig=1`), or `default` when
/// it has none.
pub fn file_extension<'a>(path: &'a str, default: &'a str) -> &'a str {
    let path = match path.split_once("://") {
        // A URL: only its path counts (`https://h.com` has no extension).
        Some((_, rest)) => rest.find('/').map_or("", |slash| &rest[slash..]),
        None => path,
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let file = path.rsplit('/').next().unwrap_or(path);
    match file.rfind('.') {
        Some(dot) if dot > 0 => &file[dot..],
        _ => default,
    }
}

/// `bytes` without a leading UTF-8 byte order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// The item's source image, read from `source`, when the item has one.
pub fn read_item_image(source: &dyn Source, item: &Item) -> Result<Option<Vec<u8>>> {
    item.image
        .as_deref()
        .map(|path| source.read(path))
        .transpose()
}

/// Announces the reads of a run to `source` (see [`Source::plan_reads`]);
/// a warning `archive-order` when their order is slow to read.
pub fn announce_reads(source: &dyn Source, reads: &[&str]) -> Vec<Note> {
    source
        .plan_reads(reads)
        .map(|message| Note::new("archive-order", message))
        .into_iter()
        .collect()
}

/// The error for an input holding several datasets of one format, at these
/// roots (`a/`, `b/c/`): the user should pass one of them.
pub fn several_datasets<'a>(
    source: &dyn Source,
    format: &str,
    roots: impl Iterator<Item = &'a str>,
) -> Error {
    let roots: Vec<String> = roots
        .map(|r| format!("'{}'", r.trim_end_matches('/')))
        .collect();
    Error::input(
        source.name(),
        format!(
            "holds several {format} datasets ({}); pass one of them",
            roots.join(", ")
        ),
    )
}

/// Losses that follow from the target's capabilities alone, known before any
/// pixel is decoded: instances merged, subsets dropped, colour precision.
pub fn declared_losses(dataset: &Dataset, target: &FormatInfo) -> Vec<Note> {
    let holds = target.holds;
    let mut losses = Vec::new();
    let things: Vec<&str> = dataset
        .catalog
        .iter()
        .filter(|(_, c)| c.kind == ClassKind::Thing)
        .map(|(_, c)| c.name.as_str())
        .collect();
    if !holds.instances && dataset.format.holds.instances && !things.is_empty() {
        losses.push(Note::new(
            "instances-merged",
            format!(
                "{} cannot hold instances: the instances of each class are merged into one region ({} classes with instances, e.g. '{}')",
                target.name,
                things.len(),
                things[0]
            ),
        ));
    }
    if !holds.subsets
        && let Some(item) = dataset.items.iter().find(|i| i.subset.is_some())
    {
        losses.push(Note::new(
            "subsets-dropped",
            format!(
                "{} has no subsets: subset names (e.g. '{}') are dropped",
                target.name,
                item.subset.as_deref().unwrap_or_default()
            ),
        ));
    }
    let finer: Vec<&str> = dataset
        .catalog
        .iter()
        .filter(|(_, c)| {
            c.color
                .is_some_and(|col| holds.color_bits != 0 && col.bits() > holds.color_bits)
        })
        .map(|(_, c)| c.name.as_str())
        .collect();
    if !finer.is_empty() {
        losses.push(Note::new(
            "colour-precision",
            format!(
                "{} stores {}-bit class colours: {} class colours are rounded (e.g. '{}'); classes stay distinct",
                target.name,
                holds.color_bits,
                finer.len(),
                finer[0]
            ),
        ));
    }
    let coloured = dataset
        .catalog
        .iter()
        .filter(|(_, c)| c.color.is_some())
        .count();
    if holds.color_bits == 0 && coloured > 0 {
        losses.push(Note::new(
            "colours-dropped",
            format!(
                "{} stores no class colours: {coloured} class colours are dropped",
                target.name
            ),
        ));
    }
    losses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::io::MemorySource;

    /// A format that claims any input holding a file named after it.
    struct Claims(&'static FormatInfo);

    impl Format for Claims {
        fn info(&self) -> &'static FormatInfo {
            self.0
        }
        fn detect(&self, source: &dyn Source) -> bool {
            source.contains(self.0.name)
        }
        fn open(&self, _: Arc<dyn Source>, _: &ReadOptions) -> Result<Dataset> {
            unreachable!()
        }
        fn writer(&self, _: &WriteOptions) -> Result<Box<dyn Writer>> {
            unreachable!()
        }
    }

    const fn info(name: &'static str) -> FormatInfo {
        FormatInfo {
            name,
            aliases: &[],
            description: "",
            can_read: true,
            can_write: false,
            holds: Holds {
                instances: false,
                max_segments_per_item: None,
                color_bits: 0,
                subsets: false,
                segment_attributes: false,
                source_images: false,
            },
            options: &[],
        }
    }

    static A: FormatInfo = info("a");
    static B: FormatInfo = info("b");
    static CLAIMS_A: Claims = Claims(&A);
    static CLAIMS_B: Claims = Claims(&B);

    #[test]
    fn detection_picks_the_one_match_and_lists_several() {
        let formats: &[&'static dyn Format] = &[&CLAIMS_A, &CLAIMS_B];
        let files = |names: &[&str]| {
            MemorySource::new(
                "in",
                names.iter().map(|n| (n.to_string(), Vec::new())).collect(),
            )
        };
        assert_eq!(
            detect_among(formats, &files(&["a"])).unwrap().info().name,
            "a"
        );
        let none = detect_among(formats, &files(&["c"])).err().unwrap();
        assert_eq!(none.kind, ErrorKind::Input);
        let both = detect_among(formats, &files(&["a", "b"])).err().unwrap();
        assert_eq!(both.kind, ErrorKind::Usage);
        assert!(
            both.to_string()
                .contains("looks like several formats: a, b"),
            "{both}"
        );
    }

    #[test]
    fn formats_are_found_by_name_or_alias_case_insensitively() {
        assert_eq!(find("CVAT").unwrap().info().name, "cvat");
        assert_eq!(find("voc").unwrap().info().name, "cvat");
        assert_eq!(find("nope").err().unwrap().kind, ErrorKind::Usage);
    }
}

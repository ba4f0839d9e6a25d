//! What a format provides: detection and reading ([`Format`], returning a
//! [`Dataset`] whose items are decoded on demand by its [`ItemDecoder`]),
//! and writing ([`Writer`], configured for one dataset, which reports what
//! it can hold as [`Capabilities`]).
//!
//! The order of a conversion: [`Format::writer`] plans the output from the
//! metadata alone; [`Writer::header`] files are written first;
//! [`Writer::encode`] runs on many threads at once, one item per call; the
//! items' [`Record`]s travel back in item order, and [`Writer::finish`]
//! reads them to write the files that list the written items.

use super::options::{FormatOptions, OptionSpec};
use crate::codec::Compression;
use crate::error::{Error, Result};
use crate::io::{Sink, Source, Spill};
use crate::losses::{Capabilities, Diagnostics, Loss};
use crate::model::{Catalog, ClassId, FileRef, Item, LabelMap, MaskRef, check_key};
use crate::report::Warning;
use std::collections::BTreeSet;
use std::io::Read;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// Static description of a format, shown by `maskconv formats`.
#[derive(Debug)]
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
    /// What a written dataset holds with default options (a configured
    /// writer says what it holds with the options given).
    pub capabilities: Capabilities,
    /// The format-specific options its reader and writer take.
    pub options: &'static [&'static OptionSpec],
    /// A `.tar.gz` of this format holds the dataset in one top folder named
    /// after the archive, as Datagen's downloads do (a `.zip` never does).
    pub archive_folder: bool,
}

/// One format: detection, reading, writing.
pub trait Format: Sync {
    /// Name, description, capabilities and options.
    fn info(&self) -> &'static FormatInfo;

    /// Whether `source` looks like this format. Must be silent and cheap
    /// (file names, at most the start of a small file) and never fail.
    fn detect(&self, source: &dyn Source) -> bool;

    /// Reads the dataset's metadata (catalog, items and their mask
    /// handles). Masks are decoded later, item by item ([`Dataset::decode`]).
    /// Its errors need not name the format: [`open_dataset`](crate::open::open_dataset) adds it.
    fn open(&self, source: Arc<dyn Source>, options: &FormatOptions) -> Result<Dataset>;

    /// A writer of `dataset` in this format, planned from its metadata
    /// (class colours, ids, names). Pushes the losses and warnings it can
    /// already name; an error means nothing can be written (the conversion
    /// adds the format's name to it).
    fn writer<'a>(
        &self,
        dataset: &'a Dataset,
        options: &FormatOptions,
        compression: Compression,
        out: &mut Diagnostics,
    ) -> Result<Box<dyn Writer + 'a>>;
}

/// Decodes the masks of one opened dataset, one item at a time, from any
/// thread. It holds only dataset-wide tables (colour tables, label maps):
/// what is particular to an item is in its [`MaskRef`].
pub trait ItemDecoder: Send + Sync {
    /// Decodes the mask `mask` of `item`, reading its files from `source`.
    /// Warnings, and what the model cannot keep of this mask, go to `out`.
    fn decode(
        &self,
        source: &dyn Source,
        item: &Item,
        mask: &MaskRef,
        out: &mut Diagnostics,
    ) -> Result<LabelMap>;
}

/// Changes every decoded label map of a dataset (a label mapping), from any thread.
pub trait MapTransform: Send + Sync {
    /// The label map `map` of `item` as the new catalog has it.
    fn apply(&self, item: &Item, map: LabelMap) -> Result<LabelMap>;
}

/// A decoder followed by a [`MapTransform`].
struct Transformed {
    inner: Box<dyn ItemDecoder>,
    transform: Box<dyn MapTransform>,
}

impl ItemDecoder for Transformed {
    fn decode(
        &self,
        source: &dyn Source,
        item: &Item,
        mask: &MaskRef,
        out: &mut Diagnostics,
    ) -> Result<LabelMap> {
        let map = self.inner.decode(source, item, mask, out)?;
        self.transform.apply(item, map)
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
    pub warnings: Vec<Warning>,
    /// What the shared model could not keep of the input's metadata (a
    /// class with two colours keeps one): losses of any conversion, so
    /// `--strict` refuses them; `inspect` and `validate` show them as warnings.
    pub losses: Vec<Loss>,
    source: Arc<dyn Source>,
    decoder: Box<dyn ItemDecoder>,
}

impl Dataset {
    /// Assembles an opened dataset; checks item keys are valid and unique.
    pub fn new(
        format: &'static FormatInfo,
        source: Arc<dyn Source>,
        catalog: Catalog,
        items: Vec<Item>,
        warnings: Vec<Warning>,
        decoder: Box<dyn ItemDecoder>,
    ) -> Result<Self> {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for item in &items {
            check_key(&item.key)
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
            source,
            decoder,
        })
    }

    /// The same dataset with its classes changed: `catalog` is the new
    /// class table, and `transform` turns each decoded label map into one
    /// of its classes (a label mapping, `--map`).
    pub fn with_classes_mapped(
        mut self,
        catalog: Catalog,
        transform: Box<dyn MapTransform>,
    ) -> Self {
        self.catalog = catalog;
        self.decoder = Box::new(Transformed {
            inner: self.decoder,
            transform,
        });
        self
    }

    /// The same dataset with these reading losses (see [`Dataset::losses`]).
    pub fn with_losses(mut self, losses: Vec<Loss>) -> Self {
        self.losses = losses;
        self
    }

    /// The input it was read from.
    pub fn source(&self) -> &dyn Source {
        &*self.source
    }

    /// Decodes item `index`'s mask (`None`: the item has no mask) and checks
    /// that every segment names a class of the catalog.
    pub fn decode(&self, index: usize, out: &mut Diagnostics) -> Result<Option<LabelMap>> {
        let item = &self.items[index];
        let Some(mask) = &item.mask else {
            return Ok(None);
        };
        let map = self
            .decoder
            .decode(&*self.source, item, mask, out)
            .map_err(|e| e.in_format(self.format.name))?;
        if let Some(bad) = map
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
        Ok(Some(map))
    }

    /// The bytes of item `index`'s source image, when it is a file of the input.
    pub fn read_image(&self, index: usize) -> Result<Option<Vec<u8>>> {
        self.items[index]
            .image
            .as_deref()
            .map(|path| self.source.read(path))
            .transpose()
    }

    /// Announces a run over the items at positions `range` to the input (mask files, and source
    /// images when `with_images`): a streamed archive then keeps what it
    /// reads past. Returns a warning when their order is slow to read.
    pub fn announce_reads(&self, with_images: bool, range: Range<usize>) -> Vec<Warning> {
        let mut reads: Vec<&str> = Vec::with_capacity(range.len() * 2);
        for item in &self.items[range] {
            for file in item.mask.iter().flat_map(|m| &m.files) {
                reads.extend(file.input_path(self.source.files()));
            }
            if with_images && let Some(image) = &item.image {
                reads.push(image);
            }
        }
        self.source
            .announce_reads(&reads)
            .map(|message| Warning::new("archive-order", message))
            .into_iter()
            .collect()
    }

    /// The folders of the local disk holding files that decoding reads
    /// outside the input itself (masks an annotation file names by path),
    /// so that an OUTPUT replacing them can be refused.
    pub fn folders_read_outside(&self) -> BTreeSet<PathBuf> {
        let mut folders = BTreeSet::new();
        for file in self
            .items
            .iter()
            .flat_map(|i| i.mask.iter().flat_map(|m| &m.files))
        {
            let path = match (file, file.input_path(self.source.files())) {
                (FileRef::Local(path), _) => Some(path.clone()),
                (_, Some(path)) => self.source.outside_input(path),
                (_, None) => None,
            };
            if let Some(folder) = path.as_deref().and_then(|p| p.parent())
                && !folders.contains(folder)
            {
                folders.insert(folder.to_path_buf());
            }
        }
        folders
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

/// What a writer makes of one item: its files, and what it leaves for
/// [`Writer::finish`].
#[derive(Debug, Default)]
pub struct Encoded {
    /// The item's own files (masks, images), written right away.
    pub files: Vec<OutputFile>,
    /// What `finish` reads back, in item order.
    pub record: Record,
}

/// What one written item leaves for [`Writer::finish`]: its entry in the
/// files that list every item (an NDJSON line, a release sample), and the
/// classes it names. Records wait in item order on disk, not in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The item's entry, as the writer will write it.
    pub text: String,
    /// The classes the written item names.
    pub classes: Vec<ClassId>,
}

/// The written items and their records, in item order, for [`Writer::finish`].
pub struct Written<'a> {
    items: &'a [Item],
    indices: Vec<u32>,
    records: Spill,
}

impl<'a> Written<'a> {
    /// Nothing written yet; records wait in `records`.
    pub fn new(items: &'a [Item], records: Spill) -> Self {
        Written {
            items,
            indices: Vec::new(),
            records,
        }
    }

    /// Notes that item `index` was written, leaving `record`.
    pub fn push(&mut self, index: usize, record: &Record) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(8 + record.text.len() + 4 * record.classes.len());
        bytes.extend_from_slice(&(record.text.len() as u32).to_le_bytes());
        bytes.extend_from_slice(record.text.as_bytes());
        bytes.extend_from_slice(&(record.classes.len() as u32).to_le_bytes());
        for class in &record.classes {
            bytes.extend_from_slice(&class.to_le_bytes());
        }
        self.records.append(&bytes)?;
        self.indices.push(index as u32);
        Ok(())
    }

    /// Called once the last item is written, before the records are read.
    pub fn seal(&mut self) -> std::io::Result<()> {
        self.records.flush()
    }

    /// How many items were written.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True when no item was written.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The written items, in item order.
    pub fn items(&self) -> impl Iterator<Item = &'a Item> + '_ {
        self.indices.iter().map(|&i| &self.items[i as usize])
    }

    /// The written items with their records, in item order (read back from
    /// where they waited; may be called several times, once sealed).
    pub fn records(&self) -> impl Iterator<Item = std::io::Result<(&'a Item, Record)>> + '_ {
        self.indexed_records()
            .map(|record| record.map(|(index, record)| (&self.items[index], record)))
    }

    /// The written items' indices (in the dataset's items) with their
    /// records, in item order (see [`Written::records`]).
    pub fn indexed_records(&self) -> impl Iterator<Item = std::io::Result<(usize, Record)>> + '_ {
        let mut reader = self.records.reader();
        self.indices.iter().map(move |&index| {
            let text_len = read_u32(&mut reader)? as usize;
            let mut text = vec![0u8; text_len];
            reader.read_exact(&mut text)?;
            let text = String::from_utf8(text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let count = read_u32(&mut reader)? as usize;
            let classes = (0..count)
                .map(|_| read_u32(&mut reader))
                .collect::<std::io::Result<Vec<ClassId>>>()?;
            Ok((index as usize, Record { text, classes }))
        })
    }
}

fn read_u32(reader: &mut impl Read) -> std::io::Result<u32> {
    let mut bytes = [0u8; 4];
    reader.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// Writes one format, configured for one dataset (see [`Format::writer`]).
pub trait Writer: Sync {
    /// What the written dataset can hold, with the options given.
    fn capabilities(&self) -> Capabilities;

    /// Files written before any item (CVAT's `labelmap.txt`).
    fn header(&self) -> Vec<OutputFile> {
        Vec::new()
    }

    /// Folders the written dataset has even when no file goes into them
    /// (Datumaro's COCO importer needs `images/`).
    fn folders(&self) -> Vec<String> {
        Vec::new()
    }

    /// Encodes one item. `map` is `None` for an item without a mask (only
    /// for formats whose capabilities hold them); `image` holds its source
    /// image bytes when the input has them and the format keeps them. An
    /// error skips the item under `--keep-going` and fails the run otherwise.
    fn encode(
        &self,
        item: &Item,
        map: Option<&LabelMap>,
        image: Option<&[u8]>,
        out: &mut Diagnostics,
    ) -> Result<Encoded>;

    /// Writes the files that depend on which items were written (subset
    /// lists, manifests) into `sink`, streaming from `written`'s records.
    /// Pushes losses only known once every item is written.
    fn finish(&self, written: &Written, sink: &mut dyn Sink, out: &mut Diagnostics) -> Result<()>;
}

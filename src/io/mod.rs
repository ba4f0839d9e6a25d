//! Where bytes come from and go to. A [`Source`] is a read-only view of the
//! input (folder, `.zip` or `.tar.gz`, read in place, never extracted); a [`Sink`]
//! receives output files. [`Output`] is the real sink: it builds the result at
//! a temporary sibling of OUTPUT and renames it into place only when complete.
//! Format code sees these traits; the one door to the rest of the disk is
//! [`read_local_file`], for files an annotation file names by path.

use crate::error::{Error, ErrorKind, Result};
use crate::report::Warning;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod folder;
mod output;
mod spill;
mod targz;
mod targz_out;
pub mod temporaries;
mod zip;
mod zip_out;

pub use folder::FolderSource;
pub use output::{
    ConcurrentSink, MemorySink, Output, OutputOptions, Sink, refuse_output_holding_input_files,
};
pub use spill::Spill;
pub use targz::TarGzSource;
pub use zip::ZipSource;
pub use zip_out::ZipOut;

/// The largest file read whole into memory (a mask, an image, a metadata
/// file): part of each worker's memory budget (README "Safety").
pub const MAX_WHOLE_FILE_BYTES: u64 = 64 << 20;

/// The largest file read as a stream, a piece at a time (a Nucleus NDJSON,
/// a Segments.ai release).
pub const MAX_STREAM_BYTES: u64 = 1 << 30;

/// A read-only dataset input: a set of files named by `/`-separated relative paths.
pub trait Source: Send + Sync {
    /// The input as the user named it (used in messages).
    fn name(&self) -> &str;
    /// Every regular file, as a `/`-separated path relative to the input root, sorted.
    fn files(&self) -> &[String];
    /// The whole content of one file, at most [`MAX_WHOLE_FILE_BYTES`].
    fn read(&self, path: &str) -> Result<Vec<u8>>;

    /// Streams one file to `read` (at most [`MAX_STREAM_BYTES`]), for files
    /// too large to hold whole (a Nucleus NDJSON, a Segments.ai release). By
    /// default the file is read whole.
    fn read_with(
        &self,
        path: &str,
        read: &mut dyn FnMut(&mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        read(&mut &self.read(path)?[..])
    }

    /// The first `max` bytes of one file (all of it when it is shorter).
    fn read_prefix(&self, path: &str, max: usize) -> Result<Vec<u8>> {
        let mut prefix = Vec::new();
        let display = self.display(path);
        self.read_with(path, &mut |reader| {
            reader
                .take(max as u64)
                .read_to_end(&mut prefix)
                .map(drop)
                .map_err(|e| Error::io(ErrorKind::Input, &display, &e))
        })?;
        Ok(prefix)
    }

    /// How to name `path` in a message: `INPUT/path`.
    fn display(&self, path: &str) -> String {
        format!("{}/{}", self.name().trim_end_matches('/'), path)
    }

    /// `path` as the input's file list holds it (borrowed from the list),
    /// when it is there.
    fn listed(&self, path: &str) -> Option<&str> {
        let files = self.files();
        let index = files.binary_search_by(|f| f.as_str().cmp(path)).ok()?;
        Some(files[index].as_str())
    }

    /// Whether `path` is a file of this input.
    fn contains(&self, path: &str) -> bool {
        self.listed(path).is_some()
    }

    /// Reads these (small) files now, in one go, so that later reads of them
    /// are cheap: a streamed archive fetches them in one pass; other sources
    /// do nothing.
    fn prefetch(&self, _paths: &[&str]) -> Result<()> {
        Ok(())
    }

    /// Announces the files a run will read, in about this order. A streamed
    /// archive keeps these (and only these) when it has to read past them,
    /// and says so, as a message for people, when the order will make it
    /// decompress the archive several times; other sources ignore it.
    fn announce_reads(&self, _paths: &[&str]) -> Option<String> {
        None
    }

    /// The folder on disk that this input's relative paths start from, when
    /// the input is on disk (a folder, or the folder of a single file given
    /// as INPUT); `None` for archives. Formats whose files refer to other
    /// files by path (Nucleus' `mask_url`) resolve paths that leave the input
    /// against it.
    fn local_dir(&self) -> Option<&Path> {
        None
    }

    /// The file of the local disk that `path` (a file this input names) is,
    /// when it lies outside what INPUT itself is: a file beside an
    /// annotation file given as INPUT. `None` for files inside a folder or
    /// archive INPUT (OUTPUT may never be there anyway).
    fn outside_input(&self, _path: &str) -> Option<PathBuf> {
        None
    }

    /// What listing the input noticed and left out (links that leave a
    /// folder INPUT, names that are not UTF-8), as warnings for the report.
    fn warnings(&self) -> Vec<Warning> {
        Vec::new()
    }
}

/// Opens a folder, a `.zip` or a `.tar.gz` / `.tgz` as a [`Source`].
pub fn open_source(path: &Path) -> Result<Arc<dyn Source>> {
    let name = path.display().to_string();
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(&name, "no such file or folder"),
        _ => Error::io(ErrorKind::Input, &name, &e),
    })?;
    if meta.is_dir() {
        return Ok(Arc::new(FolderSource::open(path)?));
    }
    if !meta.is_file() {
        return Err(Error::input(
            name,
            format!(
                "is {}, not a regular file or folder",
                kind_of(&meta.file_type())
            ),
        ));
    }
    let lower = name.to_ascii_lowercase();
    let mut magic = [0u8; 4];
    let magic = File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| magic)
        .unwrap_or_default();
    if magic[..2] == [0x1f, 0x8b] || lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        return Ok(Arc::new(TarGzSource::open(path)?));
    }
    if magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06" || lower.ends_with(".zip") {
        return Ok(Arc::new(ZipSource::open(path)?));
    }
    if FILE_INPUT_EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) {
        return Ok(Arc::new(FileSource::open(path)?));
    }
    Err(Error::input(
        name,
        "is neither a folder, a .zip or .tar.gz archive, nor a .json / .ndjson / .jsonl file",
    ))
}

/// Extensions of single files accepted as INPUT (annotation files that refer
/// to their masks by path).
const FILE_INPUT_EXTENSIONS: [&str; 3] = [".json", ".ndjson", ".jsonl"];

/// Reads a file of the local disk that an input refers to by path (an
/// absolute `mask_url`, say), with the same size cap as input files.
pub fn read_local_file(path: &Path) -> Result<Vec<u8>> {
    read_path(path, &path.display().to_string())
}

/// What a file that is not a regular file is, for messages ("a FIFO").
fn kind_of(file_type: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        return "a folder";
    }
    if file_type.is_symlink() {
        return "a symlink";
    }
    "not a regular file"
}

/// The size of the regular file at `path` (symlinks followed), or an error
/// naming `display` for anything else: a missing file, a dangling link, a
/// folder, a FIFO or a device (which would block or never end), or a file
/// larger than `limit` (refused before any of it is read).
fn regular_file_size(path: &Path, display: &str, limit: u64) -> Result<u64> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if fs::symlink_metadata(path).is_ok() => {
            Error::input(display, "is a symlink to a file that does not exist")
        }
        std::io::ErrorKind::NotFound => Error::input(display, "no such file"),
        _ => Error::io(ErrorKind::Input, display, &e),
    })?;
    if !meta.is_file() {
        let kind = kind_of(&meta.file_type());
        return Err(Error::input(
            display,
            format!("is {kind}, not a regular file; only regular files are read"),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(display, limit));
    }
    Ok(meta.len())
}

/// The error for a file over `limit` bytes.
pub(crate) fn too_large(display: &str, limit: u64) -> Error {
    let what = match limit {
        MAX_WHOLE_FILE_BYTES => "files read whole (masks, images, metadata)",
        _ => "annotation files",
    };
    Error::input(
        display,
        format!("is larger than {} MiB, the limit for {what}", limit >> 20),
    )
}

/// Reads the regular file at `path` within [`MAX_WHOLE_FILE_BYTES`], named
/// `display` in errors.
fn read_path(path: &Path, display: &str) -> Result<Vec<u8>> {
    let size = regular_file_size(path, display, MAX_WHOLE_FILE_BYTES)?;
    let file = File::open(path).map_err(|e| Error::io(ErrorKind::Input, display, &e))?;
    read_capped(file, display, size)
}

/// Streams the regular file at `path` to `read` within [`MAX_STREAM_BYTES`].
fn read_path_with(
    path: &Path,
    display: &str,
    read: &mut dyn FnMut(&mut dyn Read) -> Result<()>,
) -> Result<()> {
    regular_file_size(path, display, MAX_STREAM_BYTES)?;
    let file = File::open(path).map_err(|e| Error::io(ErrorKind::Input, display, &e))?;
    read(&mut CappedReader::new(
        BufReader::with_capacity(1 << 16, file),
        display,
    ))
}

/// A reader that fails once more than [`MAX_STREAM_BYTES`] have been read.
pub(crate) struct CappedReader<R> {
    inner: R,
    left: u64,
    display: String,
}

impl<R: Read> CappedReader<R> {
    pub(crate) fn new(inner: R, display: &str) -> Self {
        CappedReader {
            inner,
            left: MAX_STREAM_BYTES,
            display: display.to_string(),
        }
    }
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(too_large(&self.display, MAX_STREAM_BYTES).to_string())
        })?;
        Ok(n)
    }
}

/// A single annotation file given as INPUT (a Nucleus NDJSON, say). It is
/// the one file listed; the files it refers to by relative path are read
/// from its folder.
pub struct FileSource {
    dir: PathBuf,
    name: String,
    files: Vec<String>,
}

impl FileSource {
    /// The file at `path`, which must exist and be a regular file.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::input(&name, "the file name is not valid UTF-8"))?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(FileSource {
            dir,
            files: vec![file_name.to_string()],
            name,
        })
    }
}

impl FileSource {
    /// The disk path of `path` (which must stay in the file's folder) and
    /// its name for messages.
    fn locate(&self, path: &str) -> Result<(PathBuf, String)> {
        let display = self.display(path);
        match stays_inside(path) {
            true => Ok((self.dir.join(path), display)),
            false => Err(Error::input(
                display,
                "is not a path inside the input's folder",
            )),
        }
    }
}

impl Source for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let (full, display) = self.locate(path)?;
        read_path(&full, &display)
    }

    fn read_with(
        &self,
        path: &str,
        read: &mut dyn FnMut(&mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let (full, display) = self.locate(path)?;
        read_path_with(&full, &display, read)
    }

    fn outside_input(&self, path: &str) -> Option<PathBuf> {
        (path != self.files[0]).then(|| self.dir.join(path))
    }

    fn display(&self, path: &str) -> String {
        if path == self.files[0] {
            self.name.clone()
        } else {
            self.dir.join(path).display().to_string()
        }
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    /// The file itself, or a file beside it (what relative paths in it name).
    fn contains(&self, path: &str) -> bool {
        path == self.files[0] || (stays_inside(path) && self.dir.join(path).is_file())
    }
}

/// Whether a relative `/`-separated path stays inside the folder it starts
/// from (not absolute, no `..`).
fn stays_inside(path: &str) -> bool {
    !Path::new(path).is_absolute() && !path.split('/').any(|part| part == "..")
}

/// Reads `reader` to its end within [`MAX_WHOLE_FILE_BYTES`] (whatever a
/// header claimed); `size` (the expected length) sizes the buffer once.
pub(crate) fn read_capped(reader: impl Read, display: &str, size: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size.min(MAX_WHOLE_FILE_BYTES) as usize);
    reader
        .take(MAX_WHOLE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(ErrorKind::Input, display, &e))?;
    if bytes.len() as u64 > MAX_WHOLE_FILE_BYTES {
        return Err(too_large(display, MAX_WHOLE_FILE_BYTES));
    }
    Ok(bytes)
}

/// Refuses an archive entry name (`kind`: "zip", "tar") that is absolute or
/// climbs out with `..`.
pub(crate) fn check_entry_name(kind: &str, entry: &str) -> std::result::Result<(), String> {
    let absolute =
        entry.starts_with('/') || entry.starts_with('\\') || entry.get(1..2) == Some(":");
    if absolute {
        return Err(format!(
            "{kind} entry '{entry}' has an absolute path; refusing to read this archive"
        ));
    }
    if entry.split(['/', '\\']).any(|part| part == "..") {
        return Err(format!(
            "{kind} entry '{entry}' contains '..' and points outside the archive; refusing to read this archive"
        ));
    }
    Ok(())
}

/// An in-memory [`Source`], for tests and for callers that build datasets in code.
#[derive(Default)]
pub struct MemorySource {
    name: String,
    files: Vec<String>,
    contents: BTreeMap<String, Vec<u8>>,
}

impl MemorySource {
    /// A source named `name` holding `files` (path → bytes).
    pub fn new(name: impl Into<String>, files: BTreeMap<String, Vec<u8>>) -> Self {
        MemorySource {
            name: name.into(),
            files: files.keys().cloned().collect(),
            contents: files,
        }
    }
}

impl Source for MemorySource {
    fn name(&self) -> &str {
        &self.name
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.contents
            .get(path)
            .cloned()
            .ok_or_else(|| Error::input(self.display(path), "no such file"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_that_escape_are_refused() {
        assert!(check_entry_name("zip", "../x.png").is_err());
        assert!(check_entry_name("zip", "a/../../x.png").is_err());
        assert!(check_entry_name("zip", "/etc/passwd").is_err());
        assert!(check_entry_name("zip", "C:/x").is_err());
        assert!(check_entry_name("zip", "a/b..c/x.png").is_ok());
    }
}

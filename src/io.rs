//! Where bytes come from and go to. A [`Source`] is a read-only view of the
//! input (folder, `.zip` or `.tar.gz`, read in place, never extracted); a [`Sink`]
//! receives output files. [`Output`] is the real sink: it builds the result at
//! a temporary sibling of OUTPUT and renames it into place only when complete.
//! Format code only ever sees these traits.

use crate::error::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The largest single file (uncompressed) the tool reads into memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// A read-only dataset input: a set of files named by `/`-separated relative paths.
pub trait Source: Send + Sync {
    /// The input as the user named it (used in messages).
    fn name(&self) -> &str;
    /// Every regular file, as a `/`-separated path relative to the input root, sorted.
    fn files(&self) -> &[String];
    /// The whole content of one file.
    fn read(&self, path: &str) -> Result<Vec<u8>>;

    /// How to name `path` in a message: `INPUT/path`.
    fn display(&self, path: &str) -> String {
        format!("{}/{}", self.name().trim_end_matches('/'), path)
    }

    /// Whether `path` is a file of this input.
    fn contains(&self, path: &str) -> bool {
        self.files()
            .binary_search_by(|f| f.as_str().cmp(path))
            .is_ok()
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
    fn plan_reads(&self, _paths: &[&str]) -> Option<String> {
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
}

mod targz;
pub use targz::TarGzSource;

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

/// Reads the file at `path` within the size cap, named `display` in errors.
fn read_path(path: &Path, display: &str) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::input(display, "no such file"),
        _ => Error::io(ErrorKind::Input, display, &e),
    })?;
    let size = file.metadata().map_or(0, |m| m.len());
    read_capped(file, display, size)
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

impl Source for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let display = self.display(path);
        if !stays_inside(path) {
            return Err(Error::input(
                display,
                "is not a path inside the input's folder",
            ));
        }
        read_path(&self.dir.join(path), &display)
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

/// A folder on disk.
pub struct FolderSource {
    root: PathBuf,
    name: String,
    files: Vec<String>,
}

impl FolderSource {
    /// Lists every regular file under `root` (following symlinks, skipping
    /// names that are not UTF-8).
    pub fn open(root: &Path) -> Result<Self> {
        let name = root.display().to_string();
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(root).follow_links(true) {
            let entry = entry.map_err(|e| {
                let path = e
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or(name.clone());
                Error::input(path, format!("cannot list: {e}"))
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(root)
                .expect("walkdir stays under its root");
            let parts: Option<Vec<&str>> =
                rel.components().map(|c| c.as_os_str().to_str()).collect();
            if let Some(parts) = parts {
                files.push(parts.join("/"));
            }
        }
        files.sort();
        Ok(FolderSource {
            root: root.to_path_buf(),
            name,
            files,
        })
    }
}

impl Source for FolderSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        read_path(&self.root.join(path), &self.display(path))
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.root)
    }
}

/// Reads `reader` to its end within [`MAX_FILE_BYTES`]; `size` (the
/// expected length) sizes the buffer once.
fn read_capped(reader: impl Read, display: &str, size: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size.min(MAX_FILE_BYTES) as usize);
    reader
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(ErrorKind::Input, display, &e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::input(
            display,
            format!("file is larger than the {} MiB limit", MAX_FILE_BYTES >> 20),
        ));
    }
    Ok(bytes)
}

/// A `.zip` archive read in place. Each read clones the archive handle (the
/// central directory is shared), so workers read entries concurrently.
pub struct ZipSource {
    name: String,
    archive: zip::ZipArchive<SharedFile>,
    files: Vec<String>,
}

impl ZipSource {
    /// Opens the archive and checks every entry name: an entry whose name is
    /// absolute or contains `..` makes the whole archive an error.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(ErrorKind::Input, &name, &e))?;
        let archive = zip::ZipArchive::new(
            SharedFile::new(file).map_err(|e| Error::io(ErrorKind::Input, &name, &e))?,
        )
        .map_err(|e| Error::input(&name, format!("not a readable zip archive: {e}")))?;
        let mut files = Vec::with_capacity(archive.len());
        for index in 0..archive.len() {
            let entry = archive
                .by_index_data(index)
                .map_err(|e| Error::input(&name, format!("zip entry #{index}: {e}")))?;
            let entry_name = entry
                .name()
                .map_err(|e| Error::input(&name, format!("zip entry #{index}: {e}")))?
                .to_string();
            check_entry_name("zip", &entry_name).map_err(|what| Error::input(&name, what))?;
            if entry.is_dir() {
                continue;
            }
            if entry.encrypted() {
                return Err(Error::input(
                    &name,
                    format!(
                        "zip entry '{entry_name}' is encrypted; encrypted archives are not supported"
                    ),
                ));
            }
            files.push(entry_name);
        }
        files.sort();
        if files.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::input(
                &name,
                "the zip archive has two entries with the same name",
            ));
        }
        Ok(ZipSource {
            name,
            archive,
            files,
        })
    }
}

/// Refuses an archive entry name (`kind`: "zip", "tar") that is absolute or
/// climbs out with `..`.
fn check_entry_name(kind: &str, entry: &str) -> std::result::Result<(), String> {
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

impl Source for ZipSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let display = self.display(path);
        let mut archive = self.archive.clone();
        let entry = archive
            .by_name(path)
            .map_err(|e| Error::input(&display, format!("cannot read zip entry: {e}")))?;
        if entry.size() > MAX_FILE_BYTES {
            return Err(Error::input(
                &display,
                format!(
                    "entry is larger than the {} MiB limit",
                    MAX_FILE_BYTES >> 20
                ),
            ));
        }
        let size = entry.size();
        read_capped(entry, &display, size)
    }
}

/// A file handle with its own position, cheap to clone, read with positional
/// reads so that clones never disturb each other.
#[derive(Clone)]
struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl SharedFile {
    fn new(file: File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(SharedFile {
            file: Arc::new(file),
            pos: 0,
            len,
        })
    }
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.pos)
    }
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

/// Receives the files of a converted dataset, one at a time, in a deterministic order.
pub trait Sink {
    /// Adds one file at `path` (`/`-separated, relative).
    fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<()>;

    /// A writer many threads may call at once, when the order of writes
    /// does not matter (a folder: each file is its own); the pipeline then
    /// writes each item's files from the worker that made them. `None` (the
    /// default, a zip): every file goes through [`Sink::write_file`], in order.
    fn concurrent(&self) -> Option<Arc<dyn ConcurrentSink>> {
        None
    }
}

/// Writes files from many threads at once (see [`Sink::concurrent`]).
pub trait ConcurrentSink: Send + Sync {
    /// Adds one file at `path` (`/`-separated, relative).
    fn write_file(&self, path: &str, bytes: &[u8]) -> Result<()>;
}

/// A folder being filled, from any thread.
struct FolderSink {
    root: PathBuf,
    /// How OUTPUT is named in messages.
    display: String,
    /// Folders already made (so each is made once).
    created_dirs: Mutex<HashSet<PathBuf>>,
}

impl ConcurrentSink for FolderSink {
    fn write_file(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let display = format!("{}/{path}", self.display);
        check_entry_name("output", path).map_err(|what| Error::output(&display, what))?;
        let full = self.root.join(path);
        if let Some(dir) = full.parent() {
            let made = self
                .created_dirs
                .lock()
                .expect("no writer thread panicked")
                .contains(dir);
            if !made {
                // create_dir_all tolerates another thread making the same folder.
                fs::create_dir_all(dir).map_err(|e| Error::io(ErrorKind::Output, &display, &e))?;
                self.created_dirs
                    .lock()
                    .expect("no writer thread panicked")
                    .insert(dir.to_path_buf());
            }
        }
        fs::write(&full, bytes).map_err(|e| Error::io(ErrorKind::Output, &display, &e))
    }
}

/// A [`Sink`] that keeps everything in memory (tests, library callers).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// path → bytes of every file written.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Sink for MemorySink {
    fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.files.insert(path.to_string(), bytes.to_vec());
        Ok(())
    }
}

/// Where a conversion writes: a folder, or a `.zip` when OUTPUT ends in `.zip`.
/// Everything goes to a hidden temporary sibling first; [`Output::publish`]
/// renames it into place. Dropped unpublished, it removes the temporary.
pub struct Output {
    final_path: PathBuf,
    temp_path: PathBuf,
    display: String,
    zip: Option<zip::ZipWriter<Discardable>>,
    /// Set when the output is abandoned: the zip file stops being written.
    discard: Arc<AtomicBool>,
    /// The temporary folder, when OUTPUT is a folder.
    folder: Option<Arc<FolderSink>>,
    force: bool,
    published: bool,
}

impl Output {
    /// Prepares to write `output`. Refuses (usage error) an existing output
    /// without `force`, an output that is, lies inside or contains `input`.
    pub fn create(output: &Path, input: &Path, force: bool) -> Result<Output> {
        Self::check(output, input, force)?;
        let display = output.display().to_string();
        let file_name = output
            .file_name()
            .ok_or_else(|| Error::usage(format!("{display} does not name a file or folder")))?
            .to_string_lossy()
            .into_owned();
        let parent = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)
            .map_err(|e| Error::io(ErrorKind::Output, parent.display().to_string(), &e))?;
        let temp_path = parent.join(format!(".{file_name}.maskconv-tmp-{}", std::process::id()));
        remove_any(&temp_path);
        let discard = Arc::new(AtomicBool::new(false));
        let mut folder = None;
        let zip = if file_name.to_ascii_lowercase().ends_with(".zip") {
            let file = File::create(&temp_path)
                .map_err(|e| Error::io(ErrorKind::Output, temp_path.display().to_string(), &e))?;
            Some(zip::ZipWriter::new(Discardable {
                file: BufWriter::with_capacity(1 << 20, file),
                discard: discard.clone(),
                pos: 0,
                len: 0,
            }))
        } else {
            fs::create_dir(&temp_path)
                .map_err(|e| Error::io(ErrorKind::Output, temp_path.display().to_string(), &e))?;
            folder = Some(Arc::new(FolderSink {
                root: temp_path.clone(),
                display: display.clone(),
                created_dirs: Mutex::new(HashSet::new()),
            }));
            None
        };
        Ok(Output {
            final_path: output.to_path_buf(),
            temp_path,
            display,
            zip,
            discard,
            folder,
            force,
            published: false,
        })
    }

    /// The checks [`Output::create`] makes, without creating anything: lets a
    /// caller refuse a bad OUTPUT before reading the input.
    pub fn check(output: &Path, input: &Path, force: bool) -> Result<()> {
        let lower = output.to_string_lossy().to_ascii_lowercase();
        if [".tar.gz", ".tgz", ".tar"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        {
            return Err(Error::usage(format!(
                "{}: writing tar archives is not supported; give a folder or a .zip",
                output.display()
            )));
        }
        check_output_location(input, output)?;
        if fs::symlink_metadata(output).is_ok() && !force {
            return Err(Error::usage(format!(
                "{} already exists; pass --force to replace it",
                output.display()
            )));
        }
        Ok(())
    }

    /// Completes the output and renames it into place (replacing an existing
    /// output only when `force` was given).
    pub fn publish(mut self) -> Result<()> {
        let out_err = |e: &dyn std::fmt::Display| Error::output(&self.display, e.to_string());
        if let Some(zip) = self.zip.take() {
            let mut writer = zip.finish().map_err(|e| out_err(&e))?;
            writer.flush().map_err(|e| out_err(&e))?;
        }
        if fs::symlink_metadata(&self.final_path).is_ok() {
            if !self.force {
                return Err(Error::usage(format!(
                    "{} appeared while converting; pass --force to replace it",
                    self.display
                )));
            }
            let old = self.temp_path.with_file_name(
                self.temp_path
                    .file_name()
                    .expect("temp path has a name")
                    .to_string_lossy()
                    .replace(".maskconv-tmp-", ".maskconv-old-"),
            );
            fs::rename(&self.final_path, &old).map_err(|e| out_err(&e))?;
            fs::rename(&self.temp_path, &self.final_path).map_err(|e| out_err(&e))?;
            remove_any(&old);
        } else {
            fs::rename(&self.temp_path, &self.final_path).map_err(|e| out_err(&e))?;
        }
        self.published = true;
        Ok(())
    }
}

impl Sink for Output {
    fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        if let Some(zip) = &mut self.zip {
            let display = format!("{}/{path}", self.display);
            check_entry_name("output", path).map_err(|what| Error::output(&display, what))?;
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .last_modified_time(zip::DateTime::default())
                .unix_permissions(0o644)
                .large_file(bytes.len() as u64 >= u32::MAX as u64);
            zip.start_file(path, options)
                .and_then(|_| zip.write_all(bytes).map_err(Into::into))
                .map_err(|e| Error::output(&display, e.to_string()))?;
            return Ok(());
        }
        self.folder
            .as_ref()
            .expect("an output is a zip or a folder")
            .write_file(path, bytes)
    }

    fn concurrent(&self) -> Option<Arc<dyn ConcurrentSink>> {
        self.folder
            .clone()
            .map(|folder| folder as Arc<dyn ConcurrentSink>)
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.published {
            // The zip writer finishes the archive when dropped: let it write
            // into the void rather than into a file about to be removed.
            self.discard.store(true, Ordering::Relaxed);
            self.zip = None;
            remove_any(&self.temp_path);
        }
    }
}

/// The zip output file, whose writes can be switched off when the output is
/// abandoned (so that dropping the zip writer neither writes nor complains).
/// Keeps its own position and length so that, once discarding, seeks and
/// writes still behave like a file's.
struct Discardable {
    file: BufWriter<File>,
    discard: Arc<AtomicBool>,
    pos: u64,
    len: u64,
}

impl Discardable {
    fn discarding(&self) -> bool {
        self.discard.load(Ordering::Relaxed)
    }
}

impl Write for Discardable {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = if self.discarding() {
            buf.len()
        } else {
            self.file.write(buf)?
        };
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.discarding() {
            Ok(())
        } else {
            self.file.flush()
        }
    }
}

impl Seek for Discardable {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = if self.discarding() {
            match to {
                SeekFrom::Start(p) => Some(p),
                SeekFrom::End(d) => self.len.checked_add_signed(d),
                SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            }
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start")
            })?
        } else {
            self.file.seek(to)?
        };
        Ok(self.pos)
    }
}

fn remove_any(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// `path` made absolute with symlinks resolved, even when its last components
/// do not exist yet.
fn resolve(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path)
        .map_err(|e| Error::io(ErrorKind::Usage, path.display().to_string(), &e))?;
    // Component by component, as the kernel walks it: `..` leaves the
    // (already resolved) folder, and every existing prefix has its symlinks
    // resolved, so `missing/../in/out` and `link/out` are seen for what they are.
    let mut resolved = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            other => {
                resolved.push(other);
                if let Ok(real) = resolved.canonicalize() {
                    resolved = real;
                }
            }
        }
    }
    Ok(resolved)
}

/// Refuses an OUTPUT that is or contains a folder holding `files` the
/// input reads outside itself (masks an annotation file names by path):
/// replacing OUTPUT would destroy them.
pub fn check_output_spares(output: &Path, files: &[PathBuf]) -> Result<()> {
    let output_abs = resolve(output)?;
    let folders: std::collections::BTreeSet<&Path> =
        files.iter().filter_map(|f| f.parent()).collect();
    for folder in folders {
        if resolve(folder)?.starts_with(&output_abs) {
            return Err(Error::usage(format!(
                "OUTPUT {} holds {}, whose files the input reads (e.g. its masks); choose another OUTPUT",
                output.display(),
                folder.display()
            )));
        }
    }
    Ok(())
}

fn check_output_location(input: &Path, output: &Path) -> Result<()> {
    let input_abs = resolve(input)?;
    let output_abs = resolve(output)?;
    let (i, o) = (input.display(), output.display());
    if output_abs == input_abs {
        return Err(Error::usage(format!(
            "OUTPUT {o} is the INPUT itself; the input is never written"
        )));
    }
    if output_abs.starts_with(&input_abs) {
        return Err(Error::usage(format!(
            "OUTPUT {o} is inside INPUT {i}; choose a place outside the input"
        )));
    }
    if input_abs.starts_with(&output_abs) {
        return Err(Error::usage(format!(
            "OUTPUT {o} contains INPUT {i}; replacing it would destroy the input"
        )));
    }
    Ok(())
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

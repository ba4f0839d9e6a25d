//! Output: the [`Sink`] format writers write into, and [`Output`], the
//! real one, built at a hidden temporary sibling of OUTPUT and renamed into
//! place only when complete; plus the checks that keep OUTPUT away from the
//! input.

use super::targz_out::TarGzOut;
use super::temporaries::{self, Live, OLD_TAG, TMP_TAG, sibling_name};
use super::zip_out::ZipOut;
use super::{Spill, check_entry_name};
use crate::error::{Error, ErrorKind, Result};
use crate::report::Warning;
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Receives the files of a converted dataset, one at a time, in a deterministic order.
pub trait Sink {
    /// Adds one file at `path` (`/`-separated, relative).
    fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<()>;

    /// Adds one file at `path` whose content `fill` writes, piece by piece
    /// (a manifest listing every item: never held whole in memory). By
    /// default the pieces are gathered and written with [`Sink::write_file`].
    fn write_stream(
        &mut self,
        path: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let mut bytes = Vec::new();
        fill(&mut bytes).map_err(|e| Error::output(path, e.to_string()))?;
        self.write_file(path, &bytes)
    }

    /// Adds an empty folder at `path` (`/`-separated, relative, no slash at
    /// the end), kept even when no file goes into it. By default (a sink
    /// in memory) nothing is kept.
    fn write_folder(&mut self, _path: &str) -> Result<()> {
        Ok(())
    }

    /// A folder for temporary files of this output (records waiting for the
    /// end of the run), on the output's disk; `None`: keep them in memory.
    fn scratch_dir(&self) -> Option<&Path> {
        None
    }

    /// Whether the disk written to cannot tell file names apart that differ
    /// only in letter case (a folder on macOS or Windows, usually).
    fn case_insensitive(&self) -> bool {
        false
    }

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

impl FolderSink {
    /// The full path of output file `path`, its folder made.
    fn prepare(&self, path: &str, display: &str) -> Result<PathBuf> {
        let full = self.root.join(path);
        if let Some(dir) = full.parent() {
            let made = self
                .created_dirs
                .lock()
                .expect("no writer thread panicked")
                .contains(dir);
            if !made {
                create_below(&self.root, dir)
                    .map_err(|e| Error::io(ErrorKind::Output, display, &e))?;
                self.created_dirs
                    .lock()
                    .expect("no writer thread panicked")
                    .insert(dir.to_path_buf());
            }
        }
        Ok(full)
    }
}

/// Makes folder `dir` and those between it and `root`, but never `root`
/// itself: once an interruption has removed the temporary, writes fail
/// instead of making it again. Another thread making the same folder is fine.
fn create_below(root: &Path, dir: &Path) -> std::io::Result<()> {
    if dir == root || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| *p != root) {
        create_below(root, parent)?;
    }
    match fs::create_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        done => done,
    }
}

impl ConcurrentSink for FolderSink {
    fn write_file(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let display = format!("{}/{path}", self.display);
        check_entry_name("output", path).map_err(|what| Error::output(&display, what))?;
        let full = self.prepare(path, &display)?;
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

/// How an [`Output`] is written beyond its path.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputOptions {
    /// Replace an existing OUTPUT.
    pub force: bool,
    /// The gzip level of a `.tar.gz` OUTPUT (0–9).
    pub gzip_level: u32,
    /// A `.tar.gz` OUTPUT holds its files in one top folder named after it
    /// (`faces.tar.gz` → `faces/…`), as Datagen's downloads do.
    pub archive_folder: bool,
}

/// An archive OUTPUT being written.
enum Archive {
    Zip(ZipOut<BufWriter<File>>),
    TarGz(TarGzOut<BufWriter<File>>),
}

/// Where a conversion writes: a folder, or a `.zip` / `.tar.gz` / `.tgz`
/// archive when OUTPUT's name ends so.
/// Everything goes to a hidden temporary sibling first; [`Output::publish`]
/// renames it into place. Dropped unpublished, it removes the temporary.
pub struct Output {
    final_path: PathBuf,
    temp_path: PathBuf,
    display: String,
    archive: Option<Archive>,
    /// What every path is put under (`faces/`), or nothing.
    prefix: String,
    /// The temporary folder, when OUTPUT is a folder.
    folder: Option<Arc<FolderSink>>,
    force: bool,
    published: bool,
    /// Its entry among the outputs being written (removed on interruption).
    id: u64,
    /// Parent folders of OUTPUT this run made (removed if it fails), outermost first.
    made_parents: Vec<PathBuf>,
    /// Temporaries of killed runs found and removed beside OUTPUT.
    stale: Vec<Warning>,
}

impl Output {
    /// Prepares to write `output`. Refuses (usage error) an existing output
    /// without `force`, an output that is, lies inside or contains `input`.
    pub fn create(output: &Path, input: &Path, force: bool) -> Result<Output> {
        let options = OutputOptions {
            force,
            gzip_level: 1,
            ..OutputOptions::default()
        };
        Self::create_with(output, input, options)
    }

    /// [`Output::create`] with every option.
    pub fn create_with(output: &Path, input: &Path, options: OutputOptions) -> Result<Output> {
        let force = options.force;
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
        let made_parents = missing_folders(&parent);
        fs::create_dir_all(&parent).map_err(|e| {
            temporaries::remove_empty_folders(&made_parents);
            Error::io(ErrorKind::Output, parent.display().to_string(), &e)
        })?;
        let stale = temporaries::remove_stale(&parent, &file_name);
        let temp_path = parent.join(sibling_name(&file_name, TMP_TAG, std::process::id()));
        temporaries::remove_path(&temp_path);
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let failed = |e: &std::io::Error| {
            temporaries::remove_empty_folders(&made_parents);
            // Errors name OUTPUT, not the hidden temporary.
            Error::io(ErrorKind::Output, &display, e)
        };
        let kind = ArchiveKind::of(&file_name);
        // Made and registered under the lock of the outputs being written:
        // an interruption either comes first (and nothing is made) or
        // finds it and removes it.
        let archive_file = {
            let mut live = temporaries::live();
            if temporaries::interrupted() {
                return Err(failed(&std::io::Error::other("interrupted")));
            }
            let archive_file = match kind.is_some() {
                true => Some(File::create(&temp_path).map_err(|e| failed(&e))?),
                false => {
                    fs::create_dir(&temp_path).map_err(|e| failed(&e))?;
                    None
                }
            };
            live.push(Live {
                id,
                temp: temp_path.clone(),
                made_parents: made_parents.clone(),
            });
            archive_file
        };
        Ok(Output {
            final_path: output.to_path_buf(),
            temp_path: temp_path.clone(),
            display: display.clone(),
            archive: archive_file.map(|file| {
                let out = BufWriter::with_capacity(1 << 20, file);
                match kind {
                    Some(ArchiveKind::TarGz) => {
                        Archive::TarGz(TarGzOut::new(out, options.gzip_level, Some(parent.clone())))
                    }
                    _ => Archive::Zip(ZipOut::new(out, Spill::new(Some(&parent)))),
                }
            }),
            prefix: match (kind, options.archive_folder) {
                (Some(ArchiveKind::TarGz), true) => format!("{}/", ArchiveKind::stem(&file_name)),
                _ => String::new(),
            },
            folder: kind.is_none().then(|| {
                Arc::new(FolderSink {
                    root: temp_path,
                    display: display.clone(),
                    created_dirs: Mutex::new(HashSet::new()),
                })
            }),
            force,
            published: false,
            id,
            made_parents,
            stale,
        })
    }

    /// What creating the output noticed: temporaries of killed runs that it
    /// removed beside OUTPUT.
    pub fn warnings(&self) -> &[Warning] {
        &self.stale
    }

    /// The checks [`Output::create`] makes, without creating anything: lets a
    /// caller refuse a bad OUTPUT before reading the input.
    pub fn check(output: &Path, input: &Path, force: bool) -> Result<()> {
        let lower = output.to_string_lossy().to_ascii_lowercase();
        if lower.ends_with(".tar") {
            return Err(Error::usage(format!(
                "{}: writing uncompressed tar archives is not supported; give a folder, a .zip or a .tar.gz",
                output.display()
            )));
        }
        check_output_location(input, output)?;
        if let Ok(meta) = fs::symlink_metadata(output) {
            let kind = meta.file_type();
            if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
                return Err(Error::usage(format!(
                    "{} is {}; OUTPUT may only replace a file, a folder or a symlink",
                    output.display(),
                    super::kind_of(&kind)
                )));
            }
            if !force {
                return Err(Error::usage(format!(
                    "{} already exists; pass --force to replace it",
                    output.display()
                )));
            }
        }
        Ok(())
    }

    /// Completes the output and renames it into place (replacing an existing
    /// output only when `force` was given).
    pub fn publish(mut self) -> Result<()> {
        let out_err = |e: &dyn std::fmt::Display| Error::output(&self.display, e.to_string());
        let finished = match self.archive.take() {
            Some(Archive::Zip(zip)) => zip.finish().map(drop),
            Some(Archive::TarGz(tar)) => tar.finish().map(drop),
            None => Ok(()),
        };
        finished.map_err(|e| out_err(&e))?;
        // An interruption waits for the renames (and then finds nothing to
        // remove); one that came first has removed the temporary.
        let mut live = temporaries::live();
        if !live.iter().any(|l| l.id == self.id) {
            return Err(Error::output(
                &self.display,
                "interrupted before it was published",
            ));
        }
        if fs::symlink_metadata(&self.final_path).is_ok() {
            if !self.force {
                return Err(Error::usage(format!(
                    "{} appeared while converting; pass --force to replace it",
                    self.display
                )));
            }
            let file_name = self.final_path.file_name().expect("OUTPUT has a name");
            let old = self.temp_path.with_file_name(sibling_name(
                &file_name.to_string_lossy(),
                OLD_TAG,
                std::process::id(),
            ));
            fs::rename(&self.final_path, &old).map_err(|e| out_err(&e))?;
            if let Err(e) = fs::rename(&self.temp_path, &self.final_path) {
                // Put the old OUTPUT back: a failed run leaves it as it was.
                let _ = fs::rename(&old, &self.final_path);
                return Err(out_err(&e));
            }
            temporaries::remove_path(&old);
        } else {
            fs::rename(&self.temp_path, &self.final_path).map_err(|e| out_err(&e))?;
        }
        self.published = true;
        temporaries::note_published();
        live.retain(|l| l.id != self.id);
        Ok(())
    }
}

impl Sink for Output {
    fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let display = format!("{}/{path}", self.display);
        check_entry_name("output", path).map_err(|what| Error::output(&display, what))?;
        let entry = format!("{}{path}", self.prefix);
        let added = match &mut self.archive {
            Some(Archive::Zip(zip)) => zip.add(&entry, bytes),
            Some(Archive::TarGz(tar)) => tar.add(&entry, bytes),
            None => return self.folder().write_file(path, bytes),
        };
        added.map_err(|e| Error::output(&display, e.to_string()))
    }

    fn write_folder(&mut self, path: &str) -> Result<()> {
        let display = format!("{}/{path}", self.display);
        check_entry_name("output", path).map_err(|what| Error::output(&display, what))?;
        // Archives mark a folder by a name ending in `/`.
        let entry = format!("{}{path}/", self.prefix);
        let added = match &mut self.archive {
            Some(Archive::Zip(zip)) => zip.add(&entry, &[]),
            Some(Archive::TarGz(tar)) => tar.add(&entry, &[]),
            None => {
                let folder = self.folder();
                return create_below(&folder.root, &folder.root.join(path))
                    .map_err(|e| Error::io(ErrorKind::Output, &display, &e));
            }
        };
        added.map_err(|e| Error::output(&display, e.to_string()))
    }

    fn write_stream(
        &mut self,
        path: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let display = format!("{}/{path}", self.display);
        check_entry_name("output", path).map_err(|what| Error::output(&display, what))?;
        let failed = |e: &dyn std::fmt::Display| Error::output(&display, e.to_string());
        let entry = format!("{}{path}", self.prefix);
        match &mut self.archive {
            Some(Archive::Zip(zip)) => {
                return zip.add_streamed(&entry, fill).map_err(|e| failed(&e));
            }
            Some(Archive::TarGz(tar)) => {
                return tar.add_streamed(&entry, fill).map_err(|e| failed(&e));
            }
            None => {}
        }
        let full = self.folder().prepare(path, &display)?;
        let file = File::create(&full).map_err(|e| failed(&e))?;
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        fill(&mut writer)
            .and_then(|()| writer.flush())
            .map_err(|e| failed(&e))
    }

    fn concurrent(&self) -> Option<Arc<dyn ConcurrentSink>> {
        self.folder
            .clone()
            .map(|folder| folder as Arc<dyn ConcurrentSink>)
    }

    fn scratch_dir(&self) -> Option<&Path> {
        self.temp_path.parent()
    }

    fn case_insensitive(&self) -> bool {
        // Probed in the output's own temporary folder: a name written in
        // lower case, looked up in upper case.
        let Some(folder) = &self.folder else {
            return false;
        };
        let probe = folder.root.join(".maskconv-case-probe");
        let written = fs::write(&probe, b"").is_ok();
        let insensitive = written && folder.root.join(".MASKCONV-CASE-PROBE").exists();
        let _ = fs::remove_file(&probe);
        insensitive
    }
}

impl Output {
    fn folder(&self) -> &FolderSink {
        self.folder
            .as_ref()
            .expect("an output is an archive or a folder")
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.published {
            self.archive = None;
            let mut live = temporaries::live();
            temporaries::remove_all(&self.temp_path, &self.made_parents);
            live.retain(|l| l.id != self.id);
        }
    }
}

/// The archives OUTPUT may be, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArchiveKind {
    Zip,
    TarGz,
}

impl ArchiveKind {
    fn of(file_name: &str) -> Option<ArchiveKind> {
        let lower = file_name.to_ascii_lowercase();
        match () {
            _ if lower.ends_with(".zip") => Some(ArchiveKind::Zip),
            _ if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") => Some(ArchiveKind::TarGz),
            _ => None,
        }
    }

    /// The archive's name without `.tar.gz` / `.tgz`.
    fn stem(file_name: &str) -> &str {
        let cut = match file_name.to_ascii_lowercase().ends_with(".tgz") {
            true => 4,
            false => 7,
        };
        &file_name[..file_name.len() - cut]
    }
}

/// The folders of `path` that do not exist yet, outermost first.
fn missing_folders(path: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = path
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
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

/// Refuses an OUTPUT that is or contains one of `folders`, which hold files
/// the input reads outside itself (masks an annotation file names by path):
/// replacing OUTPUT would destroy them.
pub fn refuse_output_holding_input_files(
    output: &Path,
    folders: &std::collections::BTreeSet<PathBuf>,
) -> Result<()> {
    let output_abs = resolve(output)?;
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

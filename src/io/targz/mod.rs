//! A `.tar.gz` / `.tgz` archive read in place, streamed, never unpacked.
//!
//! A gzip stream cannot be entered in the middle, so the archive is read
//! front to back: once when opened, to list its files (keeping small text
//! files, such as metadata JSONs, in memory), then as often as the reads need.
//! A background thread decompresses ahead of the reads and hands over only
//! the files somebody will read (those asked for, and those announced with
//! [`Source::announce_reads`]); announced files it passes on the way to the one
//! asked for are kept, within a byte budget, for the read that comes later.
//! Reads in archive order therefore cost one more pass; reads far out of
//! archive order restart the stream from the beginning (correct, only
//! slower), which [`Source::announce_reads`] predicts and reports.

use super::{MAX_WHOLE_FILE_BYTES, Source, check_entry_name, too_large};
use crate::error::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, RwLock};

/// Text files up to this size are kept in memory by the listing pass.
const KEEP_FILE_BYTES: u64 = 64 << 10;
/// At most this much is kept in memory by the listing pass, in all.
const KEEP_TOTAL_BYTES: u64 = 64 << 20;
/// At most this much is held for later reads, in announced files read past.
const STASH_BYTES: u64 = 64 << 20;
/// Files the background thread may decompress ahead of the reads.
const READ_AHEAD: usize = 2;

/// Files whose name ends like this are kept by the listing pass (metadata).
fn is_kept_kind(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [
        ".json", ".txt", ".ndjson", ".jsonl", ".csv", ".xml", ".yaml", ".yml",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

/// A `.tar.gz` archive as a [`Source`].
pub struct TarGzSource {
    name: String,
    path: PathBuf,
    files: Vec<String>,
    /// File path → its position among the archive's regular files (links
    /// share their target's position).
    position: HashMap<String, usize>,
    /// Entries that are not regular files or resolvable links, with what
    /// they are: listed, and refused when read.
    special: HashMap<String, &'static str>,
    /// Name and size of each regular file, by position.
    entries: Vec<(String, u64)>,
    /// Contents held in memory, by position (small text files, prefetched files).
    kept: RwLock<HashMap<usize, Arc<Vec<u8>>>>,
    /// Positions the stream hands over: asked for or announced, not yet read.
    wanted: Arc<Vec<AtomicBool>>,
    stream: Mutex<Stream>,
    /// Bytes the stash may hold ([`STASH_BYTES`]; smaller in tests).
    stash_budget: u64,
}

/// What a pass sends: each wanted file's `(position, content)`, or why it stopped.
type Delivery = std::result::Result<(usize, Vec<u8>), String>;

/// One front-to-back reading of the archive on a background thread.
struct Pass {
    receiver: Receiver<Delivery>,
    /// Tells the thread to stop (set when the pass is dropped).
    cancel: Arc<AtomicBool>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// The state of the streamed reading.
#[derive(Default)]
struct Stream {
    pass: Option<Pass>,
    /// Position of the last file the running pass delivered.
    at: Option<usize>,
    /// Announced files read past and kept for later, by position.
    stash: BTreeMap<usize, Vec<u8>>,
    stash_bytes: u64,
}

impl TarGzSource {
    /// Lists the archive (one full decompression), checking every entry
    /// name: an absolute one or one with `..` makes the archive an error.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let mut position = HashMap::new();
        let mut entries: Vec<(String, u64)> = Vec::new();
        let mut kept = HashMap::new();
        let mut kept_total = 0u64;
        let mut links: Vec<(String, String, bool)> = Vec::new();
        let mut special: HashMap<String, &'static str> = HashMap::new();
        let mut archive = tar::Archive::new(open_gz(path, &name)?);
        let listing = archive
            .entries()
            .map_err(|e| Error::input(&name, format!("not a readable tar.gz archive: {e}")))?;
        for entry in listing {
            let mut entry = entry.map_err(|e| corrupt(&name, &e))?;
            let raw = entry.path().map_err(|e| corrupt(&name, &e))?;
            let entry_name = entry_name(&raw.to_string_lossy());
            check_entry_name("tar", &entry_name).map_err(|what| Error::input(&name, what))?;
            let kind = entry.header().entry_type();
            if kind.is_hard_link() || kind.is_symlink() {
                let target = entry
                    .link_name()
                    .map_err(|e| corrupt(&name, &e))?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                links.push((entry_name, target, kind.is_symlink()));
                continue;
            }
            if !(kind.is_file() || kind.is_contiguous()) {
                if kind.is_fifo() || kind.is_character_special() || kind.is_block_special() {
                    let what = if kind.is_fifo() { "a FIFO" } else { "a device" };
                    if position.contains_key(&entry_name)
                        || special.insert(entry_name.clone(), what).is_some()
                    {
                        return Err(twice(&name, &entry_name));
                    }
                }
                continue;
            }
            if position.contains_key(&entry_name) || special.contains_key(&entry_name) {
                return Err(twice(&name, &entry_name));
            }
            let size = entry.size();
            if is_kept_kind(&entry_name)
                && size <= KEEP_FILE_BYTES
                && kept_total + size <= KEEP_TOTAL_BYTES
            {
                let mut bytes = Vec::with_capacity(size as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| corrupt(&name, &e))?;
                kept_total += size;
                kept.insert(entries.len(), Arc::new(bytes));
            }
            position.insert(entry_name.clone(), entries.len());
            entries.push((entry_name, size));
        }
        // A link reads as the regular file it leads to (a symlink's target is
        // relative to its folder); links to anything else are left out.
        // Links to links resolve over several rounds.
        let mut unresolved = links;
        loop {
            let before = unresolved.len();
            let mut rest = Vec::new();
            for (link, target, symbolic) in unresolved {
                let resolved = if symbolic {
                    resolve_relative(&link, &target)
                } else {
                    Some(entry_name(&target))
                };
                let Some(&at) = resolved.as_ref().and_then(|t| position.get(t)) else {
                    rest.push((link, target, symbolic));
                    continue;
                };
                if special.contains_key(&link) || position.insert(link.clone(), at).is_some() {
                    return Err(twice(&name, &link));
                }
            }
            unresolved = rest;
            if unresolved.is_empty() || unresolved.len() == before {
                break;
            }
        }
        for (link, _, _) in unresolved {
            if special
                .insert(
                    link.clone(),
                    "a link that leads to no file inside the archive",
                )
                .is_some()
            {
                return Err(twice(&name, &link));
            }
        }
        let mut files: Vec<String> = position.keys().chain(special.keys()).cloned().collect();
        files.sort();
        let wanted = (0..entries.len()).map(|_| AtomicBool::new(false)).collect();
        Ok(TarGzSource {
            name,
            path: path.to_path_buf(),
            files,
            position,
            special,
            entries,
            kept: RwLock::new(kept),
            wanted: Arc::new(wanted),
            stream: Mutex::new(Stream::default()),
            stash_budget: STASH_BYTES,
        })
    }

    /// The position of file `path` in the archive, and its content when it
    /// is held in memory.
    fn locate(&self, path: &str, display: &str) -> Result<(usize, Option<Arc<Vec<u8>>>)> {
        let &target = self
            .position
            .get(path)
            .ok_or_else(|| self.not_a_file(path, display))?;
        let kept = self.kept.read().unwrap_or_else(|e| e.into_inner());
        Ok((target, kept.get(&target).cloned()))
    }

    /// The error for reading `path`, which is no regular file of the archive.
    fn not_a_file(&self, path: &str, display: &str) -> Error {
        match self.special.get(path) {
            Some(kind) => Error::input(
                display,
                format!("is {kind} in the tar archive, not a regular file; it is not followed"),
            ),
            None => Error::input(display, "no such file in the archive"),
        }
    }

    /// Starts a pass over the archive on a background thread.
    fn start_pass(&self) -> Pass {
        let (sender, receiver) = sync_channel(READ_AHEAD);
        let cancel = Arc::new(AtomicBool::new(false));
        let (path, name, wanted) = (self.path.clone(), self.name.clone(), self.wanted.clone());
        let stop = cancel.clone();
        std::thread::spawn(move || {
            let result = (|| -> std::result::Result<(), String> {
                let reader = open_gz(&path, &name).map_err(|e| e.what)?;
                let mut archive = tar::Archive::new(reader);
                let mut at = 0usize;
                for entry in archive.entries().map_err(|e| e.to_string())? {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let mut entry = entry.map_err(|e| e.to_string())?;
                    let kind = entry.header().entry_type();
                    if !(kind.is_file() || kind.is_contiguous()) {
                        continue;
                    }
                    if wanted.get(at).is_some_and(|w| w.load(Ordering::Relaxed)) {
                        let mut bytes = Vec::with_capacity(entry.size() as usize);
                        entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
                        if sender.send(Ok((at, bytes))).is_err() {
                            return Ok(()); // nobody listens any more
                        }
                    }
                    at += 1;
                }
                Ok(())
            })();
            if let Err(what) = result {
                let _ = sender.send(Err(what));
            }
        });
        Pass { receiver, cancel }
    }

    /// Reads the file at position `target` from the stream.
    fn read_streamed(&self, target: usize, display: &str) -> Result<Vec<u8>> {
        let size = self.entries[target].1;
        if size > MAX_WHOLE_FILE_BYTES {
            return Err(too_large(display, MAX_WHOLE_FILE_BYTES));
        }
        let mut stream = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bytes) = stream.stash.remove(&target) {
            stream.stash_bytes -= bytes.len() as u64;
            self.wanted[target].store(false, Ordering::Relaxed);
            return Ok(bytes);
        }
        self.wanted[target].store(true, Ordering::Relaxed);
        // A pass started after `target` became wanted is sure to deliver it;
        // a running one may already have skipped it.
        let mut fresh = false;
        if stream.pass.is_none() || stream.at.is_some_and(|at| at >= target) {
            stream.pass = Some(self.start_pass());
            stream.at = None;
            fresh = true;
        }
        loop {
            let received = stream.pass.as_ref().expect("a pass runs").receiver.recv();
            let (at, bytes) = match received {
                Ok(Ok(file)) => file,
                Ok(Err(what)) => {
                    stream.pass = None;
                    self.wanted[target].store(false, Ordering::Relaxed);
                    return Err(Error::input(
                        &self.name,
                        format!("corrupt tar.gz archive: {what}"),
                    ));
                }
                Err(_) if !fresh => {
                    // The running pass ended having skipped `target`: start over.
                    stream.pass = Some(self.start_pass());
                    stream.at = None;
                    fresh = true;
                    continue;
                }
                Err(_) => {
                    stream.pass = None;
                    self.wanted[target].store(false, Ordering::Relaxed);
                    return Err(Error::input(
                        display,
                        "was not found when reading the archive again (did it change?)",
                    ));
                }
            };
            stream.at = Some(at);
            if at == target {
                self.wanted[target].store(false, Ordering::Relaxed);
                return Ok(bytes);
            }
            // An announced file, read later: keep it while the budget allows,
            // forgetting the files earliest in the archive first.
            let stashed = stream.stash.contains_key(&at); // from an earlier pass
            if !stashed
                && self.wanted[at].load(Ordering::Relaxed)
                && (bytes.len() as u64) <= self.stash_budget
            {
                stream.stash_bytes += bytes.len() as u64;
                stream.stash.insert(at, bytes);
                while stream.stash_bytes > self.stash_budget {
                    let (_, dropped) = stream.stash.pop_first().expect("stash is not empty");
                    stream.stash_bytes -= dropped.len() as u64;
                }
            }
            if at > target && !fresh {
                // The running pass skipped `target` before it was wanted.
                stream.pass = Some(self.start_pass());
                stream.at = None;
                fresh = true;
            }
        }
    }

    /// How many passes over the archive reading the files at `order` (in
    /// this order) takes, with a stash of `budget` bytes; at most `limit`.
    /// Mirrors [`TarGzSource::read_streamed`]: a file read once is not kept,
    /// so reading it again needs it passed again.
    fn passes_for(&self, order: &[usize], budget: u64, limit: usize) -> usize {
        let mut pending: BTreeMap<usize, usize> = BTreeMap::new();
        for &at in order {
            *pending.entry(at).or_default() += 1;
        }
        let mut stash: BTreeMap<usize, u64> = BTreeMap::new();
        let mut stash_bytes = 0u64;
        let (mut at, mut passes) = (None::<usize>, 0usize);
        for &target in order {
            let left = pending.get_mut(&target).expect("every target is pending");
            *left -= 1;
            if *left == 0 {
                pending.remove(&target);
            }
            if let Some(size) = stash.remove(&target) {
                stash_bytes -= size;
                continue;
            }
            let from = match at {
                Some(at) if at < target => at + 1,
                _ => {
                    passes += 1;
                    if passes >= limit {
                        return passes;
                    }
                    0
                }
            };
            for (&passed, _) in pending.range(from..target) {
                let size = self.entries[passed].1;
                if size > budget || stash.contains_key(&passed) {
                    continue;
                }
                stash.insert(passed, size);
                stash_bytes += size;
                while stash_bytes > budget {
                    let (_, dropped) = stash.pop_first().expect("stash is not empty");
                    stash_bytes -= dropped;
                }
            }
            at = Some(target);
        }
        passes
    }
}

fn open_gz(path: &Path, name: &str) -> Result<flate2::read::MultiGzDecoder<BufReader<File>>> {
    let file = File::open(path).map_err(|e| Error::io(ErrorKind::Input, name, &e))?;
    Ok(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
        1 << 16,
        file,
    )))
}

fn twice(name: &str, entry: &str) -> Error {
    Error::input(
        name,
        format!("the tar archive has two entries named '{entry}'"),
    )
}

fn corrupt(name: &str, e: &std::io::Error) -> Error {
    Error::input(name, format!("corrupt tar.gz archive: {e}"))
}

/// The `/`-separated name of an entry, without a leading `./`.
fn entry_name(raw: &str) -> String {
    let mut name = raw.replace('\\', "/");
    while let Some(rest) = name.strip_prefix("./") {
        name = rest.to_string();
    }
    name
}

/// The archive path a symlink at `link` pointing to `target` leads to, if
/// it stays inside the archive.
fn resolve_relative(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

impl Source for TarGzSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let display = self.display(path);
        match self.locate(path, &display)? {
            (_, Some(bytes)) => Ok(bytes.to_vec()),
            (target, None) => self.read_streamed(target, &display),
        }
    }

    /// A file held in memory is read from there; any other is streamed by a
    /// pass of its own up to it (an annotation file may be far larger than
    /// a file read whole may be).
    fn read_with(
        &self,
        path: &str,
        read: &mut dyn FnMut(&mut dyn std::io::Read) -> Result<()>,
    ) -> Result<()> {
        let display = self.display(path);
        let target = match self.locate(path, &display)? {
            (_, Some(bytes)) => return read(&mut &bytes[..]),
            (target, None) => target,
        };
        let mut archive = tar::Archive::new(open_gz(&self.path, &self.name)?);
        let entries = archive.entries().map_err(|e| corrupt(&self.name, &e))?;
        let mut at = 0usize;
        for entry in entries {
            let entry = entry.map_err(|e| corrupt(&self.name, &e))?;
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_contiguous()) {
                continue;
            }
            if at == target {
                return read(&mut super::CappedReader::new(entry, &display));
            }
            at += 1;
        }
        Err(Error::input(
            &display,
            "was not found when reading the archive again (did it change?)",
        ))
    }

    fn prefetch(&self, paths: &[&str]) -> Result<()> {
        let kept = self.kept.read().unwrap_or_else(|e| e.into_inner());
        let missing: BTreeMap<usize, &str> = paths
            .iter()
            .filter_map(|p| Some((*self.position.get(*p)?, *p)))
            .filter(|(at, _)| !kept.contains_key(at))
            .collect();
        drop(kept);
        for &at in missing.keys() {
            if self.entries[at].1 <= MAX_WHOLE_FILE_BYTES {
                self.wanted[at].store(true, Ordering::Relaxed);
            }
        }
        // In archive order: one pass.
        for (at, path) in missing {
            let bytes = self.read_streamed(at, &self.display(path))?;
            let mut kept = self.kept.write().unwrap_or_else(|e| e.into_inner());
            kept.insert(at, Arc::new(bytes));
        }
        Ok(())
    }

    fn announce_reads(&self, paths: &[&str]) -> Option<String> {
        let kept = self.kept.read().unwrap_or_else(|e| e.into_inner());
        // Files over the size limit are refused when read: never fetched.
        let order: Vec<usize> = paths
            .iter()
            .filter_map(|p| self.position.get(*p).copied())
            .filter(|at| !kept.contains_key(at) && self.entries[*at].1 <= MAX_WHOLE_FILE_BYTES)
            .collect();
        drop(kept);
        for &at in &order {
            self.wanted[at].store(true, Ordering::Relaxed);
        }
        const LIMIT: usize = 10;
        let passes = self.passes_for(&order, self.stash_budget, LIMIT);
        (passes > 1).then(|| {
            let count = if passes >= LIMIT {
                format!("{LIMIT} or more")
            } else {
                passes.to_string()
            };
            format!(
                "{}: the archive's files are not in the order they are read in, so it is decompressed {count} times; for speed, repack it sorted (tar --sort=name) or unpack it",
                self.name
            )
        })
    }
}

#[cfg(test)]
mod tests;

//! A `.tar.gz` / `.tgz` archive read in place, streamed, never unpacked.
//!
//! A gzip stream cannot be entered in the middle, so the archive is read
//! front to back: once when opened, to list its files (keeping small text
//! files such as metadata JSONs in memory), then as often as the reads need.
//! A background thread decompresses ahead of the reads; files read past on the
//! way to the one asked for are kept, within a byte budget, for a read that
//! comes later. Reads in archive order therefore cost one more pass; reads far
//! out of order restart the stream from the beginning (correct, only slower).

use super::{MAX_FILE_BYTES, Source, check_entry_name};
use crate::error::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

/// Text files up to this size are kept in memory by the listing pass.
const KEEP_FILE_BYTES: u64 = 1 << 20;
/// At most this much is kept in memory by the listing pass, in all.
const KEEP_TOTAL_BYTES: u64 = 256 << 20;
/// At most this much is held for later reads, in files read past.
const STASH_BYTES: usize = 256 << 20;
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
    /// File path → its position among the archive's regular files.
    position: HashMap<String, usize>,
    /// Contents kept by the listing pass.
    kept: HashMap<String, Vec<u8>>,
    /// Positions whose content the stream sends to the reads.
    wanted: Arc<Vec<bool>>,
    stream: Mutex<Stream>,
}

/// What a pass sends: each wanted file's `(position, content)`, or why it stopped.
type Delivery = std::result::Result<(usize, Vec<u8>), String>;

/// The state of the streamed reading.
#[derive(Default)]
struct Stream {
    /// The running pass: `(position, content)` of each wanted file, in order.
    pass: Option<Receiver<Delivery>>,
    /// Position of the last file the running pass delivered.
    at: Option<usize>,
    /// Files read past and kept for later, by position.
    stash: BTreeMap<usize, Vec<u8>>,
    stash_bytes: usize,
    /// Positions planned to be read and not read yet (`None`: no plan given).
    planned: Option<Vec<bool>>,
}

impl TarGzSource {
    /// Lists the archive (one full decompression), checking every entry
    /// name: an absolute one or one with `..` makes the archive an error.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let mut files = Vec::new();
        let mut position = HashMap::new();
        let mut kept = HashMap::new();
        let mut kept_total = 0u64;
        let mut archive = tar::Archive::new(open_gz(path, &name)?);
        let entries = archive
            .entries()
            .map_err(|e| Error::input(&name, format!("not a readable tar.gz archive: {e}")))?;
        let mut links: Vec<(String, String)> = Vec::new();
        for entry in entries {
            let mut entry = entry.map_err(|e| corrupt(&name, &e))?;
            let raw = entry.path().map_err(|e| corrupt(&name, &e))?;
            let entry_name = entry_name(&raw.to_string_lossy());
            check_entry_name("tar", &entry_name).map_err(|what| Error::input(&name, what))?;
            let kind = entry.header().entry_type();
            if kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .map_err(|e| corrupt(&name, &e))?
                    .map(|t| entry_name_of(&t))
                    .unwrap_or_default();
                links.push((entry_name, target));
                continue;
            }
            if !(kind.is_file() || kind.is_contiguous()) {
                continue;
            }
            if position.contains_key(&entry_name) {
                return Err(Error::input(
                    &name,
                    format!("the tar archive has two entries named '{entry_name}'"),
                ));
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
                kept.insert(entry_name.clone(), bytes);
            }
            position.insert(entry_name.clone(), files.len());
            files.push(entry_name);
        }
        // A hard link reads as the file it links to.
        let regular_files = files.len();
        for (link, target) in links {
            let Some(&at) = position.get(&target) else {
                continue;
            };
            if position.insert(link.clone(), at).is_some() {
                return Err(Error::input(
                    &name,
                    format!("the tar archive has two entries named '{link}'"),
                ));
            }
            if let Some(bytes) = kept.get(&target).cloned() {
                kept.insert(link.clone(), bytes);
            }
            files.push(link);
        }
        let wanted = files[..regular_files]
            .iter()
            .map(|f| !kept.contains_key(f))
            .collect();
        files.sort();
        Ok(TarGzSource {
            name,
            path: path.to_path_buf(),
            files,
            position,
            kept,
            wanted: Arc::new(wanted),
            stream: Mutex::new(Stream::default()),
        })
    }

    /// Starts a pass over the archive on a background thread.
    fn start_pass(&self) -> Receiver<Delivery> {
        let (sender, receiver) = sync_channel(READ_AHEAD);
        let (path, name, wanted) = (self.path.clone(), self.name.clone(), self.wanted.clone());
        std::thread::spawn(move || {
            let result = (|| -> std::result::Result<(), String> {
                let reader = open_gz(&path, &name).map_err(|e| e.what)?;
                let mut archive = tar::Archive::new(reader);
                let mut at = 0usize;
                for entry in archive.entries().map_err(|e| e.to_string())? {
                    let mut entry = entry.map_err(|e| e.to_string())?;
                    let kind = entry.header().entry_type();
                    if !(kind.is_file() || kind.is_contiguous()) {
                        continue;
                    }
                    if wanted.get(at).copied().unwrap_or(false) {
                        if entry.size() > MAX_FILE_BYTES {
                            return Err(format!(
                                "an entry is larger than the {} MiB limit",
                                MAX_FILE_BYTES >> 20
                            ));
                        }
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
        receiver
    }
}

fn open_gz(path: &Path, name: &str) -> Result<flate2::read::MultiGzDecoder<BufReader<File>>> {
    let file = File::open(path).map_err(|e| Error::io(ErrorKind::Input, name, &e))?;
    Ok(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
        1 << 16,
        file,
    )))
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

fn entry_name_of(path: &Path) -> String {
    entry_name(&path.to_string_lossy())
}

impl Source for TarGzSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        if let Some(bytes) = self.kept.get(path) {
            return Ok(bytes.clone());
        }
        let display = self.display(path);
        let &target = self
            .position
            .get(path)
            .ok_or_else(|| Error::input(&display, "no such file in the archive"))?;
        let mut stream = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(planned) = &mut stream.planned
            && let Some(slot) = planned.get_mut(target)
        {
            *slot = false;
        }
        if let Some(bytes) = stream.stash.remove(&target) {
            stream.stash_bytes -= bytes.len();
            return Ok(bytes);
        }
        if stream.pass.is_none() || stream.at.is_some_and(|at| at >= target) {
            stream.pass = Some(self.start_pass());
            stream.at = None;
        }
        loop {
            let received = stream.pass.as_ref().expect("a pass runs").recv();
            let (at, bytes) = match received {
                Ok(Ok(file)) => file,
                Ok(Err(what)) => {
                    stream.pass = None;
                    return Err(Error::input(
                        &self.name,
                        format!("corrupt tar.gz archive: {what}"),
                    ));
                }
                Err(_) => {
                    stream.pass = None;
                    return Err(Error::input(
                        &display,
                        "was not found when reading the archive again (did it change?)",
                    ));
                }
            };
            stream.at = Some(at);
            if at == target {
                return Ok(bytes);
            }
            let later = stream
                .planned
                .as_ref()
                .is_none_or(|p| p.get(at).copied().unwrap_or(false));
            if later && bytes.len() <= STASH_BYTES {
                stream.stash_bytes += bytes.len();
                stream.stash.insert(at, bytes);
                // Over budget: forget the files read past longest ago.
                while stream.stash_bytes > STASH_BYTES {
                    let (_, dropped) = stream.stash.pop_first().expect("stash is not empty");
                    stream.stash_bytes -= dropped.len();
                }
            }
        }
    }

    fn plan_reads(&self, paths: &[&str]) {
        let mut planned = vec![false; self.wanted.len()];
        for path in paths {
            if let Some(&at) = self.position.get(*path) {
                planned[at] = true;
            }
        }
        let mut stream = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        stream.planned = Some(planned);
    }
}

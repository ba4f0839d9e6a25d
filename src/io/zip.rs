//! A `.zip` archive read in place, entries read concurrently.

use super::{CappedReader, MAX_WHOLE_FILE_BYTES, Source, check_entry_name, read_capped, too_large};
use crate::error::{Error, ErrorKind, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

/// A `.zip` archive read in place. Each read clones the archive handle (the
/// central directory is shared), so workers read entries concurrently.
pub struct ZipSource {
    name: String,
    archive: zip::ZipArchive<SharedFile>,
    files: Vec<String>,
    /// Entries that are not regular files (links, FIFOs, devices), with
    /// what they are: listed, and refused when read.
    special: std::collections::HashMap<String, &'static str>,
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
        // The zip crate keeps one entry per name: more records in the
        // central directory than entries means a name repeats.
        if let Some(records) = central_directory_records(archive.clone().into_inner())
            && records != archive.len() as u64
        {
            return Err(Error::input(
                &name,
                "the zip archive has two entries with the same name",
            ));
        }
        let mut files = Vec::with_capacity(archive.len());
        let mut special = std::collections::HashMap::new();
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
            if let Some(kind) = entry.unix_mode().and_then(special_kind) {
                special.insert(entry_name.clone(), kind);
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
            special,
        })
    }

    /// The entry `path`, unless it is a link, FIFO or device.
    fn entry<'a>(
        &self,
        archive: &'a mut zip::ZipArchive<SharedFile>,
        path: &str,
        display: &str,
    ) -> Result<zip::read::ZipFile<'a, SharedFile>> {
        if let Some(kind) = self.special.get(path) {
            return Err(Error::input(
                display,
                format!("is {kind} in the zip archive, not a regular file; it is not followed"),
            ));
        }
        archive
            .by_name(path)
            .map_err(|e| Error::input(display, format!("cannot read zip entry: {e}")))
    }
}

/// What an entry whose Unix mode is `mode` is, when not a regular file or folder.
fn special_kind(mode: u32) -> Option<&'static str> {
    match mode & 0o170000 {
        0o120000 => Some("a symlink"),
        0o010000 => Some("a FIFO"),
        0o020000 | 0o060000 => Some("a device"),
        0o140000 => Some("a socket"),
        _ => None,
    }
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
        let entry = self.entry(&mut archive, path, &display)?;
        let size = entry.size();
        if size > MAX_WHOLE_FILE_BYTES {
            return Err(too_large(&display, MAX_WHOLE_FILE_BYTES));
        }
        read_capped(entry, &display, size)
    }

    fn read_with(
        &self,
        path: &str,
        read: &mut dyn FnMut(&mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let display = self.display(path);
        let mut archive = self.archive.clone();
        let entry = self.entry(&mut archive, path, &display)?;
        read(&mut CappedReader::new(entry, &display))
    }
}

/// How many records the central directory of the zip in `file` has, as its
/// end record says (the ZIP64 one when the classic one overflows); `None`
/// if that cannot be read (the zip crate then reports the archive).
fn central_directory_records(mut file: SharedFile) -> Option<u64> {
    let len = file.len;
    let tail_len = len.min(22 + 65535);
    let mut tail = vec![0u8; tail_len as usize];
    file.seek(SeekFrom::Start(len - tail_len)).ok()?;
    file.read_exact(&mut tail).ok()?;
    // The end record is the one whose comment runs exactly to the end of the
    // file (a signature inside a comment does not).
    let end = (0..tail.len().saturating_sub(21)).rev().find(|&at| {
        let comment = tail
            .get(at + 20..at + 22)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        &tail[at..at + 4] == b"PK\x05\x06"
            && comment.is_some_and(|len| at + 22 + usize::from(len) == tail.len())
    })?;
    let record = tail.get(end..end + 22)?;
    let total = u16::from_le_bytes([record[10], record[11]]);
    if total != u16::MAX {
        return Some(u64::from(total));
    }
    // ZIP64: the locator just before the end record gives the ZIP64 end record.
    let locator = tail.get(end.checked_sub(20)?..end)?;
    if &locator[..4] != b"PK\x06\x07" {
        return None;
    }
    let offset = u64::from_le_bytes(locator[8..16].try_into().ok()?);
    let mut record = [0u8; 56];
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut record).ok()?;
    if &record[..4] != b"PK\x06\x06" {
        return None;
    }
    Some(u64::from_le_bytes(record[32..40].try_into().ok()?))
}

/// A file handle with its own position, cheap to clone, read with positional
/// reads so that clones never disturb each other.
#[derive(Clone)]
pub(crate) struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl SharedFile {
    pub(crate) fn new(file: File) -> std::io::Result<Self> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The end record's signature inside the archive comment fools neither
    /// way: no repeated name is made up.
    #[test]
    fn a_signature_in_the_comment_is_not_the_end_record() {
        let path =
            std::env::temp_dir().join(format!("maskconv-comment-{}.zip", std::process::id()));
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        for name in ["a.txt", "b.txt"] {
            zip.start_file(name, options).unwrap();
            zip.write_all(b"x").unwrap();
        }
        zip.set_comment("PK\x05\x06 looks like an end record, PK\x05\x06")
            .unwrap();
        zip.finish().unwrap();
        let listed = ZipSource::open(&path).map(|s| s.files().to_vec());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(listed.unwrap(), ["a.txt", "b.txt"]);
    }
}

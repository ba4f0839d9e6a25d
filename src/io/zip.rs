//! A `.zip` archive read in place, entries read concurrently.

use super::{CappedReader, MAX_FILE_BYTES, Source, check_entry_name, read_capped};
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

    fn read_with(
        &self,
        path: &str,
        read: &mut dyn FnMut(&mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let display = self.display(path);
        let mut archive = self.archive.clone();
        let entry = archive
            .by_name(path)
            .map_err(|e| Error::input(&display, format!("cannot read zip entry: {e}")))?;
        read(&mut CappedReader::new(entry, &display))
    }
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

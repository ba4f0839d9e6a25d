//! [`Spill`]: bytes appended during a run and read back at its end, kept in
//! memory while small and moved to a temporary file beside the output when
//! they grow, so that what waits for the end of a run does not grow memory
//! with the dataset.

use super::zip::SharedFile;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes kept in memory before they move to a file.
const MEMORY_BYTES: usize = 8 << 20;

/// An append-only byte log (see the module docs).
pub struct Spill {
    memory: Vec<u8>,
    /// Where the file goes once the bytes outgrow memory; `None`: never.
    dir: Option<PathBuf>,
    file: Option<SpillFile>,
    /// Bytes appended so far.
    appended: u64,
}

struct SpillFile {
    writer: std::io::BufWriter<File>,
    reader: File,
    /// Removed when dropped, where the system cannot remove it while open.
    path: Option<PathBuf>,
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Spill {
    /// A log that moves to a file in `dir` when it grows (`None`: stays in memory).
    pub fn new(dir: Option<&Path>) -> Self {
        Spill {
            memory: Vec::new(),
            dir: dir.map(Path::to_path_buf),
            file: None,
            appended: 0,
        }
    }

    /// Appends `bytes`.
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.appended += bytes.len() as u64;
        if self.file.is_none()
            && let Some(dir) = &self.dir
            && self.memory.len() + bytes.len() > MEMORY_BYTES
        {
            let mut file = create_unnamed(dir)?;
            file.writer.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.writer.write_all(bytes),
            None => {
                self.memory.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Writes out what is buffered, so that [`Spill::reader`] sees it all.
    pub fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(file) => file.writer.flush(),
            None => Ok(()),
        }
    }

    /// Everything appended up to the last [`Spill::flush`], from the start.
    pub fn reader(&self) -> Box<dyn Read + '_> {
        match &self.file {
            None => Box::new(&self.memory[..]),
            Some(file) => match file.reader.try_clone().and_then(SharedFile::new) {
                Ok(shared) => Box::new(BufReader::with_capacity(1 << 16, shared)),
                Err(e) => Box::new(Failing(Some(e))),
            },
        }
    }
}

impl Spill {
    /// The `len` bytes appended at `offset` (up to the last [`Spill::flush`]).
    pub fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let Some(file) = &self.file else {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            return self
                .memory
                .get(start..start.saturating_add(len))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| std::io::Error::other("read past the end of a spill"));
        };
        let mut bytes = vec![0; len];
        #[cfg(unix)]
        std::os::unix::fs::FileExt::read_exact_at(&file.reader, &mut bytes, offset)?;
        #[cfg(not(unix))]
        {
            use std::io::{Seek, SeekFrom};
            let mut reader = file.reader.try_clone()?;
            reader.seek(SeekFrom::Start(offset))?;
            reader.read_exact(&mut bytes)?;
        }
        Ok(bytes)
    }

    /// How many bytes were appended.
    pub fn len(&self) -> u64 {
        self.appended
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.appended == 0
    }
}

/// A reader whose first read fails with the error that kept it from opening.
struct Failing(Option<std::io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("spill file unreadable")))
    }
}

/// A new file in `dir` that nobody else can name: on Unix it is removed
/// right away (the open handles keep it), elsewhere when dropped.
fn create_unnamed(dir: &Path) -> std::io::Result<SpillFile> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        ".maskconv-records-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let reader = file.try_clone()?;
    let path = if cfg!(unix) && std::fs::remove_file(&path).is_ok() {
        None
    } else {
        Some(path)
    };
    Ok(SpillFile {
        writer: std::io::BufWriter::with_capacity(1 << 16, file),
        reader,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_appended_reads_back_from_memory_or_from_its_file() {
        let dir = std::env::temp_dir().join(format!("maskconv-spill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for place in [None, Some(dir.as_path())] {
            let mut spill = Spill::new(place);
            let chunk = vec![7u8; 1 << 20];
            for i in 0..10u8 {
                spill.append(&[i]).unwrap();
                spill.append(&chunk).unwrap();
            }
            spill.flush().unwrap();
            assert_eq!(spill.read_at((1 << 20) + 1, 2).unwrap(), vec![1, 7]);
            assert!(spill.read_at(spill.len(), 1).is_err());
            for _ in 0..2 {
                let mut all = Vec::new();
                spill.reader().read_to_end(&mut all).unwrap();
                assert_eq!(all.len(), 10 * ((1 << 20) + 1));
                assert_eq!(all[(1 << 20) + 1], 1);
            }
        }
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "no file left: {left:?}");
        std::fs::remove_dir(&dir).unwrap();
    }
}

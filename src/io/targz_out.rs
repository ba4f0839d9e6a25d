//! Writing a `.tar.gz`: a deterministic archive, streamed. Entries go in the
//! order they are written (item order, then the dataset's own files: the
//! order of the zip output, the same at any `-j`), as regular files with
//! mode 0644, owner 0:0, no user or group names, mtime 0, GNU long names
//! where a path exceeds 100 bytes, and no directory entries. The gzip
//! header has no name and mtime 0. Nothing but the file being added is held:
//! a file whose size is only known once written (a release, an NDJSON)
//! waits in a [`Spill`] beside OUTPUT.

use super::Spill;
use flate2::write::GzEncoder;
use std::io::{Read, Write};
use std::path::PathBuf;

/// A `.tar.gz` archive being written to `W`, entry by entry.
pub struct TarGzOut<W: Write> {
    builder: tar::Builder<GzEncoder<W>>,
    /// Where a streamed entry waits until its size is known.
    scratch: Option<PathBuf>,
    /// A hash of every entry name, so that a name given twice is refused.
    names: std::collections::HashSet<u64>,
}

impl<W: Write> TarGzOut<W> {
    /// A new archive written to `out`, gzip at `level` (0–9); streamed
    /// entries wait in `scratch` once larger than memory allows.
    pub fn new(out: W, level: u32, scratch: Option<PathBuf>) -> Self {
        let gzip = flate2::GzBuilder::new()
            .mtime(0)
            .write(out, flate2::Compression::new(level));
        TarGzOut {
            builder: tar::Builder::new(gzip),
            scratch,
            names: std::collections::HashSet::new(),
        }
    }

    /// Adds entry `name` holding `bytes`.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.append(name, bytes.len() as u64, bytes)
    }

    /// Adds entry `name` whose content `fill` writes, piece by piece.
    pub fn add_streamed(
        &mut self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut content = Spill::new(self.scratch.as_deref());
        fill(&mut SpillWriter(&mut content))?;
        content.flush()?;
        let size = content.len();
        self.append(name, size, content.reader())
    }

    fn append(&mut self, name: &str, size: u64, data: impl Read) -> std::io::Result<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(name);
        if !self.names.insert(hash) {
            return Err(std::io::Error::other(format!(
                "{name} would be in the archive twice"
            )));
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        self.builder.append_data(&mut header, name, data)
    }

    /// Writes the end of the archive and of the gzip stream; returns the writer.
    pub fn finish(self) -> std::io::Result<W> {
        self.builder.into_inner()?.finish()
    }
}

/// Appends what is written to a [`Spill`].
struct SpillWriter<'a>(&'a mut Spill);

impl Write for SpillWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(level: u32) -> Vec<u8> {
        let mut out = TarGzOut::new(Vec::new(), level, None);
        out.add("b/one.png", b"png bytes").unwrap();
        let long = format!("{}/deep.json", "x".repeat(120));
        out.add_streamed(&long, &mut |w| w.write_all(b"{\"a\": 1}\n"))
            .unwrap();
        out.add("a.txt", b"").unwrap();
        assert!(out.add("a.txt", b"again").is_err(), "a name given twice");
        out.finish().unwrap()
    }

    #[test]
    fn an_archive_is_the_same_bytes_every_time_and_reads_back_in_order() {
        let bytes = archive(6);
        assert_eq!(bytes, archive(6));
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip mtime 0");
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut seen = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(header.entry_type(), tar::EntryType::Regular);
            assert_eq!(
                (header.mode().unwrap(), header.mtime().unwrap()),
                (0o644, 0)
            );
            assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            seen.push((path, content));
        }
        let long = format!("{}/deep.json", "x".repeat(120));
        assert_eq!(
            seen,
            vec![
                ("b/one.png".to_string(), b"png bytes".to_vec()),
                (long, b"{\"a\": 1}\n".to_vec()),
                ("a.txt".to_string(), Vec::new()),
            ]
        );
    }
}

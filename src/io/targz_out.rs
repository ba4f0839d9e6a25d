//! Writing a `.tar.gz`: a deterministic archive with its entries sorted by
//! name, as `tar --sort=name` makes them. Every entry is a regular file
//! with mode 0644, owner 0:0, no user or group names, mtime 0 (GNU long
//! names where a path exceeds 100 bytes); there are no directory entries,
//! and the gzip header has no name and mtime 0.
//!
//! Memory stays flat however many entries: their content waits in a
//! [`Spill`] beside OUTPUT (memory, then an unlinked temporary file), their
//! names and places are sorted a few MiB at a time into runs kept in a
//! second spill, and [`TarGzOut::finish`] merges the runs, writing each
//! entry from its place. The temporary space is the archive's uncompressed
//! size.

use super::Spill;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Names and places sorted in memory before they go to a run.
const RUN_BYTES: usize = 4 << 20;
/// How much of a run the merge reads at a time.
const RUN_CHUNK: usize = 64 << 10;

/// Where one entry's content is in the content spill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    name: String,
    offset: u64,
    len: u64,
}

/// A `.tar.gz` archive being assembled for `W`, entry by entry.
pub struct TarGzOut<W: Write> {
    out: W,
    level: u32,
    content: Spill,
    /// Places not yet in a run, and the bytes of their names.
    pending: Vec<Place>,
    pending_bytes: usize,
    /// Sorted runs of places, one after another; `(start, count)` of each.
    runs: Spill,
    run_bounds: Vec<(u64, u64)>,
}

impl<W: Write> TarGzOut<W> {
    /// A new archive for `out`, gzip at `level` (0–9); what waits goes to
    /// files in `scratch` once larger than memory allows.
    pub fn new(out: W, level: u32, scratch: Option<PathBuf>) -> Self {
        TarGzOut {
            out,
            level,
            content: Spill::new(scratch.as_deref()),
            pending: Vec::new(),
            pending_bytes: 0,
            runs: Spill::new(scratch.as_deref()),
            run_bounds: Vec::new(),
        }
    }

    /// Adds entry `name` holding `bytes`.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let offset = self.content.len();
        self.content.append(bytes)?;
        self.place(name, offset)
    }

    /// Adds entry `name` whose content `fill` writes, piece by piece.
    pub fn add_streamed(
        &mut self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let offset = self.content.len();
        fill(&mut SpillWriter(&mut self.content))?;
        self.place(name, offset)
    }

    fn place(&mut self, name: &str, offset: u64) -> std::io::Result<()> {
        let len = self.content.len() - offset;
        self.pending_bytes += name.len() + 32;
        self.pending.push(Place {
            name: name.to_string(),
            offset,
            len,
        });
        match self.pending_bytes > RUN_BYTES {
            true => self.end_run(),
            false => Ok(()),
        }
    }

    /// Sorts the pending places into a run.
    fn end_run(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.pending.sort_unstable();
        let start = self.runs.len();
        for place in &self.pending {
            let mut record = Vec::with_capacity(place.name.len() + 20);
            record.extend_from_slice(&(place.name.len() as u32).to_le_bytes());
            record.extend_from_slice(place.name.as_bytes());
            record.extend_from_slice(&place.offset.to_le_bytes());
            record.extend_from_slice(&place.len.to_le_bytes());
            self.runs.append(&record)?;
        }
        self.run_bounds.push((start, self.pending.len() as u64));
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }

    /// Writes every entry in name order, then the ends of the archive and
    /// of the gzip stream; returns the writer. A name given twice is an error.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.end_run()?;
        self.content.flush()?;
        self.runs.flush()?;
        let gzip = flate2::GzBuilder::new()
            .mtime(0)
            .write(self.out, flate2::Compression::new(self.level));
        let mut builder = tar::Builder::new(gzip);
        let mut readers: Vec<RunReader> = self
            .run_bounds
            .iter()
            .map(|&(start, count)| RunReader::new(start, count))
            .collect();
        let mut heap = BinaryHeap::new();
        for (run, reader) in readers.iter_mut().enumerate() {
            if let Some(place) = reader.next(&self.runs)? {
                heap.push(Reverse((place, run)));
            }
        }
        let mut previous: Option<String> = None;
        while let Some(Reverse((place, run))) = heap.pop() {
            if previous.as_deref() == Some(place.name.as_str()) {
                return Err(std::io::Error::other(format!(
                    "{} would be in the archive twice",
                    place.name
                )));
            }
            let mut header = tar::Header::new_gnu();
            // A name ending in `/` is a folder (see `Sink::write_folder`).
            match place.name.ends_with('/') {
                true => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                }
                false => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(0o644);
                }
            }
            header.set_size(place.len);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            let content = SpillReader {
                spill: &self.content,
                at: place.offset,
                end: place.offset + place.len,
            };
            builder.append_data(&mut header, &place.name, content)?;
            if let Some(next) = readers[run].next(&self.runs)? {
                heap.push(Reverse((next, run)));
            }
            previous = Some(place.name);
        }
        builder.into_inner()?.finish()
    }
}

/// Reads one sorted run's places back, a chunk at a time.
struct RunReader {
    at: u64,
    left: u64,
    buffer: Vec<u8>,
    used: usize,
}

impl RunReader {
    fn new(start: u64, count: u64) -> Self {
        RunReader {
            at: start,
            left: count,
            buffer: Vec::new(),
            used: 0,
        }
    }

    /// `n` more bytes of the run, refilling the buffer as needed.
    fn take(&mut self, runs: &Spill, n: usize) -> std::io::Result<&[u8]> {
        if self.buffer.len() - self.used < n {
            let kept = self.buffer.split_off(self.used);
            let want = RUN_CHUNK.max(n).min((runs.len() - self.at) as usize);
            let mut fresh = runs.read_at(self.at, want)?;
            self.at += fresh.len() as u64;
            self.buffer = kept;
            self.buffer.append(&mut fresh);
            self.used = 0;
        }
        self.used += n;
        Ok(&self.buffer[self.used - n..self.used])
    }

    fn next(&mut self, runs: &Spill) -> std::io::Result<Option<Place>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let number = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(self.take(runs, 4)?.try_into().expect("4 bytes")) as usize;
        let name =
            String::from_utf8(self.take(runs, len)?.to_vec()).map_err(std::io::Error::other)?;
        let offset = number(self.take(runs, 8)?);
        let len = number(self.take(runs, 8)?);
        Ok(Some(Place { name, offset, len }))
    }
}

/// Reads `at..end` of a [`Spill`].
struct SpillReader<'a> {
    spill: &'a Spill,
    at: u64,
    end: u64,
}

impl Read for SpillReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.end - self.at) as usize).min(1 << 20);
        if n == 0 {
            return Ok(0);
        }
        let bytes = self.spill.read_at(self.at, n)?;
        buf[..n].copy_from_slice(&bytes);
        self.at += n as u64;
        Ok(n)
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

    /// Every entry of a `.tar.gz`: its name and content, checking its header.
    fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
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
        seen
    }

    fn archive() -> Vec<u8> {
        let mut out = TarGzOut::new(Vec::new(), 6, None);
        out.add("b/one.png", b"png bytes").unwrap();
        let long = format!("{}/deep.json", "x".repeat(120));
        out.add_streamed(&long, &mut |w| w.write_all(b"{\"a\": 1}\n"))
            .unwrap();
        out.add("a.txt", b"").unwrap();
        out.finish().unwrap()
    }

    #[test]
    fn an_archive_is_the_same_bytes_every_time_with_its_entries_sorted_by_name() {
        let bytes = archive();
        assert_eq!(bytes, archive());
        assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip mtime 0");
        let long = format!("{}/deep.json", "x".repeat(120));
        assert_eq!(
            entries(&bytes),
            vec![
                ("a.txt".to_string(), Vec::new()),
                ("b/one.png".to_string(), b"png bytes".to_vec()),
                (long, b"{\"a\": 1}\n".to_vec()),
            ]
        );
    }

    #[test]
    fn many_entries_sort_across_runs_and_a_name_twice_is_refused() {
        let dir = std::env::temp_dir().join(format!("maskconv-targz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut out = TarGzOut::new(Vec::new(), 1, Some(dir.clone()));
        // Names long enough to make several runs; added in a scrambled order.
        let count = 3 * RUN_BYTES / 200;
        let name = |i: usize| format!("{}/{i:07}", "n".repeat(150));
        for i in 0..count {
            let j = (i * 7919) % count;
            out.add(&name(j), j.to_string().as_bytes()).unwrap();
        }
        assert!(out.run_bounds.len() >= 2, "{} runs", out.run_bounds.len());
        let seen = entries(&out.finish().unwrap());
        assert_eq!(seen.len(), count);
        for (i, (path, content)) in seen.iter().enumerate() {
            assert_eq!((path, content), (&name(i), &i.to_string().into_bytes()));
        }
        let mut twice = TarGzOut::new(Vec::new(), 1, None);
        twice.add("a", b"1").unwrap();
        twice.add("a", b"2").unwrap();
        assert!(twice.finish().unwrap_err().to_string().contains("twice"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

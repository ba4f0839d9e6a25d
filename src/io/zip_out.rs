//! Writing a `.zip`: stored entries, fixed timestamps, in the exact bytes
//! the `zip` crate writes for them (tests compare the two), but with the
//! central directory waiting in a [`Spill`] instead of in memory — a zip of
//! a million masks costs no more memory than a zip of ten.

use super::Spill;
use std::io::{Read, Seek, SeekFrom, Write};

/// Entries of 4 GiB or more, and offsets beyond 4 GiB, need ZIP64 fields.
const U32_LIMIT: u64 = u32::MAX as u64;
/// More entries than this need a ZIP64 end of central directory.
const ENTRY_LIMIT: u64 = u16::MAX as u64;
/// Version needed to extract stored entries (APPNOTE 4.4.3.2), and made by.
const VERSION: u16 = 10;
/// Version needed to extract entries of 4 GiB or more (ZIP64 sizes).
const VERSION_ZIP64: u16 = 45;
/// Made by Unix (its permissions are in the external attributes).
const UNIX: u16 = 3 << 8;
/// `-rw-r--r--`, a regular file.
const EXTERNAL_ATTRIBUTES: u32 = 0o100644 << 16;
/// `drwxr-xr-x`, a folder (an entry whose name ends in `/`), with the
/// MS-DOS directory bit, as the `zip` crate's `add_directory` writes it.
const FOLDER_ATTRIBUTES: u32 = (0o40755 << 16) | 0x10;
/// 1980-01-01 00:00, the earliest MS-DOS date: the same bytes on every run.
const DOS_DATE: u16 = (1 << 5) | 1;
/// General purpose flag: the name is UTF-8.
const UTF8_NAME: u16 = 1 << 11;

/// A zip archive being written to `W`, entry by entry.
pub struct ZipOut<W: Write + Seek> {
    out: W,
    /// Where the next byte goes.
    at: u64,
    /// The central directory's records so far (name, crc, size, offset).
    central: Spill,
    entries: u64,
    /// The highest version needed by an entry so far.
    version: u16,
    /// A hash of every entry name, so that a name given twice is refused
    /// (8 bytes per entry, not the names themselves).
    names: std::collections::HashSet<u64>,
}

/// An entry's header fields.
struct Entry<'a> {
    name: &'a str,
    crc: u32,
    size: u64,
    offset: u64,
}

impl<W: Write + Seek> ZipOut<W> {
    /// A new archive written to `out` (positioned at its start); the central
    /// directory waits in `central`.
    pub fn new(out: W, central: Spill) -> Self {
        ZipOut {
            out,
            at: 0,
            central,
            entries: 0,
            version: VERSION,
            names: std::collections::HashSet::new(),
        }
    }

    /// Adds entry `name` holding `bytes`.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.claim(name)?;
        let entry = Entry {
            name,
            crc: crc32fast::hash(bytes),
            size: bytes.len() as u64,
            offset: self.at,
        };
        self.write_local_header(&entry)?;
        self.write(bytes)?;
        self.record(&entry)
    }

    /// Adds entry `name` whose content `fill` writes, piece by piece; its
    /// header is completed once its size and checksum are known. An entry
    /// that turns out to be 4 GiB or more is written again, calling `fill`
    /// a second time, behind a header with ZIP64 sizes.
    pub fn add_streamed(
        &mut self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.claim(name)?;
        let mut entry = Entry {
            name,
            crc: 0,
            size: 0,
            offset: self.at,
        };
        self.write_local_header(&entry)?;
        let mut counted = Counted {
            out: &mut self.out,
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
        };
        fill(&mut counted)?;
        let (hasher, size) = (counted.hasher, counted.bytes);
        self.at += size;
        entry.crc = hasher.finalize();
        entry.size = size;
        if size >= U32_LIMIT {
            self.out.seek(SeekFrom::Start(entry.offset))?;
            self.at = entry.offset;
            self.write_local_header(&entry)?;
            let mut again = Counted {
                out: &mut self.out,
                hasher: crc32fast::Hasher::new(),
                bytes: 0,
            };
            fill(&mut again)?;
            if again.bytes != size || again.hasher.finalize() != entry.crc {
                return Err(std::io::Error::other(format!(
                    "{name} was not the same when written a second time"
                )));
            }
            self.at += size;
            return self.record(&entry);
        }
        // crc, compressed size, size: 14 bytes into the local header.
        self.out.seek(SeekFrom::Start(entry.offset + 14))?;
        self.out.write_all(&entry.crc.to_le_bytes())?;
        self.out.write_all(&(size as u32).to_le_bytes())?;
        self.out.write_all(&(size as u32).to_le_bytes())?;
        self.out.seek(SeekFrom::Start(self.at))?;
        self.record(&entry)
    }

    /// Writes the central directory and the end records; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.central.flush()?;
        let central_start = self.at;
        let mut records = std::io::BufReader::new(self.central.reader());
        let mut name = Vec::new();
        for _ in 0..self.entries {
            let mut fixed = [0u8; 2 + 4 + 8 + 8];
            records.read_exact(&mut fixed)?;
            let name_len = u16::from_le_bytes([fixed[0], fixed[1]]) as usize;
            let crc = u32::from_le_bytes(fixed[2..6].try_into().expect("4 bytes"));
            let size = u64::from_le_bytes(fixed[6..14].try_into().expect("8 bytes"));
            let offset = u64::from_le_bytes(fixed[14..22].try_into().expect("8 bytes"));
            name.resize(name_len, 0);
            records.read_exact(&mut name)?;
            let header = central_header(&name, crc, size, offset);
            self.version = self.version.max(version_needed(size));
            self.out.write_all(&header)?;
            self.at += header.len() as u64;
        }
        drop(records);
        let central_size = self.at - central_start;
        let zip64 = self.entries > ENTRY_LIMIT || central_size.max(central_start) > U32_LIMIT;
        let mut end = Vec::with_capacity(98);
        if zip64 {
            end.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            end.extend_from_slice(&44u64.to_le_bytes());
            end.extend_from_slice(&self.version.to_le_bytes());
            end.extend_from_slice(&self.version.to_le_bytes());
            end.extend_from_slice(&[0; 8]); // this disk, the central directory's disk
            end.extend_from_slice(&self.entries.to_le_bytes());
            end.extend_from_slice(&self.entries.to_le_bytes());
            end.extend_from_slice(&central_size.to_le_bytes());
            end.extend_from_slice(&central_start.to_le_bytes());
            end.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&(central_start + central_size).to_le_bytes());
            end.extend_from_slice(&1u32.to_le_bytes());
        }
        let entries = self.entries.min(ENTRY_LIMIT) as u16;
        let size = if zip64 { u32::MAX } else { central_size as u32 };
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&[0; 4]); // this disk, the central directory's disk
        end.extend_from_slice(&entries.to_le_bytes());
        end.extend_from_slice(&entries.to_le_bytes());
        end.extend_from_slice(&size.to_le_bytes());
        end.extend_from_slice(&(central_start.min(U32_LIMIT) as u32).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes()); // no comment
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Refuses a name that an earlier entry has.
    fn claim(&mut self, name: &str) -> std::io::Result<()> {
        match self.names.insert(name_hash(name.as_bytes())) {
            true => Ok(()),
            false => Err(std::io::Error::other(format!(
                "{name} is written twice into the zip"
            ))),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.at += bytes.len() as u64;
        Ok(())
    }

    fn write_local_header(&mut self, entry: &Entry) -> std::io::Result<()> {
        let name = entry.name.as_bytes();
        let name_len = u16::try_from(name.len())
            .map_err(|_| std::io::Error::other("a zip entry name is longer than 65535 bytes"))?;
        let large = entry.size >= U32_LIMIT;
        let size_field = if large { u32::MAX } else { entry.size as u32 };
        let mut header = Vec::with_capacity(30 + name.len() + 20);
        header.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        header.extend_from_slice(&version_needed(entry.size).to_le_bytes());
        header.extend_from_slice(&flags(name).to_le_bytes());
        header.extend_from_slice(&[0, 0, 0, 0]); // stored, time 00:00
        header.extend_from_slice(&DOS_DATE.to_le_bytes());
        header.extend_from_slice(&entry.crc.to_le_bytes());
        header.extend_from_slice(&size_field.to_le_bytes());
        header.extend_from_slice(&size_field.to_le_bytes());
        header.extend_from_slice(&name_len.to_le_bytes());
        header.extend_from_slice(&(if large { 20u16 } else { 0 }).to_le_bytes());
        header.extend_from_slice(name);
        if large {
            header.extend_from_slice(&1u16.to_le_bytes()); // ZIP64 extended information
            header.extend_from_slice(&16u16.to_le_bytes());
            header.extend_from_slice(&entry.size.to_le_bytes());
            header.extend_from_slice(&entry.size.to_le_bytes());
        }
        self.write(&header)
    }

    fn record(&mut self, entry: &Entry) -> std::io::Result<()> {
        let name = entry.name.as_bytes();
        let mut record = Vec::with_capacity(22 + name.len());
        record.extend_from_slice(&(name.len() as u16).to_le_bytes());
        record.extend_from_slice(&entry.crc.to_le_bytes());
        record.extend_from_slice(&entry.size.to_le_bytes());
        record.extend_from_slice(&entry.offset.to_le_bytes());
        record.extend_from_slice(name);
        self.central.append(&record)?;
        self.entries += 1;
        Ok(())
    }
}

/// The central directory header of one entry; an entry of 4 GiB or more
/// keeps its sizes, and one starting beyond 4 GiB its offset, in a ZIP64
/// extra field.
fn central_header(name: &[u8], crc: u32, size: u64, offset: u64) -> Vec<u8> {
    let (large, far) = (size >= U32_LIMIT, offset >= U32_LIMIT);
    let zip64_len = 16 * u16::from(large) + 8 * u16::from(far);
    let size_field = if large { u32::MAX } else { size as u32 };
    let version = version_needed(size);
    let mut header = Vec::with_capacity(46 + name.len() + 28);
    header.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    header.extend_from_slice(&(UNIX | version).to_le_bytes());
    header.extend_from_slice(&version.to_le_bytes());
    header.extend_from_slice(&flags(name).to_le_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]); // stored, time 00:00
    header.extend_from_slice(&DOS_DATE.to_le_bytes());
    header.extend_from_slice(&crc.to_le_bytes());
    header.extend_from_slice(&size_field.to_le_bytes());
    header.extend_from_slice(&size_field.to_le_bytes());
    header.extend_from_slice(&(name.len() as u16).to_le_bytes());
    let extra_len = if zip64_len > 0 { 4 + zip64_len } else { 0 };
    header.extend_from_slice(&extra_len.to_le_bytes());
    header.extend_from_slice(&[0; 6]); // no comment, disk 0, no internal attributes
    let attributes = match name.ends_with(b"/") {
        true => FOLDER_ATTRIBUTES,
        false => EXTERNAL_ATTRIBUTES,
    };
    header.extend_from_slice(&attributes.to_le_bytes());
    header.extend_from_slice(&(offset.min(U32_LIMIT) as u32).to_le_bytes());
    header.extend_from_slice(name);
    if zip64_len > 0 {
        header.extend_from_slice(&1u16.to_le_bytes()); // ZIP64 extended information
        header.extend_from_slice(&zip64_len.to_le_bytes());
        if large {
            header.extend_from_slice(&size.to_le_bytes());
            header.extend_from_slice(&size.to_le_bytes());
        }
        if far {
            header.extend_from_slice(&offset.to_le_bytes());
        }
    }
    header
}

/// The version needed to extract an entry of `size` bytes.
fn version_needed(size: u64) -> u16 {
    if size >= U32_LIMIT {
        VERSION_ZIP64
    } else {
        VERSION
    }
}

/// A hash of an entry name, the same on every run.
fn name_hash(name: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish()
}

fn flags(name: &[u8]) -> u16 {
    if !name.is_ascii() && std::str::from_utf8(name).is_ok() {
        UTF8_NAME
    } else {
        0
    }
}

/// A writer that counts the bytes through it and their CRC-32.
struct Counted<'a, W> {
    out: &'a mut W,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// The same entries written by the `zip` crate with the options the
    /// tool used before it wrote zips itself.
    fn by_the_zip_crate<W: Write + Seek>(out: W, entries: &[(&str, Vec<u8>)], streamed: bool) -> W {
        let mut zip = zip::ZipWriter::new(out);
        for (name, bytes) in entries {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .last_modified_time(zip::DateTime::default())
                .unix_permissions(0o644)
                .large_file(false);
            zip.start_file(*name, options).unwrap();
            if streamed {
                for chunk in bytes.chunks(7) {
                    zip.write_all(chunk).unwrap();
                }
            } else {
                zip.write_all(bytes).unwrap();
            }
        }
        zip.finish().unwrap()
    }

    fn by_us<W: Write + Seek>(out: W, entries: &[(&str, Vec<u8>)], streamed: bool) -> W {
        let mut zip = ZipOut::new(out, Spill::new(None));
        for (name, bytes) in entries {
            if streamed {
                zip.add_streamed(name, &mut |w| {
                    bytes.chunks(7).try_for_each(|chunk| w.write_all(chunk))
                })
                .unwrap();
            } else {
                zip.add(name, bytes).unwrap();
            }
        }
        zip.finish().unwrap()
    }

    #[test]
    fn entries_are_written_byte_for_byte_as_the_zip_crate_writes_them() {
        let entries: Vec<(&str, Vec<u8>)> = vec![
            ("labelmap.txt", b"background:0,0,0::\n".to_vec()),
            ("SegmentationClass/ünï/frame 1.png", vec![7; 1000]),
            ("empty.txt", Vec::new()),
        ];
        for streamed in [false, true] {
            let theirs = by_the_zip_crate(Cursor::new(Vec::new()), &entries, false).into_inner();
            let ours = by_us(Cursor::new(Vec::new()), &entries, streamed).into_inner();
            assert_eq!(ours, theirs, "streamed: {streamed}");
        }
    }

    #[test]
    fn an_entry_name_given_twice_is_refused() {
        let mut zip = ZipOut::new(Cursor::new(Vec::new()), Spill::new(None));
        zip.add("a.png", b"1").unwrap();
        let err = zip.add("a.png", b"2").unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn more_than_65535_entries_end_like_the_zip_crates_zip64_archive() {
        let names: Vec<String> = (0..70_000).map(|i| format!("m/{i}.png")).collect();
        let entries: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (n.as_str(), vec![1])).collect();
        let theirs = by_the_zip_crate(Cursor::new(Vec::new()), &entries, false).into_inner();
        let ours = by_us(Cursor::new(Vec::new()), &entries, false).into_inner();
        assert!(ours == theirs, "{} bytes vs {}", ours.len(), theirs.len());
        assert_eq!(
            zip::ZipArchive::new(Cursor::new(ours.clone()))
                .unwrap()
                .len(),
            70_000
        );
        // Read back by ZipSource, which counts the ZIP64 end record's entries
        // to find repeated names: none here.
        let path = std::env::temp_dir().join(format!("maskconv-zip64-{}.zip", std::process::id()));
        std::fs::write(&path, ours).unwrap();
        let listed = crate::io::ZipSource::open(&path).map(|s| crate::io::Source::files(&s).len());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(listed.unwrap(), 70_000);
    }

    /// A writer that keeps only the bytes of small writes (headers) with
    /// their positions, and skips large ones (contents): archives beyond
    /// 4 GiB compared without writing them.
    #[derive(Default, PartialEq, Debug)]
    struct Sparse {
        at: u64,
        end: u64,
        kept: std::collections::BTreeMap<u64, u8>,
    }

    impl Write for Sparse {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() < 4096 {
                for (i, byte) in buf.iter().enumerate() {
                    self.kept.insert(self.at + i as u64, *byte);
                }
            }
            self.at += buf.len() as u64;
            self.end = self.end.max(self.at);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for Sparse {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.at = match to {
                SeekFrom::Start(p) => p,
                SeekFrom::End(d) => self.end.checked_add_signed(d).unwrap(),
                SeekFrom::Current(d) => self.at.checked_add_signed(d).unwrap(),
            };
            Ok(self.at)
        }
    }

    /// The headers of an archive whose entries start beyond 4 GiB (ZIP64
    /// offsets, a ZIP64 entry): run with `cargo test --release -- --ignored`.
    #[test]
    #[ignore = "checksums 17 GB: run in release mode"]
    fn entries_beyond_4_gib_get_zip64_offsets_as_the_zip_crate_writes_them() {
        let chunk = vec![0u8; 1 << 20];
        let write_big = |w: &mut dyn Write| -> std::io::Result<()> {
            for _ in 0..2200 {
                w.write_all(&chunk)?;
            }
            Ok(())
        };
        let mut theirs = zip::ZipWriter::new(Sparse::default());
        let mut ours = ZipOut::new(Sparse::default(), Spill::new(None));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644)
            .large_file(false);
        for name in ["a.bin", "b.bin", "c.txt"] {
            theirs.start_file(name, options).unwrap();
            if name == "c.txt" {
                theirs.write_all(b"small").unwrap();
                ours.add(name, b"small").unwrap();
            } else {
                write_big(&mut theirs).unwrap();
                ours.add_streamed(name, &mut |w| write_big(w)).unwrap();
            }
        }
        // A streamed entry of more than 4 GiB: what the tool wrote with
        // `large_file(true)` when it held such a manifest whole.
        let huge = |w: &mut dyn Write| -> std::io::Result<()> {
            for _ in 0..4200 {
                w.write_all(&chunk)?;
            }
            Ok(())
        };
        theirs
            .start_file("huge.ndjson", options.large_file(true))
            .unwrap();
        huge(&mut theirs).unwrap();
        ours.add_streamed("huge.ndjson", &mut |w| huge(w)).unwrap();
        let (theirs, ours) = (theirs.finish().unwrap(), ours.finish().unwrap());
        assert!(ours.end > 8 << 30);
        assert_eq!(ours, theirs);
    }
}

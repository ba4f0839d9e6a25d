//! The log of a shard's written items ([`ITEM_LOG`]): per item, its
//! position in the dataset, the paths of its files in the order written,
//! and the record the writer's finish reads. Little-endian `u32` lengths.

use super::ITEM_LOG;
use crate::error::{Error, Result};
use crate::formats::api::Record;
use crate::io::{Sink, Source, Spill};
use std::io::Read;
use std::path::Path;

/// The log of a shard's written items ([`ITEM_LOG`]), waiting on disk.
pub struct ItemLog {
    spill: Spill,
    items: usize,
}

impl ItemLog {
    /// An empty log, spilled to `dir` as it grows.
    pub fn new(dir: Option<&Path>) -> ItemLog {
        ItemLog {
            spill: Spill::new(dir),
            items: 0,
        }
    }

    /// How many items are logged.
    pub fn len(&self) -> usize {
        self.items
    }

    /// True when no item is logged.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Logs item `index`, written as `paths` (in order), leaving `record`.
    pub fn push(&mut self, index: usize, paths: &[&str], record: &Record) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        let put = |bytes: &mut Vec<u8>, text: &[u8]| {
            bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
            bytes.extend_from_slice(text);
        };
        bytes.extend_from_slice(&(index as u32).to_le_bytes());
        bytes.extend_from_slice(&(paths.len() as u32).to_le_bytes());
        for path in paths {
            put(&mut bytes, path.as_bytes());
        }
        put(&mut bytes, record.text.as_bytes());
        bytes.extend_from_slice(&(record.classes.len() as u32).to_le_bytes());
        for class in &record.classes {
            bytes.extend_from_slice(&class.to_le_bytes());
        }
        self.items += 1;
        self.spill.append(&bytes)
    }

    /// Writes the log into `sink` at [`ITEM_LOG`].
    pub fn write(mut self, sink: &mut dyn Sink) -> Result<()> {
        self.spill
            .flush()
            .map_err(|e| Error::output(ITEM_LOG, e.to_string()))?;
        sink.write_stream(ITEM_LOG, &mut |file| {
            std::io::copy(&mut self.spill.reader(), file).map(drop)
        })
    }
}

/// One item of a shard's log.
pub struct LoggedItem {
    /// Its position in the dataset's items.
    pub index: usize,
    /// Its files, in the order written.
    pub paths: Vec<String>,
    /// What the writer's finish reads.
    pub record: Record,
}

/// Reads the item log of the shard output `source`, one item at a time.
pub fn read_item_log(
    source: &dyn Source,
    each: &mut dyn FnMut(LoggedItem) -> Result<()>,
) -> Result<()> {
    let display = source.display(ITEM_LOG);
    let bad = |what: String| Error::input(&display, what);
    source.read_with(ITEM_LOG, &mut |reader| {
        let mut reader = std::io::BufReader::new(reader);
        loop {
            let index = match read_u32(&mut reader) {
                Ok(index) => index as usize,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(bad(e.to_string())),
            };
            let mut item = || -> std::io::Result<LoggedItem> {
                // Counts come from a file: nothing is reserved ahead of what is read.
                let mut paths = Vec::new();
                for _ in 0..read_count(&mut reader)? {
                    paths.push(read_text(&mut reader)?);
                }
                let text = read_text(&mut reader)?;
                let mut classes = Vec::new();
                for _ in 0..read_count(&mut reader)? {
                    classes.push(read_u32(&mut reader)?);
                }
                Ok(LoggedItem {
                    index,
                    paths,
                    record: Record { text, classes },
                })
            };
            let item = item().map_err(|e| bad(format!("is cut short or damaged ({e})")))?;
            each(item)?;
        }
    })
}

fn read_u32(reader: &mut impl Read) -> std::io::Result<u32> {
    let mut bytes = [0u8; 4];
    reader.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// The most files or classes one logged item has (a damaged log is refused
/// instead of filling memory with empty entries).
const MAX_ITEM_ENTRIES: u32 = 1 << 16;

fn read_count(reader: &mut impl Read) -> std::io::Result<u32> {
    match read_u32(reader)? {
        count if count <= MAX_ITEM_ENTRIES => Ok(count),
        count => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("an item lists {count} entries, more than {MAX_ITEM_ENTRIES}"),
        )),
    }
}

fn read_text(reader: &mut impl Read) -> std::io::Result<String> {
    let len = read_u32(reader)? as u64;
    let mut text = Vec::new();
    reader.take(len).read_to_end(&mut text)?;
    if text.len() as u64 != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    String::from_utf8(text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_item_log_reads_back_what_was_logged() {
        let mut log = ItemLog::new(None);
        let record = Record {
            text: "line".into(),
            classes: vec![1, 3],
        };
        log.push(7, &["a/b.png", "c.png"], &record).unwrap();
        log.push(9, &[], &Record::default()).unwrap();
        let mut sink = crate::io::MemorySink::default();
        log.write(&mut sink).unwrap();
        let source = crate::io::MemorySource::new("shard", sink.files);
        let mut items = Vec::new();
        read_item_log(&source, &mut |item| {
            items.push((item.index, item.paths, item.record));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            items[0],
            (7, vec!["a/b.png".into(), "c.png".into()], record)
        );
        assert_eq!(items[1], (9, vec![], Record::default()));
    }
}

//! The annotation file as a whole: NDJSON, a JSON array, one annotation,
//! or export rows, told apart from the file's first megabyte and read as a
//! stream, a record at a time (see [`parse_stream`]).

use super::records::{Element, Place, Record, Summary, bare, export_rows_key, record_of};
use crate::error::{Error, Result};
use crate::formats::common::{PREFIX_BYTES, first_object};
use crate::formats::json_stream::{Held, MAX_HELD_BYTES, StreamError, stream_array};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

/// How the file lays its annotations out, seen from its first megabyte.
enum Layout {
    /// A JSON array of annotations.
    Array,
    /// An export too large to look at whole: its rows under this key.
    Rows(&'static str),
    /// JSON values one after another: one annotation or export (the file),
    /// or one annotation per line (NDJSON).
    Values,
}

fn layout(prefix: &[u8], whole: bool) -> Layout {
    let Some(first) = first_object(prefix) else {
        return Layout::Values;
    };
    if first.in_array {
        return Layout::Array;
    }
    let single = ["mask_url", "reference_id", "item"]
        .iter()
        .any(|k| first.has(k));
    let rows = ["exportedRows", "data"]
        .into_iter()
        .find(|k| first.has_array(k));
    match (first.end, rows) {
        (None, Some(key)) if !whole && !single => Layout::Rows(key),
        _ => Layout::Values,
    }
}

/// Reads the annotation file from `reader`, handing each record to `each`
/// as soon as it is read, so the file is never held whole. A problem with
/// the file is `fail(what)` (naming the place). A record `each` refuses
/// stops nothing: the file is read to its end, and a problem with the file
/// itself, anywhere, is reported first (as when the file was read whole).
pub(super) fn parse_stream(
    mut reader: impl Read,
    fail: &dyn Fn(String) -> Error,
    each: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<Summary> {
    let mut prefix = Vec::new();
    (&mut reader)
        .take(PREFIX_BYTES as u64 + 1)
        .read_to_end(&mut prefix)
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    let whole = prefix.len() <= PREFIX_BYTES;
    if prefix.starts_with(b"\xef\xbb\xbf") {
        prefix.drain(..3);
    }
    let layout = layout(&prefix, whole);
    let mut stream = BufReader::with_capacity(1 << 16, std::io::Cursor::new(prefix).chain(reader));
    let mut summary = Summary::default();
    let mut other: HashMap<String, usize> = HashMap::new();
    let mut refused: Option<Error> = None;
    let mut add = |value: Value, place: Place| -> Result<()> {
        match record_of(value, place).map_err(fail)? {
            Element::Record(record, has_id) => {
                summary.annotation_ids += usize::from(has_id);
                if refused.is_none() {
                    refused = each(record).err();
                }
            }
            Element::Other(kind) => *other.entry(kind).or_default() += 1,
        }
        Ok(())
    };
    let streamed = |key: &'static str,
                    path: &[&str],
                    stream: &mut dyn Read,
                    add: &mut dyn FnMut(Value, Place) -> Result<()>| {
        let place = |i: usize| match key {
            "" => Place::Element(i as u32 + 1),
            key => Place::Row(key, i as u32 + 1),
        };
        stream_array(stream, path, &mut |i, value| add(value, place(i))).map_err(|e| match e {
            StreamError::Syntax(e) => fail(json_problem(&e)),
            StreamError::Element(e) => e,
            StreamError::TooLarge(what) => fail(too_large(what)),
        })
    };
    match layout {
        Layout::Array => drop(streamed("", &[], &mut stream, &mut add)?),
        Layout::Rows(key) => drop(streamed(key, &[key], &mut stream, &mut add)?),
        Layout::Values => read_values(&mut stream, fail, &mut add)?,
    }
    if let Some(e) = refused {
        return Err(e);
    }
    let mut other_types: Vec<(String, usize)> = other.into_iter().collect();
    other_types.sort();
    summary.other_types = other_types;
    Ok(summary)
}

/// What is wrong with a file serde_json could not read: its JSON, or the
/// reading itself (a file over the size limit, a corrupt archive entry).
fn json_problem(e: &serde_json::Error) -> String {
    match e.is_io() {
        true => format!("cannot be read: {e}"),
        false => format!("not valid JSON: {e}"),
    }
}

/// Skips whitespace; returns how many line ends it passed and whether the
/// file ended.
fn skip_space(stream: &mut impl BufRead, fail: &dyn Fn(String) -> Error) -> Result<(u32, bool)> {
    let mut newlines = 0;
    loop {
        let buffer = stream
            .fill_buf()
            .map_err(|e| fail(format!("cannot be read: {e}")))?;
        if buffer.is_empty() {
            return Ok((newlines, true));
        }
        let spaces = buffer
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        newlines += buffer[..spaces].iter().filter(|&&b| b == b'\n').count() as u32;
        let more = spaces < buffer.len();
        stream.consume(spaces);
        if more {
            return Ok((newlines, false));
        }
    }
}

/// JSON values one after another: nothing (an empty file); one value (an
/// annotation, or an export holding rows); or one annotation per line.
fn read_values(
    stream: &mut impl BufRead,
    fail: &dyn Fn(String) -> Error,
    add: &mut dyn FnMut(Value, Place) -> Result<()>,
) -> Result<()> {
    let (before, empty) = skip_space(stream, fail)?;
    if empty {
        return Ok(());
    }
    // The first value is one annotation (a line of NDJSON, or the file's
    // one object; exports too large to see whole are streamed as rows):
    // held whole, so it is bounded like a line.
    let mut counted = LineCount {
        inner: (&mut *stream).take(MAX_HELD_BYTES + 1),
        newlines: 0,
        bytes: 0,
    };
    let first = {
        let mut deserializer = serde_json::Deserializer::from_reader(&mut counted);
        serde::Deserialize::deserialize(&mut deserializer).map_err(|e| {
            match counted.bytes > MAX_HELD_BYTES {
                true => fail(line_too_long(before + 1)),
                false => fail(json_problem(&e)),
            }
        })?
    };
    let spanned = counted.newlines;
    let (gap, end) = skip_space(stream, fail)?;
    if end {
        return match first {
            Value::Object(mut object) => match export_rows_key(&object) {
                // An export response: {"exportedRows": [...]} or a page {"data": [...], ...}.
                Some(key) => {
                    let Some(Value::Array(rows)) = object.remove(key) else {
                        unreachable!("export_rows_key checked it is a list")
                    };
                    for (i, value) in rows.into_iter().enumerate() {
                        add(value, Place::Row(key, i as u32 + 1))?;
                    }
                    Ok(())
                }
                None => add(Value::Object(object), Place::File),
            },
            _ => Err(fail(
                "holds neither annotation objects nor a list of them".into(),
            )),
        };
    }
    // More values follow: NDJSON, one annotation per line.
    let line = before + 1;
    if spanned > 0 {
        return Err(fail(format!(
            "line {line}, column 1: not valid JSON: the file holds several JSON values, but not one per line (NDJSON)"
        )));
    }
    if gap == 0 {
        return Err(fail(format!(
            "line {line}: not valid JSON: trailing characters after the annotation"
        )));
    }
    add(first, Place::Line(line))?;
    read_lines(stream, line + gap, fail, add)
}

/// A reader that counts the bytes and line ends read through it.
struct LineCount<R> {
    inner: R,
    newlines: u32,
    bytes: u64,
}

impl<R: Read> Read for LineCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u32;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The error for JSON text held whole that is over the limit.
fn too_large(held: Held) -> String {
    let what = match held {
        Held::Element => "one annotation",
        Held::Rest => "the file without its annotations",
    };
    format!(
        "{what} is longer than {} MiB; an annotation file this shaped is refused",
        MAX_HELD_BYTES >> 20
    )
}

/// The error for NDJSON line `number`, held whole and over the limit.
fn line_too_long(number: u32) -> String {
    format!(
        "line {number}: the annotation is longer than {} MiB; one annotation this large is refused",
        MAX_HELD_BYTES >> 20
    )
}

/// NDJSON from line `first` on: one annotation per non-blank line.
fn read_lines(
    stream: &mut impl BufRead,
    first: u32,
    fail: &dyn Fn(String) -> Error,
    add: &mut dyn FnMut(Value, Place) -> Result<()>,
) -> Result<()> {
    let mut line = Vec::new();
    let mut number = first - 1;
    loop {
        line.clear();
        let read = (&mut *stream)
            .take(MAX_HELD_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| fail(format!("cannot be read: {e}")))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.len() as u64 > MAX_HELD_BYTES {
            return Err(fail(line_too_long(number)));
        }
        let mut text = line.strip_suffix(b"\n").unwrap_or(&line);
        text = text.strip_suffix(b"\r").unwrap_or(text);
        let text = std::str::from_utf8(text)
            .map_err(|e| fail(format!("line {number}: is not UTF-8 text: {e}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            fail(format!(
                "line {number}, column {}: not valid JSON: {}",
                e.column(),
                bare(&e)
            ))
        })?;
        add(value, Place::Line(number))?;
    }
}

/// Every record of an annotation file held in memory (for tests).
#[cfg(test)]
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub records: Vec<Record>,
    pub other_types: Vec<(String, usize)>,
    pub annotation_ids: usize,
}

/// Parses a whole file held in memory; the error is the problem in words.
#[cfg(test)]
pub(super) fn parse(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let mut records = Vec::new();
    let summary = parse_stream(bytes, &|what| Error::invalid_input(what), &mut |r| {
        records.push(r);
        Ok(())
    })
    .map_err(|e| e.what)?;
    Ok(Parsed {
        records,
        other_types: summary.other_types,
        annotation_ids: summary.annotation_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_arrays_single_objects_and_export_rows_parse() {
        let ndjson = br#"{"type": "mask", "mask_url": "m/a.png", "annotations": [{"label": "car", "index": 1, "metadata": {"c": "red"}}], "annotation_id": "x", "reference_id": "a"}

{"mask_url": "m/b.png", "item_id": "di_1"}
{"type": "box", "reference_id": "a"}
"#;
        let parsed = parse(ndjson).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[0].segments[0].label, "car");
        assert_eq!(parsed.records[1].key, "di_1");
        assert_eq!(parsed.records[1].place, "line 3");
        assert_eq!(parsed.annotation_ids, 1);
        assert_eq!(parsed.other_types, vec![("box".to_string(), 1)]);

        let array = br#"[{"mask_url": "a.png", "reference_id": "a"}]"#;
        assert_eq!(parse(array).unwrap().records[0].place, "element 1");
        let rows = br#"{"exportedRows": [{"item": {"reference_id": "r"}, "segmentation": null, "box": []},
            {"item": {"reference_id": "s"}, "segmentation": {"mask_url": "s.png", "annotations": []}}]}"#;
        let records = parse(rows).unwrap().records;
        assert_eq!(records[0].mask_url, None);
        assert_eq!(records[1].key, "s");
        let pretty = b"{\n  \"mask_url\": \"a.png\",\n  \"reference_id\": \"a\"\n}\n";
        assert_eq!(parse(pretty).unwrap().records[0].place, "the file");
        // Unknown keys are ignored, "data" included; a page has other keys.
        let extra = br#"{"mask_url": "a.png", "reference_id": "a", "data": 1}"#;
        assert_eq!(parse(extra).unwrap().records.len(), 1);
        let page =
            br#"{"data": [{"item": {"reference_id": "r"}, "segmentation": null}], "next": "x"}"#;
        assert_eq!(parse(page).unwrap().records[0].place, "data row 1");
        assert!(parse(b"  \n").unwrap().records.is_empty());
        // A null reference_id in a row's segmentation takes the item's.
        let null_id = br#"[{"item": {"reference_id": "r"}, "segmentation": {"mask_url": "m.png", "reference_id": null}}]"#;
        assert_eq!(parse(null_id).unwrap().records[0].key, "r");
    }

    #[test]
    fn bad_annotations_are_named_by_line() {
        let cases: [(&[u8], &str); 9] = [
            (b"{\"mask_url\": \"a.png\", \"reference_id\": \"a\"}\n{\"mask_url\": ", "line 2, column 13: not valid JSON"),
            (b"{\"reference_id\": \"a\"}", "the file: has no mask_url"),
            (b"{\"mask_url\": \"a.png\"}", "the file: has no reference_id"),
            (b"{\"mask_url\": \"\", \"reference_id\": \"a\"}", "mask_url is empty"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"label": "x", "index": 300}]}"#, "index 300"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"label": "x", "index": "3"}]}"#, "not an integer"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"label": "x", "index": 1.5}]}"#, "not an integer"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"label": "x", "index": 1}, {"label": "y", "index": 1}]}"#, "two segments have index 1"),
            (br#"{"mask_url": "a.png", "reference_id": "a", "annotations": [{"index": 1}]}"#, "segment 1: has no label"),
        ];
        for (bytes, expected) in cases {
            let err = parse(bytes).unwrap_err();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn layouts_are_told_apart_however_long_the_first_annotation_is() {
        let line = |key: &str, pad: usize| {
            format!(
                r#"{{"mask_url": "m/{key}.png", "reference_id": "{key}", "metadata_note": "{}"}}"#,
                "x".repeat(pad)
            )
        };
        // NDJSON whose first line is longer than the megabyte looked at first.
        let long = format!("{}\n{}\n", line("a", 2 << 20), line("b", 0));
        let parsed = parse(long.as_bytes()).unwrap();
        let places: Vec<String> = parsed.records.iter().map(|r| r.place.to_string()).collect();
        assert_eq!(places, ["line 1", "line 2"]);
        // One annotation padded with whitespace to exactly the megabyte, and beyond.
        for size in [PREFIX_BYTES, PREFIX_BYTES + 7] {
            let mut one = line("a", 10);
            one.push_str(&" ".repeat(size - one.len()));
            assert_eq!(parse(one.as_bytes()).unwrap().records[0].place, "the file");
        }
        // An export, pretty-printed and longer than the megabyte.
        let rows: Vec<String> = (0..20_000)
            .map(|i| format!(r#"  {{"item": {{"reference_id": "r{i}"}}, "segmentation": null}}"#))
            .collect();
        let export = format!("{{\n \"exportedRows\": [\n{}\n ]\n}}\n", rows.join(",\n"));
        assert!(export.len() > PREFIX_BYTES);
        let parsed = parse(export.as_bytes()).unwrap();
        assert_eq!(parsed.records.len(), 20_000);
        assert_eq!(parsed.records[1].place, "exportedRows row 2");
        // Whitespace only, however much of it.
        let blank = " \n".repeat(PREFIX_BYTES);
        assert!(parse(blank.as_bytes()).unwrap().records.is_empty());
        assert!(
            parse("\u{feff}\u{feff}{}".as_bytes()).is_err(),
            "one BOM at most"
        );
    }

    #[test]
    fn a_broken_file_is_reported_before_a_refused_record() {
        let text = format!(
            "{}\n{}\n{{\"mask_url\": ",
            r#"{"mask_url": "a.png", "reference_id": "a"}"#,
            r#"{"mask_url": "b.png", "reference_id": "b"}"#
        );
        let mut seen = 0;
        let err = parse_stream(text.as_bytes(), &|w| Error::invalid_input(w), &mut |_| {
            seen += 1;
            Err(Error::invalid_input("refused"))
        })
        .unwrap_err();
        assert!(
            err.what.contains("line 3, column 13: not valid JSON"),
            "{err}"
        );
        assert_eq!(seen, 1, "records after a refusal are read, not handed over");
    }
}

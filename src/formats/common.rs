//! Helpers several formats share: finding an annotation file, naming files,
//! reading mask files, copying source images, and peeking at the start of
//! a JSON file without parsing all of it.

use crate::error::{Error, Result};
use crate::io::{Source, read_local_file};
use crate::model::{FileRef, Item};

/// How much of a file detection and format sniffing read.
pub const PREFIX_BYTES: usize = 1 << 20;

/// Whether `path` is macOS Finder metadata (`__MACOSX/…`, `._name`), which
/// archives made on a Mac carry and which is never part of a dataset.
pub fn is_mac_metadata(path: &str) -> bool {
    path.split('/')
        .any(|part| part == "__MACOSX" || part.starts_with("._"))
}

/// Files directly at the input's top, or in its one top folder when every
/// file is inside one (an archive of a folder), whose names end in one of
/// `extensions` (case-insensitive): where annotation-file formats (Nucleus,
/// Segments.ai) look for their file.
pub fn top_files<'a>(source: &'a dyn Source, extensions: &[&str]) -> Vec<&'a str> {
    let files: Vec<&str> = source
        .files()
        .iter()
        .map(String::as_str)
        .filter(|f| !is_mac_metadata(f))
        .collect();
    let top = files
        .first()
        .and_then(|f| f.split_once('/'))
        .map(|(t, _)| t);
    let root = match top {
        Some(top) if files.iter().all(|f| f.starts_with(&format!("{top}/"))) => {
            format!("{top}/")
        }
        _ => String::new(),
    };
    files
        .into_iter()
        .filter(|f| {
            f.strip_prefix(root.as_str()).is_some_and(|name| {
                let lower = name.to_ascii_lowercase();
                !name.contains('/') && extensions.iter().any(|ext| lower.ends_with(ext))
            })
        })
        .collect()
}

/// Whether one of `candidates` starts like the annotation file (`holds`,
/// given its path and first [`PREFIX_BYTES`]): detection, silent and cheap.
pub fn holds_annotation_file(
    source: &dyn Source,
    candidates: &[&str],
    holds: fn(&str, &[u8]) -> bool,
) -> bool {
    candidates.iter().any(|path| {
        source
            .read_prefix(path, PREFIX_BYTES)
            .is_ok_and(|bytes| holds(path, &bytes))
    })
}

/// The one file among `candidates` whose start `holds` (given its path and
/// first [`PREFIX_BYTES`]) says is the annotation file. None is an error
/// saying the input holds no `expected`; several is an error listing them.
pub fn annotation_file(
    source: &dyn Source,
    candidates: &[&str],
    holds: fn(&str, &[u8]) -> bool,
    expected: &str,
) -> Result<String> {
    let mut found = Vec::new();
    for path in candidates {
        if holds(path, &source.read_prefix(path, PREFIX_BYTES)?) {
            found.push(path.to_string());
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one file")),
        0 => Err(match candidates {
            [one] => not_json(source, one, &format!("so the input holds no {expected}")),
            _ => None,
        }
        .unwrap_or_else(|| Error::input(source.name(), format!("holds no {expected}")))),
        _ => Err(Error::input(
            source.name(),
            format!(
                "holds several annotation files ({}); pass the one to read as INPUT",
                found
                    .iter()
                    .map(|p| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The error for `path`, a `.json`, `.ndjson` or `.jsonl` file, when its
/// first [`PREFIX_BYTES`] are not valid JSON (for NDJSON: its first line),
/// with the line and column and `then` after it; `None` when they parse (or
/// are only cut short by the prefix).
pub fn not_json(source: &dyn Source, path: &str, then: &str) -> Option<Error> {
    let bytes = source.read_prefix(path, PREFIX_BYTES).ok()?;
    let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    // Only part of the file was read: an error at the cut may be the cut.
    let cut = bytes.len() == PREFIX_BYTES;
    let near_cut = |offset: usize| cut && offset + 64 >= text.len();
    let lower = path.to_ascii_lowercase();
    let problem = if text.iter().all(u8::is_ascii_whitespace) {
        "is empty".to_string()
    } else if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") {
        let mut start = 0;
        let (number, line) = text.split(|&b| b == b'\n').enumerate().find(|(_, line)| {
            let blank = line.iter().all(u8::is_ascii_whitespace);
            if blank {
                start += line.len() + 1;
            }
            !blank
        })?;
        match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
            Err(e) if !near_cut(start + line.len()) => format!(
                "is not valid NDJSON: {} at line {} column {}",
                json_error_kind(&e),
                number + 1,
                e.column()
            ),
            _ => return None,
        }
    } else {
        match serde_json::from_slice::<serde::de::IgnoredAny>(text) {
            Err(e) if !(e.is_eof() && cut || near_cut(offset_of(text, e.line(), e.column()))) => {
                format!(
                    "is not valid JSON: {} at line {} column {}",
                    json_error_kind(&e),
                    e.line(),
                    e.column()
                )
            }
            _ => return None,
        }
    };
    Some(Error::input(
        source.display(path),
        format!("{problem}; {then}"),
    ))
}

/// The byte offset of (1-based) `line` and `column` in `text`.
fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    line_start + column
}

/// What a JSON error is, without serde's position suffix.
fn json_error_kind(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The folder of `path` in the input, with its slash (`a/b/` for
/// `a/b/file.json`, `""` at the top): where relative paths in it start.
pub fn folder_of(path: &str) -> &str {
    path.rfind('/').map_or("", |slash| &path[..=slash])
}

/// The extension of the file named at the end of `path` (`.jpg` for
/// `a/b.c/img.jpg`, or for `https://h/img.jpg?sig=1`), or `default` when
/// it has none.
pub fn file_extension<'a>(path: &'a str, default: &'a str) -> &'a str {
    let path = match path.split_once("://") {
        // A URL: only its path counts (`https://h.com` has no extension),
        // without its query or fragment.
        Some((_, rest)) => {
            let path = rest.find('/').map_or("", |slash| &rest[slash..]);
            path.split(['?', '#']).next().unwrap_or(path)
        }
        None => path,
    };
    let file = path.rsplit('/').next().unwrap_or(path);
    match file.rfind('.') {
        Some(dot) if dot > 0 => &file[dot..],
        _ => default,
    }
}

/// `bytes` without a leading UTF-8 byte order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// The bytes of a mask file and how to name it in messages.
pub fn read_mask_file(source: &dyn Source, file: &FileRef) -> Result<(Vec<u8>, String)> {
    match (file, file.input_path(source.files())) {
        (_, Some(path)) => Ok((source.read(path)?, source.display(path))),
        (FileRef::Local(path), None) => Ok((read_local_file(path)?, path.display().to_string())),
        _ => unreachable!("files of the input have a path in it"),
    }
}

/// The bytes of an item's source image and its extension (taken from the
/// source image's name, `default` when it has none), when the writer was
/// given them.
pub fn source_image<'a>(
    item: &'a Item,
    image: Option<&'a [u8]>,
    default: &'a str,
) -> Option<(&'a [u8], &'a str)> {
    Some((image?, file_extension(item.image.as_deref()?, default)))
}

/// A small metadata file (a Datagen JSON), read whole: at most
/// [`MAX_HELD_BYTES`](crate::formats::json_stream::MAX_HELD_BYTES) of text,
/// since it is parsed into memory at once.
pub fn read_small_file(source: &dyn Source, path: &str) -> Result<Vec<u8>> {
    let bytes = source.read(path)?;
    let limit = crate::formats::json_stream::MAX_HELD_BYTES;
    match bytes.len() as u64 > limit {
        true => Err(Error::input(
            source.display(path),
            format!(
                "is larger than {} MiB, the limit for a metadata file",
                limit >> 20
            ),
        )),
        false => Ok(bytes),
    }
}

/// The error for an input holding several datasets of one format, at these
/// roots (`a/`, `b/c/`): the user should pass one of them.
pub fn several_datasets<'a>(
    source: &dyn Source,
    format: &str,
    roots: impl Iterator<Item = &'a str>,
) -> Error {
    let roots: Vec<String> = roots
        .map(|r| format!("'{}'", r.trim_end_matches('/')))
        .collect();
    Error::input(
        source.name(),
        format!(
            "holds several {format} datasets ({}); pass one of them",
            roots.join(", ")
        ),
    )
}

/// What the start of a JSON text shows of its first object (the text's
/// top value, or the first element of a top-level array).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FirstObject {
    /// The text is a JSON array.
    pub in_array: bool,
    /// The object's keys, each with the first byte of its value (`[`, `{`,
    /// `"`, a digit, `t`, `f`, `n`), as far as the text goes.
    pub keys: Vec<(String, u8)>,
    /// Where the object ends (just after its `}`), if the text goes that far.
    pub end: Option<usize>,
}

impl FirstObject {
    /// Whether the object has key `key`.
    pub fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == key)
    }

    /// Whether the object's `key` holds an array.
    pub fn has_array(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, v)| k == key && *v == b'[')
    }
}

/// Scans the start of a JSON text (a file's first bytes, without a byte
/// order mark) for its first object's keys, without parsing the values:
/// detection looks at a file's first megabyte, however large the file is.
/// `None` when the text does not start like an object or an array of objects.
pub fn first_object(text: &[u8]) -> Option<FirstObject> {
    let mut at = skip_space(text, 0);
    let mut first = FirstObject::default();
    if text.get(at) == Some(&b'[') {
        first.in_array = true;
        at = skip_space(text, at + 1);
    }
    if text.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_space(text, at + 1);
    loop {
        match text.get(at) {
            Some(b'}') => {
                first.end = Some(at + 1);
                return Some(first);
            }
            Some(b'"') => {}
            _ => return Some(first),
        }
        let Some(key_end) = skip_string(text, at) else {
            return Some(first);
        };
        let key = serde_json::from_slice::<String>(&text[at..key_end]).ok()?;
        at = skip_space(text, key_end);
        if text.get(at) != Some(&b':') {
            return Some(first);
        }
        at = skip_space(text, at + 1);
        let Some(&start) = text.get(at) else {
            return Some(first);
        };
        first.keys.push((key, start));
        let Some(value_end) = skip_value(text, at) else {
            return Some(first);
        };
        at = skip_space(text, value_end);
        if text.get(at) == Some(&b',') {
            at = skip_space(text, at + 1);
        }
    }
}

fn skip_space(text: &[u8], mut at: usize) -> usize {
    while text.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
        at += 1;
    }
    at
}

/// The end of the string starting at `at` (just after its closing quote).
fn skip_string(text: &[u8], mut at: usize) -> Option<usize> {
    at += 1;
    loop {
        match text.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// The end of the value starting at `at`; `None` when the text stops first.
fn skip_value(text: &[u8], mut at: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match text.get(at)? {
            b'"' => {
                at = skip_string(text, at)?;
                if depth == 0 {
                    return Some(at);
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return Some(at);
                }
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            b',' if depth == 0 => return Some(at),
            b if depth == 0 && b.is_ascii_whitespace() => return Some(at),
            _ => {}
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_objects_keys_are_found_without_parsing_values() {
        let text = br#" [ {"a": [1, {"x": "]"}], "b\"q": "s,}", "c": 12, "d": {"e": []}}, 5]"#;
        let first = first_object(text).unwrap();
        assert!(first.in_array);
        let keys: Vec<(&str, u8)> = first.keys.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            keys,
            [("a", b'['), ("b\"q", b'"'), ("c", b'1'), ("d", b'{')]
        );
        assert_eq!(&text[..first.end.unwrap()].last(), &Some(&b'}'));
        let cut = first_object(br#"{"exportedRows": [{"item": "#).unwrap();
        assert!(cut.has_array("exportedRows"));
        assert_eq!(cut.end, None);
        assert_eq!(first_object(b"not json"), None);
        assert_eq!(first_object(b"{}").unwrap().end, Some(2));
    }

    /// A valid JSON file larger than the prefix read, cut inside a number
    /// (`1e`): no error is made up; a real one before the cut is reported.
    #[test]
    fn json_cut_short_by_the_prefix_is_not_called_invalid() {
        let mut text = String::from("[");
        while text.len() + 3 <= PREFIX_BYTES - 2 {
            text.push_str("0, ");
        }
        while text.len() < PREFIX_BYTES - 2 {
            text.push(' ');
        }
        text.push_str("1e5]");
        assert_eq!(&text[PREFIX_BYTES - 2..PREFIX_BYTES], "1e");
        let source = |text: &str| {
            let files = [("a.json".to_string(), text.as_bytes().to_vec())];
            crate::io::MemorySource::new("in", files.into_iter().collect())
        };
        assert!(not_json(&source(&text), "a.json", "so").is_none());
        let broken = text.replacen("0, 0", "0, x", 1);
        let err = not_json(&source(&broken), "a.json", "so").unwrap();
        assert!(
            err.to_string()
                .contains("is not valid JSON: expected value at line 1 column"),
            "{err}"
        );
    }

    #[test]
    fn file_extensions_come_from_the_file_name_of_paths_and_urls() {
        assert_eq!(file_extension("a/b.c/img.jpg", ".png"), ".jpg");
        assert_eq!(file_extension("https://h/img.jpg?sig=1", ".png"), ".jpg");
        assert_eq!(file_extension("https://h.com", ".png"), ".png");
        assert_eq!(file_extension("a/.hidden", ".png"), ".png");
        assert_eq!(
            file_extension("img#1.jpg", ".png"),
            ".jpg",
            "a file name, not a URL"
        );
        assert_eq!(file_extension("img.jpg?日本", ".png"), ".jpg?日本");
        assert_eq!(folder_of("a/b/x.json"), "a/b/");
        assert_eq!(folder_of("x.json"), "");
    }
}

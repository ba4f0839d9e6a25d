//! Item keys as file paths, reversibly. A key is any non-empty text
//! (a Nucleus `reference_id` such as `s3://bucket/x.png`, a Segments.ai
//! sample name); a writer that names files after keys uses
//! [`key_to_path`], and a reader of such files [`path_to_key`], so a key
//! comes back exact through any format.
//!
//! The escaping percent-encodes (`%XX`, uppercase hex) only what a
//! relative path on Linux, macOS and Windows cannot hold:
//! - control characters and `" * : < > ? \ |`;
//! - a `/` at the start or end, or next to another `/` (it would make an
//!   empty path component): `%2F`;
//! - a component that is `.` or `..` (`%2E`, `%2E%2E`), and a `.` or space
//!   ending a component (Windows drops them): `%2E`, `%20`;
//! - a `%` that would read as one of these escapes: `%25`.
//!
//! Every other character, `/` between components and non-ASCII text
//! included, stays as it is, so ordinary keys are their own paths and
//! foreign file names (`img%20001.png`, `50%off.png`) read as they are.

use std::borrow::Cow;

/// Characters escaped wherever they are.
fn always_escaped(c: char) -> bool {
    c.is_ascii_control() || matches!(c, '"' | '*' | ':' | '<' | '>' | '?' | '\\' | '|')
}

/// The character an escape `%XX` stands for, if [`key_to_path`] writes it
/// (uppercase hex of an ASCII character it escapes somewhere).
fn escaped_char(hex: &str) -> Option<char> {
    let byte = u8::from_str_radix(hex, 16).ok().filter(u8::is_ascii)?;
    let c = char::from(byte);
    let upper = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    (upper && (always_escaped(c) || matches!(c, '%' | '/' | '.' | ' '))).then_some(c)
}

/// The relative path standing for `key` (see the module docs).
pub fn key_to_path(key: &str) -> Cow<'_, str> {
    // First with `%` as it is; where that would not read back, with every
    // `%` that begins an escape escaped too.
    for escape_percent in [false, true] {
        let path = escaped(key, escape_percent);
        if path_to_key(&path) == key {
            return path;
        }
    }
    unreachable!("escaping every escape-like % reads back")
}

fn escaped(key: &str, escape_percent: bool) -> Cow<'_, str> {
    let bytes = key.as_bytes();
    let separator =
        |i: usize| i > 0 && i + 1 < key.len() && bytes[i - 1] != b'/' && bytes[i + 1] != b'/';
    let percent =
        |i: usize| escape_percent && key.get(i + 1..i + 3).and_then(escaped_char).is_some();
    let plain = key.char_indices().all(|(i, c)| match c {
        '/' => separator(i),
        '%' => !percent(i),
        c => !always_escaped(c),
    }) && key
        .split('/')
        .all(|c| c != "." && c != ".." && !c.ends_with(['.', ' ']));
    if plain {
        return Cow::Borrowed(key);
    }
    let mut path = String::with_capacity(key.len() + 8);
    let mut component_start = 0;
    for (i, c) in key.char_indices() {
        if c == '/' && separator(i) {
            finish_component(&mut path, component_start);
            path.push('/');
            component_start = path.len();
        } else if c == '/' || always_escaped(c) || (c == '%' && percent(i)) {
            push_escape(&mut path, c as u8);
        } else {
            path.push(c);
        }
    }
    finish_component(&mut path, component_start);
    Cow::Owned(path)
}

/// Escapes what would end the component starting at `start` of `path`
/// badly: all of `.` / `..`, or a final `.` or space.
fn finish_component(path: &mut String, start: usize) {
    match &path[start..] {
        "." => path.replace_range(start.., "%2E"),
        ".." => path.replace_range(start.., "%2E%2E"),
        component if component.ends_with(['.', ' ']) => {
            let last = path.pop().expect("a final character");
            push_escape(path, last as u8);
        }
        _ => {}
    }
}

fn push_escape(path: &mut String, byte: u8) {
    path.push_str(&format!("%{byte:02X}"));
}

/// The key a path [`key_to_path`] wrote stands for: its escapes decoded
/// where it writes them (`%2F` at the ends of the path or beside another,
/// `%2E` and `%20` ending a component). Other paths read as themselves but
/// for those escapes.
pub fn path_to_key(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let components: Vec<&str> = path.split('/').collect();
    let last = components.len() - 1;
    let mut key = String::with_capacity(path.len());
    for (n, component) in components.iter().enumerate() {
        if n > 0 {
            key.push('/');
        }
        match *component {
            "%2E" => key.push('.'),
            "%2E%2E" => key.push_str(".."),
            _ => decode_component(component, n == 0, n == last, &mut key),
        }
    }
    Cow::Owned(key)
}

/// Decodes one component's escapes onto `key` (`first`, `last`: whether it
/// begins or ends the path).
fn decode_component(component: &str, first: bool, last: bool, key: &mut String) {
    let mut after_slash = false;
    let mut at = 0;
    while at < component.len() {
        let rest = &component[at..];
        let escape = rest
            .strip_prefix('%')
            .and_then(|r| r.get(..2))
            .and_then(escaped_char);
        let decoded = match escape {
            Some('/') => {
                let ends = (first && at == 0) || (last && rest.len() == 3);
                (ends || after_slash || rest[3..].starts_with("%2F")).then_some('/')
            }
            Some(c @ ('.' | ' ')) => (rest.len() == 3).then_some(c),
            other => other,
        };
        match decoded {
            Some(c) => {
                key.push(c);
                after_slash = c == '/';
                at += 3;
            }
            None => {
                let c = rest.chars().next().expect("a character");
                key.push(c);
                after_slash = false;
                at += c.len_utf8();
            }
        }
    }
}

/// What naming files after a dataset's keys involves, found in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeySurvey<'a> {
    /// How many keys are escaped ([`key_to_path`] is not the key itself).
    pub escaped: usize,
    /// The first of them.
    pub first_escaped: Option<&'a str>,
    /// Two keys whose paths differ only in letter case (which a
    /// case-insensitive disk, as macOS's and Windows' usually are, cannot
    /// hold both of), if any.
    pub case_collision: Option<(&'a str, &'a str)>,
}

/// Surveys `keys` (see [`KeySurvey`]), escaping each once. Holds a hash
/// per key, not the keys.
pub fn survey_keys<'a>(keys: impl Iterator<Item = &'a str> + Clone) -> KeySurvey<'a> {
    use std::collections::hash_map::{Entry, HashMap};
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut survey = KeySurvey::default();
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (index, key) in keys.clone().enumerate() {
        let path = key_to_path(key);
        if path != key {
            survey.escaped += 1;
            survey.first_escaped.get_or_insert(key);
        }
        if survey.case_collision.is_some() {
            continue;
        }
        let folded = path.to_lowercase();
        match seen.entry(hasher.hash_one(&folded)) {
            Entry::Vacant(slot) => {
                slot.insert(index);
            }
            Entry::Occupied(first) => {
                let first = keys.clone().nth(*first.get()).expect("an earlier key");
                if first != key && key_to_path(first).to_lowercase() == folded {
                    survey.case_collision = Some((first, key));
                }
            }
        }
    }
    survey
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_are_their_own_paths() {
        for key in [
            "frame_000001",
            "dir/sub/img 1",
            "ünï/ß",
            "50%off",
            "img%20001",
            "a.b",
        ] {
            assert_eq!(key_to_path(key), key, "{key}");
            assert_eq!(path_to_key(key), key, "{key}");
        }
    }

    #[test]
    fn foreign_ids_become_safe_paths_and_come_back_exact() {
        let cases = [
            ("/data/a.jpg", "%2Fdata/a.jpg"),
            ("s3://bucket/x.png", "s3%3A%2F%2Fbucket/x.png"),
            ("a\\b", "a%5Cb"),
            ("c:d", "c%3Ad"),
            ("x/../y", "x/%2E%2E/y"),
            (".", "%2E"),
            ("a./b ", "a%2E/b%20"),
            ("trailing/", "trailing%2F"),
            ("line\nbreak\t", "line%0Abreak%09"),
            ("100%3A", "100%253A"),
            ("file%2E", "file%252E"),
            ("q?*<>|\"", "q%3F%2A%3C%3E%7C%22"),
        ];
        for (key, path) in cases {
            assert_eq!(key_to_path(key), path, "{key:?}");
            assert_eq!(path_to_key(path), key, "{path:?}");
            for part in path.split('/') {
                assert!(!part.is_empty() && part != "." && part != "..", "{path}");
            }
        }
    }

    #[test]
    fn every_key_comes_back_exact() {
        let pieces = [
            "", "/", "//", ".", "..", "%", "%2F", "%25", "%2E", "%20", "%3a", "%3A", "2F", " ",
            ":", "a", "é", "\\", "\0",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let key = format!("{a}{b}{c}");
                    if key.is_empty() {
                        continue;
                    }
                    let path = key_to_path(&key);
                    assert_eq!(path_to_key(&path), key, "{key:?} → {path:?}");
                    assert!(
                        path.split('/')
                            .all(|p| !p.is_empty() && p != "." && p != ".."),
                        "{path:?}"
                    );
                    assert!(!path.chars().any(always_escaped), "{path:?}");
                    assert!(
                        !path.split('/').any(|p| p.ends_with(['.', ' '])),
                        "{path:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn keys_differing_only_in_case_are_found() {
        let collision = |keys: &[&'static str]| survey_keys(keys.iter().copied()).case_collision;
        assert_eq!(collision(&["a/B", "c", "A/b"]), Some(("a/B", "A/b")));
        assert_eq!(collision(&["a", "b", "a"]), None);
    }
}

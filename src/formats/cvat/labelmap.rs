//! `labelmap.txt`: parsing with the exact grammar CVAT's importer uses, and
//! the default Pascal VOC label map it falls back to.

use crate::error::{Error, Result};
use crate::formats::colors::voc_color;
use crate::report::Warning;

/// One line of `labelmap.txt`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Label {
    pub name: String,
    pub color: Option<[u8; 3]>,
    pub parts: Vec<String>,
    pub actions: Vec<String>,
}

/// Lines as Python's text mode splits them: at `\n`, `\r\n` or `\r`.
pub(super) fn py_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\n', '\r']) {
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Python's `str.isspace`, which `str.strip()` uses.
pub(super) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\x1c'..='\x1f')
}

/// Python's `int()` on a colour component: surrounding whitespace, a sign and
/// `_` between digits allowed.
fn parse_py_int(text: &str) -> Option<i64> {
    let t = text.trim_matches(is_py_space);
    let (negative, digits) = match t.as_bytes().first()? {
        b'+' => (false, &t[1..]),
        b'-' => (true, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    if !cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = cleaned.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// Parses `labelmap.txt` with the grammar CVAT's importer uses: stripped
/// lines, `#` comments, exactly four `:` fields, the name kept verbatim.
pub(super) fn parse_labelmap(bytes: &[u8], display: &str) -> Result<(Vec<Label>, Vec<Warning>)> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Error::input(display, format!("is not valid UTF-8 ({e})")))?;
    let mut labels: Vec<Label> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut notes = Vec::new();
    for (number, raw) in py_lines(text).enumerate() {
        let at = |what: String| Error::input(display, format!("line {}: {what}", number + 1));
        let line = raw.trim_matches(is_py_space);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let [name, color, parts, actions] = fields[..] else {
            return Err(at(format!(
                "expected 4 ':'-separated fields (name:R,G,B:parts:actions), found {}",
                fields.len()
            )));
        };
        if name.is_empty() {
            return Err(at("the label name is empty".into()));
        }
        if !names.insert(name) {
            return Err(at(format!("label '{name}' is defined twice")));
        }
        let color = if color.is_empty() {
            None
        } else {
            let channels: Vec<&str> = color.split(',').collect();
            let [r, g, b] = channels[..] else {
                return Err(at(format!(
                    "label '{name}' has colour '{color}', expected R,G,B"
                )));
            };
            let mut rgb = [0u8; 3];
            for (slot, text) in rgb.iter_mut().zip([r, g, b]) {
                let value = parse_py_int(text).ok_or_else(|| {
                    at(format!(
                        "label '{name}' has colour '{color}': '{text}' is not a number"
                    ))
                })?;
                *slot = u8::try_from(value).map_err(|_| {
                    at(format!(
                        "label '{name}' has colour '{color}': {value} is outside 0..255"
                    ))
                })?;
            }
            Some(rgb)
        };
        let list = |field: &str, what: &str| -> Result<Vec<String>> {
            if field.is_empty() {
                return Ok(Vec::new());
            }
            field
                .split(',')
                .map(|s| s.trim_matches(is_py_space))
                .map(|s| match s.is_empty() {
                    true => Err(at(format!("label '{name}' has an empty {what} name"))),
                    false => Ok(s.to_string()),
                })
                .collect()
        };
        let actions = list(actions, "action")?;
        if let Some(action) = actions.iter().find(|a| a.starts_with('#')) {
            notes.push(Warning::new(
                "labelmap-comment-as-action",
                format!(
                    "{display} line {}: '{action}' after the last ':' is read as an action of '{name}', not a comment (as CVAT reads it)",
                    number + 1
                ),
            ));
        }
        labels.push(Label {
            name: name.to_string(),
            color,
            parts: list(parts, "part")?,
            actions,
        });
    }
    Ok((labels, notes))
}

/// The label map CVAT assumes when `labelmap.txt` is absent: Pascal VOC's 21
/// labels plus `ignored`, coloured by the VOC colormap, with `person`'s
/// parts and actions.
pub(super) fn default_labelmap() -> Vec<Label> {
    const NAMES: [&str; 21] = [
        "background",
        "aeroplane",
        "bicycle",
        "bird",
        "boat",
        "bottle",
        "bus",
        "car",
        "cat",
        "chair",
        "cow",
        "diningtable",
        "dog",
        "horse",
        "motorbike",
        "person",
        "pottedplant",
        "sheep",
        "sofa",
        "train",
        "tvmonitor",
    ];
    const PERSON: usize = 15;
    const PARTS: [&str; 3] = ["head", "hand", "foot"];
    const ACTIONS: [&str; 11] = [
        "jumping",
        "phoning",
        "playinginstrument",
        "reading",
        "ridingbike",
        "ridinghorse",
        "running",
        "takingphoto",
        "usingcomputer",
        "walking",
        "other",
    ];
    let label = |name: &str, index: u8| Label {
        name: name.to_string(),
        color: Some(voc_color(index)),
        parts: Vec::new(),
        actions: Vec::new(),
    };
    let mut labels: Vec<Label> = NAMES
        .iter()
        .zip(0u8..)
        .map(|(name, i)| label(name, i))
        .collect();
    labels[PERSON].parts = PARTS.map(String::from).to_vec();
    labels[PERSON].actions = ACTIONS.map(String::from).to_vec();
    labels.push(label("ignored", 255));
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelmap_keeps_bom_and_trailing_space_in_names_and_tolerates_spaced_colours() {
        let text = "\u{feff}Zebra:170,187,204::\r\n# c\r\n  car : 51, 221 ,255 :wheel, door:drive\r\nperson:1,2,3::  # trailing\n";
        let (labels, notes) = parse_labelmap(text.as_bytes(), "labelmap.txt").unwrap();
        assert_eq!(labels[0].name, "\u{feff}Zebra");
        assert_eq!(labels[1].name, "car ");
        assert_eq!(labels[1].color, Some([51, 221, 255]));
        assert_eq!(labels[1].parts, vec!["wheel", "door"]);
        assert_eq!(labels[1].actions, vec!["drive"]);
        assert_eq!(labels[2].actions, vec!["# trailing"]);
        assert_eq!(notes[0].code, "labelmap-comment-as-action");
        assert!(notes[0].message.contains("line 4"), "{}", notes[0].message);
    }

    #[test]
    fn labelmap_errors_name_the_line() {
        let err = parse_labelmap(b"a:1,2,3::\r\nb:1,2,3:\n", "lm.txt").unwrap_err();
        assert_eq!(
            err.to_string(),
            "lm.txt: line 2: expected 4 ':'-separated fields (name:R,G,B:parts:actions), found 3"
        );
        assert!(parse_labelmap(b"a:1,2::", "x").is_err());
        let out_of_range = parse_labelmap(b"a:1,2,300::", "x").unwrap_err();
        assert!(out_of_range.to_string().contains("outside 0..255"));
        let twice = parse_labelmap(b"a:1,2,3::\na:4,5,6::", "x").unwrap_err();
        assert!(twice.to_string().contains("twice"));
        assert!(parse_labelmap(b"a:1,x,3::", "x").is_err());
        assert!(parse_labelmap(b"a:1,2,3: :", "x").is_err());
    }

    /// 200 000 labels: the duplicate-name check is linear (it was quadratic:
    /// 10⁵ lines took 22 s).
    #[test]
    fn a_labelmap_of_200000_labels_is_read_whole() {
        let text: String = (0..200_000)
            .map(|i| format!("label{i}:{},{},{}::\n", i % 256, i / 256 % 256, i / 65536))
            .collect();
        let (labels, _) = parse_labelmap(text.as_bytes(), "lm.txt").unwrap();
        assert_eq!(labels.len(), 200_000);
        assert_eq!(labels[199_999].name, "label199999");
        assert_eq!(labels[199_999].color, Some([63, 13, 3]));
    }

    #[test]
    fn python_int_rules_for_colour_components() {
        assert_eq!(parse_py_int(" 187 "), Some(187));
        assert_eq!(parse_py_int("+5"), Some(5));
        assert_eq!(parse_py_int("1_0"), Some(10));
        assert_eq!(parse_py_int("1__0"), None);
        assert_eq!(parse_py_int(""), None);
        assert_eq!(parse_py_int("0x10"), None);
    }

    #[test]
    fn default_labelmap_is_the_datumaro_one() {
        let labels = default_labelmap();
        assert_eq!(labels.len(), 22);
        assert_eq!(
            (labels[0].name.as_str(), labels[0].color),
            ("background", Some([0, 0, 0]))
        );
        assert_eq!(labels[15].color, Some([192, 128, 128]));
        assert_eq!(labels[21].color, Some([224, 224, 192]));
        assert_eq!(labels[15].parts, vec!["head", "hand", "foot"]);
    }
}

//! The rules of a label mapping as they are written: on the command line
//! (`--map 'old=new'`), and in a file (JSON, or `old -> new` lines).

use crate::error::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// What a rule makes of the classes it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This class (renamed, or merged with others of the name), with the id
    /// `--map 'car=car:7'` gives it in formats with class ids.
    Class {
        /// The class's name.
        name: String,
        /// Its id, when the rule gives one.
        id: Option<u32>,
    },
    /// Unlabeled pixels (`old=`).
    Unlabeled,
    /// The target's ignore value (`old=ignore`).
    Ignore,
}

/// One rule: the classes whose name matches `pattern` (`*` any text, `?`
/// one character) become `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The glob the class names are matched with.
    pub pattern: String,
    /// What they become.
    pub target: Target,
    /// Where the rule was given, for messages (`--map 'a=b'`, `map.txt:3`).
    pub origin: String,
}

/// The name that maps a class to the ignore value.
pub const IGNORE: &str = "ignore";

/// What follows the `=` (or `->`) of a rule: `new`, `new:7`, nothing, `ignore`.
fn target_of(text: &str) -> std::result::Result<Target, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Target::Unlabeled);
    }
    if text == IGNORE {
        return Ok(Target::Ignore);
    }
    if let Some((name, id)) = text.rsplit_once(':')
        && !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
    {
        let id = id
            .parse()
            .map_err(|_| format!("the class id {id} is too large"))?;
        if name.trim().is_empty() {
            return Err("a class id needs a class name before it (name:id)".into());
        }
        return Ok(Target::Class {
            name: name.trim().to_string(),
            id: Some(id),
        });
    }
    Ok(Target::Class {
        name: text.to_string(),
        id: None,
    })
}

/// One rule `old=new` (in files also `old -> new`).
pub fn parse_rule(text: &str, origin: String) -> std::result::Result<Rule, String> {
    let (pattern, target) = text
        .split_once("->")
        .or_else(|| text.split_once('='))
        .ok_or_else(|| format!("{origin}: '{text}' is not a rule OLD=NEW"))?;
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return Err(format!("{origin}: '{text}' names no class before '='"));
    }
    let target = target_of(target).map_err(|what| format!("{origin}: {what}"))?;
    Ok(Rule {
        pattern: pattern.to_string(),
        target,
        origin,
    })
}

/// The rules one `--map` value gives: a file of rules when it names one,
/// else the rule itself.
pub fn rules_of(value: &str) -> Result<Vec<Rule>> {
    let path = Path::new(value);
    if path.is_file() {
        let display = path.display().to_string();
        let bytes = crate::io::read_local_file(path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::usage(format!("{display}: a mapping file is UTF-8 text")))?;
        return rules_in_file(&text, &display).map_err(Error::usage);
    }
    if !value.contains('=') {
        return Err(Error::usage(format!(
            "--map '{value}' is neither a rule OLD=NEW nor a file"
        )));
    }
    parse_rule(value, format!("--map '{value}'"))
        .map(|rule| vec![rule])
        .map_err(Error::usage)
}

/// The rules of a mapping file: a JSON object (`{"old": "new", "gone":
/// null}`), a JSON list of rules (`["old=new"]`), or lines `old -> new`
/// (`#` starts a comment).
fn rules_in_file(text: &str, display: &str) -> std::result::Result<Vec<Rule>, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let doc: Value =
            serde_json::from_str(trimmed).map_err(|e| format!("{display}: not valid JSON: {e}"))?;
        return match doc {
            Value::Object(map) => map
                .into_iter()
                .map(|(old, new)| {
                    let origin = format!("{display}: \"{old}\"");
                    let target = match new {
                        Value::Null => Ok(Target::Unlabeled),
                        Value::String(s) => target_of(&s).map_err(|w| format!("{origin}: {w}")),
                        _ => Err(format!("{origin}: a rule's target is a name or null")),
                    }?;
                    Ok(Rule {
                        pattern: old,
                        target,
                        origin,
                    })
                })
                .collect(),
            Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, rule)| match rule.as_str() {
                    Some(text) => parse_rule(text, format!("{display}[{i}]")),
                    None => Err(format!("{display}[{i}]: a rule is a string OLD=NEW")),
                })
                .collect(),
            _ => unreachable!("starts with {{ or ["),
        };
    }
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let line = line.split('#').next().unwrap_or("").trim();
            (!line.is_empty()).then(|| parse_rule(line, format!("{display}:{}", n + 1)))
        })
        .collect()
}

/// Whether `name` matches the glob `pattern` (`*`: any text, `?`: one character).
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        match p.get(i) {
            Some('*') => {
                star = Some((i, j));
                i += 1;
            }
            Some(&c) if c == '?' || c == n[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((at, matched)) => {
                    i = at + 1;
                    j = matched + 1;
                    star = Some((at, matched + 1));
                }
                None => return false,
            },
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> Target {
        parse_rule(text, "test".into()).unwrap().target
    }

    #[test]
    fn rules_rename_drop_ignore_and_give_ids() {
        let class = |name: &str, id| Target::Class {
            name: name.into(),
            id,
        };
        assert_eq!(target("car=vehicle"), class("vehicle", None));
        assert_eq!(target("car = car:7"), class("car", Some(7)));
        assert_eq!(target("a=traffic:light"), class("traffic:light", None));
        assert_eq!(target("car="), Target::Unlabeled);
        assert_eq!(target("car=ignore"), Target::Ignore);
        assert_eq!(target("car -> vehicle"), class("vehicle", None));
        assert!(parse_rule("=x", "t".into()).is_err());
        assert!(parse_rule("x=:7", "t".into()).is_err());
    }

    #[test]
    fn files_hold_json_objects_json_lists_or_arrow_lines() {
        let object = rules_in_file(r#"{"human.head.*": "head", "tree": null}"#, "m.json").unwrap();
        assert_eq!(object[1].target, Target::Unlabeled);
        assert_eq!(object[0].pattern, "human.head.*");
        let list = rules_in_file(r#"["a=b", "c="]"#, "m.json").unwrap();
        assert_eq!(list.len(), 2);
        let lines = rules_in_file("# comment\na -> b\n\nc -> ignore  # why\n", "m.txt").unwrap();
        assert_eq!(lines[1].target, Target::Ignore);
        assert_eq!(lines[1].origin, "m.txt:4");
        assert!(
            rules_in_file("a b\n", "m.txt")
                .unwrap_err()
                .contains("m.txt:1")
        );
    }

    #[test]
    fn globs_match_any_text_and_single_characters() {
        assert!(matches("human.head.*", "human.head.hair"));
        assert!(matches("human.head.*", "human.head."));
        assert!(!matches("human.head.*", "human.hand"));
        assert!(matches("*.car", "vehicle.car"));
        assert!(matches("c?r", "car"));
        assert!(!matches("c?r", "cr"));
        assert!(matches("*a*b*", "xxaybz"));
        assert!(matches("Straße", "Straße"));
        assert!(!matches("car", "cars"));
    }
}

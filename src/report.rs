//! Warnings collected as data while reading and writing, and warnings and
//! losses aggregated by code for the final summary. Readers and writers
//! never print: they push [`Warning`]s (and [`crate::losses::Loss`]es),
//! which `render` turns into text or JSON once, at the end.

use serde::Serialize;
use std::collections::HashMap;

/// How many example messages are kept per note code.
pub const MAX_EXAMPLES: usize = 5;

/// One warning: a stable machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Stable identifier, e.g. `duplicate-colour`.
    pub code: &'static str,
    /// One line, naming the file or item concerned.
    pub message: String,
}

impl Warning {
    /// A warning with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
        }
    }
}

/// All warnings (or losses) of one code: how often it occurred and the first few messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteSummary {
    /// The notes' code.
    pub code: &'static str,
    /// How many times it occurred.
    pub count: usize,
    /// The first [`MAX_EXAMPLES`] messages.
    pub examples: Vec<String>,
}

/// Warnings or losses aggregated by code, in order of first occurrence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoteList {
    summaries: Vec<NoteSummary>,
    index: HashMap<&'static str, usize>,
}

impl NoteList {
    /// Adds one warning.
    pub fn push(&mut self, warning: Warning) {
        self.add(warning.code, warning.message);
    }

    /// Adds one note of `code` saying `message`.
    pub fn add(&mut self, code: &'static str, message: String) {
        let summary = self.summary_of(code);
        summary.count += 1;
        if summary.examples.len() < MAX_EXAMPLES {
            summary.examples.push(message);
        }
    }

    /// Adds several warnings.
    pub fn extend(&mut self, warnings: impl IntoIterator<Item = Warning>) {
        for warning in warnings {
            self.push(warning);
        }
    }

    /// What was noted after `earlier`, a copy of this list taken before
    /// (the notes of a shard's items, without those of the whole dataset).
    pub fn since(&self, earlier: &NoteList) -> NoteList {
        let mut later = NoteList::default();
        for summary in &self.summaries {
            let before = earlier
                .index
                .get(summary.code)
                .map(|&i| &earlier.summaries[i]);
            let (count, shown) = before.map_or((0, 0), |b| (b.count, b.examples.len()));
            if summary.count > count {
                later.absorb(NoteSummary {
                    code: summary.code,
                    count: summary.count - count,
                    examples: summary.examples[shown.min(summary.examples.len())..].to_vec(),
                });
            }
        }
        later
    }

    /// Adds the notes `summary` sums up (another list's, a shard's).
    pub fn absorb(&mut self, summary: NoteSummary) {
        let merged = self.summary_of(summary.code);
        merged.count += summary.count;
        let room = MAX_EXAMPLES.saturating_sub(merged.examples.len());
        merged
            .examples
            .extend(summary.examples.into_iter().take(room));
    }

    /// The summary of `code`, made empty when it is the first.
    fn summary_of(&mut self, code: &'static str) -> &mut NoteSummary {
        let slot = *self.index.entry(code).or_insert_with(|| {
            self.summaries.push(NoteSummary {
                code,
                count: 0,
                examples: Vec::new(),
            });
            self.summaries.len() - 1
        });
        &mut self.summaries[slot]
    }

    /// The summaries, one per code.
    pub fn summaries(&self) -> &[NoteSummary] {
        &self.summaries
    }

    /// True when nothing was noted.
    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }

    /// Renders every summary as lines `prefix: message`, with a count of the rest.
    pub fn render(&self, prefix: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for summary in &self.summaries {
            for example in &summary.examples {
                lines.push(format!("{prefix}: {example}"));
            }
            let rest = summary.count - summary.examples.len();
            if rest > 0 {
                lines.push(format!(
                    "{prefix}: ... and {rest} more like this [{}]",
                    summary.code
                ));
            }
        }
        lines
    }
}

/// Notes of one code as a file keeps them (a shard's manifest), to be
/// added back to a [`NoteList`] by [`NoteList::absorb_saved`].
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SavedNotes {
    /// The code.
    pub code: String,
    /// How many.
    pub count: usize,
    /// The first few messages.
    pub examples: Vec<String>,
}

impl NoteList {
    /// The list as a file keeps it.
    pub fn saved(&self) -> Vec<SavedNotes> {
        (self.summaries.iter())
            .map(|s| SavedNotes {
                code: s.code.to_string(),
                count: s.count,
                examples: s.examples.clone(),
            })
            .collect()
    }

    /// Adds notes a file kept (see [`NoteList::saved`]).
    pub fn absorb_saved(&mut self, notes: &[SavedNotes]) {
        for note in notes {
            self.absorb(NoteSummary {
                code: intern(&note.code),
                count: note.count,
                examples: note.examples.clone(),
            });
        }
    }
}

/// The code `code` as the `'static` string notes carry: each distinct code
/// is kept once for the life of the process. Codes are short words of
/// `a-z0-9-`, at most [`MAX_CODES`] of them: anything else in a file (a
/// damaged or hostile one) is noted as `unknown-code`.
fn intern(code: &str) -> &'static str {
    static CODES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let word = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !word {
        return "unknown-code";
    }
    let mut codes = CODES.lock().unwrap_or_else(|e| e.into_inner());
    match codes.iter().find(|c| **c == code) {
        Some(known) => known,
        None if codes.len() >= MAX_CODES => "unknown-code",
        None => {
            let leaked: &'static str = Box::leak(code.to_string().into_boxed_str());
            codes.push(leaked);
            leaked
        }
    }
}

/// The most distinct note codes kept from files (maskconv has about 60).
const MAX_CODES: usize = 256;

impl Serialize for NoteList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.summaries.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_aggregate_by_code_keeping_first_examples() {
        let mut list = NoteList::default();
        for i in 0..8 {
            list.push(Warning::new("a", format!("a{i}")));
        }
        list.push(Warning::new("b", "b0"));
        let s = list.summaries();
        assert_eq!(
            (s[0].code, s[0].count, s[0].examples.len()),
            ("a", 8, MAX_EXAMPLES)
        );
        assert_eq!((s[1].code, s[1].count), ("b", 1));
        let lines = list.render("warning");
        let earlier = list.clone();
        list.push(Warning::new("b", "b1"));
        list.push(Warning::new("c", "c0"));
        let later = list.since(&earlier);
        let codes: Vec<_> = later
            .summaries()
            .iter()
            .map(|s| (s.code, s.count))
            .collect();
        assert_eq!(codes, [("b", 1), ("c", 1)]);
        assert_eq!(later.summaries()[0].examples, ["b1"]);
        let mut whole = earlier.clone();
        for summary in later.summaries() {
            whole.absorb(summary.clone());
        }
        assert_eq!(
            whole, list,
            "absorbing what came since gives the whole back"
        );
        assert_eq!(lines[MAX_EXAMPLES], "warning: ... and 3 more like this [a]");
    }
}

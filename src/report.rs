//! Warnings and losses collected as data while reading and writing, and
//! aggregated for the final summary. Readers and writers never print: they
//! push [`Note`]s, and the binary renders them once at the end.

use serde::Serialize;
use std::collections::HashMap;

/// How many example messages are kept per note code.
pub const MAX_EXAMPLES: usize = 5;

/// One warning or loss: a stable machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Stable identifier, e.g. `duplicate-colour` or `instances-merged`.
    pub code: &'static str,
    /// One line, naming the file or item concerned.
    pub message: String,
}

impl Note {
    /// A note with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Note {
            code,
            message: message.into(),
        }
    }
}

/// All notes of one code: how often it occurred and the first few messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteSummary {
    /// The notes' code.
    pub code: &'static str,
    /// How many times it occurred.
    pub count: usize,
    /// The first [`MAX_EXAMPLES`] messages.
    pub examples: Vec<String>,
}

/// Notes aggregated by code, in order of first occurrence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoteList {
    summaries: Vec<NoteSummary>,
    index: HashMap<&'static str, usize>,
}

impl NoteList {
    /// Adds one note.
    pub fn push(&mut self, note: Note) {
        let slot = *self.index.entry(note.code).or_insert_with(|| {
            self.summaries.push(NoteSummary {
                code: note.code,
                count: 0,
                examples: Vec::new(),
            });
            self.summaries.len() - 1
        });
        let summary = &mut self.summaries[slot];
        summary.count += 1;
        if summary.examples.len() < MAX_EXAMPLES {
            summary.examples.push(note.message);
        }
    }

    /// Adds several notes.
    pub fn extend(&mut self, notes: impl IntoIterator<Item = Note>) {
        for note in notes {
            self.push(note);
        }
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

impl Serialize for NoteList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.summaries.serialize(serializer)
    }
}

/// An item left out of the output under `--keep-going`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The item's key.
    pub key: String,
    /// The error that made it be skipped.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_aggregate_by_code_keeping_first_examples() {
        let mut list = NoteList::default();
        for i in 0..8 {
            list.push(Note::new("a", format!("a{i}")));
        }
        list.push(Note::new("b", "b0"));
        let s = list.summaries();
        assert_eq!(
            (s[0].code, s[0].count, s[0].examples.len()),
            ("a", 8, MAX_EXAMPLES)
        );
        assert_eq!((s[1].code, s[1].count), ("b", 1));
        let lines = list.render("warning");
        assert_eq!(lines[MAX_EXAMPLES], "warning: ... and 3 more like this [a]");
    }
}

/// Rendering of command results, as JSON for scripts and as text for people.
pub mod render {
    use crate::formats::{Dataset, FormatInfo, REGISTRY};
    use crate::pipeline::{ConvertReport, Inspection, Validation};
    use serde_json::{Value, json};

    /// The `inspect --json` object (schema documented in the README; keep it stable).
    pub fn inspection_json(dataset: &Dataset, inspection: &Inspection) -> Value {
        let classes: Vec<Value> = dataset
            .catalog
            .iter()
            .zip(&inspection.classes)
            .map(|((_, class), stats)| {
                json!({
                    "name": class.name,
                    "color": class.color.map(|c| c.channels().to_vec()),
                    "color_bits": class.color.map(|c| c.bits()),
                    "kind": match class.kind { crate::model::ClassKind::Thing => "thing", crate::model::ClassKind::Stuff => "stuff" },
                    "pixels": stats.pixels,
                    "images": stats.images,
                    "instances": stats.instances,
                })
            })
            .collect();
        let mut report = json!({
            "format": dataset.format.name,
            "items": dataset.items.len(),
            "items_without_mask": inspection.items_without_mask,
            "classes": classes,
            "unlabeled_pixels": inspection.unlabeled_pixels,
            "sizes": inspection.sizes.iter().map(|((w, h), n)| json!({"size": [w, h], "count": n})).collect::<Vec<_>>(),
            "subsets": inspection.subsets.iter().map(|(s, n)| json!({"name": s, "count": n})).collect::<Vec<_>>(),
            "warnings": inspection.warnings,
        });
        if let Some(items) = &inspection.per_item {
            report["per_item"] = items
                .iter()
                .map(|item| {
                    let classes: serde_json::Map<String, Value> = item
                        .classes
                        .iter()
                        .map(|(name, (pixels, instances))| {
                            (
                                name.clone(),
                                json!({"pixels": pixels, "instances": instances}),
                            )
                        })
                        .collect();
                    json!({
                        "key": item.key,
                        "subset": item.subset,
                        "size": item.size.map(|(w, h)| [w, h]),
                        "unlabeled_pixels": item.unlabeled,
                        "classes": classes,
                    })
                })
                .collect();
        }
        report
    }

    /// `inspect` as a table for people.
    pub fn inspection_text(dataset: &Dataset, inspection: &Inspection) -> String {
        let mut out = format!(
            "format: {}\nitems: {} ({} without a mask)\n",
            dataset.format.name,
            dataset.items.len(),
            inspection.items_without_mask
        );
        let subsets: Vec<String> = inspection
            .subsets
            .iter()
            .map(|(s, n)| format!("{} ({n})", s.as_deref().unwrap_or("-")))
            .collect();
        out.push_str(&format!("subsets: {}\n", subsets.join(", ")));
        let sizes: Vec<String> = inspection
            .sizes
            .iter()
            .map(|((w, h), n)| format!("{w}x{h} ({n})"))
            .collect();
        out.push_str(&format!("sizes: {}\n", sizes.join(", ")));
        out.push_str(&format!(
            "unlabeled pixels: {}\n",
            inspection.unlabeled_pixels
        ));
        let width = dataset
            .catalog
            .iter()
            .map(|(_, c)| c.name.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        out.push_str(&format!(
            "{:<width$}  {:<20}  {:>12}  {:>7}  {:>9}\n",
            "class", "colour", "pixels", "images", "instances"
        ));
        for ((_, class), stats) in dataset.catalog.iter().zip(&inspection.classes) {
            let color = class.color.map_or("-".to_string(), |c| c.to_string());
            out.push_str(&format!(
                "{:<width$}  {:<20}  {:>12}  {:>7}  {:>9}\n",
                class.name, color, stats.pixels, stats.images, stats.instances
            ));
        }
        for item in inspection.per_item.iter().flatten() {
            let size = item
                .size
                .map_or("no mask".into(), |(w, h)| format!("{w}x{h}"));
            let classes: Vec<String> = item
                .classes
                .iter()
                .map(|(name, (pixels, _))| format!("{name}={pixels}"))
                .collect();
            out.push_str(&format!(
                "item {} [{}] {size}: unlabeled={} {}\n",
                item.key,
                item.subset.as_deref().unwrap_or("-"),
                item.unlabeled,
                classes.join(" ")
            ));
        }
        out
    }

    /// The `--json` object of an `inspect` that failed: `{error, exit_code}`.
    pub fn failure_json(error: &crate::Error) -> Value {
        json!({"error": error.to_string(), "exit_code": error.exit_code()})
    }

    /// The `validate --json` object.
    pub fn validation_json(format: Option<&FormatInfo>, validation: &Validation) -> Value {
        json!({
            "format": format.map(|f| f.name),
            "items": validation.items,
            "valid": validation.problems.is_empty(),
            "problems": validation.problems,
            "warnings": validation.warnings,
        })
    }

    /// The `convert --json` object; `error` is set when the run failed.
    pub fn convert_json(
        input: &str,
        output: &str,
        report: Option<&ConvertReport>,
        error: Option<&str>,
        exit_code: i32,
        seconds: f64,
    ) -> Value {
        let status = match (error, report) {
            (Some(_), _) => "failed",
            (None, Some(r)) if !r.skipped.is_empty() => "partial",
            _ => "ok",
        };
        json!({
            "status": status,
            "exit_code": exit_code,
            "input": input,
            "output": output,
            "from": report.map(|r| r.from),
            "to": report.map(|r| r.to),
            "items": report.map(|r| r.items),
            "written": report.map(|r| r.written),
            "skipped": report.map(|r| &r.skipped),
            "losses": report.map(|r| &r.losses),
            "warnings": report.map(|r| &r.warnings),
            "error": error,
            "seconds": (seconds * 1000.0).round() / 1000.0,
        })
    }

    /// The `formats` table.
    pub fn formats_text() -> String {
        let width = REGISTRY
            .iter()
            .map(|f| f.info().name.len())
            .max()
            .unwrap_or(0)
            .max(4);
        let mut out = format!(
            "{:<width$} read  write  instances  max segments/image  colours  subsets  segment attributes\n",
            "name"
        );
        for format in REGISTRY {
            let i = format.info();
            let h = i.holds;
            let yes = |b: bool| if b { "yes" } else { "no" };
            out.push_str(&format!(
                "{:<width$} {:<5} {:<6} {:<10} {:<19} {:<8} {:<8} {}\n",
                i.name,
                yes(i.can_read),
                yes(i.can_write),
                yes(h.instances),
                h.max_segments_per_item
                    .map_or("unlimited".into(), |m| m.to_string()),
                if h.color_bits == 0 {
                    "none".into()
                } else {
                    format!("{}-bit", h.color_bits)
                },
                yes(h.subsets),
                yes(h.segment_attributes),
            ));
        }
        out.push('\n');
        for format in REGISTRY {
            let i = format.info();
            out.push_str(&format!("{}: {}", i.name, i.description));
            if !i.aliases.is_empty() {
                out.push_str(&format!(" (also: {})", i.aliases.join(", ")));
            }
            if !i.options.is_empty() {
                out.push_str(&format!("; options: {}", i.options.join(", ")));
            }
            out.push('\n');
        }
        out
    }
}

//! Rendering of command results, as JSON for scripts and as text for people
//! (the JSON schemas are documented in the README; keep them stable).

use crate::convert::ConvertReport;
use crate::formats::REGISTRY;
use crate::formats::api::{Dataset, FormatInfo};
use crate::formats::options::Direction;
use crate::inspect::Inspection;
use crate::validate::Validation;
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
    if let Some(rows) = &inspection.mapping {
        report["mapping"] = json!(rows);
    }
    if let Some(rows) = &inspection.instances {
        report["instances"] = json!(rows);
    }
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
    let instances = instances_lines(inspection.instances.as_deref().unwrap_or_default());
    for line in mapping_lines(inspection.mapping.as_deref().unwrap_or_default())
        .into_iter()
        .chain(instances)
    {
        out.push_str(&line);
        out.push('\n');
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
    let code = crate::exit::Exit::from(error).code();
    failure_text_json(&error.to_string(), code.into())
}

/// The failure object of a command without its own shape, from the words
/// and the exit code (a command line that did not parse, an interruption).
pub fn failure_text_json(error: &str, exit_code: i32) -> Value {
    json!({"error": error, "exit_code": exit_code})
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
        "mapping": report.map(|r| &r.mapping),
        "instances": report.map(|r| &r.instances),
        "shard": report.and_then(|r| r.shard.as_ref()),
        "error": error,
        "seconds": (seconds * 1000.0).round() / 1000.0,
    })
}

/// What a `convert` command line asked for, as given (`None`: not known,
/// as for a command line that did not parse).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConvertRequest<'a> {
    /// INPUT.
    pub input: Option<&'a str>,
    /// OUTPUT.
    pub output: Option<&'a str>,
    /// `--from`.
    pub from: Option<&'a str>,
    /// `--to`.
    pub to: Option<&'a str>,
}

/// The `convert --json` object of a run that failed before it had a
/// report: what was asked for, and the error.
pub fn convert_failure_json(
    request: ConvertRequest,
    error: &str,
    exit_code: i32,
    seconds: f64,
) -> Value {
    let mut value = convert_json("", "", None, Some(error), exit_code, seconds);
    value["input"] = request.input.into();
    value["output"] = request.output.into();
    value["from"] = request.from.into();
    value["to"] = request.to.into();
    value
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
        let h = i.capabilities;
        let yes = |b: bool| if b { "yes" } else { "no" };
        out.push_str(&format!(
            "{:<width$} {:<5} {:<6} {:<10} {:<19} {:<8} {:<8} {}\n",
            i.name,
            yes(i.can_read),
            yes(i.can_write),
            yes(h.instances),
            h.max_segments
                .map_or("unlimited".into(), |m| m.max.to_string()),
            if h.color_bits == 0 {
                "none".into()
            } else {
                format!("{}-bit", h.color_bits)
            },
            yes(h.subsets),
            h.segment_attributes.label(),
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
            let options: Vec<String> = i.options.iter().map(|o| o.usage()).collect();
            out.push_str(&format!("; options: {}", options.join(", ")));
        }
        out.push('\n');
    }
    out
}

/// The `formats --json` list: every format, what it holds and its options,
/// for scripts (the conformance suite reads its format list from it).
pub fn formats_json() -> Value {
    let formats: Vec<Value> = REGISTRY
        .iter()
        .map(|format| {
            let i = format.info();
            let c = &i.capabilities;
            let options: Vec<Value> = i
                .options
                .iter()
                .map(|o| {
                    json!({
                        "name": o.name,
                        "value": o.value,
                        "help": o.help,
                        "repeatable": o.repeatable,
                        "for": match o.direction { Direction::Read => "reading", Direction::Write => "writing" },
                    })
                })
                .collect();
            json!({
                "name": i.name,
                "aliases": i.aliases,
                "description": i.description,
                "can_read": i.can_read,
                "can_write": i.can_write,
                "holds": {
                    "instances": c.instances,
                    "max_segments_per_image": c.max_segments.map(|m| m.max),
                    "color_bits": c.color_bits,
                    "subsets": c.subsets,
                    "class_attributes": c.class_attributes.label(),
                    "segment_attributes": c.segment_attributes.label(),
                    "source_images": c.source_images,
                    "items_without_mask": c.items_without_mask,
                    "ignore_value": c.ignore_value,
                },
                "options": options,
            })
        })
        .collect();
    Value::Array(formats)
}

/// What `convert` tells people on stderr: the losses, the warnings, the
/// skipped items, and (unless `quiet`) a summary line.
pub fn convert_text(
    report: &ConvertReport,
    input: &str,
    output: &str,
    seconds: f64,
    quiet: bool,
) -> Vec<String> {
    let mut lines = report.losses.render("loss");
    lines.extend(report.warnings.render("warning"));
    if !quiet {
        lines.extend(mapping_lines(&report.mapping));
        lines.extend(instances_lines(&report.instances));
    }
    lines.extend(
        report
            .skipped
            .iter()
            .map(|s| format!("skipped: {}", s.error)),
    );
    if !quiet {
        let skipped = match report.skipped.len() {
            0 => String::new(),
            n => format!(", {n} skipped"),
        };
        let (of, part) = match &report.shard {
            None => (report.items, String::new()),
            Some(s) => (
                s.end - s.first,
                format!(
                    "shard {}/{} (items {}..{} of {}, from {}) of ",
                    s.index, s.count, s.first, s.end, report.items, s.chosen_by
                ),
            ),
        };
        lines.push(format!(
            "converted {part}{input} ({}) to {output} ({}): {} of {of} items written{skipped} in {seconds:.2} s",
            report.from, report.to, report.written,
        ));
    }
    lines
}

/// The `merge --json` object: `convert`'s, with the shards' outputs for
/// `input` (`error` is set when the merge failed).
pub fn merge_json(
    shards: &[String],
    output: &str,
    report: Option<&ConvertReport>,
    error: Option<&str>,
    exit_code: i32,
    seconds: f64,
) -> Value {
    let mut value = convert_json("", output, report, error, exit_code, seconds);
    value["input"] = Value::Null;
    value["shards"] = json!(shards);
    value
}

/// What `merge` tells people on stderr (as `convert` does).
pub fn merge_text(
    report: &ConvertReport,
    shards: usize,
    output: &str,
    seconds: f64,
    quiet: bool,
) -> Vec<String> {
    let mut lines = convert_text(report, "", output, seconds, true);
    if !quiet {
        let skipped = match report.skipped.len() {
            0 => String::new(),
            n => format!(", {n} skipped"),
        };
        lines.push(format!(
            "merged {shards} shards into {output} ({}): {} of {} items written{skipped} in {seconds:.2} s",
            report.to, report.written, report.items,
        ));
    }
    lines
}

/// One line per class `--map` changed: `map: car -> vehicle (1234 pixels)`.
pub fn mapping_lines(rows: &[crate::mapping::MappingRow]) -> Vec<String> {
    rows.iter()
        .map(|row| {
            let to = row.to.as_deref().unwrap_or("(unlabeled)");
            format!("map: {} -> {to} ({} pixels)", row.from, row.pixels)
        })
        .collect()
}

/// One line for what `--instances` made: `instances: car 12, road 3`.
pub fn instances_lines(rows: &[crate::mapping::InstancesRow]) -> Vec<String> {
    match rows.is_empty() {
        true => Vec::new(),
        false => vec![format!(
            "instances: {}",
            rows.iter()
                .map(|row| format!("{} {}", row.class, row.instances))
                .collect::<Vec<_>>()
                .join(", ")
        )],
    }
}

/// What `validate` tells people on stderr: the warnings, every problem, and
/// (unless `quiet`) a summary line.
pub fn validation_text(input: &str, validation: &Validation, quiet: bool) -> Vec<String> {
    let mut lines = validation.warnings.render("warning");
    lines.extend(
        validation
            .problems
            .iter()
            .map(|p| format!("problem: {}", p.error)),
    );
    if !quiet {
        lines.push(format!(
            "{input}: {} items, {} problems",
            validation.items,
            validation.problems.len()
        ));
    }
    lines
}

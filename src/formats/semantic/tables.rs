//! The class tables of a semantic dataset: maskconv's `classes.json`,
//! Datumaro's `dataset_meta.json` and the `names` of Ultralytics'
//! `data.yaml` — read, and written.

use crate::pyjson;
use serde_json::{Map, Value, json};

/// One class of a table: the mask value that means it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TableClass {
    pub value: u32,
    pub name: String,
    pub color: Option<[u8; 3]>,
    pub thing: bool,
}

/// A dataset's class table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClassTable {
    /// In value order.
    pub classes: Vec<TableClass>,
    /// The ignore value (unlabeled).
    pub ignore: u32,
    /// A class value that also means unlabeled (`--unlabeled background`).
    pub unlabeled: Option<u32>,
}

/// `[r, g, b]` of 0..255, if `value` is one.
fn rgb(value: &Value) -> Option<[u8; 3]> {
    let channels = value.as_array().filter(|c| c.len() == 3)?;
    let mut rgb = [0u8; 3];
    for (slot, v) in rgb.iter_mut().zip(channels) {
        *slot = u8::try_from(v.as_u64()?).ok()?;
    }
    Some(rgb)
}

/// The largest value a mask holds (16-bit masks).
const MAX_VALUE: u32 = 65535;

/// `classes` in value order; two classes of one value, or a value no mask
/// can hold, are errors.
fn sorted(mut classes: Vec<TableClass>) -> Result<Vec<TableClass>, String> {
    if let Some(c) = classes.iter().find(|c| c.value > MAX_VALUE) {
        return Err(format!(
            "gives class '{}' the id {}, which no mask holds (at most {MAX_VALUE}, in a 16-bit mask)",
            c.name, c.value
        ));
    }
    classes.sort_by_key(|c| c.value);
    match classes.windows(2).find(|w| w[0].value == w[1].value) {
        Some(w) => Err(format!(
            "lists two classes with id {}: '{}' and '{}'",
            w[0].value, w[0].name, w[1].name
        )),
        None => Ok(classes),
    }
}

/// maskconv's `classes.json`: `classes` `[{id, name, color?, isthing?}]`,
/// else `id2label` `{"0": name}`; `ignore_index` (255 by default) and
/// `unlabeled` (the ignore value by default).
pub(super) fn parse_classes_json(bytes: &[u8]) -> Result<ClassTable, String> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON: {e}"))?;
    let number = |key: &str| -> Result<Option<u32>, String> {
        match doc.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| format!("has a '{key}' that is not a non-negative integer")),
        }
    };
    let classes = match (doc.get("classes"), doc.get("id2label")) {
        (Some(Value::Array(list)), _) => list
            .iter()
            .enumerate()
            .map(|(i, class)| {
                let value = class.get("id").and_then(Value::as_u64);
                let name = class
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty());
                match (value.and_then(|v| u32::try_from(v).ok()), name) {
                    (Some(value), Some(name)) => Ok(TableClass {
                        value,
                        name: name.to_string(),
                        color: class.get("color").and_then(rgb),
                        thing: class
                            .get("isthing")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    }),
                    _ => Err(format!("classes[{i}] has no integer 'id' and 'name'")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
        (_, Some(Value::Object(map))) => id2label(map)?,
        _ => return Err("has neither a 'classes' list nor an 'id2label' object".into()),
    };
    let classes = sorted(classes)?;
    let widest = classes.last().map_or(0, |c| c.value);
    let ignore = number("ignore_index")?.unwrap_or(if widest > 255 { 65535 } else { 255 });
    let unlabeled = number("unlabeled")?.filter(|&v| v != ignore);
    if let Some(v) = unlabeled.filter(|v| !classes.iter().any(|c| c.value == *v)) {
        return Err(format!(
            "names {v} as the unlabeled value, which is neither ignore_index nor a class id"
        ));
    }
    if let Some(c) = classes.iter().find(|c| c.value == ignore) {
        return Err(format!(
            "class '{}' has the ignore value {ignore} as its id",
            c.name
        ));
    }
    Ok(ClassTable {
        classes,
        ignore,
        unlabeled,
    })
}

/// `{"0": name, ...}` as classes.
fn id2label(map: &Map<String, Value>) -> Result<Vec<TableClass>, String> {
    map.iter()
        .map(|(key, name)| match (key.parse::<u32>(), name.as_str()) {
            (Ok(value), Some(name)) if !name.is_empty() => Ok(TableClass {
                value,
                name: name.to_string(),
                color: None,
                thing: false,
            }),
            _ => Err(format!("id2label entry '{key}' is not an id and a name")),
        })
        .collect()
}

/// Datumaro's `dataset_meta.json`: `label_map` `{"0": name}` or `labels`
/// `[name]`, whose order gives the values (as Datumaro reads them), and
/// `segmentation_colors`. 255 is the ignore value, as for every loader.
pub(super) fn parse_dataset_meta(bytes: &[u8]) -> Result<ClassTable, String> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON: {e}"))?;
    let names: Vec<String> = match (doc.get("label_map"), doc.get("labels")) {
        (Some(Value::Object(map)), _) => map
            .values()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or("has a label_map whose values are not names")?,
        (_, Some(Value::Array(list))) => list
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or("has labels that are not names")?,
        _ => return Err("has neither a 'label_map' nor 'labels'".into()),
    };
    let colors = doc.get("segmentation_colors").and_then(Value::as_array);
    let classes = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| TableClass {
            value: i as u32,
            color: colors.and_then(|c| c.get(i)).and_then(rgb),
            name,
            thing: false,
        })
        .collect();
    foreign_table(classes)
}

/// A table from someone else's file: 255 is the ignore value unless a class
/// has it (256 classes or more: their masks hold no ignore value but 65535).
fn foreign_table(classes: Vec<TableClass>) -> Result<ClassTable, String> {
    let classes = sorted(classes)?;
    let ignore = match classes.last() {
        Some(c) if c.value >= 255 => 65535,
        _ => 255,
    };
    if let Some(c) = classes.iter().find(|c| c.value == ignore) {
        return Err(format!(
            "class '{}' has the ignore value {ignore} as its id",
            c.name
        ));
    }
    Ok(ClassTable {
        classes,
        ignore,
        unlabeled: None,
    })
}

/// The `names` of an Ultralytics `data.yaml`: a block mapping (`names:`
/// then `  0: road` lines) or a flow list (`names: [road, car]`); values
/// may be quoted.
pub(super) fn parse_data_yaml_names(text: &str) -> Result<ClassTable, String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("names:"));
    let Some(first) = lines.next() else {
        return Err("has no 'names'".into());
    };
    let inline = first["names:".len()..].trim();
    let mut classes = Vec::new();
    if let Some(list) = inline.strip_prefix('[') {
        let Some((items, _)) = split_flow(list) else {
            return Err("has a names list without its closing ']'".into());
        };
        for (i, name) in items.iter().map(|n| yaml_scalar(n)).enumerate() {
            classes.push(TableClass {
                value: i as u32,
                name,
                color: None,
                thing: false,
            });
        }
    } else {
        for line in lines.take_while(|l| l.starts_with([' ', '\t']) || l.trim().is_empty()) {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, name) = line.split_once(':').unwrap_or((line, ""));
            let value = key
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("has a names entry '{line}' that is not 'id: name'"))?;
            classes.push(TableClass {
                value,
                name: yaml_scalar(name),
                color: None,
                thing: false,
            });
        }
    }
    if let Some(i) = classes.iter().position(|c| c.name.is_empty()) {
        return Err(format!("names entry {i} has no name"));
    }
    if classes.is_empty() {
        return Err("lists no names".into());
    }
    foreign_table(classes)
}

/// One YAML scalar: double-quoted (JSON's escapes), single-quoted (`''`
/// for a quote), or plain up to a ` #` comment.
fn yaml_scalar(text: &str) -> String {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('"') {
        let mut escaped = false;
        let end = rest.char_indices().find(|&(_, c)| {
            let close = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            close
        });
        let inner = end.map_or(rest, |(at, _)| &rest[..at]);
        return serde_json::from_str(&format!("\"{inner}\"")).unwrap_or_else(|_| inner.to_string());
    }
    if let Some(rest) = text.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    out.push('\'');
                }
                '\'' => break,
                c => out.push(c),
            }
        }
        return out;
    }
    let plain = match text.find(" #") {
        Some(at) => &text[..at],
        None => text,
    };
    plain.trim().to_string()
}

/// The items of a flow list after its `[`, split at commas outside quotes,
/// and the text after its `]`; `None` without a `]`.
fn split_flow(list: &str) -> Option<(Vec<&str>, &str)> {
    let mut items = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (at, c) in list.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                items.push(&list[start..at]);
                start = at + 1;
            }
            (None, ']') => {
                items.push(&list[start..at]);
                items.retain(|i| !i.trim().is_empty());
                return Some((items, &list[at + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// maskconv's `classes.json` of `table`.
pub(super) fn classes_json(table: &ClassTable) -> String {
    let id2label: Map<String, Value> = table
        .classes
        .iter()
        .map(|c| (c.value.to_string(), c.name.clone().into()))
        .collect();
    let classes: Vec<Value> = table
        .classes
        .iter()
        .map(|c| json!({"id": c.value, "name": c.name, "color": c.color, "isthing": c.thing}))
        .collect();
    let doc = json!({
        "ignore_index": table.ignore,
        "unlabeled": table.unlabeled.unwrap_or(table.ignore),
        "id2label": id2label,
        "classes": classes,
    });
    pyjson::dumps_indented(&doc, 2) + "\n"
}

/// Datumaro's `dataset_meta.json` of `table`. Datumaro numbers labels by
/// their place in `label_map`, so ids `--map` left unused are listed too,
/// as `<unused N>`, for every value to keep its label.
pub(super) fn dataset_meta(table: &ClassTable) -> String {
    let widest = table.classes.last().map_or(0, |c| c.value + 1);
    let mut names = vec![None; widest as usize];
    for class in &table.classes {
        names[class.value as usize] = Some(class);
    }
    let label_map: Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(value, class)| {
            let name = class.map_or_else(|| format!("<unused {value}>"), |c| c.name.clone());
            (value.to_string(), name.into())
        })
        .collect();
    let colors: Vec<Value> = names
        .iter()
        .map(|c| json!(c.and_then(|c| c.color).unwrap_or([0, 0, 0])))
        .collect();
    let doc = json!({"label_map": label_map, "segmentation_colors": colors});
    pyjson::dumps_indented(&doc, 2) + "\n"
}

/// Ultralytics' `data.yaml`: one key per subset naming its image folder,
/// `masks_dir`, and `names`.
pub(super) fn data_yaml(table: &ClassTable, subsets: &[String]) -> String {
    let mut text = String::from(
        "# written by maskconv: an Ultralytics semantic segmentation dataset\npath: .\n",
    );
    for subset in subsets {
        match ["path", "names", "masks_dir", "nc", "download"].contains(&subset.as_str()) {
            // A subset named like one of the file's own keys cannot be a key.
            true => text.push_str(&format!("# subset '{subset}': images/{subset}\n")),
            false => text.push_str(&format!("{}: images/{subset}\n", yaml_key(subset))),
        }
    }
    // Ultralytics trains on `train` and validates on `val`: without such
    // subsets, both name the first one.
    for wanted in ["train", "val"] {
        if !subsets.iter().any(|s| s == wanted)
            && let Some(first) = subsets.first()
        {
            text.push_str(&format!(
                "{wanted}: images/{first}  # no '{wanted}' subset\n"
            ));
        }
    }
    text.push_str("masks_dir: masks\nnames:\n");
    for class in &table.classes {
        text.push_str(&format!(
            "  {}: {}\n",
            class.value,
            yaml_string(&class.name)
        ));
    }
    text
}

/// `key` plain when it is letters, digits, `_` and `-`, else quoted.
fn yaml_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match plain {
        true => key.to_string(),
        false => yaml_string(key),
    }
}

/// `value` as a YAML double-quoted scalar (JSON's escapes are YAML's).
fn yaml_string(value: &str) -> String {
    serde_json::to_string(value).expect("a string serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ClassTable {
        ClassTable {
            classes: vec![
                TableClass {
                    value: 0,
                    name: "background".into(),
                    color: Some([0, 0, 0]),
                    thing: false,
                },
                TableClass {
                    value: 1,
                    name: "car: \"red\"".into(),
                    color: Some([1, 2, 3]),
                    thing: true,
                },
            ],
            ignore: 255,
            unlabeled: Some(0),
        }
    }

    #[test]
    fn every_written_table_reads_back() {
        let written = table();
        assert_eq!(
            parse_classes_json(classes_json(&written).as_bytes()).unwrap(),
            written
        );
        let meta = parse_dataset_meta(dataset_meta(&written).as_bytes()).unwrap();
        assert_eq!(
            meta.classes.iter().map(|c| &c.name).collect::<Vec<_>>(),
            ["background", "car: \"red\""]
        );
        let yaml = parse_data_yaml_names(&data_yaml(&written, &["train".into()])).unwrap();
        assert_eq!(yaml.classes[1].name, "car: \"red\"");
    }

    #[test]
    fn ultralytics_names_read_as_a_block_or_a_list() {
        let block =
            parse_data_yaml_names("path: x\nnames:\n  0: road\n  2: 'sky'\nval: y\n").unwrap();
        assert_eq!(
            block
                .classes
                .iter()
                .map(|c| (c.value, c.name.as_str()))
                .collect::<Vec<_>>(),
            [(0, "road"), (2, "sky")]
        );
        let list =
            parse_data_yaml_names("names: [road, \"car, red\", 'it''s']  # three\n").unwrap();
        let names: Vec<&str> = list.classes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["road", "car, red", "it's"]);
        let commented = parse_data_yaml_names(
            "names:  # the classes\n  0: road  # asphalt\n  # a comment\n  1: \"a # b\"\n",
        )
        .unwrap();
        let names: Vec<&str> = commented.classes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["road", "a # b"]);
        assert!(parse_data_yaml_names("train: x\n").is_err());
    }

    #[test]
    fn a_class_on_the_ignore_value_or_an_unknown_unlabeled_value_is_refused() {
        assert!(parse_classes_json(br#"{"id2label": {"255": "x"}}"#).is_err());
        assert!(parse_classes_json(br#"{"id2label": {"0": "x"}, "unlabeled": 3}"#).is_err());
        let wide = parse_classes_json(br#"{"id2label": {"0": "a", "300": "b"}}"#).unwrap();
        assert_eq!(wide.ignore, 65535, "16-bit ids: 65535 is the ignore value");
        let names: Vec<String> = (0..256).map(|i| format!("\"c{i}\"")).collect();
        let labels = format!("{{\"labels\": [{}]}}", names.join(", "));
        let foreign = parse_dataset_meta(labels.as_bytes()).unwrap();
        assert_eq!(
            foreign.ignore, 65535,
            "a class at 255 is a class, not ignore"
        );
        let huge = parse_classes_json(br#"{"id2label": {"4000000000": "x"}}"#).unwrap_err();
        assert!(huge.contains("no mask holds"), "{huge}");
    }
}

//! `semantic_segmentation_metadata.json`: reading the nested colour tree into
//! (dotted name, colour) leaves, and writing it back formatted as Datagen
//! formats it (Python's `json.dumps(tree, indent=3)`).

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// One class of a metadata file: its dotted path and its 16-bit colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Leaf {
    pub name: String,
    pub color: [u16; 3],
}

/// The version a file without `version` has (Datagen's SDK: `INITIAL_MODALITIES_VERSION`).
const DEFAULT_VERSION: &str = "1.0.0";

/// Reads a metadata file: checks its version and returns its leaves in file
/// order. `display` names the file in errors.
pub(super) fn parse(bytes: &[u8], display: &str) -> Result<Vec<Leaf>> {
    let fail = |what: String| Error::input(display, what);
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| fail(format!("is not valid JSON: {e}")))?;
    let Value::Object(top) = value else {
        return Err(fail("is not a JSON object".into()));
    };
    let version = match top.get("version") {
        None => DEFAULT_VERSION,
        Some(Value::String(v)) => v.as_str(),
        Some(other) => return Err(fail(format!("'version' is {other}, not a string"))),
    };
    let major = version.split('.').next().unwrap_or_default();
    match major.trim().parse::<u64>() {
        Ok(1) => {}
        Ok(_) => {
            return Err(fail(format!(
                "metadata version '{version}' is not supported: only major version 1 is (as in Datagen's SDK)"
            )));
        }
        Err(_) => {
            return Err(fail(format!(
                "'version' '{version}' is not a version number"
            )));
        }
    }
    let mut leaves = Vec::new();
    walk(&top, &mut Vec::new(), &mut leaves).map_err(fail)?;
    if leaves.is_empty() {
        return Err(fail(
            "has no colour leaves ({\"R\",\"G\",\"B\"} objects): it defines no class".into(),
        ));
    }
    Ok(leaves)
}

fn walk<'a>(
    node: &'a Map<String, Value>,
    path: &mut Vec<&'a str>,
    leaves: &mut Vec<Leaf>,
) -> std::result::Result<(), String> {
    for (key, value) in node {
        if path.is_empty() && key == "version" {
            continue;
        }
        path.push(key);
        let name = path.join(".");
        match value {
            Value::Object(object) if ["R", "G", "B"].iter().any(|c| object.contains_key(*c)) => {
                let channel = |c: &str| object.get(c).and_then(channel_value);
                match (channel("R"), channel("G"), channel("B")) {
                    (Some(r), Some(g), Some(b)) => leaves.push(Leaf {
                        name,
                        color: [r, g, b],
                    }),
                    _ => {
                        return Err(format!(
                            "'{name}': a colour leaf needs \"R\", \"G\" and \"B\" as integers 0..65535"
                        ));
                    }
                }
            }
            Value::Object(object) => walk(object, path, leaves)?,
            Value::Array(items) => {
                let color: Option<Vec<u16>> = items.iter().map(channel_value).collect();
                match color.as_deref() {
                    Some(&[r, g, b]) => leaves.push(Leaf {
                        name,
                        color: [r, g, b],
                    }),
                    _ if items
                        .iter()
                        .any(|v| v.as_f64().is_some_and(|f| f.fract() != 0.0)) =>
                    {
                        return Err(format!(
                            "'{name}' is a float colour {value}: this is the flat float metadata of Datagen's January-2022 (EXR) release, an unsupported legacy version"
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "'{name}' is {value}; a colour leaf is [R, G, B] with integers 0..65535"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "'{name}' is {other}, neither a colour leaf nor an object of parts"
                ));
            }
        }
        path.pop();
    }
    Ok(())
}

fn channel_value(value: &Value) -> Option<u16> {
    value.as_u64().and_then(|v| u16::try_from(v).ok())
}

/// A metadata tree being built for writing: names split at `.` nest.
#[derive(Default)]
pub(super) struct Tree {
    root: Map<String, Value>,
}

impl Tree {
    /// Adds the leaf `name` (a dotted path) with this colour. The caller has
    /// checked that no name is a prefix path of another.
    pub fn insert(&mut self, name: &str, [r, g, b]: [u16; 3]) {
        let mut node = &mut self.root;
        let mut parts = name.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                let mut leaf = Map::new();
                leaf.insert("R".into(), r.into());
                leaf.insert("G".into(), g.into());
                leaf.insert("B".into(), b.into());
                node.insert(part.to_string(), Value::Object(leaf));
            } else {
                let child = node
                    .entry(part.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                node = child.as_object_mut().expect("prefix paths were refused");
            }
        }
    }

    /// The file: `{"version": "1.0.0", <tree>}` as `json.dumps(obj, indent=3)`
    /// writes it (ASCII, 3-space indent, no trailing newline).
    pub fn to_json(&self) -> String {
        let mut top = Map::new();
        top.insert("version".into(), DEFAULT_VERSION.into());
        top.extend(self.root.clone());
        crate::pyjson::dumps_indented(&Value::Object(top), 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_leaves_get_dotted_names_and_arrays_are_leaves_too() {
        let json = br#"{"version": "1.0.0", "human": {"head": {"hair": {"R": 4384, "G": 1699, "B": 55003}}},
            "glasses": {"lens": {"left": [1, 2, 3]}}, "background": {"R": 0, "G": 0, "B": 0}}"#;
        let leaves = parse(json, "m.json").unwrap();
        let names: Vec<&str> = leaves.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["human.head.hair", "glasses.lens.left", "background"]
        );
        assert_eq!(leaves[0].color, [4384, 1699, 55003]);
    }

    #[test]
    fn versions_other_than_major_one_and_bad_trees_are_refused() {
        let err = |json: &str| parse(json.as_bytes(), "m.json").unwrap_err().to_string();
        assert!(err(r#"{"version": "2.0.0", "a": [1,2,3]}"#).contains("'2.0.0' is not supported"));
        assert!(
            parse(br#"{"a": [1,2,3]}"#, "m.json").is_ok(),
            "missing version = 1.0.0"
        );
        assert!(err(r#"{"version": "1.0.0"}"#).contains("no colour leaves"));
        assert!(err(r#"{"a": {"R": 1, "G": 70000, "B": 0}}"#).contains("'a': a colour leaf"));
        assert!(err(r#"{"a": "red"}"#).contains("neither a colour leaf"));
        assert!(err(r#"{"eyebrows": [0.39999, 0.39999, 0.39999]}"#).contains("legacy"));
        assert!(err(r#"{"a": [1, 2, 3"#).contains("not valid JSON"));
        assert!(err("[]").contains("not a JSON object"));
    }

    #[test]
    fn written_metadata_is_formatted_like_python_json_dumps_indent_3() {
        let mut tree = Tree::default();
        tree.insert("human.head.hair", [4384, 1699, 55003]);
        tree.insert("human.head.ear.left", [1, 2, 3]);
        tree.insert("caf\u{e9}", [7, 8, 9]);
        tree.insert("background", [0, 0, 0]);
        let expected = "{\n   \"version\": \"1.0.0\",\n   \"human\": {\n      \"head\": {\n         \"hair\": {\n            \"R\": 4384,\n            \"G\": 1699,\n            \"B\": 55003\n         },\n         \"ear\": {\n            \"left\": {\n               \"R\": 1,\n               \"G\": 2,\n               \"B\": 3\n            }\n         }\n      }\n   },\n   \"caf\\u00e9\": {\n      \"R\": 7,\n      \"G\": 8,\n      \"B\": 9\n   },\n   \"background\": {\n      \"R\": 0,\n      \"G\": 0,\n      \"B\": 0\n   }\n}";
        assert_eq!(tree.to_json(), expected);
    }

    #[test]
    fn datagen_legacy_metadata_reads_or_is_refused_as_legacy() {
        // April 2022: the same nested tree, no "version" (= 1.0.0).
        let april = include_str!(
            "../../../fixtures/datagen/legacy/v1_2022-04_noversion_semantic_segmentation_metadata.json"
        );
        let leaves = parse(april.as_bytes(), "m.json").unwrap();
        assert!(leaves.iter().any(|l| l.name == "human.head.hair"));
        // January 2022: flat float lists, paired with an EXR mask.
        let january = include_str!(
            "../../../fixtures/datagen/legacy/v0_2022-01_flat_float_semantic_segmentation_metadata.json"
        );
        let err = parse(january.as_bytes(), "m.json").unwrap_err().to_string();
        assert!(
            err.contains("January-2022") && err.contains("legacy"),
            "{err}"
        );
    }

    #[test]
    fn a_real_metadata_file_is_reproduced_byte_for_byte() {
        let real = include_str!(
            "../../../fixtures/datagen/three_real_datapoints/datapoint_00001/semantic_segmentation_metadata.json"
        );
        let mut tree = Tree::default();
        for leaf in parse(real.as_bytes(), "m.json").unwrap() {
            tree.insert(&leaf.name, leaf.color);
        }
        assert_eq!(tree.to_json(), real);
    }
}

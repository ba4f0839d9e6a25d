//! JSON written exactly as Python's `json.dumps` writes it, for files that
//! formats' own (Python) software writes and that users diff against:
//! `ensure_ascii` escaping, `", "` / `": "` separators, floats as Python's
//! `repr`, and `indent` when asked.

use serde_json::Value;

/// `json.dumps(value)`: one line, `", "` and `": "` separators.
pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, None, 0, &mut out);
    out
}

/// `json.dumps(value, indent=indent)`: one member per line.
pub fn dumps_indented(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_value(value, Some(indent), 0, &mut out);
    out
}

/// [`dumps_indented`] of a value that sits `depth` levels deep in a larger
/// document (its lines indented as they would be there), for writing a
/// long list one element at a time.
pub fn dumps_indented_at(value: &Value, indent: usize, depth: usize) -> String {
    let mut out = String::new();
    write_value(value, Some(indent), depth, &mut out);
    out
}

fn write_value(value: &Value, indent: Option<usize>, depth: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&python_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                separator(i, indent, depth + 1, out);
                write_value(item, indent, depth + 1, out);
            }
            close(indent, depth, out);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                separator(i, indent, depth + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_value(item, indent, depth + 1, out);
            }
            close(indent, depth, out);
            out.push('}');
        }
    }
}

/// What goes before member `i`: `", "` on one line; `",\n" + indent` otherwise.
fn separator(i: usize, indent: Option<usize>, depth: usize, out: &mut String) {
    match indent {
        None if i > 0 => out.push_str(", "),
        None => {}
        Some(width) => {
            if i > 0 {
                out.push(',');
            }
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
    }
}

fn close(indent: Option<usize>, depth: usize, out: &mut String) {
    if let Some(width) = indent {
        out.push('\n');
        out.push_str(&" ".repeat(width * depth));
    }
}

/// A JSON string with Python's `ensure_ascii` escaping (non-ASCII and
/// control characters as `\uXXXX`, UTF-16 surrogate pairs above U+FFFF).
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// A float as Python's `repr`: the shortest digits that read back exactly,
/// positional from 1e-4 up to 1e16, scientific (`1e-05`, `1.5e+16`) outside.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.5e-7".
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    if (-4..16).contains(&exponent) {
        let positional = format!("{f}");
        if positional.contains('.') {
            positional
        } else {
            format!("{positional}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_line_output_matches_python_json_dumps() {
        // Expected strings are what Python 3.11 `json.dumps` prints.
        let value = json!({"type": "mask", "a": [1, {"b": null}], "e": [], "o": {}, "t": true});
        assert_eq!(
            dumps(&value),
            r#"{"type": "mask", "a": [1, {"b": null}], "e": [], "o": {}, "t": true}"#
        );
        assert_eq!(
            dumps(&json!("é😀\u{7f}\"\\\n")),
            r#""\u00e9\ud83d\ude00\u007f\"\\\n""#
        );
    }

    #[test]
    fn floats_are_written_as_python_repr() {
        let cases = [
            (0.5, "0.5"),
            (1.0, "1.0"),
            (-2.0, "-2.0"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e300, "1.2345e+300"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (f, python) in cases {
            assert_eq!(dumps(&json!(f)), python, "{f}");
        }
    }

    #[test]
    fn indented_output_matches_python_json_dumps_indent() {
        let value = json!({"a": {"b": [1, 2]}, "c": {}});
        assert_eq!(
            dumps_indented(&value, 3),
            "{\n   \"a\": {\n      \"b\": [\n         1,\n         2\n      ]\n   },\n   \"c\": {}\n}"
        );
    }
}

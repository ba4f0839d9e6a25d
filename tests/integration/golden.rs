//! The golden walker: every fixture input `X` with a sidecar `X.inspect.json`
//! reads to exactly what that file holds (`maskconv inspect X --json
//! --per-item`: classes, sizes, subsets, per item and class pixels and
//! instances, warnings), and every input with a sidecar `X.err` is refused
//! with exactly that one-line error. A new format's fixtures are picked up
//! by adding their sidecars, without editing this file.
//!
//! `MASKCONV_BLESS=1 cargo test golden` rewrites the sidecars from what
//! maskconv prints now: review the diff before committing it.

use crate::common::{describe, maskconv};
use std::path::{Path, PathBuf};

/// What a sidecar pins down.
enum Golden {
    /// `X.inspect.json`: the `inspect --json --per-item` report.
    Inspection,
    /// `X.err`: the error line.
    Refusal,
}

/// Every `(input, sidecar, kind)` under `fixtures/`.
fn sidecars(root: &Path) -> Vec<(PathBuf, PathBuf, Golden)> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let (stem, kind) = match (
            name.strip_suffix(".inspect.json"),
            name.strip_suffix(".err"),
        ) {
            (Some(stem), _) => (stem.to_string(), Golden::Inspection),
            (_, Some(stem)) => (stem.to_string(), Golden::Refusal),
            _ => continue,
        };
        let input = entry.path().with_file_name(stem);
        found.push((input, entry.path().to_path_buf(), kind));
    }
    found
}

/// What maskconv prints for `input`, with the fixtures folder written as
/// `fixtures` (so the sidecars do not depend on where the checkout is).
fn reading(input: &Path, root: &Path, kind: &Golden) -> String {
    let path = input.to_str().unwrap();
    let out = match kind {
        Golden::Inspection => maskconv(&["inspect", path, "--json", "--per-item"]),
        Golden::Refusal => maskconv(&["inspect", path]),
    };
    let expected_code = match kind {
        Golden::Inspection => 0,
        Golden::Refusal => 1,
    };
    assert_eq!(out.status.code(), Some(expected_code), "{}", describe(&out));
    let text = match kind {
        Golden::Inspection => String::from_utf8(out.stdout).unwrap(),
        Golden::Refusal => String::from_utf8(out.stderr).unwrap(),
    };
    let text = text.replace(root.to_str().unwrap(), "fixtures");
    match kind {
        Golden::Inspection => {
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            serde_json::to_string_pretty(&value).unwrap() + "\n"
        }
        Golden::Refusal => {
            assert_eq!(text.lines().count(), 1, "one line: {text}");
            text
        }
    }
}

#[test]
fn every_fixture_reads_exactly_as_its_golden_sidecar_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let bless = std::env::var_os("MASKCONV_BLESS").is_some();
    let sidecars = sidecars(&root);
    assert!(
        sidecars.len() >= 25,
        "fixtures with sidecars: {}",
        sidecars.len()
    );
    let mut differing = Vec::new();
    for (input, sidecar, kind) in &sidecars {
        assert!(
            input.exists(),
            "{} has no input beside it",
            sidecar.display()
        );
        let now = reading(input, &root, kind);
        if bless {
            std::fs::write(sidecar, &now).unwrap();
        } else if std::fs::read_to_string(sidecar).unwrap() != now {
            differing.push(format!("{}:\n{now}", sidecar.display()));
        }
    }
    assert!(
        differing.is_empty(),
        "readings differ from their sidecars (MASKCONV_BLESS=1 rewrites them):\n{}",
        differing.join("\n")
    );
}

//! Item keys that are not file paths (Nucleus `reference_id`s such as
//! `s3://bucket/x.png`, `a\b`, `x/../y`): every writer names their files
//! with the reversible `%XX` escaping of `model::key_to_path`, every reader
//! of maskconv's output undoes it, and keys that differ only in letter case
//! are reported (refused where the output's disk cannot hold both).

use crate::common::{TempDir, codes, convert, fixture, open_dataset, read_tree};
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::io::{MemorySink, Sink};
use serde_json::Value;

/// The `reference_id`s of a Nucleus output, in order.
fn reference_ids(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("annotations.ndjson"))
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["reference_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn foreign_reference_ids_come_back_exact_through_every_format() {
    let input = fixture("nucleus/foreign_reference_ids");
    let mut expected = reference_ids(&input);
    expected.sort();
    assert!(
        expected.contains(&"s3://bucket/run1/x.png".to_string())
            && expected.contains(&"x/../y".to_string())
    );
    let out = TempDir::new("foreign-ids");
    for format in maskconv::formats::REGISTRY
        .iter()
        .map(|f| f.info())
        .filter(|f| f.can_read && f.can_write)
    {
        let middle = out.join(format.name);
        let report = convert(&input, &middle, format.name, &[]);
        assert!(
            codes(&report["warnings"]).contains(&"keys-escaped"),
            "{}: {report}",
            format.name
        );
        // Every file of the output is a plain relative path.
        for path in read_tree(&middle).keys().map(|p| p.trim_end_matches('/')) {
            assert!(
                !path.contains([':', '\\', '*', '?', '"', '<', '>', '|']),
                "{}: {path}",
                format.name
            );
            assert!(
                path.split('/')
                    .all(|p| !p.is_empty() && p != "." && p != ".."),
                "{}: {path}",
                format.name
            );
        }
        let back = out.join(&format!("{}-back", format.name));
        convert(&middle, &back, "nucleus", &[]);
        let mut ids = reference_ids(&back);
        ids.sort();
        assert_eq!(ids, expected, "nucleus → {} → nucleus", format.name);
    }
}

#[test]
fn a_foreign_cvat_file_name_with_percent_signs_keeps_its_name() {
    // `img%20001` and `50%off` are no escapes maskconv writes there: read as they are.
    let dataset = open_dataset(&fixture("nucleus/foreign_reference_ids"), None).unwrap();
    let out = TempDir::new("percent-names");
    let cvat = out.join("cvat");
    convert(
        &fixture("nucleus/foreign_reference_ids"),
        &cvat,
        "cvat",
        &[],
    );
    let files = read_tree(&cvat);
    assert!(files.contains_key("SegmentationClass/img%20001.png"));
    assert!(files.contains_key("SegmentationClass/50%off.png"));
    assert!(
        files.contains_key("SegmentationClass/100%253A.png"),
        "a % that reads as an escape is escaped"
    );
    let again = open_dataset(&cvat, Some("cvat")).unwrap();
    let mut keys: Vec<&str> = again.items.iter().map(|i| i.key.as_str()).collect();
    let mut source: Vec<&str> = dataset.items.iter().map(|i| i.key.as_str()).collect();
    keys.sort_unstable();
    source.sort_unstable();
    assert_eq!(keys, source);
}

/// A sink on a disk that does not tell letter case apart.
#[derive(Default)]
struct CaseInsensitive(MemorySink);

impl Sink for CaseInsensitive {
    fn write_file(&mut self, path: &str, bytes: &[u8]) -> maskconv::Result<()> {
        self.0.write_file(path, bytes)
    }

    fn case_insensitive(&self) -> bool {
        true
    }
}

#[test]
fn keys_differing_only_in_case_are_reported_and_refused_where_the_disk_folds_case() {
    let out = TempDir::new("case-keys");
    let input = out.join("in");
    std::fs::create_dir_all(input.join("masks")).unwrap();
    let source = fixture("nucleus/sdk_annotations");
    std::fs::copy(
        source.join("masks/street_a.png"),
        input.join("masks/street_a.png"),
    )
    .unwrap();
    let first = std::fs::read_to_string(source.join("annotations.ndjson")).unwrap();
    let line = first.lines().next().unwrap();
    let lines = [
        line.replace("\"street_a\"", "\"Street\""),
        line.replace("\"street_a\"", "\"street\""),
    ];
    std::fs::write(input.join("annotations.ndjson"), lines.join("\n") + "\n").unwrap();
    let report = convert(&input, &out.join("cvat"), "cvat", &[]);
    let warnings = codes(&report["warnings"]);
    assert!(warnings.contains(&"case-collision"), "{report}");
    let dataset = open_dataset(&input, None).unwrap();
    let cvat = maskconv::formats::find("cvat").unwrap();
    let err = convert_dataset(
        &dataset,
        cvat,
        &mut CaseInsensitive::default(),
        &ConvertOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("'Street' and 'street'") && err.contains("letter case"),
        "{err}"
    );
    // An ordinary disk holds both.
    assert!(
        convert_dataset(
            &dataset,
            cvat,
            &mut MemorySink::default(),
            &ConvertOptions::default()
        )
        .is_ok()
    );
}

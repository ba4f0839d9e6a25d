//! datagen: bad inputs are clear errors that name the file, and publish nothing.

use super::datagen::*;
use crate::common::{TempDir, assert_fails, describe, maskconv, read_tree, s};
use maskconv::codec::{Compression, PngLayout, encode_png};
use serde_json::Value;
use std::path::Path;

/// Each bad input: exit 1, a one-line error naming the file and the problem,
/// nothing published.
#[test]
fn bad_datagen_inputs_are_clear_errors_and_publish_nothing() {
    type Spoil = fn(&Path);
    let cases: [(&str, Spoil, &str); 10] = [
        (
            "missing-metadata",
            |dp| std::fs::remove_file(dp.join("semantic_segmentation_metadata.json")).unwrap(),
            "has no semantic_segmentation_metadata.json",
        ),
        (
            "no-leaves",
            |dp| {
                std::fs::write(
                    dp.join("semantic_segmentation_metadata.json"),
                    r#"{"version": "1.0.0", "human": {}}"#,
                )
                .unwrap()
            },
            "no colour leaves",
        ),
        (
            "malformed-json",
            |dp| {
                std::fs::write(
                    dp.join("semantic_segmentation_metadata.json"),
                    r#"{"version": "1.0.0", "human": "#,
                )
                .unwrap()
            },
            "is not valid JSON: EOF while parsing",
        ),
        (
            "version-2",
            |dp| {
                std::fs::write(
                    dp.join("semantic_segmentation_metadata.json"),
                    r#"{"version": "2.1.0", "a": [1, 2, 3]}"#,
                )
                .unwrap()
            },
            "version '2.1.0' is not supported",
        ),
        (
            "eight-bit",
            |dp| {
                let png = encode_png(
                    2,
                    1,
                    PngLayout::Rgb8,
                    &[17, 7, 214, 0, 0, 0],
                    Compression::Fast,
                );
                std::fs::write(dp.join("camera/semantic_segmentation.png"), png).unwrap()
            },
            "drops the low byte",
        ),
        (
            "unknown-colour",
            |dp| {
                std::fs::write(
                    dp.join("camera/semantic_segmentation.png"),
                    png16(6, 4, |x, y| if x == 5 && y < 3 { [9, 9, 9] } else { HAIR }),
                )
                .unwrap()
            },
            "colour (9,9,9) on 3 pixels is not in",
        ),
        (
            "size-mismatch",
            |dp| {
                std::fs::write(
                    dp.join("camera/camera_metadata.json"),
                    r#"{"camera_name": "camera", "resolution_px": [1024, 1024]}"#,
                )
                .unwrap()
            },
            "is 6x4 but camera_metadata.json beside it claims resolution 1024x1024",
        ),
        (
            "gray-sixteen",
            |dp| {
                let png = encode_png(2, 1, PngLayout::Gray16, &[0, 1, 0, 2], Compression::Fast);
                std::fs::write(dp.join("camera/semantic_segmentation.png"), png).unwrap()
            },
            "Datagen masks are 16-bit RGB",
        ),
        (
            "legacy-exr",
            |dp| {
                std::fs::remove_file(dp.join("camera/semantic_segmentation.png")).unwrap();
                std::fs::write(dp.join("camera/semantic_segmentation.exr"), b"v/1\x01").unwrap();
                std::fs::write(
                    dp.join("semantic_segmentation_metadata.json"),
                    r#"{"eyebrows": [0.39999, 0.39999, 0.39999]}"#,
                )
                .unwrap();
            },
            "January-2022 EXR",
        ),
        (
            "legacy-float-json",
            |dp| {
                std::fs::write(
                    dp.join("semantic_segmentation_metadata.json"),
                    r#"{"head": [0.81494, 0.03072, 0.01599]}"#,
                )
                .unwrap()
            },
            "unsupported legacy version",
        ),
    ];
    let tmp = TempDir::new("dg-bad");
    for (name, spoil, needle) in cases {
        let input = small_dataset(&tmp.join(name));
        spoil(&input.join("datapoint_00001"));
        let before = read_tree(&input);
        for to in ["datagen", "cvat"] {
            let output = tmp.join(&format!("{name}-out-{to}"));
            let out = maskconv(&[
                "convert",
                s(&input),
                s(&output),
                "--to",
                to,
                "--from",
                "datagen",
            ]);
            assert_fails(&out, &output, 1, needle);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!("{name}/datapoint_00001")),
                "{name}: names the file: {stderr}"
            );
        }
        assert_eq!(read_tree(&input), before, "{name}: input untouched");
    }
}

#[test]
fn an_input_holding_two_datagen_datasets_is_an_error_naming_them() {
    let tmp = TempDir::new("dg-two");
    let input = tmp.join("in");
    small_dataset(&input.join("faces_1"));
    small_dataset(&input.join("faces_2"));
    convert_fails(
        &input,
        &tmp.join("out"),
        "cvat",
        "holds several Datagen datasets ('faces_1', 'faces_2')",
    );
}

#[test]
fn a_single_datapoint_folder_is_an_error_that_says_what_to_pass() {
    let tmp = TempDir::new("dg-single");
    let input = small_dataset(&tmp.join("in"));
    let out = maskconv(&[
        "convert",
        s(&input.join("datapoint_00001")),
        s(&tmp.join("out")),
        "--to",
        "cvat",
        "--from",
        "datagen",
    ]);
    assert_fails(
        &out,
        &tmp.join("out"),
        1,
        "pass the folder that holds the datapoint_* folders",
    );
}

#[test]
fn class_names_datagen_cannot_nest_are_errors_with_a_hint() {
    let tmp = TempDir::new("dg-names");
    let input = tmp.join("cvat");
    crate::common::SyntheticCvat {
        labels: vec![("car", [1, 2, 3]), ("car.wheel", [4, 5, 6])],
        items: vec![("a".into(), "train", 2, 2)],
    }
    .write(&input, |_, x, _| (x as usize + 1, 1));
    convert_fails(
        &input,
        &tmp.join("out"),
        "datagen",
        "cannot be both a colour leaf and a folder of parts",
    );
}

#[test]
fn datagen_output_is_detected_and_listed_by_formats() {
    let tmp = TempDir::new("dg-detect");
    let input = small_dataset(&tmp.join("in"));
    let out = maskconv(&["inspect", s(&input), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["format"], "datagen");
    let formats = maskconv(&["formats"]);
    let text = String::from_utf8_lossy(&formats.stdout);
    let row = text
        .lines()
        .find(|l| l.starts_with("datagen "))
        .expect("a datagen row");
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "datagen",
            "yes",
            "yes",
            "no",
            "unlimited",
            "16-bit",
            "yes",
            "no"
        ]
    );
    let header = text.lines().next().unwrap();
    assert_eq!(
        header.find("read"),
        row.find("yes"),
        "columns line up:\n{text}"
    );
}

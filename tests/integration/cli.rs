//! The command line: exit codes, bad input, output safety, and the JSON
//! reports scripts rely on.

use crate::common::{TempDir, convert_to_cvat, describe, fixture, maskconv, read_tree, s};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A copy of the small CVAT export in a fresh folder, to break on purpose.
fn copy_of_export(tmp: &TempDir) -> PathBuf {
    let dir = tmp.join("in");
    for (path, bytes) in read_tree(&fixture("cvat/generated_cvat_export/dataset")) {
        let target = dir.join(&path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
    dir
}

/// Runs a conversion to CVAT expected to fail with `code` (see [`crate::common::assert_fails`]).
fn assert_convert_fails(input: &Path, output: &Path, code: i32, needle: &str) {
    crate::common::assert_fails(&convert_to_cvat(input, output, &[]), output, code, needle);
}

#[test]
fn usage_errors_exit_2() {
    let input = fixture("cvat/generated_cvat_export/dataset");
    let tmp = TempDir::new("usage");
    for args in [
        vec![
            "convert",
            s(&input),
            s(&tmp.join("o")),
            "--to",
            "nosuchformat",
        ],
        vec!["convert", s(&input), s(&tmp.join("o"))],
        vec![
            "convert",
            s(&input),
            s(&tmp.join("o")),
            "--to",
            "cvat",
            "-j",
            "0",
        ],
        vec!["frobnicate"],
        vec!["inspect", s(&input), "--from", "nosuchformat"],
        vec![
            "convert",
            s(&input),
            s(&tmp.join("o.tar")),
            "--to",
            "datagen",
        ],
    ] {
        let out = maskconv(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
    }
}

#[test]
fn existing_output_is_refused_without_force_and_replaced_with_it() {
    let tmp = TempDir::new("force");
    let input = fixture("cvat/generated_cvat_export/dataset");
    let output = tmp.join("out");
    std::fs::create_dir_all(&output).unwrap();
    std::fs::write(output.join("old.txt"), "old").unwrap();
    let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(output.join("old.txt").exists());
    let out = maskconv(&[
        "convert",
        s(&input),
        s(&output),
        "--to",
        "cvat",
        "--force",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!output.join("old.txt").exists());
    assert!(output.join("labelmap.txt").exists());
}

#[test]
fn output_inside_or_around_the_input_is_refused_and_the_input_survives() {
    let tmp = TempDir::new("inside");
    let input = copy_of_export(&tmp);
    let before = read_tree(&input);
    for (output, needle) in [
        (input.join("converted"), "inside INPUT"),
        (input.clone(), "is the INPUT"),
        (tmp.0.clone(), "contains INPUT"),
    ] {
        let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat", "--force"]);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{}",
            describe(&out)
        );
    }
    assert_eq!(read_tree(&input), before);
}

#[test]
fn output_reached_through_dot_dot_inside_the_input_is_refused() {
    let tmp = TempDir::new("dotdot");
    let input = copy_of_export(&tmp);
    let before = read_tree(&input);
    let sneaky = tmp.join("missing/../in/out");
    let out = convert_to_cvat(&input, &sneaky, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inside INPUT"),
        "{}",
        describe(&out)
    );
    assert!(!tmp.join("missing").exists());
    assert_eq!(read_tree(&input), before);
}

#[test]
fn reports_are_the_same_at_one_and_two_threads() {
    let tmp = TempDir::new("json-threads");
    let input = tmp.join("in");
    crate::common::varied_dataset(&input, 12);
    let run = |args: &[&str]| {
        let out = maskconv(args);
        let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report.as_object_mut().unwrap().remove("seconds");
        report.as_object_mut().unwrap().remove("output");
        report
    };
    let fixture_r = fixture("cvat/generated_import_cases/R_instance_spans_classes");
    for source in [s(&input), s(&fixture_r)] {
        let inspect = |j: &str| run(&["inspect", source, "--json", "-j", j]);
        assert_eq!(inspect("1"), inspect("2"));
        let convert = |j: &str| {
            let out = tmp.join(&format!("out-{j}"));
            run(&[
                "convert",
                source,
                s(&out),
                "--to",
                "cvat",
                "--json",
                "-q",
                "--force",
                "-j",
                j,
            ])
        };
        assert_eq!(convert("1"), convert("2"));
    }
}

#[test]
fn conversion_never_modifies_the_input() {
    let tmp = TempDir::new("untouched");
    let input = copy_of_export(&tmp);
    let before = read_tree(&input);
    let out = maskconv(&[
        "convert",
        s(&input),
        s(&tmp.join("out.zip")),
        "--to",
        "cvat",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(read_tree(&input), before);
}

#[test]
fn truncated_png_is_an_error_naming_the_file() {
    let tmp = TempDir::new("truncated");
    let input = copy_of_export(&tmp);
    let mask = input.join("SegmentationClass/frame_000000.png");
    let bytes = std::fs::read(&mask).unwrap();
    std::fs::write(&mask, &bytes[..bytes.len() - 30]).unwrap();
    assert_convert_fails(
        &input,
        &tmp.join("out"),
        1,
        "SegmentationClass/frame_000000.png (cvat): ",
    );
}

#[test]
fn unknown_colour_is_an_error_with_colour_and_pixel_count() {
    let tmp = TempDir::new("colour");
    let input = fixture("cvat/generated_import_cases/C_unknown_color");
    assert_convert_fails(
        &input,
        &tmp.join("out.zip"),
        1,
        "colour (1,2,3) on 1 pixel is not in labelmap.txt",
    );
}

#[test]
fn malformed_labelmap_is_an_error_naming_the_line() {
    let tmp = TempDir::new("labelmap");
    let input = copy_of_export(&tmp);
    std::fs::write(
        input.join("labelmap.txt"),
        "background:0,0,0::\ncar:51,221::\n",
    )
    .unwrap();
    assert_convert_fails(
        &input,
        &tmp.join("out"),
        1,
        "labelmap.txt (cvat): line 2: label 'car' has colour '51,221'",
    );
}

fn zip_with(entries: &[(&str, &[u8])], path: &Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn zip_entries_that_escape_the_archive_are_refused() {
    let tmp = TempDir::new("zipslip");
    let subset: &[u8] = b"frame\n";
    for (name, needle) in [
        ("../evil.txt", "contains '..'"),
        ("/etc/evil.txt", "absolute path"),
    ] {
        let archive = tmp.join("bad.zip");
        zip_with(
            &[("ImageSets/Segmentation/default.txt", subset), (name, b"x")],
            &archive,
        );
        assert_convert_fails(&archive, &tmp.join("out"), 1, needle);
    }
}

#[test]
fn png_header_claiming_100000_by_100000_is_refused() {
    let tmp = TempDir::new("bomb");
    let input = copy_of_export(&tmp);
    // A PNG whose valid IHDR claims 100000x100000 (dropping the writer adds IEND).
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, 100_000, 100_000);
    encoder.set_color(png::ColorType::Rgb);
    drop(encoder.write_header().unwrap());
    std::fs::write(input.join("SegmentationClass/frame_000000.png"), png).unwrap();
    assert_convert_fails(&input, &tmp.join("out"), 1, "100000x100000");
}

#[test]
fn unrecognised_and_unsupported_inputs_are_clear_errors() {
    let tmp = TempDir::new("unknown");
    std::fs::create_dir_all(tmp.join("empty")).unwrap();
    assert_convert_fails(
        &tmp.join("empty"),
        &tmp.join("out"),
        1,
        "not recognised as any dataset format",
    );
    assert_convert_fails(
        &tmp.join("missing"),
        &tmp.join("out"),
        1,
        "no such file or folder",
    );
    std::fs::write(tmp.join("d.tar.gz"), b"\x1f\x8b").unwrap();
    assert_convert_fails(&tmp.join("d.tar.gz"), &tmp.join("out"), 1, ".tar.gz");
}

#[test]
fn failed_convert_with_json_still_prints_one_report() {
    let tmp = TempDir::new("json-fail");
    let input = fixture("cvat/generated_import_cases/C_unknown_color");
    let out = maskconv(&[
        "convert",
        s(&input),
        s(&tmp.join("o")),
        "--to",
        "cvat",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["exit_code"], 1);
    assert!(report["error"].as_str().unwrap().contains("(1,2,3)"));
}

#[test]
fn convert_json_reports_counts_losses_and_warnings() {
    let tmp = TempDir::new("json-ok");
    let input = fixture("cvat/generated_cvat_export/cvat_like_export.zip");
    let out = maskconv(&[
        "convert",
        s(&input),
        s(&tmp.join("o.zip")),
        "--to",
        "cvat",
        "--json",
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "ok");
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some("cvat"), Some("cvat"))
    );
    assert_eq!(
        (report["items"].as_u64(), report["written"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(report["losses"], serde_json::json!([]));
    assert_eq!(report["warnings"][0]["code"], "duplicate-colour");
}

#[test]
fn inspect_json_counts_pixels_images_and_instances_per_class() {
    let input = fixture("cvat/generated_cvat_export/dataset");
    let out = maskconv(&["inspect", s(&input), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["format"], "cvat");
    assert_eq!(report["items"], 2);
    assert_eq!(report["unlabeled_pixels"], 16);
    assert_eq!(
        report["sizes"],
        serde_json::json!([{"size": [8, 6], "count": 1}])
    );
    let classes: Vec<(String, serde_json::Value, u64, u64, u64)> = report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let n = |k: &str| c[k].as_u64().unwrap();
            (
                c["name"].as_str().unwrap().to_string(),
                c["color"].clone(),
                n("pixels"),
                n("images"),
                n("instances"),
            )
        })
        .collect();
    use serde_json::json;
    assert_eq!(
        classes,
        vec![
            ("Zebra".into(), json!([170, 187, 204]), 4, 1, 1),
            ("car".into(), json!([51, 221, 255]), 12, 1, 1),
            ("person".into(), json!([250, 50, 83]), 0, 0, 0),
            ("tree".into(), json!([250, 50, 83]), 16, 1, 1),
        ]
    );
}

#[test]
fn inspect_json_that_fails_still_prints_one_object() {
    let input = fixture("cvat/generated_import_cases/C_unknown_color");
    let out = maskconv(&["inspect", s(&input), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exit_code"], 1);
    assert!(report["error"].as_str().unwrap().contains("colour (1,2,3)"));
}

#[test]
fn validate_lists_every_problem_and_exits_1() {
    let tmp = TempDir::new("validate");
    let input = tmp.join("in");
    crate::common::varied_dataset(&input, 6);
    let ok = maskconv(&["validate", s(&input), "--json"]);
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        (report["valid"].as_bool(), report["items"].as_u64()),
        (Some(true), Some(6))
    );

    std::fs::write(input.join("SegmentationClass/frame_0001.png"), b"not a png").unwrap();
    std::fs::remove_file(input.join("SegmentationClass/frame_0002.png")).unwrap();
    let mask = input.join("SegmentationClass/seq_1/frame_0003.png");
    let bytes = std::fs::read(&mask).unwrap();
    std::fs::write(&mask, &bytes[..bytes.len() / 2]).unwrap();
    let bad = maskconv(&["validate", s(&input), "--json"]);
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["valid"], false);
    let items: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["item"].as_str().unwrap())
        .collect();
    assert_eq!(items, vec!["frame_0001", "frame_0002", "seq_1/frame_0003"]);
}

#[test]
fn formats_lists_cvat_with_what_it_holds() {
    let out = maskconv(&["formats"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("cvat ") && l.contains("255") && l.contains("8-bit")),
        "{text}"
    );
}

#[test]
fn the_readme_has_a_formats_row_for_every_registered_format() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for format in maskconv::formats::REGISTRY {
        let row = format!("| `{}`", format.info().name);
        assert!(
            readme.lines().any(|l| l.starts_with(&row)),
            "README's formats table has no row for {}",
            format.info().name
        );
    }
}

#[test]
fn help_and_formats_list_every_option_the_formats_declare() {
    let help = String::from_utf8(maskconv(&["convert", "--help"]).stdout).unwrap();
    let listed = String::from_utf8(maskconv(&["formats"]).stdout).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&maskconv(&["formats", "--json"]).stdout).unwrap();
    for format in maskconv::formats::REGISTRY {
        let info = format.info();
        let entry = json
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == info.name)
            .unwrap();
        for spec in info.options {
            assert!(
                help.contains(&format!("--{}", spec.name)),
                "--{} in help",
                spec.name
            );
            let line = listed
                .lines()
                .find(|l| l.starts_with(&format!("{}:", info.name)))
                .unwrap();
            assert!(line.contains(&spec.usage()), "{line}");
            assert!(
                entry["options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["name"] == spec.name),
                "{entry}"
            );
        }
    }
}

#[test]
fn a_closed_stdout_keeps_the_exit_code_and_prints_no_panic() {
    let closed = |args: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_maskconv"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stderr)
    };
    let good = fixture("datagen/three_real_datapoints");
    let (code, stderr) = closed(&["inspect", s(&good), "--per-item"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let bad = fixture("cvat/generated_import_cases/C_unknown_color");
    let (code, stderr) = closed(&["validate", s(&bad), "--json"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn completions_man_page_and_version_come_from_the_command_line_definitions() {
    let version = maskconv(&["--version"]);
    assert!(version.status.success(), "{}", describe(&version));
    let text = String::from_utf8_lossy(&version.stdout);
    for format in maskconv::formats::REGISTRY.iter().map(|f| f.info().name) {
        assert!(text.contains(format), "--version names {format}: {text}");
    }
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = maskconv(&["completions", shell]);
        assert!(script.status.success(), "{shell}: {}", describe(&script));
        let script = String::from_utf8_lossy(&script.stdout);
        // A format's own option is completed, as are the subcommands.
        assert!(
            script.contains("segmentation") && script.contains("inspect"),
            "{shell}"
        );
    }
    let bad = maskconv(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    let page = maskconv(&["man"]);
    assert!(page.status.success(), "{}", describe(&page));
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(
        page.contains(".TH maskconv 1") && page.contains("convert"),
        "{page}"
    );
}

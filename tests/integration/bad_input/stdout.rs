//! A stdout that is closed early (`| head`) or full (`> /dev/full`).

use crate::common::{TempDir, fixture};
use std::process::{Command, Stdio};

fn maskconv_into(args: &[&str], stdout: Stdio) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_maskconv"))
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn dev_full() -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
        .into()
}

#[test]
fn a_reader_that_stops_early_is_no_error() {
    let input = fixture("cvat/generated_many_instances");
    let mut child = Command::new(env!("CARGO_BIN_EXE_maskconv"))
        .args(["inspect", input.to_str().unwrap(), "--per-item"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // as `| head -0` does
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty() || !String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn a_full_stdout_is_a_one_line_error() {
    let out = maskconv_into(&["formats"], dev_full());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: stdout: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn a_report_that_cannot_be_written_says_output_was_published() {
    let tmp = TempDir::new("full-stdout");
    let output = tmp.join("out");
    let input = fixture("cvat/generated_cvat_export/dataset");
    let out = maskconv_into(
        &[
            "convert",
            input.to_str().unwrap(),
            output.to_str().unwrap(),
            "--to",
            "nucleus",
            "--json",
            "-q",
        ],
        dev_full(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was published; only this report could not be written"),
        "{stderr}"
    );
    assert!(
        output.join("annotations.ndjson").is_file(),
        "OUTPUT is there, as the error says"
    );
}

#[test]
fn argument_errors_give_the_json_failure_object_when_asked() {
    for (args, needle) in [
        (
            &["convert", "a", "b", "--to", "cvat", "--bogus", "--json"][..],
            "unexpected argument '--bogus'",
        ),
        (
            &["inspect", "x", "-j", "0", "--json"][..],
            "invalid value '0'",
        ),
        (
            &[
                "convert",
                "a",
                "b",
                "--to",
                "nucleus",
                "--mask-root",
                "rel",
                "--json",
            ][..],
            "is not PREFIX=DIR",
        ),
    ] {
        let out = maskconv_into(args, Stdio::piped());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["exit_code"], 2);
        assert!(
            report["error"].as_str().unwrap().contains(needle),
            "{report}"
        );
    }
}

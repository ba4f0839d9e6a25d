//! A real conversion interrupted by SIGTERM, SIGINT and SIGHUP: nothing is
//! left at or beside OUTPUT (nor the parent folders made for it), the exit
//! code is 128 + the signal, and `--json` still gets its failure object.

use crate::common::TempDir;
use maskconv::codec::{Compression, PngLayout, encode_png};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A CVAT dataset of `items` class masks of 512², long enough to convert
/// that a signal arrives mid-run.
fn large_cvat(dir: &Path, items: usize) {
    let (w, h) = (512u32, 512u32);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let colour = match (x / 16 + y / 16) % 3 {
                0 => [0, 0, 0],
                1 => [51, 221, 255],
                _ => [170, 187, 204],
            };
            rgb.extend_from_slice(&colour);
        }
    }
    let png = encode_png(w, h, PngLayout::Rgb8, &rgb, Compression::Fast);
    std::fs::create_dir_all(dir.join("SegmentationClass")).unwrap();
    std::fs::create_dir_all(dir.join("ImageSets/Segmentation")).unwrap();
    std::fs::write(
        dir.join("labelmap.txt"),
        "background:0,0,0::\ncar:51,221,255::\nzebra:170,187,204::\n",
    )
    .unwrap();
    let mut keys = String::new();
    for i in 0..items {
        let key = format!("item_{i:05}");
        std::fs::write(dir.join(format!("SegmentationClass/{key}.png")), &png).unwrap();
        keys.push_str(&key);
        keys.push('\n');
    }
    std::fs::write(dir.join("ImageSets/Segmentation/default.txt"), keys).unwrap();
}

/// Starts a conversion into `output`, sends `signal` once its temporary
/// exists, and returns (exit code, stdout, stderr).
fn interrupt(input: &Path, output: &Path, signal: i32) -> (i32, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_maskconv"))
        .args(["convert", input.to_str().unwrap(), output.to_str().unwrap()])
        .args(["--to", "nucleus", "--json", "-j", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let parent = output.parent().unwrap();
    let name = output.file_name().unwrap().to_str().unwrap();
    let temporary = parent.join(format!(".{name}.maskconv-tmp-{}", child.id()));
    let start = Instant::now();
    while !temporary.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no temporary appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().expect("exited, not killed");
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_interrupted_conversion_leaves_nothing_and_exits_128_plus_the_signal() {
    let work = TempDir::new("signals");
    let input = work.join("large");
    large_cvat(&input, 4000);
    for (signal, name, code, output) in [
        (libc::SIGTERM, "SIGTERM", 143, "made/for/it/out"),
        (libc::SIGINT, "SIGINT", 130, "made/out.zip"),
        (libc::SIGHUP, "SIGHUP", 129, "out"),
    ] {
        let output = work.join(output);
        let (got, stdout, stderr) = interrupt(&input, &output, signal);
        assert_eq!(got, code, "{name}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!("error: interrupted by {name}; nothing was written")
        );
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["status"], "failed");
        assert_eq!(report["exit_code"], code);
        assert_eq!(report["to"], "nucleus");
        let left: Vec<String> = std::fs::read_dir(&work.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["large"], "{name}: only the input is left");
    }
}

#[test]
fn a_temporary_left_by_kill_9_is_removed_by_the_next_run() {
    let work = TempDir::new("stale");
    let input = crate::common::fixture("cvat/generated_cvat_export/dataset");
    // A process id that is not running: far above any pid_max.
    let stale = work.join(".out.maskconv-tmp-4194305");
    std::fs::create_dir_all(stale.join("masks")).unwrap();
    std::fs::write(stale.join("masks/partial.png"), b"half").unwrap();
    // Written to a moment ago: it may be another machine's run; named only.
    let report = crate::common::convert(&input, &work.join("out"), "nucleus", &[]);
    let warnings = report["warnings"].to_string();
    assert!(stale.exists());
    assert!(
        warnings.contains("stale-temporary") && warnings.contains("within the last minute"),
        "{warnings}"
    );
    // Idle for two minutes: removed.
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    for path in [stale.join("masks"), stale.clone()] {
        std::fs::File::open(&path)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
    }
    let report = crate::common::convert(&input, &work.join("out"), "nucleus", &["--force"]);
    assert!(!stale.exists());
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("removed; an interrupted maskconv run (process 4194305)"),
        "{warnings}"
    );
}

//! Measuring: one conversion's wall time and peak RSS, the codec floor of
//! the same masks, medians, the machine.

use maskconv::codec::{Compression, Palette, PngLayout, decode_png, encode_png};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Flushes the page cache's dirty pages to disk (`sync(1)`).
pub fn sync() {
    let _ = Command::new("sync").status();
}

/// Runs the binary, returns (wall time, peak RSS in KiB). The peak is the
/// child's own `VmHWM` (a high-water mark), polled every 10 ms while it runs: `wait4`'s
/// `ru_maxrss` would also count the harness's memory, which the child
/// shares between fork and exec.
pub fn run_measured(args: &[&str]) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_maskconv"))
        .args(args)
        .stderr(std::process::Stdio::null()) // the losses it reports, every run
        .spawn()
        .expect("maskconv starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for maskconv") {
            break status;
        }
        let hwm = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .unwrap_or(0);
        peak_kib = peak_kib.max(hwm);
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    assert!(status.success(), "maskconv {args:?} failed");
    (elapsed, peak_kib)
}

/// Codec-only time for one item: decode its input PNGs, encode its output
/// PNGs (decoded beforehand from a reference conversion, re-encoded in their
/// own layout with the same settings).
pub fn codec_time(inputs: &[PathBuf], outputs: &[PathBuf]) -> Duration {
    let inputs: Vec<Vec<u8>> = inputs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let outputs: Vec<(PngLayout, (u32, u32), Vec<u8>)> = outputs
        .iter()
        .map(|p| {
            let image = decode_png(&std::fs::read(p).unwrap(), "out", Palette::Indices).unwrap();
            let layout = match (image.info.channels, image.info.bits) {
                (3, 16) => PngLayout::Rgb16,
                (3, 8) => PngLayout::Rgb8,
                (1, 8) => PngLayout::Gray8,
                (4, 8) => PngLayout::Rgba8,
                other => panic!("unexpected output layout {other:?}"),
            };
            (layout, (image.info.width, image.info.height), image.data)
        })
        .collect();
    let start = Instant::now();
    for png in &inputs {
        std::hint::black_box(decode_png(png, "in", Palette::Expand).unwrap());
    }
    for (layout, (w, h), raw) in &outputs {
        std::hint::black_box(encode_png(*w, *h, *layout, raw, Compression::Fast));
    }
    start.elapsed()
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}

//! The many-small-items corpus: N items of 128 × 128 (the per-item fixed
//! costs — files, zip entries, JSON records — are what it exposes). Every
//! reader × writer pair is converted at `-j 1` and `-j 2` at each size
//! asked for, with its peak RSS and the RSS slope per item between the
//! smallest and largest size; cvat → cvat and cvat → nucleus are also timed
//! against the codec floor measured in the same run.

use crate::Args;
use crate::corpus::{Scene, write_cvat};
use crate::measure::{codec_time, machine, median, run_measured, sync};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Side of the small masks.
const SIDE: u32 = 128;
/// The formats every pair is taken from.
const FORMATS: [&str; 4] = ["cvat", "datagen", "nucleus", "segments"];

/// The small items: the large corpus' shapes at 128², 2–6 things.
const SMALL: Scene = Scene {
    side: SIDE,
    seed: (0x51ED_270B_2A5F_1C3D, 0x9E37_79B9),
    phase: (100, 10.0),
    wave: (12.0, 4.0),
    rectangle: (100, 28, 20),
    things: (2, 5),
    radius: (4.0, 18),
};

fn paint(index: usize) -> (Vec<u8>, Vec<u8>) {
    SMALL.paint(index)
}

/// The CVAT corpus of `items` small items under `dir` (kept when complete).
fn generate_cvat(dir: &Path, items: usize) {
    let marker = dir.join(".complete");
    if !marker.exists() {
        write_cvat(dir, items, SIDE, paint);
        std::fs::write(marker, "").unwrap();
    }
}

/// The corpus of `items` items in every format: CVAT generated, the others
/// converted from it by maskconv (into folders).
fn corpora(root: &Path, items: usize) -> Vec<(&'static str, PathBuf)> {
    let base = root.join(format!("small-{items}"));
    let cvat = base.join("cvat");
    generate_cvat(&cvat, items);
    FORMATS
        .iter()
        .map(|&format| {
            let dir = base.join(format);
            if format != "cvat" && !dir.join(".complete").exists() {
                let _ = std::fs::remove_dir_all(&dir);
                let (from, to) = (cvat.to_str().unwrap(), dir.to_str().unwrap());
                run_measured(&["convert", from, to, "--to", format, "-q"]);
                std::fs::write(dir.join(".complete"), "").unwrap();
            }
            (format, dir)
        })
        .collect()
}

/// Peak RSS in KiB of converting `input` to a fresh `output` in `to`.
fn peak_rss(input: &Path, output: &Path, to: &str, threads: usize) -> (f64, u64) {
    let _ = std::fs::remove_dir_all(output);
    let _ = std::fs::remove_file(output);
    sync();
    let j = threads.to_string();
    let (from, out) = (input.to_str().unwrap(), output.to_str().unwrap());
    let (time, kib) = run_measured(&["convert", from, out, "--to", to, "-q", "-j", &j]);
    (time.as_secs_f64(), kib)
}

/// Runs the small-corpus measurements at each of `sizes` items.
pub fn run(args: &Args, sizes: &[usize]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    println!("machine: {}", machine());
    println!(
        "corpus: {SIDE}x{SIDE} items, 20 classes, CVAT generated, the others converted from it"
    );
    let all: Vec<(usize, Vec<(&str, PathBuf)>)> = sizes
        .iter()
        .map(|&n| {
            eprintln!("corpus of {n} small items ...");
            (n, corpora(&root, n))
        })
        .collect();

    println!(
        "\n| conversion (zip output) | threads | {} | slope per item |",
        {
            let cols: Vec<String> = sizes
                .iter()
                .map(|n| format!("peak RSS, {n} items"))
                .collect();
            cols.join(" | ")
        }
    );
    println!("|---|---|{}---|", "---|".repeat(sizes.len()));
    let out = root.join("small-out.zip");
    for from in FORMATS {
        for to in FORMATS {
            let name = format!("{from} → {to}");
            if args.only.as_deref().is_some_and(|o| !name.contains(o)) {
                continue;
            }
            for threads in [1, 2] {
                let peaks: Vec<u64> = all
                    .iter()
                    .map(|(_, corpora)| {
                        let input = &corpora.iter().find(|(f, _)| *f == from).unwrap().1;
                        peak_rss(input, &out, to, threads).1
                    })
                    .collect();
                let slope = match (all.first(), all.last(), peaks.first(), peaks.last()) {
                    (Some((a, _)), Some((b, _)), Some(pa), Some(pb)) if b > a => {
                        format!(
                            "{:.0} B",
                            (*pb as f64 - *pa as f64) * 1024.0 / (b - a) as f64
                        )
                    }
                    _ => "-".into(),
                };
                let cells: Vec<String> = peaks
                    .iter()
                    .map(|kib| format!("{:.1} MB", *kib as f64 / 1024.0))
                    .collect();
                println!("| {name} | {threads} | {} | {slope} |", cells.join(" | "));
            }
        }
    }

    let (n, corpora) = all.first().expect("a size");
    let cvat = &corpora[0].1;
    println!("\nthroughput, {n} items, medians of {} runs:\n", args.runs);
    println!("| conversion | threads | convert images/s | floor images/s | convert ÷ floor time |");
    println!("|---|---|---|---|---|");
    let inputs = |i: usize| {
        ["SegmentationClass", "SegmentationObject"]
            .map(|f| cvat.join(f).join(format!("frame_{i:06}.png")))
            .to_vec()
    };
    for (name, to, output, outputs) in [
        (
            "cvat → cvat (zip)",
            "cvat",
            "small-out.zip",
            &["SegmentationClass", "SegmentationObject"][..],
        ),
        (
            "cvat → nucleus (zip)",
            "nucleus",
            "small-out.zip",
            &["masks"][..],
        ),
        (
            "cvat → nucleus (folder)",
            "nucleus",
            "small-out",
            &["masks"][..],
        ),
    ] {
        let reference = root.join(format!("small-reference-{to}"));
        peak_rss(cvat, &reference, to, 2);
        let files: Vec<(Vec<PathBuf>, Vec<PathBuf>)> = (0..*n)
            .map(|i| {
                let outs = outputs
                    .iter()
                    .map(|f| reference.join(f).join(format!("frame_{i:06}.png")));
                (inputs(i), outs.collect())
            })
            .collect();
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (mut converts, mut floors, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..args.runs {
                let (time, _) = peak_rss(cvat, &root.join(output), to, threads);
                sync();
                let codec: std::time::Duration =
                    pool.install(|| files.par_iter().map(|(i, o)| codec_time(i, o)).sum());
                let floor = codec.as_secs_f64() / threads as f64;
                converts.push(time);
                floors.push(floor);
                ratios.push(time / floor);
            }
            println!(
                "| {name} | {threads} | {:.0} | {:.0} | {:.2}× |",
                *n as f64 / median(converts),
                *n as f64 / median(floors),
                median(ratios)
            );
        }
    }
}

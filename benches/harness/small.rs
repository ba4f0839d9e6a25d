//! The many-small-items corpus: N items of 128 × 128 (the per-item fixed
//! costs — files, zip entries, JSON records — are what it exposes). Every
//! reader × writer pair is converted at `-j 1` and `-j 2` at each size
//! asked for, with its peak RSS and the RSS slope per item between the
//! smallest and largest size; cvat → cvat and cvat → nucleus are also timed
//! against the codec floor measured in the same run.

use crate::Args;
use crate::corpus::{Rng, STUFF, THINGS, write_cvat};
use crate::measure::{codec_time, machine, median, run_measured, sync};
use maskconv::formats::colors::voc_color;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Side of the small masks.
const SIDE: u32 = 128;
/// The formats every pair is taken from.
const FORMATS: [&str; 4] = ["cvat", "datagen", "nucleus", "segments"];

/// Class and object masks (RGB8) of small item `index`: four wavy stuff
/// bands, an unlabeled rectangle, 2–6 thing ellipses.
fn paint(index: usize) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(0x51ED_270B_2A5F_1C3D ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9));
    let side = SIDE as usize;
    let mut class = vec![0u8; side * side * 3];
    let mut object = vec![0u8; side * side * 3];
    let mut set = |x: usize, y: usize, rgb: [u8; 3], obj: u8| {
        let p = (y * side + x) * 3;
        class[p..p + 3].copy_from_slice(&rgb);
        object[p..p + 3].copy_from_slice(&voc_color(obj));
    };
    let phase = rng.below(100) as f32 / 10.0;
    for y in 0..side {
        for x in 0..side {
            let wave = (x as f32 / 12.0 + phase).sin() * 4.0;
            let band = ((y as f32 + wave) / (side as f32 / 4.0)).clamp(0.0, 3.0) as usize;
            set(x, y, STUFF[band].1, band as u8 + 1);
        }
    }
    let (x0, y0) = (rng.below(100) as usize, rng.below(100) as usize);
    for y in y0..y0 + 20 {
        for x in x0..x0 + 28 {
            set(x, y, [0, 0, 0], 0);
        }
    }
    for k in 0..2 + rng.below(5) as usize {
        let rgb = THINGS[rng.below(THINGS.len() as u64) as usize].1;
        let (cx, cy) = (rng.below(128) as f32, rng.below(128) as f32);
        let (rx, ry) = (4.0 + rng.below(18) as f32, 4.0 + rng.below(18) as f32);
        for y in (cy - ry).max(0.0) as usize..((cy + ry) as usize).min(side) {
            let dy = (y as f32 - cy) / ry;
            let half = rx * (1.0 - dy * dy).max(0.0).sqrt();
            for x in (cx - half).max(0.0) as usize..((cx + half) as usize).min(side) {
                set(x, y, rgb, 5 + k as u8);
            }
        }
    }
    (class, object)
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

//! Benchmark harness: `cargo bench --bench harness [-- --items N --runs R]`.
//!
//! 1. Generates a CVAT corpus (N masks of 1024×1024, 20 classes: 4 stuff
//!    bands, up to 30 thing instances, some unlabeled area) under
//!    `target/bench/`, unless one with the same parameters is there already.
//! 2. Times `maskconv convert corpus out.zip --to cvat` (the release binary)
//!    at `-j 1` and `-j 2`, and reads its peak RSS with `wait4`.
//! 3. Measures the codec floor in the same run: the same input PNGs decoded
//!    and the same output PNGs encoded by the `png` crate alone, no
//!    conversion logic, no file I/O. Per thread count the floor is the summed
//!    codec time divided by the threads (ideal scaling, so the ratio is never
//!    flattered).
//!
//! Prints a Markdown table for BENCHMARKS.md: medians over R runs.

use maskconv::codec::{Compression, Palette, PngLayout, decode_png, encode_png};
use maskconv::formats::cvat::voc_color;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SIZE: u32 = 1024;
const STUFF: [(&str, [u8; 3]); 4] = [
    ("sky", [70, 130, 180]),
    ("building", [70, 70, 70]),
    ("vegetation", [107, 142, 35]),
    ("road", [128, 64, 128]),
];
const THINGS: [(&str, [u8; 3]); 16] = [
    ("person", [220, 20, 60]),
    ("rider", [255, 0, 0]),
    ("car", [0, 0, 142]),
    ("truck", [0, 0, 70]),
    ("bus", [0, 60, 100]),
    ("train", [0, 80, 100]),
    ("motorcycle", [0, 0, 230]),
    ("bicycle", [119, 11, 32]),
    ("pole", [153, 153, 153]),
    ("traffic light", [250, 170, 30]),
    ("traffic sign", [220, 220, 0]),
    ("dog", [190, 153, 153]),
    ("cat", [180, 165, 180]),
    ("bird", [150, 100, 100]),
    ("bench", [150, 120, 90]),
    ("hydrant", [152, 251, 152]),
];

struct Args {
    items: usize,
    runs: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        items: 200,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--items" => args.items = it.next().and_then(|v| v.parse().ok()).expect("--items N"),
            "--runs" => args.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            _ => {} // cargo passes --bench
        }
    }
    args
}

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Class and object masks (RGB8) of corpus item `index`.
fn paint_item(index: usize) -> (Vec<u8>, Vec<u8>) {
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let n = (SIZE * SIZE) as usize;
    let mut class = vec![0u8; n * 3];
    let mut object = vec![0u8; n * 3];
    let phase = rng.below(1000) as f32 / 100.0;
    let mut set = |x: usize, y: usize, rgb: [u8; 3], obj: u8| {
        let p = (y * SIZE as usize + x) * 3;
        class[p..p + 3].copy_from_slice(&rgb);
        object[p..p + 3].copy_from_slice(&voc_color(obj));
    };
    // Stuff: four wavy horizontal bands, each its own object, as CVAT numbers them.
    for y in 0..SIZE as usize {
        for x in 0..SIZE as usize {
            let wave = (x as f32 / 60.0 + phase).sin() * 25.0;
            let band = ((y as f32 + wave) / (SIZE as f32 / 4.0)).clamp(0.0, 3.0) as usize;
            set(x, y, STUFF[band].1, band as u8 + 1);
        }
    }
    // An unlabeled rectangle.
    let (x0, y0) = (rng.below(800) as usize, rng.below(800) as usize);
    for y in y0..y0 + 120 {
        for x in x0..x0 + 180 {
            set(x, y, [0, 0, 0], 0);
        }
    }
    // Thing instances: ellipses painted in order, later ones on top.
    let count = 8 + rng.below(23) as usize;
    for k in 0..count {
        let rgb = THINGS[rng.below(THINGS.len() as u64) as usize].1;
        let (cx, cy) = (rng.below(SIZE as u64) as f32, rng.below(SIZE as u64) as f32);
        let (rx, ry) = (20.0 + rng.below(130) as f32, 20.0 + rng.below(130) as f32);
        let ys = (cy - ry).max(0.0) as usize..((cy + ry) as usize).min(SIZE as usize);
        for y in ys {
            let dy = (y as f32 - cy) / ry;
            let half = rx * (1.0 - dy * dy).max(0.0).sqrt();
            let xs = (cx - half).max(0.0) as usize..((cx + half) as usize).min(SIZE as usize);
            for x in xs {
                set(x, y, rgb, 5 + k as u8);
            }
        }
    }
    (class, object)
}

fn generate_corpus(dir: &Path, items: usize) {
    let marker = dir.join(format!(".complete-{items}-sub-filter"));
    if marker.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("ImageSets/Segmentation")).unwrap();
    std::fs::create_dir_all(dir.join("SegmentationClass")).unwrap();
    std::fs::create_dir_all(dir.join("SegmentationObject")).unwrap();
    let mut labelmap = String::from("# label:color_rgb:parts:actions\nbackground:0,0,0::\n");
    for (name, [r, g, b]) in STUFF.iter().chain(THINGS.iter()) {
        labelmap.push_str(&format!("{name}:{r},{g},{b}::\n"));
    }
    std::fs::write(dir.join("labelmap.txt"), labelmap).unwrap();
    let list: String = (0..items).map(|i| format!("frame_{i:06}\n")).collect();
    std::fs::write(dir.join("ImageSets/Segmentation/default.txt"), list).unwrap();
    (0..items).into_par_iter().for_each(|i| {
        let (class, object) = paint_item(i);
        for (folder, data) in [("SegmentationClass", class), ("SegmentationObject", object)] {
            let png = encode_png(SIZE, SIZE, PngLayout::Rgb8, &data, Compression::Fast);
            std::fs::write(dir.join(folder).join(format!("frame_{i:06}.png")), png).unwrap();
        }
    });
    std::fs::write(marker, "").unwrap();
}

/// Runs the binary, returns (wall time, peak RSS in KiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports its peak RSS
fn run_measured(args: &[&str]) -> (Duration, u64) {
    let start = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_maskconv"))
        .args(args)
        .spawn()
        .expect("maskconv starts");
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    assert!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "maskconv {args:?} failed"
    );
    (elapsed, usage.ru_maxrss as u64)
}

/// Codec-only time for one item: decode its two input PNGs, encode its two output PNGs.
fn codec_time(input: &Path, output: &Path, key: &str) -> Duration {
    let read = |dir: &Path, folder: &str| {
        std::fs::read(dir.join(folder).join(format!("{key}.png"))).unwrap()
    };
    let inputs = [
        read(input, "SegmentationClass"),
        read(input, "SegmentationObject"),
    ];
    let outputs: Vec<Vec<u8>> = ["SegmentationClass", "SegmentationObject"]
        .iter()
        .map(|f| {
            decode_png(&read(output, f), "out", Palette::Indices)
                .unwrap()
                .data
        })
        .collect();
    let start = Instant::now();
    for png in &inputs {
        std::hint::black_box(decode_png(png, "in", Palette::Expand).unwrap());
    }
    for raw in &outputs {
        std::hint::black_box(encode_png(
            SIZE,
            SIZE,
            PngLayout::Rgb8,
            raw,
            Compression::Fast,
        ));
    }
    start.elapsed()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

fn machine() -> String {
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

fn main() {
    let args = parse_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let corpus = root.join("corpus");
    eprintln!(
        "generating corpus ({} items of {SIZE}x{SIZE}) in {} ...",
        args.items,
        corpus.display()
    );
    generate_corpus(&corpus, args.items);
    let keys: Vec<String> = (0..args.items).map(|i| format!("frame_{i:06}")).collect();

    println!("machine: {}", machine());
    println!(
        "corpus: {} CVAT items, {SIZE}x{SIZE}, 20 classes, RGB8 class + object PNGs",
        args.items
    );
    println!("runs per measurement: {} (medians)\n", args.runs);
    println!(
        "| conversion | threads | convert images/s | floor images/s | convert ÷ floor time | peak RSS |"
    );
    println!("|---|---|---|---|---|---|");
    let reference = root.join("reference-out");
    let _ = std::fs::remove_dir_all(&reference);
    run_measured(&[
        "convert",
        corpus.to_str().unwrap(),
        reference.to_str().unwrap(),
        "--to",
        "cvat",
        "-q",
    ]);
    for threads in [1usize, 2] {
        let out = root.join("out.zip");
        let mut convert_times = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..args.runs {
            let j = threads.to_string();
            let (time, kib) = run_measured(&[
                "convert",
                corpus.to_str().unwrap(),
                out.to_str().unwrap(),
                "--to",
                "cvat",
                "-q",
                "--force",
                "-j",
                &j,
            ]);
            convert_times.push(time.as_secs_f64());
            rss.push(kib as f64);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut floor_times = Vec::new();
        for _ in 0..args.runs {
            let total: Duration = pool.install(|| {
                keys.par_iter()
                    .map(|k| codec_time(&corpus, &reference, k))
                    .sum()
            });
            floor_times.push(total.as_secs_f64() / threads as f64);
        }
        let (convert, floor) = (median(convert_times), median(floor_times));
        println!(
            "| cvat → cvat (zip) | {threads} | {:.1} | {:.1} | {:.2}× | {:.0} MB |",
            args.items as f64 / convert,
            args.items as f64 / floor,
            convert / floor,
            median(rss) / 1024.0
        );
    }
}

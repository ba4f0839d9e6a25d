//! Benchmark harness: `cargo bench --bench harness [-- --items N --runs R]`.
//!
//! 1. Generates two corpora under `target/bench/` (unless they are there
//!    already): CVAT (N masks of 1024×1024, 20 classes: 4 stuff bands, up to
//!    30 thing instances, some unlabeled area) and Datagen (the same shapes as
//!    16-bit RGB masks in 20 of Datagen's class colours, one datapoint each).
//!    Nucleus and Segments.ai corpora are made from the CVAT one by
//!    `maskconv` itself.
//! 2. Times `maskconv convert` (the release binary) for cvat → cvat,
//!    datagen → cvat, cvat → datagen, cvat → nucleus, nucleus → cvat,
//!    cvat → segments, segments → cvat and segments → nucleus at `-j 1` and
//!    `-j 2`, and reads its peak RSS (the child's `VmHWM`).
//! 3. Measures the codec floor in the same run: the same input PNGs decoded
//!    and the same output PNGs encoded by the `png` crate alone, no
//!    conversion logic, no file I/O. Per thread count the floor is the summed
//!    codec time divided by the threads (ideal scaling, so the ratio is never
//!    flattered).
//!
//! Prints a Markdown table for BENCHMARKS.md: medians over R runs (the
//! ratio is the median of per-run ratios, convert and floor alternating).

use maskconv::codec::{Compression, Palette, PngLayout, decode_png, encode_png};
use maskconv::formats::colors::voc_color;
use maskconv::formats::datagen::DATAGEN_COLORS;
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
    /// Run only the conversions whose name contains this.
    only: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        items: 200,
        runs: 3,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--items" => args.items = it.next().and_then(|v| v.parse().ok()).expect("--items N"),
            "--runs" => args.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--only" => args.only = it.next(),
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

/// The Datagen corpus: corpus item `i`'s class mask as a 16-bit RGB mask in
/// `datapoint_{i+1:05}/camera/`, the 20 classes in 20 of Datagen's colours.
fn generate_datagen_corpus(dir: &Path, items: usize) {
    let marker = dir.join(format!(".complete-{items}"));
    if marker.exists() {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    // Corpus colour → Datagen colour, class by class.
    let classes: Vec<([u8; 3], [u16; 3])> = STUFF
        .iter()
        .chain(THINGS.iter())
        .zip(DATAGEN_COLORS)
        .map(|((_, narrow), (_, wide))| (*narrow, *wide))
        .collect();
    let mut metadata = String::from("{\n   \"version\": \"1.0.0\"");
    for (name, [r, g, b]) in &DATAGEN_COLORS[..classes.len()] {
        metadata.push_str(&format!(",\n   \"{name}\": [{r}, {g}, {b}]"));
    }
    metadata.push_str(",\n   \"background\": [0, 0, 0]\n}");
    (0..items).into_par_iter().for_each(|i| {
        let (class, _) = paint_item(i);
        let mut wide = Vec::with_capacity(class.len() * 2);
        for rgb in class.chunks_exact(3) {
            let colour = classes
                .iter()
                .find(|(narrow, _)| narrow == rgb)
                .map_or([0u16; 3], |(_, wide)| *wide);
            for v in colour {
                wide.extend_from_slice(&v.to_be_bytes());
            }
        }
        let datapoint = dir.join(format!("datapoint_{:05}", i + 1));
        std::fs::create_dir_all(datapoint.join("camera")).unwrap();
        std::fs::write(
            datapoint.join("semantic_segmentation_metadata.json"),
            &metadata,
        )
        .unwrap();
        let png = encode_png(SIZE, SIZE, PngLayout::Rgb16, &wide, Compression::Balanced);
        std::fs::write(datapoint.join("camera/semantic_segmentation.png"), png).unwrap();
    });
    std::fs::write(marker, "").unwrap();
}

/// Flushes the page cache's dirty pages to disk (`sync(1)`).
fn sync() {
    let _ = Command::new("sync").status();
}

/// Runs the binary, returns (wall time, peak RSS in KiB). The peak is the
/// child's own `VmHWM` (a high-water mark), polled every 10 ms while it runs: `wait4`'s
/// `ru_maxrss` would also count the harness's memory, which the child
/// shares between fork and exec.
fn run_measured(args: &[&str]) -> (Duration, u64) {
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
fn codec_time(inputs: &[PathBuf], outputs: &[PathBuf]) -> Duration {
    let inputs: Vec<Vec<u8>> = inputs.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let outputs: Vec<(PngLayout, Vec<u8>)> = outputs
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
            (layout, image.data)
        })
        .collect();
    let start = Instant::now();
    for png in &inputs {
        std::hint::black_box(decode_png(png, "in", Palette::Expand).unwrap());
    }
    for (layout, raw) in &outputs {
        std::hint::black_box(encode_png(SIZE, SIZE, *layout, raw, Compression::Fast));
    }
    start.elapsed()
}

/// One measured conversion.
struct Scenario {
    name: &'static str,
    input: PathBuf,
    to: &'static str,
    /// Output file name under `target/bench/` (`.zip` or a folder).
    output: &'static str,
    /// Per item: its input PNGs, and its output PNGs relative to the output.
    files: Vec<(Vec<PathBuf>, Vec<String>)>,
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
    let datagen = root.join("corpus-datagen");
    eprintln!(
        "generating corpora ({} items of {SIZE}x{SIZE}) in {} ...",
        args.items,
        root.display()
    );
    generate_corpus(&corpus, args.items);
    generate_datagen_corpus(&datagen, args.items);
    // The Nucleus and Segments.ai corpora are the CVAT one, converted.
    let derived = |name: &str, format: &str, marker: &str| {
        let dir = root.join(name);
        if !dir.join(marker).exists() {
            let _ = std::fs::remove_dir_all(&dir);
            let (from, to) = (corpus.to_str().unwrap(), dir.to_str().unwrap());
            run_measured(&["convert", from, to, "--to", format, "-q"]);
        }
        dir
    };
    let nucleus = derived("corpus-nucleus", "nucleus", "annotations.ndjson");
    let segments = derived("corpus-segments", "segments", "release.json");
    let cvat_key = |i: usize| format!("frame_{i:06}");
    let datagen_key = |i: usize| format!("datapoint_{:05}/camera", i + 1);
    let cvat_inputs = |i: usize| {
        ["SegmentationClass", "SegmentationObject"]
            .map(|f| corpus.join(f).join(format!("{}.png", cvat_key(i))))
            .to_vec()
    };
    let cvat_outputs = |key: String| {
        ["SegmentationClass", "SegmentationObject"]
            .map(|f| format!("{f}/{key}.png"))
            .to_vec()
    };
    let n = args.items;
    let nucleus_mask = |i: usize| format!("masks/{}.png", cvat_key(i));
    let bitmap = |i: usize| format!("bitmaps/{}.png", cvat_key(i));
    let scenarios = vec![
        Scenario {
            name: "cvat → cvat (zip)",
            input: corpus.clone(),
            to: "cvat",
            output: "out.zip",
            files: (0..n)
                .map(|i| (cvat_inputs(i), cvat_outputs(cvat_key(i))))
                .collect(),
        },
        Scenario {
            name: "datagen → cvat (zip)",
            input: datagen.clone(),
            to: "cvat",
            output: "out.zip",
            files: (0..n)
                .map(|i| {
                    let mask = datagen
                        .join(datagen_key(i))
                        .join("semantic_segmentation.png");
                    (vec![mask], cvat_outputs(datagen_key(i)))
                })
                .collect(),
        },
        Scenario {
            name: "cvat → datagen (zip)",
            input: corpus.clone(),
            to: "datagen",
            output: "out-datagen.zip",
            files: (0..n)
                .map(|i| {
                    let mask = format!("{}/semantic_segmentation.png", datagen_key(i));
                    (cvat_inputs(i), vec![mask])
                })
                .collect(),
        },
        Scenario {
            name: "cvat → datagen (folder)",
            input: corpus.clone(),
            to: "datagen",
            output: "out-datagen",
            files: (0..n)
                .map(|i| {
                    (
                        cvat_inputs(i),
                        vec![format!("{}/semantic_segmentation.png", datagen_key(i))],
                    )
                })
                .collect(),
        },
        Scenario {
            name: "cvat → nucleus (folder)",
            input: corpus.clone(),
            to: "nucleus",
            output: "out-nucleus",
            files: (0..n)
                .map(|i| (cvat_inputs(i), vec![nucleus_mask(i)]))
                .collect(),
        },
        Scenario {
            name: "cvat → nucleus (zip)",
            input: corpus.clone(),
            to: "nucleus",
            output: "out-nucleus.zip",
            files: (0..n)
                .map(|i| (cvat_inputs(i), vec![nucleus_mask(i)]))
                .collect(),
        },
        Scenario {
            name: "nucleus → cvat (zip)",
            input: nucleus.clone(),
            to: "cvat",
            output: "out.zip",
            files: (0..n)
                .map(|i| {
                    (
                        vec![nucleus.join(nucleus_mask(i))],
                        cvat_outputs(cvat_key(i)),
                    )
                })
                .collect(),
        },
        Scenario {
            name: "cvat → segments (folder)",
            input: corpus.clone(),
            to: "segments",
            output: "out-segments",
            files: (0..n).map(|i| (cvat_inputs(i), vec![bitmap(i)])).collect(),
        },
        Scenario {
            name: "segments → cvat (zip)",
            input: segments.clone(),
            to: "cvat",
            output: "out.zip",
            files: (0..n)
                .map(|i| (vec![segments.join(bitmap(i))], cvat_outputs(cvat_key(i))))
                .collect(),
        },
        Scenario {
            name: "segments → nucleus (folder)",
            input: segments.clone(),
            to: "nucleus",
            output: "out-nucleus",
            files: (0..n)
                .map(|i| (vec![segments.join(bitmap(i))], vec![nucleus_mask(i)]))
                .collect(),
        },
    ];

    println!("machine: {}", machine());
    println!(
        "corpus: {n} items of {SIZE}x{SIZE}, 20 classes; CVAT: RGB8 class + object PNGs; Datagen: one RGB16 mask per datapoint"
    );
    println!("runs per measurement: {} (medians)\n", args.runs);
    println!(
        "| conversion | threads | convert images/s | floor images/s | convert ÷ floor time | peak RSS |"
    );
    println!("|---|---|---|---|---|---|");
    for scenario in &scenarios {
        if args
            .only
            .as_deref()
            .is_some_and(|o| !scenario.name.contains(o))
        {
            continue;
        }
        let input = scenario.input.to_str().unwrap();
        let reference = root.join(format!("reference-{}", scenario.to));
        let _ = std::fs::remove_dir_all(&reference);
        run_measured(&[
            "convert",
            input,
            reference.to_str().unwrap(),
            "--to",
            scenario.to,
            "-q",
        ]);
        let files: Vec<(Vec<PathBuf>, Vec<PathBuf>)> = scenario
            .files
            .iter()
            .map(|(inputs, outputs)| {
                (
                    inputs.clone(),
                    outputs.iter().map(|o| reference.join(o)).collect(),
                )
            })
            .collect();
        for threads in [1usize, 2] {
            let out = root.join(scenario.output);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (mut convert_times, mut floor_times, mut ratios, mut rss) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            // Convert and floor alternate, so both see the same (shared,
            // noisy) machine; the ratio is taken per pair.
            for _ in 0..args.runs {
                let j = threads.to_string();
                // A fresh output each run: removing the old one is not conversion work.
                let _ = std::fs::remove_dir_all(&out);
                let _ = std::fs::remove_file(&out);
                // Dirty pages of earlier runs are written back before, not
                // during, each measurement.
                sync();
                let (time, kib) = run_measured(&[
                    "convert",
                    input,
                    out.to_str().unwrap(),
                    "--to",
                    scenario.to,
                    "-q",
                    "-j",
                    &j,
                ]);
                sync();
                let codec: Duration = pool.install(|| {
                    files
                        .par_iter()
                        .map(|(inputs, outputs)| codec_time(inputs, outputs))
                        .sum()
                });
                let floor = codec.as_secs_f64() / threads as f64;
                convert_times.push(time.as_secs_f64());
                floor_times.push(floor);
                ratios.push(time.as_secs_f64() / floor);
                rss.push(kib as f64);
            }
            println!(
                "| {} | {threads} | {:.1} | {:.1} | {:.2}× | {:.0} MB |",
                scenario.name,
                n as f64 / median(convert_times),
                n as f64 / median(floor_times),
                median(ratios),
                median(rss) / 1024.0
            );
        }
    }
}

//! The large corpus: 1024 × 1024 masks, each conversion timed against the
//! codec floor measured in the same run.

use crate::Args;
use crate::corpus::{SIZE, generate_corpus, generate_datagen_corpus};
use crate::measure::{codec_time, machine, median, run_measured, sync};
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

/// One measured conversion.
struct Scenario {
    name: &'static str,
    input: PathBuf,
    to: &'static str,
    /// Output file name under `target/bench/` (`.zip` or a folder).
    output: &'static str,
    /// Writing options after `--to FORMAT`.
    options: &'static [&'static str],
    /// Per item: its input PNGs, and its output PNGs relative to the output.
    files: Vec<(Vec<PathBuf>, Vec<String>)>,
}

/// Runs every large-corpus conversion, printing the BENCHMARKS.md table.
pub fn run(args: &Args) {
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
            options: &[],
            files: (0..n)
                .map(|i| (cvat_inputs(i), cvat_outputs(cvat_key(i))))
                .collect(),
        },
        Scenario {
            name: "datagen → cvat (zip)",
            input: datagen.clone(),
            to: "cvat",
            output: "out.zip",
            options: &[],
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
            options: &[],
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
            options: &[],
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
            options: &[],
            files: (0..n)
                .map(|i| (cvat_inputs(i), vec![nucleus_mask(i)]))
                .collect(),
        },
        Scenario {
            name: "cvat → nucleus (zip)",
            input: corpus.clone(),
            to: "nucleus",
            output: "out-nucleus.zip",
            options: &[],
            files: (0..n)
                .map(|i| (cvat_inputs(i), vec![nucleus_mask(i)]))
                .collect(),
        },
        Scenario {
            name: "nucleus → cvat (zip)",
            input: nucleus.clone(),
            to: "cvat",
            output: "out.zip",
            options: &[],
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
            name: "cvat → coco-panoptic (folder)",
            input: corpus.clone(),
            to: "coco-panoptic",
            output: "out-coco-panoptic",
            options: &[],
            files: (0..n)
                .map(|i| {
                    let png = format!("annotations/panoptic_default/{}.png", cvat_key(i));
                    (cvat_inputs(i), vec![png])
                })
                .collect(),
        },
        Scenario {
            name: "cvat → coco (folder)",
            input: corpus.clone(),
            to: "coco",
            output: "out-coco",
            options: &[],
            // No PNG written: the floor is decoding the masks.
            files: (0..n).map(|i| (cvat_inputs(i), Vec::new())).collect(),
        },
        Scenario {
            name: "cvat → coco --segmentation polygon (folder)",
            input: corpus.clone(),
            to: "coco",
            output: "out-coco-polygon",
            options: &["--segmentation", "polygon"],
            files: (0..n).map(|i| (cvat_inputs(i), Vec::new())).collect(),
        },
        Scenario {
            name: "cvat → semantic (folder)",
            input: corpus.clone(),
            to: "semantic",
            output: "out-semantic",
            options: &[],
            files: (0..n)
                .map(|i| {
                    let png = format!("ann_dir/default/{}.png", cvat_key(i));
                    (cvat_inputs(i), vec![png])
                })
                .collect(),
        },
        Scenario {
            name: "cvat → segments (folder)",
            input: corpus.clone(),
            to: "segments",
            output: "out-segments",
            options: &[],
            files: (0..n).map(|i| (cvat_inputs(i), vec![bitmap(i)])).collect(),
        },
        Scenario {
            name: "segments → cvat (zip)",
            input: segments.clone(),
            to: "cvat",
            output: "out.zip",
            options: &[],
            files: (0..n)
                .map(|i| (vec![segments.join(bitmap(i))], cvat_outputs(cvat_key(i))))
                .collect(),
        },
        Scenario {
            name: "segments → nucleus (folder)",
            input: segments.clone(),
            to: "nucleus",
            output: "out-nucleus",
            options: &[],
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
        let reference_args = [
            &[
                "convert",
                input,
                reference.to_str().unwrap(),
                "--to",
                scenario.to,
                "-q",
            ],
            scenario.options,
        ]
        .concat();
        run_measured(&reference_args);
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
                let command = [
                    &["convert", input, out.to_str().unwrap(), "--to", scenario.to][..],
                    &["-q", "-j", &j],
                    scenario.options,
                ]
                .concat();
                let (time, kib) = run_measured(&command);
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

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
//! `--small 10000,100000` measures the many-small-items corpus instead
//! (`small.rs`): every reader × writer pair's peak RSS at each size and its
//! slope per item, and cvat → cvat / cvat → nucleus against the floor.
//!
//! `--polygons FILE` times the polygon rasteriser instead (`polygons.rs`);
//! `--rle DATASET` times COCO RLE encoding of a dataset's segments (`rle.rs`);
//! `--trace DATASET` times tracing them into polygons (`trace.rs`).
//!
//! Prints Markdown tables for BENCHMARKS.md: medians over R runs (the
//! ratio is the median of per-run ratios, convert and floor alternating).

mod corpus;
mod large;
mod measure;
mod polygons;
mod rle;
mod small;
mod trace;

/// The command line of the harness.
pub struct Args {
    /// Items of the large corpus.
    pub items: usize,
    /// Runs per timed measurement.
    pub runs: usize,
    /// Run only the conversions whose name contains this.
    pub only: Option<String>,
    /// Sizes of the many-small-items corpus: measure that instead.
    pub small: Option<Vec<usize>>,
    /// A polygons file: time the rasteriser on it instead.
    pub polygons: Option<String>,
    /// A dataset: time COCO RLE encoding of its segments instead.
    pub rle: Option<String>,
    /// A dataset: time tracing its segments into polygons instead.
    pub trace: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        items: 200,
        runs: 3,
        only: None,
        small: None,
        polygons: None,
        rle: None,
        trace: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--items" => args.items = it.next().and_then(|v| v.parse().ok()).expect("--items N"),
            "--runs" => args.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--only" => args.only = it.next(),
            "--polygons" => args.polygons = it.next(),
            "--rle" => args.rle = it.next(),
            "--trace" => args.trace = it.next(),
            "--small" => {
                let sizes = it.next().expect("--small N[,M...]");
                let sizes = sizes
                    .split(',')
                    .map(|n| n.parse().expect("a number of items"));
                args.small = Some(sizes.collect());
            }
            _ => {} // cargo passes --bench
        }
    }
    args
}

fn main() {
    let args = parse_args();
    if let Some(path) = &args.rle {
        return rle::run(path, args.runs);
    }
    if let Some(path) = &args.trace {
        return trace::run(path, args.runs);
    }
    match (&args.polygons, &args.small) {
        (Some(path), _) => polygons::run(path, args.runs),
        (None, Some(sizes)) => small::run(&args, sizes),
        (None, None) => large::run(&args),
    }
}

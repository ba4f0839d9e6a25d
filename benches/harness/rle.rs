//! `--rle DATASET`: every segment of every label map of DATASET encoded
//! as COCO RLE (`remap::rle_encode::rles_of_segments`), timed apart from
//! reading and decoding: objects per second, the median over the runs,
//! the work `benches/pycocotools_rle.py` times for `pycocotools.mask.encode`
//! on the same objects' dense masks (the strings are equal: see the
//! `rle_encode` tests and `tests/integration/rasterise.rs`).

use maskconv::formats::options::FormatOptions;
use maskconv::losses::Diagnostics;
use maskconv::remap::rle_encode::rles_of_segments;
use std::time::Instant;

/// Every label map of the dataset at `path`, decoded.
pub fn decoded(path: &str) -> Vec<maskconv::model::LabelMap> {
    let dataset =
        maskconv::open::open_dataset(std::path::Path::new(path), None, &FormatOptions::new())
            .expect("the dataset opens");
    (0..dataset.items.len())
        .filter_map(|i| {
            dataset
                .decode(i, &mut Diagnostics::default())
                .expect("decodes")
        })
        .collect()
}

/// The segments with pixels of `maps`: the objects a COCO writer writes.
pub fn objects(maps: &[maskconv::model::LabelMap]) -> usize {
    maps.iter()
        .map(|m| m.pixel_counts()[1..].iter().filter(|&&n| n > 0).count())
        .sum()
}

/// Decodes the dataset at `path`, then times encoding its segments.
pub fn run(path: &str, runs: usize) {
    let maps = decoded(path);
    let objects = objects(&maps);
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        for map in &maps {
            std::hint::black_box(rles_of_segments(map));
        }
        rates.push(objects as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "maskconv rles_of_segments: {:.0} objects/s (median of {runs}; {} images, {objects} objects)",
        rates[runs / 2],
        maps.len()
    );
}

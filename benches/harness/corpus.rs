//! The generated corpora: CVAT masks of wavy stuff bands and overlapping
//! thing instances, the same shapes as Datagen datapoints, and the
//! many-small-items corpus.

use maskconv::codec::{Compression, PngLayout, encode_png};
use maskconv::formats::colors::voc_color;
use maskconv::formats::datagen::DATAGEN_COLORS;
use rayon::prelude::*;
use std::path::Path;

/// Side of the large corpus' masks.
pub const SIZE: u32 = 1024;
pub const STUFF: [(&str, [u8; 3]); 4] = [
    ("sky", [70, 130, 180]),
    ("building", [70, 70, 70]),
    ("vegetation", [107, 142, 35]),
    ("road", [128, 64, 128]),
];
pub const THINGS: [(&str, [u8; 3]); 16] = [
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

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How a corpus draws its masks: four wavy stuff bands, an unlabeled
/// rectangle, and thing ellipses painted in order (later ones on top), each
/// drawn from the item's own random numbers.
pub struct Scene {
    /// Side of the square masks.
    pub side: u32,
    /// Seed of the item's random numbers (mixed with its index).
    pub seed: (u64, u64),
    /// Steps of the bands' phase, and how many steps make one (radian).
    pub phase: (u64, f32),
    /// The waves' period divisor and amplitude, in pixels.
    pub wave: (f32, f32),
    /// Where the unlabeled rectangle may start (below this), and its size.
    pub rectangle: (u64, usize, usize),
    /// Thing count: at least, plus up to (exclusive).
    pub things: (usize, u64),
    /// Ellipse radii: at least, plus up to (exclusive).
    pub radius: (f32, u64),
}

/// The 1024² corpus.
pub const LARGE: Scene = Scene {
    side: SIZE,
    seed: (0x9E37_79B9_7F4A_7C15, 0xD1B5_4A32_D192_ED03),
    phase: (1000, 100.0),
    wave: (60.0, 25.0),
    rectangle: (800, 180, 120),
    things: (8, 23),
    radius: (20.0, 130),
};

impl Scene {
    /// Class and object masks (RGB8) of item `index`.
    pub fn paint(&self, index: usize) -> (Vec<u8>, Vec<u8>) {
        let mut rng = Rng(self.seed.0 ^ (index as u64 + 1).wrapping_mul(self.seed.1));
        let side = self.side as usize;
        let mut class = vec![0u8; side * side * 3];
        let mut object = vec![0u8; side * side * 3];
        let phase = rng.below(self.phase.0) as f32 / self.phase.1;
        let mut set = |x: usize, y: usize, rgb: [u8; 3], obj: u8| {
            let p = (y * side + x) * 3;
            class[p..p + 3].copy_from_slice(&rgb);
            object[p..p + 3].copy_from_slice(&voc_color(obj));
        };
        // Stuff: four wavy horizontal bands, each its own object, as CVAT numbers them.
        for y in 0..side {
            for x in 0..side {
                let wave = (x as f32 / self.wave.0 + phase).sin() * self.wave.1;
                let band = ((y as f32 + wave) / (side as f32 / 4.0)).clamp(0.0, 3.0) as usize;
                set(x, y, STUFF[band].1, band as u8 + 1);
            }
        }
        let (limit, w, h) = self.rectangle;
        let (x0, y0) = (rng.below(limit) as usize, rng.below(limit) as usize);
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                set(x, y, [0, 0, 0], 0);
            }
        }
        let count = self.things.0 + rng.below(self.things.1) as usize;
        for k in 0..count {
            let rgb = THINGS[rng.below(THINGS.len() as u64) as usize].1;
            let (cx, cy) = (rng.below(side as u64) as f32, rng.below(side as u64) as f32);
            let rx = self.radius.0 + rng.below(self.radius.1) as f32;
            let ry = self.radius.0 + rng.below(self.radius.1) as f32;
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
}

/// Class and object masks (RGB8) of large corpus item `index`.
pub fn paint_item(index: usize) -> (Vec<u8>, Vec<u8>) {
    LARGE.paint(index)
}

pub fn generate_corpus(dir: &Path, items: usize) {
    let marker = dir.join(format!(".complete-{items}-sub-filter"));
    if marker.exists() {
        return;
    }
    write_cvat(dir, items, SIZE, paint_item);
    std::fs::write(marker, "").unwrap();
}

/// A CVAT dataset of `items` masks of `side` × `side` under `dir` (replacing
/// what is there): the corpus classes, one subset, class and object masks
/// from `paint`, written in parallel.
pub fn write_cvat(dir: &Path, items: usize, side: u32, paint: fn(usize) -> (Vec<u8>, Vec<u8>)) {
    let _ = std::fs::remove_dir_all(dir);
    for folder in [
        "ImageSets/Segmentation",
        "SegmentationClass",
        "SegmentationObject",
    ] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    let mut labelmap = String::from("# label:color_rgb:parts:actions\nbackground:0,0,0::\n");
    for (name, [r, g, b]) in STUFF.iter().chain(THINGS.iter()) {
        labelmap.push_str(&format!("{name}:{r},{g},{b}::\n"));
    }
    std::fs::write(dir.join("labelmap.txt"), labelmap).unwrap();
    let list: String = (0..items).map(|i| format!("frame_{i:06}\n")).collect();
    std::fs::write(dir.join("ImageSets/Segmentation/default.txt"), list).unwrap();
    (0..items).into_par_iter().for_each(|i| {
        let (class, object) = paint(i);
        for (folder, data) in [("SegmentationClass", class), ("SegmentationObject", object)] {
            let png = encode_png(side, side, PngLayout::Rgb8, &data, Compression::Fast);
            std::fs::write(dir.join(folder).join(format!("frame_{i:06}.png")), png).unwrap();
        }
    });
}

/// The Datagen corpus: corpus item `i`'s class mask as a 16-bit RGB mask in
/// `datapoint_{i+1:05}/camera/`, the 20 classes in 20 of Datagen's colours.
pub fn generate_datagen_corpus(dir: &Path, items: usize) {
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

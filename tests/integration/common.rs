//! Helpers shared by the integration tests: fixture paths, temporary folders,
//! running the binary, synthetic CVAT datasets, and a canonical per-pixel
//! reading of any dataset to compare conversions by.

use maskconv::codec::{Compression, PngLayout, encode_png};
use maskconv::formats::api::Dataset;
use maskconv::formats::colors::voc_color;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fixture under the project's `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A fresh folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("maskconv-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the `maskconv` binary.
pub fn maskconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maskconv"))
        .args(args)
        .output()
        .expect("maskconv runs")
}

/// A PNG in a layout `encode_png` does not write (gray+alpha, 16-bit RGBA,
/// palette): `w × h` samples `data`, with `palette` for an indexed image.
pub fn raw_png(
    w: u32,
    h: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    palette: Option<Vec<u8>>,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if let Some(palette) = palette {
        encoder.set_palette(palette);
    }
    encoder
        .write_header()
        .unwrap()
        .write_image_data(data)
        .unwrap();
    bytes
}

/// A path as the `&str` a command line takes.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `maskconv convert INPUT OUTPUT --to FORMAT -q --json` plus `extra`, which
/// must succeed; returns the JSON report.
pub fn convert(input: &Path, output: &Path, to: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["convert", s(input), s(output), "--to", to, "-q", "--json"];
    args.extend_from_slice(extra);
    let out = maskconv(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `code`s of a report's `losses` or `warnings`.
pub fn codes(notes: &serde_json::Value) -> Vec<&str> {
    notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["code"].as_str().unwrap())
        .collect()
}

/// Runs `maskconv convert INPUT OUTPUT --to cvat` plus `extra` arguments.
pub fn convert_to_cvat(input: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "convert",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--to",
        "cvat",
    ];
    args.extend_from_slice(extra);
    maskconv(&args)
}

/// Checks a run that was expected to fail with `code`: a one-line error
/// containing `needle`, nothing published at `output`, and no temporary
/// left beside it.
pub fn assert_fails(out: &Output, output: &Path, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains(needle),
        "{needle:?} not in {stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!output.exists(), "{} was published", output.display());
    let leftovers: Vec<_> = std::fs::read_dir(output.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("maskconv-tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary output left behind: {leftovers:?}"
    );
}

/// The fixture cases CVAT's importer accepts (their EXPECTED_import.json lists items).
pub const ACCEPTED_CVAT_CASES: [&str; 11] = [
    "cvat/generated_cvat_export/dataset",
    "cvat/datumaro_voc_dataset1",
    "cvat/generated_import_cases/B_class_only",
    "cvat/generated_import_cases/D_gray_L",
    "cvat/generated_import_cases/E_palette_P",
    "cvat/generated_import_cases/I_rgba",
    "cvat/generated_import_cases/K_subsets",
    "cvat/generated_import_cases/O_labelmap_whitespace_parts",
    "cvat/generated_import_cases/R_instance_spans_classes",
    "cvat/generated_import_cases/S_labelmap_bom_crlf_inline_comment",
    "cvat/generated_import_cases/T_nested_root_depth2",
];

/// Exit code, stdout and stderr of a run, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir` (relative path → bytes).
pub fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if entry.file_type().is_file() {
            files.insert(rel, std::fs::read(entry.path()).unwrap());
        } else if entry.depth() > 0 && std::fs::read_dir(entry.path()).unwrap().next().is_none() {
            // An empty folder, as archives list it.
            files.insert(format!("{rel}/"), Vec::new());
        }
    }
    files
}

/// What one pixel is: class name (None = unlabeled) and instance number.
pub type PixelLabel = (Option<String>, Option<u32>);

/// One item read through the model, for comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalItem {
    pub key: String,
    pub subset: Option<String>,
    /// `None` when the item has no mask.
    pub size: Option<(u32, u32)>,
    pub pixels: Vec<PixelLabel>,
}

/// Decodes every item of `dataset` into per-pixel (class name, instance).
pub fn canonical(dataset: &Dataset) -> Vec<CanonicalItem> {
    (0..dataset.items.len())
        .map(|i| {
            let item = &dataset.items[i];
            let map = dataset
                .decode(i, &mut maskconv::losses::Diagnostics::default())
                .unwrap();
            let (size, pixels) = match map {
                None => (None, Vec::new()),
                Some(map) => {
                    let pixels = map
                        .ids()
                        .iter()
                        .map(|&id| match map.segment(id) {
                            None => (None, None),
                            Some(s) => {
                                (Some(dataset.catalog.get(s.class).name.clone()), s.instance)
                            }
                        })
                        .collect();
                    (Some((map.width(), map.height())), pixels)
                }
            };
            CanonicalItem {
                key: item.key.clone(),
                subset: item.subset.clone(),
                size,
                pixels,
            }
        })
        .collect()
}

/// A synthetic CVAT dataset: labels (name, colour) after `background`, and
/// items whose pixels come from `paint(item, x, y) -> (label index into
/// labels, 0 = background; object number)`.
pub struct SyntheticCvat<'a> {
    pub labels: Vec<(&'a str, [u8; 3])>,
    /// (key, subset, width, height)
    pub items: Vec<(String, &'a str, u32, u32)>,
}

impl SyntheticCvat<'_> {
    pub fn write(&self, dir: &Path, paint: impl Fn(usize, u32, u32) -> (usize, u8)) {
        let mut labelmap = String::from("# label:color_rgb:parts:actions\nbackground:0,0,0::\n");
        for (name, [r, g, b]) in &self.labels {
            labelmap.push_str(&format!("{name}:{r},{g},{b}::\n"));
        }
        std::fs::create_dir_all(dir.join("ImageSets/Segmentation")).unwrap();
        std::fs::write(dir.join("labelmap.txt"), labelmap).unwrap();
        let mut subsets: BTreeMap<&str, String> = BTreeMap::new();
        for (index, (key, subset, w, h)) in self.items.iter().enumerate() {
            subsets
                .entry(subset)
                .or_default()
                .push_str(&format!("{key}\n"));
            let mut class = Vec::with_capacity((w * h * 3) as usize);
            let mut object = Vec::with_capacity((w * h * 3) as usize);
            for y in 0..*h {
                for x in 0..*w {
                    let (label, obj) = paint(index, x, y);
                    let rgb = if label == 0 {
                        [0, 0, 0]
                    } else {
                        self.labels[label - 1].1
                    };
                    class.extend_from_slice(&rgb);
                    object.extend_from_slice(&voc_color(obj));
                }
            }
            for (folder, data) in [("SegmentationClass", class), ("SegmentationObject", object)] {
                let path = dir.join(folder).join(format!("{key}.png"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(
                    path,
                    encode_png(*w, *h, PngLayout::Rgb8, &data, Compression::Fast),
                )
                .unwrap();
            }
        }
        for (subset, list) in subsets {
            std::fs::write(
                dir.join(format!("ImageSets/Segmentation/{subset}.txt")),
                list,
            )
            .unwrap();
        }
    }
}

/// A small varied dataset: 3 classes, stuff and several instances, two
/// subsets, keys in sub-folders, a few sizes.
pub fn varied_dataset(dir: &Path, count: usize) {
    let synthetic = SyntheticCvat {
        labels: vec![
            ("road", [128, 64, 128]),
            ("car", [0, 0, 142]),
            ("person", [220, 20, 60]),
        ],
        items: (0..count)
            .map(|i| {
                let key = if i % 3 == 0 {
                    format!("seq_{}/frame_{i:04}", i % 2)
                } else {
                    format!("frame_{i:04}")
                };
                let subset = if i % 4 == 0 { "val" } else { "train" };
                (
                    key,
                    subset,
                    40 + (i as u32 % 3) * 8,
                    30 + (i as u32 % 2) * 6,
                )
            })
            .collect(),
    };
    synthetic.write(dir, |item, x, y| {
        let seed = item as u32 * 7;
        if y > 20 {
            (1, 1) // road: stuff with its own object number
        } else if (x + seed) % 17 < 6 && y > 5 {
            (2, 2 + ((x + seed) / 17 % 4) as u8) // cars
        } else if x % 11 == (seed % 11) {
            (3, 10) // a person
        } else {
            (0, 0)
        }
    });
}

/// Builds a dataset in memory (read "as cvat") from a catalog, items and
/// their label maps — for writer tests that need shapes no CVAT file has.
pub fn memory_dataset(
    classes: Vec<maskconv::model::Class>,
    mut items: Vec<maskconv::model::Item>,
    maps: Vec<Option<maskconv::model::LabelMap>>,
) -> Dataset {
    use maskconv::model::{Item, LabelMap, MaskRef};
    /// Hands out the label maps given, by each mask's recipe (its item's index).
    struct MemoryDecoder(Vec<Option<LabelMap>>);
    impl maskconv::formats::api::ItemDecoder for MemoryDecoder {
        fn decode(
            &self,
            _source: &dyn maskconv::io::Source,
            _item: &Item,
            mask: &MaskRef,
            _out: &mut maskconv::losses::Diagnostics,
        ) -> maskconv::Result<LabelMap> {
            Ok(self.0[mask.recipe as usize]
                .clone()
                .expect("items with a mask have a map"))
        }
    }
    for (index, (item, map)) in items.iter_mut().zip(&maps).enumerate() {
        item.mask = map.as_ref().map(|_| MaskRef {
            recipe: index as u32,
            ..MaskRef::new(Vec::new())
        });
    }
    let catalog = maskconv::model::Catalog::new(classes).unwrap();
    let info = maskconv::formats::find("cvat").unwrap().info();
    Dataset::new(
        info,
        std::sync::Arc::new(maskconv::io::MemorySource::default()),
        catalog,
        items,
        Vec::new(),
        Box::new(MemoryDecoder(maps)),
    )
    .unwrap()
}

/// The item with instance numbers replaced by the order in which each
/// (class, instance) pair first appears: equal for two readings that split
/// the pixels into the same classes and the same instances, whatever the
/// numbers (or whether a one-region class carries a number at all).
pub fn partition(item: &CanonicalItem) -> CanonicalItem {
    let mut seen: Vec<&PixelLabel> = Vec::new();
    let pixels = item
        .pixels
        .iter()
        .map(|label| {
            let index = match seen.iter().position(|s| *s == label) {
                Some(i) => i,
                None => {
                    seen.push(label);
                    seen.len() - 1
                }
            };
            (label.0.clone(), label.0.as_ref().map(|_| index as u32))
        })
        .collect();
    CanonicalItem {
        pixels,
        ..item.clone()
    }
}

/// Opens INPUT as `from` (or as detected) with no format options.
pub fn open_dataset(input: &Path, from: Option<&str>) -> maskconv::Result<Dataset> {
    maskconv::open::open_dataset(
        input,
        from,
        &maskconv::formats::options::FormatOptions::new(),
    )
}

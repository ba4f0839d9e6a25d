//! The bodies of the fuzz targets, shared by `cargo fuzz` (`fuzz_targets/`)
//! and by the stable test that replays the committed inputs
//! (`tests/integration/fuzz_regressions.rs`). Each takes arbitrary bytes,
//! builds an input around them, opens it, decodes every item and converts
//! it to every format in memory: errors are the expected outcome, a panic,
//! a hang or an allocation beyond the limits is a finding.

#![allow(dead_code)]

use maskconv::codec::{Compression, PngLayout, encode_png};
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::formats::options::FormatOptions;
use maskconv::formats::{self, REGISTRY};
use maskconv::io::{MemorySink, MemorySource, Source, TarGzSource, ZipSource};
use maskconv::pipeline::RunOptions;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

type Files = BTreeMap<String, Vec<u8>>;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by name (the name of its corpus folder).
pub const TARGETS: [(&str, Target); 11] = [
    ("labelmap", labelmap),
    ("datagen_metadata", datagen_metadata),
    ("nucleus_records", nucleus_records),
    ("segments_release", segments_release),
    ("coco_panoptic_json", coco_panoptic_json),
    ("coco_json", coco_json),
    ("semantic_tables", semantic_tables),
    ("png_masks", png_masks),
    ("zip", zip),
    ("targz", targz),
    ("whole_input", whole_input),
];

fn files(list: &[(&str, &[u8])]) -> Files {
    list.iter()
        .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
        .collect()
}

const CVAT_LABELMAP: &[u8] =
    include_bytes!("../fixtures/cvat/generated_cvat_export/dataset/labelmap.txt");
const CVAT_CLASS: &[u8] = include_bytes!(
    "../fixtures/cvat/generated_cvat_export/dataset/SegmentationClass/frame_000000.png"
);
const CVAT_OBJECT: &[u8] = include_bytes!(
    "../fixtures/cvat/generated_cvat_export/dataset/SegmentationObject/frame_000000.png"
);
const DATAGEN_METADATA: &[u8] = include_bytes!(
    "../fixtures/datagen/three_real_datapoints/datapoint_00001/semantic_segmentation_metadata.json"
);
const NUCLEUS_NDJSON: &[u8] =
    include_bytes!("../fixtures/nucleus/sdk_annotations/annotations.ndjson");
const NUCLEUS_MASK_A: &[u8] =
    include_bytes!("../fixtures/nucleus/sdk_annotations/masks/street_a.png");
const NUCLEUS_MASK_B: &[u8] =
    include_bytes!("../fixtures/nucleus/sdk_annotations/masks/street_b.png");
const NUCLEUS_MASK_C: &[u8] =
    include_bytes!("../fixtures/nucleus/sdk_annotations/masks/field_c.png");
const SEGMENTS_RELEASE: &[u8] = include_bytes!("../fixtures/segments/sdk_release/release.json");
const SEGMENTS_STREET: &[u8] =
    include_bytes!("../fixtures/segments/sdk_release/bitmaps/street.png");
const SEGMENTS_FIELD: &[u8] = include_bytes!("../fixtures/segments/sdk_release/bitmaps/field.png");

const COCO_JSON: &[u8] =
    include_bytes!("../fixtures/coco/official_style/annotations/instances_val2017.json");
const DATUMARO_COCO_JSON: &[u8] =
    include_bytes!("../fixtures/coco/datumaro_export/annotations/instances_train.json");
const PANOPTIC_JSON: &[u8] =
    include_bytes!("../fixtures/coco_panoptic/official_style/annotations/panoptic_val2017.json");
const PANOPTIC_PNG_A: &[u8] = include_bytes!(
    "../fixtures/coco_panoptic/official_style/annotations/panoptic_val2017/000000000139.png"
);
const PANOPTIC_PNG_B: &[u8] = include_bytes!(
    "../fixtures/coco_panoptic/official_style/annotations/panoptic_val2017/000000000285.png"
);
const SEMANTIC_CLASSES: &[u8] = include_bytes!("../fixtures/semantic/mmseg_voc_style/classes.json");
const SEMANTIC_MASK: &[u8] =
    include_bytes!("../fixtures/semantic/mmseg_voc_style/ann_dir/train/2007_000032.png");
const SEMANTIC_DATA_YAML: &[u8] =
    include_bytes!("../fixtures/semantic/ultralytics_names_only/data.yaml");
const SEMANTIC_META: &[u8] = include_bytes!("../fixtures/semantic/datumaro_meta/dataset_meta.json");

/// A small black 16-bit RGB mask (Datagen's background everywhere).
fn datagen_mask() -> Vec<u8> {
    encode_png(4, 3, PngLayout::Rgb16, &[0; 4 * 3 * 6], Compression::Fast)
}

fn cvat(labelmap: &[u8], class: &[u8]) -> Files {
    files(&[
        ("labelmap.txt", labelmap),
        ("SegmentationClass/frame_000000.png", class),
        ("SegmentationObject/frame_000000.png", CVAT_OBJECT),
        ("ImageSets/Segmentation/default.txt", b"frame_000000\n"),
    ])
}

fn datagen(metadata: &[u8], mask: &[u8]) -> Files {
    files(&[
        (
            "datapoint_00001/semantic_segmentation_metadata.json",
            metadata,
        ),
        ("datapoint_00001/camera/semantic_segmentation.png", mask),
    ])
}

fn nucleus(ndjson: &[u8], mask_a: &[u8]) -> Files {
    files(&[
        ("annotations.ndjson", ndjson),
        ("masks/street_a.png", mask_a),
        ("masks/street_b.png", NUCLEUS_MASK_B),
        ("masks/field_c.png", NUCLEUS_MASK_C),
    ])
}

fn coco_panoptic(json: &[u8], png_a: &[u8]) -> Files {
    files(&[
        ("annotations/panoptic_val2017.json", json),
        ("annotations/panoptic_val2017/000000000139.png", png_a),
        (
            "annotations/panoptic_val2017/000000000285.png",
            PANOPTIC_PNG_B,
        ),
    ])
}

/// A semantic dataset in the layout `layout` picks (0: mmseg with
/// classes.json, 1: Ultralytics' data.yaml, 2: Datumaro's
/// dataset_meta.json), whose table is `table` and mask `mask`.
fn semantic(layout: u8, table: &[u8], mask: &[u8]) -> Files {
    match layout % 3 {
        0 => files(&[("classes.json", table), ("ann_dir/train/a.png", mask)]),
        1 => files(&[("data.yaml", table), ("masks/train/a.png", mask)]),
        _ => files(&[("dataset_meta.json", table), ("masks/a.png", mask)]),
    }
}

/// The images and bitmaps the vector and sequence fixtures' releases name.
const SEGMENTS_OTHERS: [(&str, &[u8]); 6] = [
    (
        "images/shapes.png",
        include_bytes!("../fixtures/segments/sdk_vector/images/shapes.png"),
    ),
    (
        "images/empty.png",
        include_bytes!("../fixtures/segments/sdk_vector/images/empty.png"),
    ),
    (
        "images/drive_0.png",
        include_bytes!("../fixtures/segments/sdk_vector_sequence/images/drive_0.png"),
    ),
    (
        "images/drive_1.png",
        include_bytes!("../fixtures/segments/sdk_vector_sequence/images/drive_1.png"),
    ),
    (
        "bitmaps/clip_0.png",
        include_bytes!("../fixtures/segments/sdk_sequence/bitmaps/clip_0.png"),
    ),
    (
        "bitmaps/clip_1.png",
        include_bytes!("../fixtures/segments/sdk_sequence/bitmaps/clip_1.png"),
    ),
];

fn segments(release: &[u8], street: &[u8]) -> Files {
    let mut all = files(&[
        ("release.json", release),
        ("bitmaps/street.png", street),
        ("bitmaps/field.png", SEGMENTS_FIELD),
    ]);
    all.extend(files(&SEGMENTS_OTHERS));
    all
}

/// Opens `source` (as `format`, or as detected), decodes every item, reads
/// its image, and converts it to every format into memory.
fn open_and_convert(source: Arc<dyn Source>, format: Option<&str>) {
    let format = match format {
        Some(name) => formats::find(name).expect("a registered format"),
        None => match formats::detect(&*source) {
            Ok(format) => format,
            Err(_) => return,
        },
    };
    let options = ConvertOptions {
        run: RunOptions {
            threads: Some(1),
            ..RunOptions::default()
        },
        ..ConvertOptions::default()
    };
    let Ok(dataset) = format.open(source, &options.options) else {
        return;
    };
    let mut found = maskconv::losses::Diagnostics::default();
    for index in 0..dataset.items.len() {
        let _ = dataset.decode(index, &mut found);
        let _ = dataset.read_image(index);
    }
    for target in REGISTRY.iter().filter(|f| f.info().can_write) {
        let _ = convert_dataset(&dataset, *target, &mut MemorySink::default(), &options);
    }
}

fn in_memory(files: Files, format: Option<&str>) {
    open_and_convert(Arc::new(MemorySource::new("fuzz", files)), format);
}

/// CVAT's `labelmap.txt`.
pub fn labelmap(data: &[u8]) {
    in_memory(cvat(data, CVAT_CLASS), Some("cvat"));
}

/// A Datagen `semantic_segmentation_metadata.json`.
pub fn datagen_metadata(data: &[u8]) {
    in_memory(datagen(data, &datagen_mask()), Some("datagen"));
}

/// A Nucleus annotation NDJSON.
pub fn nucleus_records(data: &[u8]) {
    in_memory(nucleus(data, NUCLEUS_MASK_A), Some("nucleus"));
}

/// A Segments.ai release.
pub fn segments_release(data: &[u8]) {
    in_memory(segments(data, SEGMENTS_STREET), Some("segments"));
}

/// A COCO panoptic annotation file.
pub fn coco_panoptic_json(data: &[u8]) {
    in_memory(coco_panoptic(data, PANOPTIC_PNG_A), Some("coco-panoptic"));
}

/// A COCO instances annotation file (RLEs and polygons decoded, every
/// format written, polygons traced).
pub fn coco_json(data: &[u8]) {
    let files = files(&[("annotations/instances_val2017.json", data)]);
    in_memory(files.clone(), Some("coco"));
    let coco = formats::find("coco").expect("a registered format");
    let polygons = formats::find_option("segmentation").expect("coco declares it");
    let options = ConvertOptions {
        run: RunOptions {
            threads: Some(1),
            ..RunOptions::default()
        },
        options: FormatOptions::new()
            .with(polygons, Some("polygon"))
            .expect("a valid value"),
        ..ConvertOptions::default()
    };
    let source = Arc::new(MemorySource::new("fuzz", files));
    if let Ok(dataset) = coco.open(source, &FormatOptions::new()) {
        let _ = convert_dataset(&dataset, coco, &mut MemorySink::default(), &options);
    }
}

/// A semantic dataset's class table: the first byte picks the layout
/// (classes.json, data.yaml, dataset_meta.json), the rest is the table.
pub fn semantic_tables(data: &[u8]) {
    let Some((&layout, table)) = data.split_first() else {
        return;
    };
    in_memory(semantic(layout, table, SEMANTIC_MASK), Some("semantic"));
}

/// A mask PNG under each format's layout rules: the first byte picks the
/// format, the rest is the PNG.
pub fn png_masks(data: &[u8]) {
    let Some((&pick, png)) = data.split_first() else {
        return;
    };
    match pick % 6 {
        0 => in_memory(cvat(CVAT_LABELMAP, png), Some("cvat")),
        1 => in_memory(datagen(DATAGEN_METADATA, png), Some("datagen")),
        2 => in_memory(nucleus(NUCLEUS_NDJSON, png), Some("nucleus")),
        3 => in_memory(segments(SEGMENTS_RELEASE, png), Some("segments")),
        4 => in_memory(coco_panoptic(PANOPTIC_JSON, png), Some("coco-panoptic")),
        _ => in_memory(semantic(0, SEMANTIC_CLASSES, png), Some("semantic")),
    }
}

/// Writes `data` to a scratch file (in memory-backed `/dev/shm` when there).
fn scratch(data: &[u8], extension: &str) -> PathBuf {
    let dir = match std::path::Path::new("/dev/shm").is_dir() {
        true => PathBuf::from("/dev/shm"),
        false => std::env::temp_dir(),
    };
    let path = dir.join(format!("maskconv-fuzz-{}.{extension}", std::process::id()));
    std::fs::write(&path, data).expect("scratch file");
    path
}

/// Lists and reads every file of a source, then opens it as a dataset.
fn read_everything(source: Arc<dyn Source>) {
    for path in source.files().to_vec() {
        let _ = source.read(&path);
        let _ = source.read_with(&path, &mut |reader| {
            let _ = std::io::copy(reader, &mut std::io::sink());
            Ok(())
        });
    }
    open_and_convert(source, None);
}

/// A `.zip` archive.
pub fn zip(data: &[u8]) {
    let path = scratch(data, "zip");
    if let Ok(source) = ZipSource::open(&path) {
        read_everything(Arc::new(source));
    }
    let _ = std::fs::remove_file(path);
}

/// A `.tar.gz` archive.
pub fn targz(data: &[u8]) {
    let path = scratch(data, "tar.gz");
    if let Ok(source) = TarGzSource::open(&path) {
        read_everything(Arc::new(source));
    }
    let _ = std::fs::remove_file(path);
}

/// A whole input of several files: `data` is a list of `name \0 length(u16
/// LE) content`; the format is detected.
pub fn whole_input(data: &[u8]) {
    let mut files = Files::new();
    let mut rest = data;
    while let Some(end) = rest.iter().position(|&b| b == 0) {
        let name = String::from_utf8_lossy(&rest[..end]).into_owned();
        let Some(len) = rest.get(end + 1..end + 3) else {
            break;
        };
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let body = &rest[end + 3..];
        let content = &body[..len.min(body.len())];
        files.insert(name, content.to_vec());
        rest = &body[content.len()..];
    }
    in_memory(files, None);
}

/// Encodes `files` in [`whole_input`]'s layout (for seeds).
pub fn whole_input_bytes(files: &Files) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content) in files {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(&(content.len().min(65535) as u16).to_le_bytes());
        out.extend_from_slice(&content[..content.len().min(65535)]);
    }
    out
}

/// Seed inputs for each target, from the fixtures.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let with_pick = |pick: u8, png: &[u8]| [&[pick][..], png].concat();
    match target {
        "labelmap" => vec![CVAT_LABELMAP.to_vec()],
        "datagen_metadata" => vec![DATAGEN_METADATA.to_vec()],
        "nucleus_records" => vec![NUCLEUS_NDJSON.to_vec()],
        "segments_release" => vec![
            SEGMENTS_RELEASE.to_vec(),
            include_bytes!("../fixtures/segments/sdk_vector/release.json").to_vec(),
            include_bytes!("../fixtures/segments/sdk_sequence/release.json").to_vec(),
            include_bytes!("../fixtures/segments/sdk_vector_sequence/release.json").to_vec(),
        ],
        "coco_panoptic_json" => vec![PANOPTIC_JSON.to_vec()],
        "coco_json" => vec![COCO_JSON.to_vec(), DATUMARO_COCO_JSON.to_vec()],
        "semantic_tables" => vec![
            with_pick(0, SEMANTIC_CLASSES),
            with_pick(1, SEMANTIC_DATA_YAML),
            with_pick(2, SEMANTIC_META),
        ],
        "png_masks" => vec![
            with_pick(0, CVAT_CLASS),
            with_pick(1, &datagen_mask()),
            with_pick(2, NUCLEUS_MASK_A),
            with_pick(3, SEGMENTS_STREET),
            with_pick(4, PANOPTIC_PNG_A),
            with_pick(5, SEMANTIC_MASK),
        ],
        "zip" => vec![
            include_bytes!("../fixtures/cvat/generated_cvat_export/cvat_like_export.zip").to_vec(),
        ],
        "targz" => vec![tar_gz(&nucleus(NUCLEUS_NDJSON, NUCLEUS_MASK_A))],
        _ => vec![
            whole_input_bytes(&cvat(CVAT_LABELMAP, CVAT_CLASS)),
            whole_input_bytes(&nucleus(NUCLEUS_NDJSON, NUCLEUS_MASK_A)),
            whole_input_bytes(&segments(SEGMENTS_RELEASE, SEGMENTS_STREET)),
            whole_input_bytes(&coco_panoptic(PANOPTIC_JSON, PANOPTIC_PNG_A)),
            whole_input_bytes(&semantic(1, SEMANTIC_DATA_YAML, SEMANTIC_MASK)),
        ],
    }
}

/// A `.tar.gz` of `files`.
fn tar_gz(files: &Files) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, &content[..])
            .expect("tar to memory");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

//! Semantic index masks: every layout reads back what it wrote, with its
//! subsets; `--unlabeled background` makes unlabeled pixels class 0 and
//! reads back as unlabeled; more than 255 classes write 16-bit masks whose
//! ignore value is 65535; where each layout puts its files.

use crate::common::{
    CanonicalItem, TempDir, canonical, convert, fixture, memory_dataset, open_dataset, read_tree,
};
use maskconv::codec::{Palette, decode_png};
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::formats::find;
use maskconv::model::{Class, ClassKind, Item, LabelMap, Segment};
use serde_json::Value;
use std::path::Path;

const ULTRALYTICS: &str = "semantic/ultralytics_names_only";

/// The items with masks, instances dropped (index masks hold none).
fn classes_per_pixel(dir: &Path) -> Vec<CanonicalItem> {
    let mut items: Vec<CanonicalItem> = canonical(&open_dataset(dir, None).unwrap())
        .into_iter()
        .filter(|i| i.size.is_some())
        .map(|mut i| {
            i.pixels.iter_mut().for_each(|p| p.1 = None);
            i
        })
        .collect();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    items
}

#[test]
fn every_layout_reads_back_what_it_wrote_with_its_subsets() {
    let tmp = TempDir::new("semantic-layouts");
    for source in [
        ULTRALYTICS,
        "cvat/generated_cvat_export/dataset",
        "coco_panoptic/official_style",
    ] {
        let expected = classes_per_pixel(&fixture(source));
        for layout in ["mmseg", "ultralytics", "datumaro"] {
            let out = tmp.join(&format!("{}-{layout}", source.replace('/', "-")));
            let report = convert(&fixture(source), &out, "semantic", &["--layout", layout]);
            assert!(report["skipped"].as_array().unwrap().is_empty(), "{report}");
            assert_eq!(classes_per_pixel(&out), expected, "{source} as {layout}");
        }
    }
}

#[test]
fn each_layout_puts_masks_images_and_tables_where_its_loaders_look() {
    let tmp = TempDir::new("semantic-paths");
    let expected = [
        (
            "mmseg",
            vec![
                "ann_dir/train/frankfurt_000000.png",
                "img_dir/val/munster_000001.jpg",
                "classes.json",
            ],
        ),
        (
            "ultralytics",
            vec![
                "masks/train/frankfurt_000000.png",
                "images/val/munster_000001.jpg",
                "data.yaml",
            ],
        ),
        (
            "datumaro",
            vec![
                "train/masks/frankfurt_000000.png",
                "val/images/munster_000001.jpg",
                "val/dataset_meta.json",
            ],
        ),
    ];
    for (layout, paths) in expected {
        let out = tmp.join(layout);
        convert(
            &fixture(ULTRALYTICS),
            &out,
            "semantic",
            &["--layout", layout],
        );
        let files = read_tree(&out);
        for path in paths {
            assert!(
                files.contains_key(path),
                "{layout}: {path} in {:?}",
                files.keys()
            );
        }
    }
    let yaml = String::from_utf8(read_tree(&tmp.join("ultralytics"))["data.yaml"].clone()).unwrap();
    assert!(
        yaml.contains("train: images/train\nval: images/val\nmasks_dir: masks\n"),
        "{yaml}"
    );
    assert!(yaml.contains("  2: \"traffic sign\"\n"), "{yaml}");
}

#[test]
fn unlabeled_background_writes_class_0_and_reads_back_as_unlabeled() {
    let tmp = TempDir::new("semantic-background");
    let (ignore, background) = (tmp.join("ignore"), tmp.join("background"));
    convert(&fixture(ULTRALYTICS), &ignore, "semantic", &[]);
    convert(
        &fixture(ULTRALYTICS),
        &background,
        "semantic",
        &["--unlabeled", "background"],
    );
    let mask = |dir: &Path| {
        let bytes = std::fs::read(dir.join("ann_dir/train/frankfurt_000000.png")).unwrap();
        decode_png(&bytes, "mask", Palette::Indices).unwrap()
    };
    // The source's pixel (0, 0) is ignore; road (0) and sidewalk (1) follow.
    assert_eq!(&mask(&ignore).row(0)[..4], [255, 0, 0, 1]);
    assert_eq!(&mask(&background).row(0)[..4], [0, 1, 1, 2]);
    let table: Value =
        serde_json::from_slice(&std::fs::read(background.join("classes.json")).unwrap()).unwrap();
    assert_eq!(table["id2label"]["0"], "background");
    assert_eq!(table["id2label"]["1"], "road");
    assert_eq!(table["unlabeled"], 0);
    assert_eq!(
        classes_per_pixel(&background),
        classes_per_pixel(&fixture(ULTRALYTICS))
    );
}

#[test]
fn more_than_255_classes_write_16_bit_masks_whose_ignore_value_is_65535() {
    let tmp = TempDir::new("semantic-wide");
    let classes: Vec<Class> = (0..300)
        .map(|i| Class::new(format!("c{i}"), ClassKind::Stuff))
        .collect();
    let map = LabelMap::new(
        3,
        1,
        vec![0, 1, 2],
        vec![Segment::new(1, None), Segment::new(300, None)],
    )
    .unwrap();
    let dataset = memory_dataset(classes, vec![Item::new("wide")], vec![Some(map)]);
    let out = tmp.join("out");
    let mut output = maskconv::io::Output::create(&out, &tmp.join("nowhere"), false).unwrap();
    let report = convert_dataset(
        &dataset,
        find("semantic").unwrap(),
        &mut output,
        &ConvertOptions::default(),
    )
    .unwrap();
    output.publish().unwrap();
    let warned: Vec<&str> = report.warnings.summaries().iter().map(|s| s.code).collect();
    assert!(warned.contains(&"sixteen-bit-masks"), "{warned:?}");
    let png = decode_png(
        &std::fs::read(out.join("ann_dir/default/wide.png")).unwrap(),
        "mask",
        Palette::Indices,
    )
    .unwrap();
    assert_eq!(png.info.file_bits, 16);
    let row: Vec<u16> = png
        .row(0)
        .chunks(2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(row, [65535, 0, 299]);
    let back = canonical(&open_dataset(&out, None).unwrap());
    let names: Vec<Option<&str>> = back[0].pixels.iter().map(|p| p.0.as_deref()).collect();
    assert_eq!(names, [None, Some("c0"), Some("c299")]);
}

#[test]
fn datumaro_tables_list_every_value_up_to_the_largest_id_given() {
    let tmp = TempDir::new("semantic-datumaro-ids");
    let out = tmp.join("out");
    convert(
        &fixture(ULTRALYTICS),
        &out,
        "semantic",
        &["--layout", "datumaro", "--map", "road=road:3"],
    );
    let meta: Value =
        serde_json::from_slice(&std::fs::read(out.join("train/dataset_meta.json")).unwrap())
            .unwrap();
    // Datumaro numbers labels by their place: value 3 is the fourth entry.
    let names: Vec<&str> = meta["label_map"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names, ["sidewalk", "traffic sign", "<unused 2>", "road"]);
    assert_eq!(
        classes_per_pixel(&out),
        classes_per_pixel(&fixture(ULTRALYTICS))
    );
}

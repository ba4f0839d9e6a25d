//! Scale Nucleus: files written by the official SDK read to the pixel counts
//! numpy gives, the writer reproduces the SDK's `to_json()` byte for byte,
//! round trips (nucleus → nucleus, cvat → nucleus → cvat, `--semantic`), and
//! every kind of bad input.

use crate::common::open_dataset;
use crate::common::{
    CanonicalItem, TempDir, canonical, codes, convert, describe, fixture, maskconv, memory_dataset,
    read_tree, s, varied_dataset,
};
use maskconv::ErrorKind;
use maskconv::codec::{Palette, decode_png};
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::formats::find;
use maskconv::formats::mask_url::MASK_ROOT;
use maskconv::formats::options::FormatOptions;
use maskconv::io::MemorySink;
use maskconv::model::{Class, ClassKind, Item, LabelMap, Segment};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub(super) const SDK: &str = "nucleus/sdk_annotations";
pub(super) const CANONICAL: &str = "nucleus/sdk_canonical";

pub(super) fn lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("annotations.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Per item: pixels per class name, and unlabeled pixels.
pub(super) fn pixel_counts(
    items: &[CanonicalItem],
) -> BTreeMap<String, (BTreeMap<String, u64>, u64)> {
    items
        .iter()
        .map(|item| {
            let mut per = BTreeMap::new();
            let mut unlabeled = 0;
            for (class, _) in &item.pixels {
                match class {
                    Some(name) => *per.entry(name.clone()).or_default() += 1,
                    None => unlabeled += 1,
                }
            }
            (item.key.clone(), (per, unlabeled))
        })
        .collect()
}

#[test]
pub(super) fn sdk_written_annotations_read_to_the_pixel_counts_numpy_gives() {
    let dataset = open_dataset(&fixture(SDK), None).unwrap();
    assert_eq!(dataset.format.name, "nucleus");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(fixture("nucleus/expected_pixels.json")).unwrap())
            .unwrap();
    let got = pixel_counts(&canonical(&dataset));
    for (key, want) in expected.as_object().unwrap() {
        let (per, unlabeled) = &got[key];
        let want_per: BTreeMap<String, u64> = want["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(per, &want_per, "{key}");
        assert_eq!(*unlabeled, want["unlabeled"].as_u64().unwrap(), "{key}");
    }
    // Two car segments in one image: a thing class with instances 1 and 2;
    // metadata become attributes.
    let car = dataset.catalog.find("car").unwrap();
    assert_eq!(dataset.catalog.get(car).kind, ClassKind::Thing);
    assert_eq!(
        dataset
            .catalog
            .get(dataset.catalog.find("road").unwrap())
            .kind,
        ClassKind::Stuff
    );
    let mut found = maskconv::losses::Diagnostics::default();
    let street_a = dataset.decode(0, &mut found).unwrap().unwrap();
    let cars: Vec<&Segment> = street_a
        .segments()
        .iter()
        .filter(|s| s.class == car)
        .collect();
    assert_eq!(cars.len(), 2);
    assert_eq!(cars[0].instance, Some(1));
    assert_eq!(cars[0].attributes["color"], "red");
    assert_eq!(cars[1].instance, Some(2));
    // The annotation_id cannot be kept: a named loss.
    assert_eq!(dataset.losses[0].code.as_str(), "annotation-ids");
    // Values 0 and 9 of street_b have no Segment: unlabeled, counted in a warning.
    let mut found = maskconv::losses::Diagnostics::default();
    dataset.decode(1, &mut found).unwrap();
    let notes = found.warnings;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].code, "unlisted-index");
    assert!(
        notes[0].message.contains("0 (5 px), 9 (1 px)") && notes[0].message.contains("line 2"),
        "{}",
        notes[0].message
    );
}

#[test]
pub(super) fn export_rows_read_like_the_annotations_and_null_segmentations_have_no_mask() {
    let dataset = open_dataset(&fixture("nucleus/export_rows.json"), None).unwrap();
    let items = canonical(&dataset);
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].key, "unlabeled_d");
    assert_eq!(items[1].size, None);
    let annotations = canonical(&open_dataset(&fixture(SDK), None).unwrap());
    assert_eq!(items[0], annotations[0]);
}

#[test]
pub(super) fn the_annotation_file_alone_reads_like_its_folder() {
    let file = open_dataset(&fixture(&format!("{SDK}/annotations.ndjson")), None).unwrap();
    let folder = open_dataset(&fixture(SDK), None).unwrap();
    assert_eq!(canonical(&file), canonical(&folder));
}

#[test]
pub(super) fn annotations_in_maskconvs_convention_are_written_back_byte_for_byte() {
    let tmp = TempDir::new("nucleus-canonical");
    let out = tmp.join("out");
    convert(&fixture(CANONICAL), &out, "nucleus", &[]);
    let written = read_tree(&out);
    let original = read_tree(&fixture(CANONICAL));
    assert_eq!(
        String::from_utf8_lossy(&written["annotations.ndjson"]),
        String::from_utf8_lossy(&original["annotations.ndjson"])
    );
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &original {
        if let Some(mask) = path.strip_suffix(".png") {
            let ours = decode_png(&written[path], mask, Palette::Indices).unwrap();
            let theirs = decode_png(bytes, mask, Palette::Indices).unwrap();
            assert_eq!(ours.info.channels, 1, "{path}: 8-bit grayscale");
            assert_eq!(ours.info.bits, 8, "{path}");
            assert_eq!(ours.data, theirs.data, "{path}");
        }
    }
}

#[test]
pub(super) fn nucleus_to_nucleus_is_exact_and_writing_twice_gives_the_same_bytes() {
    let tmp = TempDir::new("nucleus-identity");
    let (once, twice) = (tmp.join("once"), tmp.join("twice"));
    let report = convert(&fixture(SDK), &once, "nucleus", &[]);
    assert_eq!(codes(&report["losses"]), vec!["annotation-ids"]);
    convert(&once, &twice, "nucleus", &[]);
    let source = canonical(&open_dataset(&fixture(SDK), None).unwrap());
    assert_eq!(canonical(&open_dataset(&once, None).unwrap()), source);
    assert_eq!(read_tree(&once), read_tree(&twice));
    // Segment metadata survive; the instance number joins them.
    let first = &lines(&once)[0]["annotations"];
    assert_eq!(
        first[1]["metadata"],
        serde_json::json!({"color": "red", "instance": 1})
    );
    let second = lines(&once)[1]["annotations"].clone();
    let labels: Vec<&str> = second
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["background", "road", "person"]);
    let person = &second[2];
    assert_eq!(person["metadata"]["occluded"], true);
    assert_eq!(person["metadata"]["score"], 0.5);
}

#[test]
pub(super) fn cvat_to_nucleus_to_cvat_keeps_classes_and_instances() {
    let tmp = TempDir::new("nucleus-cvat");
    let (cvat, nucleus, back) = (tmp.join("cvat"), tmp.join("nucleus"), tmp.join("back"));
    varied_dataset(&cvat, 12);
    let report = convert(&cvat, &nucleus, "nucleus", &[]);
    let mut losses = codes(&report["losses"]);
    losses.sort();
    assert_eq!(losses, vec!["colours-dropped", "subsets-dropped"]);
    convert(&nucleus, &back, "cvat", &[]);
    let source = canonical(&open_dataset(&cvat, None).unwrap());
    let mut round = canonical(&open_dataset(&back, None).unwrap());
    assert_eq!(round.len(), source.len());
    let mut sorted = source.clone();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    round.sort_by(|a, b| a.key.cmp(&b.key));
    for (a, b) in sorted.iter().zip(&round) {
        assert_eq!(b.subset, None);
        assert_eq!(a.pixels, b.pixels, "{}", a.key);
        assert_eq!(a.size, b.size);
    }
    // The masks are what the SDK docs ask for: 8-bit grayscale PNG.
    for (path, bytes) in read_tree(&nucleus) {
        if path.ends_with(".png") {
            let image = decode_png(&bytes, &path, Palette::Indices).unwrap();
            assert_eq!(
                (image.info.channels, image.info.file_bits),
                (1, 8),
                "{path}"
            );
            assert!(!image.info.was_palette);
        }
    }
}

#[test]
pub(super) fn semantic_output_gives_each_class_the_same_index_in_every_image() {
    let tmp = TempDir::new("nucleus-semantic");
    let (cvat, nucleus) = (tmp.join("cvat"), tmp.join("nucleus"));
    varied_dataset(&cvat, 12);
    let report = convert(&cvat, &nucleus, "nucleus", &["--semantic"]);
    assert!(codes(&report["losses"]).contains(&"instances-merged"));
    let mut index_of: BTreeMap<String, u64> = BTreeMap::new();
    for line in lines(&nucleus) {
        for segment in line["annotations"].as_array().unwrap() {
            let label = segment["label"].as_str().unwrap().to_string();
            let index = segment["index"].as_u64().unwrap();
            assert_eq!(
                *index_of.entry(label.clone()).or_insert(index),
                index,
                "{label}"
            );
        }
    }
    let expected: BTreeMap<String, u64> =
        [("background", 0), ("road", 1), ("car", 2), ("person", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(index_of, expected);
    // Every pixel keeps its class; instances are gone.
    let source = canonical(&open_dataset(&cvat, None).unwrap());
    let semantic = canonical(&open_dataset(&nucleus, None).unwrap());
    let by_key: BTreeMap<&str, &CanonicalItem> =
        semantic.iter().map(|i| (i.key.as_str(), i)).collect();
    for item in &source {
        let classes = |i: &CanonicalItem| i.pixels.iter().map(|p| p.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            classes(item),
            classes(by_key[item.key.as_str()]),
            "{}",
            item.key
        );
    }
}

#[test]
pub(super) fn more_than_255_segments_in_one_image_is_a_named_loss_never_a_wrap() {
    let classes = vec![Class::new("dot", ClassKind::Thing)];
    let segments: Vec<Segment> = (1..=256).map(|k| Segment::new(1, Some(k))).collect();
    let ids: Vec<u32> = (1..=256).collect();
    let map = LabelMap::new(16, 16, ids, segments).unwrap();
    let small = LabelMap::new(1, 1, vec![1], vec![Segment::new(1, Some(1))]).unwrap();
    let dataset = memory_dataset(
        classes,
        vec![Item::new("many"), Item::new("one")],
        vec![Some(map), Some(small)],
    );
    let nucleus = find("nucleus").unwrap();
    let mut sink = MemorySink::default();
    let err =
        convert_dataset(&dataset, nucleus, &mut sink, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Input);
    assert!(err.to_string().contains("too-many-segments"), "{err}");
    let keep_going = ConvertOptions {
        keep_going: true,
        ..Default::default()
    };
    let mut sink = MemorySink::default();
    let report = convert_dataset(&dataset, nucleus, &mut sink, &keep_going).unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].key, "many");
    let ndjson = String::from_utf8(sink.files["annotations.ndjson"].clone()).unwrap();
    assert_eq!(ndjson.lines().count(), 1);
    assert!(!sink.files.contains_key("masks/many.png"));
}

#[test]
pub(super) fn a_class_named_background_cannot_be_written() {
    let dataset = memory_dataset(
        vec![Class::new("background", ClassKind::Stuff)],
        vec![Item::new("x")],
        vec![None],
    );
    let mut sink = MemorySink::default();
    let err = convert_dataset(
        &dataset,
        find("nucleus").unwrap(),
        &mut sink,
        &ConvertOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("class 'background'"), "{err}");
}

#[test]
pub(super) fn url_prefix_writes_remote_urls_that_mask_root_maps_back() {
    let tmp = TempDir::new("nucleus-remote");
    let out = tmp.join("out");
    convert(
        &fixture(CANONICAL),
        &out,
        "nucleus",
        &["--url-prefix", "s3://bucket/run1"],
    );
    let urls: Vec<String> = lines(&out)
        .iter()
        .map(|l| l["mask_url"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        urls,
        vec![
            "s3://bucket/run1/masks/street_a.png",
            "s3://bucket/run1/masks/sub/field_c.png"
        ]
    );
    let unmapped = maskconv(&["inspect", s(&out)]);
    assert_eq!(unmapped.status.code(), Some(1), "{}", describe(&unmapped));
    let stderr = String::from_utf8_lossy(&unmapped.stderr);
    assert!(
        stderr.contains("s3://bucket/run1/masks/street_a.png") && stderr.contains("--mask-root"),
        "{stderr}"
    );
    let root = format!("s3://bucket/run1/={}", s(&out));
    let options = FormatOptions::new().with(&MASK_ROOT, Some(&root)).unwrap();
    let mapped = maskconv::open::open_dataset(&out, None, &options).unwrap();
    let original = open_dataset(&fixture(CANONICAL), None).unwrap();
    assert_eq!(canonical(&mapped), canonical(&original));
}

#[test]
pub(super) fn options_that_do_not_apply_to_the_formats_are_warned_about() {
    let tmp = TempDir::new("nucleus-ignored");
    let report = convert(
        &fixture(CANONICAL),
        &tmp.join("out"),
        "cvat",
        &["--url-prefix", "s3://b/", "--mask-root", "s3://x/=/tmp"],
    );
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "option-ignored")
        .flat_map(|w| w["examples"].as_array().unwrap())
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 1, "{report}");
    assert!(warnings[0].contains("--url-prefix"), "{warnings:?}");
}

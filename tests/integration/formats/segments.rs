//! Segments.ai: releases and bitmaps written by the official SDK read to the
//! ids and counts it gives, our bitmaps decode to our ids, round trips
//! (segments → segments, cvat → segments → cvat), and every kind of bad input.

use crate::common::open_dataset;
use crate::common::{
    CanonicalItem, TempDir, assert_fails, canonical, codes, convert, describe, fixture, maskconv,
    memory_dataset, raw_png, read_tree, s, varied_dataset,
};
use maskconv::codec::{Compression, Palette, PngLayout, decode_png, encode_png};
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::formats::find;
use maskconv::io::MemorySink;
use maskconv::model::{Class, ClassKind, Item, LabelMap, Segment};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

const SDK: &str = "segments/sdk_release";

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Object id of every pixel of an RGBA bitmap, decoded as the SDK's loader
/// does (`R + 256·G + 65536·B`, alpha ignored).
fn bitmap_ids(bytes: &[u8]) -> Vec<u32> {
    let image = decode_png(bytes, "bitmap", Palette::Indices).unwrap();
    assert_eq!((image.info.channels, image.info.bits), (4, 8), "8-bit RGBA");
    image
        .data
        .chunks(4)
        .map(|p| u32::from(p[0]) | u32::from(p[1]) << 8 | u32::from(p[2]) << 16)
        .collect()
}

#[test]
fn sdk_bitmaps_read_to_the_ids_and_counts_the_sdk_gives() {
    let dataset = open_dataset(&fixture(SDK), None).unwrap();
    assert_eq!(dataset.format.name, "segments");
    let expected = json_file(&fixture("segments/expected.json"));
    let items = canonical(&dataset);
    for item in items.iter().filter(|i| i.size.is_some()) {
        let key = item.key.rsplit('/').next().unwrap();
        let mut per_class: BTreeMap<String, u64> = BTreeMap::new();
        for (class, _) in &item.pixels {
            if let Some(class) = class {
                *per_class.entry(class.clone()).or_default() += 1;
            }
        }
        let want: BTreeMap<String, u64> = expected[key]["pixels_per_category"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, n)| n.as_u64().unwrap() > 0)
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(per_class, want, "{key}");
    }
    // Ids 1, 255, 256, 65536 and 0x123456 are each one segment; car is a
    // thing (instances = object ids), sign (has_instances null) and tree
    // (missing) are stuff; attributes come along.
    let street = dataset
        .decode(0, &mut maskconv::losses::Diagnostics::default())
        .unwrap()
        .unwrap();
    let car = dataset.catalog.find("car").unwrap();
    assert_eq!(dataset.catalog.get(car).kind, ClassKind::Thing);
    for name in ["sign", "tree", "road"] {
        let class = dataset.catalog.find(name).unwrap();
        assert_eq!(dataset.catalog.get(class).kind, ClassKind::Stuff, "{name}");
    }
    let instances: Vec<Option<u32>> = street.segments().iter().map(|s| s.instance).collect();
    assert_eq!(instances, vec![Some(1), Some(255), None, None, None]);
    assert_eq!(street.segments()[1].attributes["occluded"], true);
    assert_eq!(street.segments()[4].attributes["tags"], json!(["a", "b"]));
    let counts = street.pixel_counts();
    let per_id = &expected["street"]["pixels_per_id"];
    for (segment, id) in [
        (1, "1"),
        (2, "255"),
        (3, "256"),
        (4, "65536"),
        (5, "1193046"),
    ] {
        assert_eq!(counts[segment], per_id[id].as_u64().unwrap(), "id {id}");
    }
    // The null, SKIPPED and bitmap-less labels are items without mask, reported.
    assert_eq!(items.iter().filter(|i| i.size.is_none()).count(), 3);
    let warning = &dataset.warnings[0];
    assert_eq!(warning.code, "samples-without-label");
    assert!(
        warning.message.contains("1 SKIPPED, 1 no bitmap, 1 null"),
        "{}",
        warning.message
    );
}

#[test]
fn the_sdks_16_bit_cache_files_read_and_clipped_ids_are_explained() {
    let cached = canonical(&open_dataset(&fixture("segments/sdk_cache"), None).unwrap());
    let original = canonical(&open_dataset(&fixture(SDK), None).unwrap());
    let field = original.iter().find(|i| i.key == "sub/field").unwrap();
    assert_eq!(cached[0].pixels, field.pixels);
    let tmp = TempDir::new("segments-clipped");
    let output = tmp.join("out");
    let out = maskconv(&[
        "convert",
        s(&fixture("segments/sdk_cache_clipped")),
        s(&output),
        "--to",
        "cvat",
    ]);
    assert_fails(&out, &output, 1, "object id 65535 on 10 pixels");
    assert!(String::from_utf8_lossy(&out.stderr).contains("read the RGBA bitmap instead"));
}

#[test]
fn written_bitmaps_decode_to_the_ids_of_the_written_annotations() {
    let tmp = TempDir::new("segments-write");
    let out = tmp.join("out");
    convert(&fixture(SDK), &out, "segments", &[]);
    let release = json_file(&out.join("release.json"));
    let dataset = &release["dataset"];
    assert_eq!(dataset["task_type"], "segmentation-bitmap");
    assert_eq!(dataset["labelsets"][0]["name"], "ground-truth");
    let categories: Vec<(u64, &str, bool)> = dataset["task_attributes"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                c["name"].as_str().unwrap(),
                c["has_instances"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        categories,
        vec![
            (1, "car", true),
            (2, "road", false),
            (3, "sign", false),
            (4, "tree", false)
        ]
    );
    let samples = dataset["samples"].as_array().unwrap();
    assert_eq!(
        samples.len(),
        5,
        "items without mask stay, with a null label"
    );
    assert_eq!(
        samples[0]["uuid"], "u-1",
        "the source's sample uuid is kept"
    );
    assert!(samples[2]["labels"]["ground-truth"].is_null());
    let street = &samples[0]["labels"]["ground-truth"]["attributes"];
    assert_eq!(street["format_version"], "0.1");
    let url = street["segmentation_bitmap"]["url"].as_str().unwrap();
    assert_eq!(url, "bitmaps/street.png");
    let ids = bitmap_ids(&std::fs::read(out.join(url)).unwrap());
    let listed: Vec<u64> = street["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect();
    // Ids are 1..N (the SDK's cache clips ids above 65535, and some of
    // its exports wrap them at 256): car 255 cannot keep its number.
    assert_eq!(listed, vec![1, 2, 3, 4, 5]);
    let mut present: Vec<u64> = ids.iter().map(|&i| u64::from(i)).collect();
    present.sort();
    present.dedup();
    assert_eq!(present, vec![0, 1, 2, 3, 4, 5]);
    // Each sample's label body is also a file of its own, for client.add_label.
    let body = json_file(&out.join("labels/street.json"));
    assert_eq!(&body, street);
    // Alpha is 255 everywhere.
    let image = decode_png(
        &std::fs::read(out.join(url)).unwrap(),
        url,
        Palette::Indices,
    )
    .unwrap();
    assert!(image.data.chunks(4).all(|p| p[3] == 255));
}

#[test]
fn segments_to_segments_is_exact_and_writing_twice_gives_the_same_bytes() {
    let tmp = TempDir::new("segments-identity");
    let (once, twice) = (tmp.join("once"), tmp.join("twice"));
    convert(&fixture(SDK), &once, "segments", &[]);
    convert(&once, &twice, "segments", &[]);
    let source = canonical(&open_dataset(&fixture(SDK), None).unwrap());
    let round = canonical(&open_dataset(&once, None).unwrap());
    let partition = |items: &[CanonicalItem]| -> Vec<CanonicalItem> {
        items.iter().map(crate::common::partition).collect()
    };
    assert_eq!(partition(&round), partition(&source));
    assert_eq!(read_tree(&once), read_tree(&twice));
}

#[test]
fn cvat_to_segments_to_cvat_keeps_classes_instances_and_subsets() {
    let tmp = TempDir::new("segments-cvat");
    let (cvat, segments, back) = (tmp.join("cvat"), tmp.join("segments"), tmp.join("back"));
    varied_dataset(&cvat, 12);
    let report = convert(&cvat, &segments, "segments", &[]);
    assert!(codes(&report["losses"]).is_empty(), "{report}");
    convert(&segments, &back, "cvat", &[]);
    let mut source = canonical(&open_dataset(&cvat, None).unwrap());
    let mut round = canonical(&open_dataset(&back, None).unwrap());
    source.sort_by(|a, b| a.key.cmp(&b.key));
    round.sort_by(|a, b| a.key.cmp(&b.key));
    let partition = |items: &[CanonicalItem]| -> Vec<CanonicalItem> {
        items.iter().map(crate::common::partition).collect()
    };
    assert_eq!(
        partition(&round),
        partition(&source),
        "pixels, classes, instances, keys, subsets"
    );
}

#[test]
fn more_instances_than_a_byte_get_ids_1_to_n() {
    let segments: Vec<Segment> = (1..=300).map(|k| Segment::new(1, Some(k * 1000))).collect();
    let map = LabelMap::new(300, 1, (1..=300).collect(), segments).unwrap();
    let dataset = memory_dataset(
        vec![Class::new("dot", ClassKind::Thing)],
        vec![Item::new("many")],
        vec![Some(map)],
    );
    let mut sink = MemorySink::default();
    convert_dataset(
        &dataset,
        find("segments").unwrap(),
        &mut sink,
        &ConvertOptions::default(),
    )
    .unwrap();
    let ids = bitmap_ids(&sink.files["bitmaps/many.png"]);
    let expected: Vec<u32> = (1..=300).collect();
    assert_eq!(ids, expected, "ids above 255 span R and G");
}

/// A bitmap of a test case: layout and samples of a 2×2 image.
type Bitmap = (PngLayout, Vec<u8>);

/// A release folder with `release` text and one 2×2 bitmap (default: RGBA, ids 0, 1, 1, 0).
fn write_case(dir: &Path, release: &str, bitmap: Option<Bitmap>) {
    std::fs::create_dir_all(dir.join("bitmaps")).unwrap();
    std::fs::write(dir.join("release.json"), release).unwrap();
    let (layout, data) = bitmap.unwrap_or((
        PngLayout::Rgba8,
        vec![0, 0, 0, 255, 1, 0, 0, 255, 1, 0, 0, 255, 0, 0, 0, 255],
    ));
    let png = encode_png(2, 2, layout, &data, Compression::Fast);
    std::fs::write(dir.join("bitmaps/a.png"), png).unwrap();
}

const GOOD: &str = r#"{"name": "v1", "dataset": {"name": "d", "owner": "o", "task_type": "segmentation-bitmap",
  "task_attributes": {"categories": [{"id": 1, "name": "car", "has_instances": true}]},
  "labelsets": [{"name": "ground-truth"}],
  "samples": [{"uuid": "u", "name": "a.jpg", "attributes": {"image": {"url": "https://h/a.jpg"}},
    "labels": {"ground-truth": {"label_status": "LABELED", "attributes": {
      "annotations": [{"id": 1, "category_id": 1}], "segmentation_bitmap": {"url": "bitmaps/a.png"}}}}}]}}"#;

#[test]
fn bad_releases_and_bitmaps_fail_naming_the_file() {
    let gray16 = (PngLayout::Gray16, vec![0, 1, 0, 2, 0, 1, 0, 0]);
    let cases: Vec<(&str, String, Option<Bitmap>, &str)> = vec![
        (
            "no-dataset",
            r#"{"name": "v1", "dataset": null}"#.into(),
            None,
            "release.json (segments): has no 'dataset' object",
        ),
        (
            "no-categories",
            GOOD.replace("\"categories\"", "\"cats\""),
            None,
            "has no dataset.task_attributes.categories",
        ),
        (
            "unknown-category",
            GOOD.replace("\"category_id\": 1", "\"category_id\": 4"),
            None,
            "category_id 4, which is not a category",
        ),
        (
            "unlisted-id",
            GOOD.replace("[{\"id\": 1, \"category_id\": 1}]", "[]"),
            None,
            "object id 1 on 2 pixels has no annotation",
        ),
        (
            "gray16-id-not-listed",
            GOOD.to_string(),
            Some(gray16),
            "object id 2 on 1 pixels",
        ),
        (
            "rgb16",
            GOOD.to_string(),
            Some((PngLayout::Rgb16, vec![0; 24])),
            "is a 16-bit RGB PNG; Segments.ai bitmaps are 8-bit RGBA",
        ),
        (
            "remote",
            GOOD.replace("bitmaps/a.png", "https://cdn.example/a.png"),
            None,
            "--mask-root https://cdn.example/",
        ),
        (
            "labelset",
            GOOD.replace(
                "\"labelsets\": [{\"name\": \"ground-truth\"}]",
                "\"labelsets\": [{\"name\": \"v2\"}]",
            ),
            None,
            "has no labelset 'ground-truth'",
        ),
    ];
    let tmp = TempDir::new("segments-bad");
    for (name, release, bitmap, needle) in cases {
        let input = tmp.join(name);
        write_case(&input, &release, bitmap);
        let output = tmp.join(&format!("{name}-out"));
        let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
        assert_fails(&out, &output, 1, needle);
    }
    // A 16-bit RGBA bitmap (which Pillow would read through an 8-bit path).
    let input = tmp.join("rgba16-real");
    write_case(&input, GOOD, None);
    let (color, depth) = (png::ColorType::Rgba, png::BitDepth::Sixteen);
    let bytes = raw_png(2, 2, color, depth, &[0; 32], None);
    std::fs::write(input.join("bitmaps/a.png"), bytes).unwrap();
    let output = tmp.join("rgba16-real-out");
    let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
    assert_fails(
        &out,
        &output,
        1,
        "is a 16-bit RGBA PNG; Segments.ai bitmaps are 8-bit RGBA",
    );
    // Without any `dataset`, the file is not recognised; named as Segments.ai
    // it gets the same error.
    let input = tmp.join("no-dataset-key");
    write_case(&input, r#"{"name": "v1"}"#, None);
    let output = tmp.join("no-dataset-key-out");
    let out = maskconv(&[
        "convert",
        s(&input),
        s(&output),
        "--to",
        "cvat",
        "--from",
        "segments",
    ]);
    assert_fails(&out, &output, 1, "holds no Segments.ai release");
}

#[test]
fn rgb_bitmaps_read_like_rgba_and_labelset_chooses_the_label() {
    let tmp = TempDir::new("segments-rgb");
    let input = tmp.join("in");
    write_case(
        &input,
        GOOD,
        Some((PngLayout::Rgb8, vec![0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0])),
    );
    let items = canonical(&open_dataset(&input, None).unwrap());
    let car = (Some("car".to_string()), Some(1));
    assert_eq!(
        items[0].pixels,
        vec![(None, None), car.clone(), car, (None, None)]
    );
    assert_eq!(items[0].key, "a");

    let two = GOOD.replace(
        r#""labelsets": [{"name": "ground-truth"}]"#,
        r#""labelsets": [{"name": "ground-truth"}, {"name": "model"}]"#,
    );
    write_case(&input, &two, None);
    let out = maskconv(&["inspect", s(&input), "--labelset", "model", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["items_without_mask"], 1, "{report}");
}

#[test]
fn the_release_file_alone_reads_like_its_folder_and_keeps_the_image_url() {
    let tmp = TempDir::new("segments-file");
    let input = tmp.join("in");
    write_case(&input, GOOD, None);
    let file = open_dataset(&input.join("release.json"), None).unwrap();
    let folder = open_dataset(&input, None).unwrap();
    assert_eq!(canonical(&file), canonical(&folder));
    assert_eq!(
        file.items[0].origin.get(maskconv::model::Origin::IMAGE_URL),
        Some("https://h/a.jpg")
    );
    let out = tmp.join("out");
    convert(&input, &out, "segments", &[]);
    let release = json_file(&out.join("release.json"));
    let sample = &release["dataset"]["samples"][0];
    assert_eq!(sample["attributes"]["image"]["url"], "https://h/a.jpg");
    assert_eq!(sample["name"], "a.jpg");
    assert_eq!(sample["uuid"], "u");
}

#[test]
fn sample_uuids_are_stable_and_subsets_are_kept() {
    let tmp = TempDir::new("segments-uuids");
    let cvat = tmp.join("cvat");
    varied_dataset(&cvat, 16);
    let (one, two) = (tmp.join("one"), tmp.join("two"));
    convert(&cvat, &one, "segments", &[]);
    convert(&cvat, &two, "segments", &[]);
    assert_eq!(read_tree(&one), read_tree(&two));
    let release = json_file(&one.join("release.json"));
    let uuid = release["dataset"]["samples"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(uuid.len(), 36);
    let subsets: Vec<&str> = release["dataset"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["subset"].as_str().unwrap())
        .collect();
    assert!(subsets.contains(&"val") && subsets.contains(&"train"));
}

#[test]
fn url_prefix_names_bitmaps_and_images_and_mask_root_maps_them_back() {
    let tmp = TempDir::new("segments-prefix");
    let out = tmp.join("out");
    convert(
        &fixture("cvat/datumaro_voc_dataset1"),
        &out,
        "segments",
        &["--url-prefix", "https://cdn.example/run1"],
    );
    assert!(
        out.join("images/2007_000001.jpg").is_file(),
        "source images are copied"
    );
    let release = json_file(&out.join("release.json"));
    let sample = release["dataset"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "2007_000001.jpg")
        .unwrap()
        .clone();
    assert_eq!(
        sample["attributes"]["image"]["url"],
        "https://cdn.example/run1/images/2007_000001.jpg"
    );
    let label = &sample["labels"]["ground-truth"]["attributes"];
    assert_eq!(
        label["segmentation_bitmap"]["url"],
        "https://cdn.example/run1/bitmaps/2007_000001.png"
    );
    assert_eq!(&json_file(&out.join("labels/2007_000001.json")), label);
    let unmapped = maskconv(&["inspect", s(&out)]);
    assert_eq!(unmapped.status.code(), Some(1), "{}", describe(&unmapped));
    let root = format!("https://cdn.example/run1/={}", s(&out));
    let mapped = maskconv(&["inspect", s(&out), "--mask-root", &root]);
    assert_eq!(mapped.status.code(), Some(0), "{}", describe(&mapped));
}

#[test]
fn alpha_is_ignored_and_duplicate_sample_keys_name_both_samples() {
    let tmp = TempDir::new("segments-alpha");
    let input = tmp.join("in");
    write_case(
        &input,
        GOOD,
        Some((
            PngLayout::Rgba8,
            vec![0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 7, 0, 0, 0, 0],
        )),
    );
    let items = canonical(&open_dataset(&input, None).unwrap());
    assert_eq!(items[0].pixels[1], (Some("car".to_string()), Some(1)));

    let twice = GOOD.replace(
        r#""samples": [{"uuid": "u", "name": "a.jpg""#,
        r#""samples": [{"uuid": "v", "name": "a.png", "labels": {"ground-truth": null}}, {"uuid": "u", "name": "a.jpg""#,
    );
    write_case(&input, &twice, None);
    let output = tmp.join("out");
    let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
    assert_fails(
        &out,
        &output,
        1,
        "dataset.samples[1]: sample name 'a.jpg' gives item key 'a', as dataset.samples[0] does",
    );
}

#[test]
fn inspect_per_item_gives_each_items_pixels_per_class() {
    let out = maskconv(&["inspect", s(&fixture(SDK)), "--json", "--per-item"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = report["per_item"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    let street = &items[0];
    assert_eq!(street["key"], "street");
    assert_eq!(street["size"], json!([6, 4]));
    let expected = json_file(&fixture("segments/expected.json"));
    for (class, pixels) in expected["street"]["pixels_per_category"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&street["classes"][class]["pixels"], pixels, "{class}");
    }
    assert_eq!(street["classes"]["car"]["instances"], 2);
    assert_eq!(street["unlabeled_pixels"], 2);
    assert!(items[2]["size"].is_null(), "no mask");
}

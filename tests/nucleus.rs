//! Scale Nucleus: files written by the official SDK read to the pixel counts
//! numpy gives, the writer reproduces the SDK's `to_json()` byte for byte,
//! round trips (nucleus → nucleus, cvat → nucleus → cvat, `--semantic`), and
//! every kind of bad input.

mod common;

use common::{
    CanonicalItem, TempDir, assert_fails, canonical, codes, convert, describe, fixture, maskconv,
    memory_dataset, raw_png, read_tree, s, varied_dataset,
};
use maskconv::ErrorKind;
use maskconv::codec::{Compression, Palette, PngLayout, decode_png, encode_png};
use maskconv::formats::{ReadOptions, find, mask_url::MaskRoot};
use maskconv::io::MemorySink;
use maskconv::model::{Class, ClassKind, Item, LabelMap, Segment};
use maskconv::pipeline::{ConvertOptions, convert_dataset, open_dataset, open_dataset_with};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const SDK: &str = "nucleus/sdk_annotations";
const CANONICAL: &str = "nucleus/sdk_canonical";

fn lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("annotations.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Per item: pixels per class name, and unlabeled pixels.
fn pixel_counts(items: &[CanonicalItem]) -> BTreeMap<String, (BTreeMap<String, u64>, u64)> {
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
fn sdk_written_annotations_read_to_the_pixel_counts_numpy_gives() {
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
    let mut notes = Vec::new();
    let street_a = dataset.decode(0, &mut notes).unwrap().unwrap();
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
    assert_eq!(dataset.losses[0].code, "annotation-ids");
    // Values 0 and 9 of street_b have no Segment: unlabeled, counted in a warning.
    let mut notes = Vec::new();
    dataset.decode(1, &mut notes).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].code, "unlisted-index");
    assert!(
        notes[0].message.contains("0 (5 px), 9 (1 px)") && notes[0].message.contains("line 2"),
        "{}",
        notes[0].message
    );
}

#[test]
fn export_rows_read_like_the_annotations_and_null_segmentations_have_no_mask() {
    let dataset = open_dataset(&fixture("nucleus/export_rows.json"), None).unwrap();
    let items = canonical(&dataset);
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].key, "unlabeled_d");
    assert_eq!(items[1].size, None);
    let annotations = canonical(&open_dataset(&fixture(SDK), None).unwrap());
    assert_eq!(items[0], annotations[0]);
}

#[test]
fn the_annotation_file_alone_reads_like_its_folder() {
    let file = open_dataset(&fixture(&format!("{SDK}/annotations.ndjson")), None).unwrap();
    let folder = open_dataset(&fixture(SDK), None).unwrap();
    assert_eq!(canonical(&file), canonical(&folder));
}

#[test]
fn annotations_in_maskconvs_convention_are_written_back_byte_for_byte() {
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
fn nucleus_to_nucleus_is_exact_and_writing_twice_gives_the_same_bytes() {
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
fn cvat_to_nucleus_to_cvat_keeps_classes_and_instances() {
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
fn semantic_output_gives_each_class_the_same_index_in_every_image() {
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
fn more_than_255_segments_in_one_image_is_a_named_loss_never_a_wrap() {
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
fn a_class_named_background_cannot_be_written() {
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
fn url_prefix_writes_remote_urls_that_mask_root_maps_back() {
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
    let options = ReadOptions {
        mask_roots: vec![MaskRoot::parse(&format!("s3://bucket/run1/={}", s(&out))).unwrap()],
        ..Default::default()
    };
    let mapped = open_dataset_with(&out, None, &options).unwrap();
    let original = open_dataset(&fixture(CANONICAL), None).unwrap();
    assert_eq!(canonical(&mapped), canonical(&original));
}

#[test]
fn options_that_do_not_apply_to_the_formats_are_warned_about() {
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

/// A mask file of a test case: name, layout, samples, width, height.
type MaskFile<'a> = (&'a str, PngLayout, Vec<u8>, u32, u32);

/// Writes `annotations.ndjson` and the masks `masks/<name>` into `dir`.
fn write_case(dir: &Path, ndjson: &str, masks: &[MaskFile]) {
    std::fs::create_dir_all(dir.join("masks")).unwrap();
    std::fs::write(dir.join("annotations.ndjson"), ndjson).unwrap();
    for (name, layout, data, w, h) in masks {
        let png = encode_png(*w, *h, *layout, data, Compression::Fast);
        std::fs::write(dir.join("masks").join(name), png).unwrap();
    }
}

const GOOD_LINE: &str = r#"{"type": "mask", "mask_url": "masks/a.png", "annotations": [{"label": "car", "index": 1}], "annotation_id": null, "reference_id": "a"}"#;

fn gray(name: &str) -> MaskFile<'_> {
    (name, PngLayout::Gray8, vec![0, 1, 1, 0], 2, 2)
}

#[test]
fn bad_annotation_files_fail_naming_the_file_and_line() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "malformed",
            format!("{GOOD_LINE}\n{{\"mask_url\": \"masks/a.png\",\n"),
            "line 2, column 27: not valid JSON",
        ),
        (
            "no-mask-url",
            r#"{"reference_id": "a"}"#.to_string(),
            "has no mask_url",
        ),
        (
            "no-reference",
            r#"{"mask_url": "masks/a.png"}"#.to_string(),
            "has no reference_id",
        ),
        (
            "duplicate",
            format!(
                "{GOOD_LINE}\n{}",
                GOOD_LINE.replace("masks/a.png", "masks/b.png")
            ),
            "line 2: reference_id 'a' was already annotated at line 1",
        ),
        (
            "index-300",
            GOOD_LINE.replace("\"index\": 1", "\"index\": 300"),
            "index 300",
        ),
        (
            "index-string",
            GOOD_LINE.replace("\"index\": 1", "\"index\": \"1\""),
            "not an integer",
        ),
        (
            "remote",
            GOOD_LINE.replace("masks/a.png", "gs://bucket/masks/a.png"),
            "--mask-root gs://bucket/",
        ),
    ];
    let tmp = TempDir::new("nucleus-bad");
    for (name, ndjson, needle) in cases {
        let input = tmp.join(name);
        write_case(&input, &ndjson, &[gray("a.png"), gray("b.png")]);
        let output = tmp.join(&format!("{name}-out"));
        let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
        assert_fails(&out, &output, 1, needle);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("annotations.ndjson"),
            "{name}: names the file: {}",
            describe(&out)
        );
    }
}

#[test]
fn masks_that_are_not_8_bit_gray_fail_and_faux_gray_rgb_reads_with_a_warning() {
    let tmp = TempDir::new("nucleus-masks");
    let wide = vec![0, 0, 0, 1, 0, 1, 0, 0];
    let rgb = vec![0, 0, 0, 1, 2, 1, 1, 1, 1, 0, 0, 0];
    let cases: Vec<(&str, MaskFile, &str)> = vec![
        (
            "gray16",
            ("a.png", PngLayout::Gray16, wide, 2, 2),
            "is a 16-bit grayscale PNG",
        ),
        (
            "rgb",
            ("a.png", PngLayout::Rgb8, rgb, 2, 2),
            "RGB PNG with colour (1,2,1)",
        ),
    ];
    for (name, mask, needle) in cases {
        let input = tmp.join(name);
        write_case(&input, GOOD_LINE, &[mask]);
        let output = tmp.join(&format!("{name}-out"));
        let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
        assert_fails(&out, &output, 1, needle);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("masks/a.png"),
            "{}",
            describe(&out)
        );
    }
    let faux = tmp.join("faux");
    let rgb_gray = vec![0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0];
    write_case(
        &faux,
        GOOD_LINE,
        &[("a.png", PngLayout::Rgb8, rgb_gray, 2, 2)],
    );
    let report = convert(&faux, &tmp.join("faux-out"), "nucleus", &[]);
    assert!(
        codes(&report["warnings"]).contains(&"faux-single-channel"),
        "{report}"
    );
    let read = canonical(&open_dataset(&tmp.join("faux-out"), None).unwrap());
    let car = Some("car".to_string());
    assert_eq!(
        read[0].pixels,
        vec![(None, None), (car.clone(), None), (car, None), (None, None)]
    );
}

#[test]
fn mask_urls_resolve_relative_absolute_and_file_urls() {
    let tmp = TempDir::new("nucleus-urls");
    let input = tmp.join("in");
    write_case(&input, "", &[gray("a.png")]);
    let absolute = input.join("masks/a.png");
    let lines = [
        GOOD_LINE.replace("masks/a.png", "./masks/../masks/a.png"),
        GOOD_LINE
            .replace("masks/a.png", s(&absolute))
            .replace("\"a\"}", "\"b\"}"),
        GOOD_LINE
            .replace("masks/a.png", &format!("file://{}", s(&absolute)))
            .replace("\"a\"}", "\"c\"}"),
    ];
    std::fs::write(input.join("annotations.ndjson"), lines.join("\n")).unwrap();
    let items = canonical(&open_dataset(&input, None).unwrap());
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i.pixels == items[0].pixels));
}

#[test]
fn a_zip_holding_the_dataset_in_a_top_folder_reads_like_the_folder() {
    let tmp = TempDir::new("nucleus-zip");
    let archive = tmp.join("export.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
    for (path, bytes) in read_tree(&fixture(SDK)) {
        zip.start_file(
            format!("export/{path}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut zip, &bytes).unwrap();
    }
    zip.finish().unwrap();
    let from_zip = open_dataset(&archive, None).unwrap();
    assert_eq!(from_zip.format.name, "nucleus");
    assert_eq!(
        canonical(&from_zip),
        canonical(&open_dataset(&fixture(SDK), None).unwrap())
    );
}

#[test]
fn a_json_array_file_reads_like_the_ndjson_it_lists() {
    let tmp = TempDir::new("nucleus-array");
    let input = tmp.join("in");
    write_case(&input, "", &[gray("a.png")]);
    let array = format!("[{GOOD_LINE},\n {}]", GOOD_LINE.replace("\"a\"}", "\"b\"}"));
    std::fs::write(input.join("segmentations.json"), array).unwrap();
    let items = canonical(&open_dataset(&input.join("segmentations.json"), None).unwrap());
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].key, "b");
    assert_eq!(items[0].pixels, items[1].pixels);
}

#[test]
fn a_mask_root_without_a_directory_is_a_usage_error() {
    let out = maskconv(&["inspect", s(&fixture(SDK)), "--mask-root", "s3://bucket/"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PREFIX=DIR"));
}

#[test]
fn output_bytes_do_not_depend_on_the_thread_count() {
    let tmp = TempDir::new("nucleus-threads");
    let cvat = tmp.join("cvat");
    varied_dataset(&cvat, 16);
    for mode in [&[][..], &["--semantic"][..]] {
        let (one, two) = (tmp.join("one"), tmp.join("two"));
        let _ = std::fs::remove_dir_all(&one);
        let _ = std::fs::remove_dir_all(&two);
        convert(&cvat, &one, "nucleus", &[&["-j", "1"], mode].concat());
        convert(&cvat, &two, "nucleus", &[&["-j", "2"], mode].concat());
        assert_eq!(read_tree(&one), read_tree(&two), "{mode:?}");
    }
}

#[test]
fn reference_ids_that_cannot_be_file_names_fail_naming_the_line() {
    let tmp = TempDir::new("nucleus-keys");
    let input = tmp.join("in");
    let line = GOOD_LINE.replace(
        "\"reference_id\": \"a\"",
        "\"reference_id\": \"/data/a.jpg\"",
    );
    write_case(&input, &format!("{GOOD_LINE}\n{line}\n"), &[gray("a.png")]);
    let output = tmp.join("out");
    let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
    assert_fails(
        &out,
        &output,
        1,
        "annotations.ndjson (nucleus): line 2: item key '/data/a.jpg'",
    );
}

#[test]
fn palette_rgba_and_gray_alpha_masks_are_refused() {
    let tmp = TempDir::new("nucleus-layouts");
    let cases: Vec<(&str, MaskFile, &str)> = vec![
        (
            "rgba",
            ("a.png", PngLayout::Rgba8, vec![1; 16], 2, 2),
            "is a 8-bit RGBA PNG",
        ),
        (
            "gray-alpha",
            ("a.png", PngLayout::Gray8, vec![0; 4], 2, 2),
            "grayscale+alpha",
        ),
    ];
    for (name, mask, needle) in cases {
        let input = tmp.join(name);
        write_case(&input, GOOD_LINE, &[mask]);
        if name == "gray-alpha" {
            let (color, depth) = (png::ColorType::GrayscaleAlpha, png::BitDepth::Eight);
            let bytes = raw_png(2, 2, color, depth, &[0; 8], None);
            std::fs::write(input.join("masks/a.png"), bytes).unwrap();
        }
        let output = tmp.join(&format!("{name}-out"));
        let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
        assert_fails(&out, &output, 1, needle);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("(the mask of "),
            "names the annotation: {}",
            describe(&out)
        );
    }
    let input = tmp.join("palette");
    write_case(&input, GOOD_LINE, &[]);
    let palette = Some(vec![0, 0, 0, 1, 1, 1]);
    let (color, depth) = (png::ColorType::Indexed, png::BitDepth::Eight);
    let bytes = raw_png(2, 1, color, depth, &[0, 1], palette);
    std::fs::write(input.join("masks/a.png"), bytes).unwrap();
    let output = tmp.join("palette-out");
    let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat"]);
    assert_fails(&out, &output, 1, "is a palette PNG");
}

#[test]
fn segment_metadata_keep_their_values_and_order() {
    let tmp = TempDir::new("nucleus-metadata");
    let input = tmp.join("in");
    let metadata = r#"{"instance": 1, "score": 1.5777777777770001, "big": 12345678901234567890, "name": "\u00e9"}"#;
    let line = GOOD_LINE.replace(
        r#"{"label": "car", "index": 1}"#,
        &format!(r#"{{"label": "car", "index": 1, "metadata": {metadata}}}"#),
    );
    write_case(&input, &line, &[gray("a.png")]);
    let out = tmp.join("out");
    convert(&input, &out, "nucleus", &[]);
    let written = std::fs::read_to_string(out.join("annotations.ndjson")).unwrap();
    assert!(
        written.contains(r#""metadata": {"score": 1.5777777777770001, "big": 12345678901234567890, "name": "\u00e9", "instance": 1}"#),
        "{written}"
    );
}

#[test]
fn semantic_mode_refuses_more_than_255_classes_but_not_many_instances() {
    let nucleus = find("nucleus").unwrap();
    let semantic = ConvertOptions {
        write: maskconv::formats::WriteOptions {
            semantic: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let classes: Vec<Class> = (0..256)
        .map(|i| Class::new(format!("c{i}"), ClassKind::Stuff))
        .collect();
    let dataset = memory_dataset(classes, vec![Item::new("x")], vec![None]);
    let err =
        convert_dataset(&dataset, nucleus, &mut MemorySink::default(), &semantic).unwrap_err();
    assert!(err.to_string().contains("256 classes"), "{err}");

    let segments: Vec<Segment> = (1..=300).map(|k| Segment::new(1, Some(k))).collect();
    let map = LabelMap::new(300, 1, (1..=300).collect(), segments).unwrap();
    let dataset = memory_dataset(
        vec![Class::new("dot", ClassKind::Thing)],
        vec![Item::new("many")],
        vec![Some(map)],
    );
    let mut sink = MemorySink::default();
    let report = convert_dataset(&dataset, nucleus, &mut sink, &semantic).unwrap();
    assert_eq!(report.written, 1);
    let line = String::from_utf8(sink.files["annotations.ndjson"].clone()).unwrap();
    assert!(
        line.contains(r#""annotations": [{"label": "dot", "index": 1}]"#),
        "{line}"
    );
}

#[test]
fn a_single_file_input_reads_masks_beside_it_even_above_its_folder() {
    let tmp = TempDir::new("nucleus-above");
    write_case(&tmp.join("data"), "", &[gray("a.png")]);
    let sub = tmp.join("data/sub");
    std::fs::create_dir_all(&sub).unwrap();
    let file = sub.join("ann.ndjson");
    std::fs::write(&file, GOOD_LINE.replace("masks/a.png", "../masks/a.png")).unwrap();
    let items = canonical(&open_dataset(&file, None).unwrap());
    assert_eq!(items[0].pixels[1], (Some("car".to_string()), None));
}

#[test]
fn strict_refuses_what_nucleus_cannot_hold_and_publishes_nothing() {
    let tmp = TempDir::new("nucleus-strict");
    let output = tmp.join("out");
    let out = maskconv(&[
        "convert",
        s(&fixture("cvat/generated_cvat_export/dataset")),
        s(&output),
        "--to",
        "nucleus",
        "--strict",
    ]);
    assert_fails(&out, &output, 1, "colours-dropped");
}

#[test]
fn an_output_whose_items_were_all_skipped_reads_back_empty() {
    let tmp = TempDir::new("nucleus-empty");
    std::fs::write(tmp.join("annotations.ndjson"), "").unwrap();
    let dataset = open_dataset(&tmp.0, None).unwrap();
    assert_eq!(dataset.format.name, "nucleus");
    assert!(dataset.items.is_empty());
}

#[test]
fn an_output_holding_masks_the_input_reads_is_refused_even_with_force() {
    let tmp = TempDir::new("nucleus-spare");
    write_case(&tmp.0, GOOD_LINE, &[gray("a.png")]);
    let file = tmp.join("annotations.ndjson");
    let masks = tmp.join("masks");
    let out = maskconv(&["convert", s(&file), s(&masks), "--to", "cvat", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("whose files the input reads"),
        "{}",
        describe(&out)
    );
    assert!(
        masks.join("a.png").is_file(),
        "the input's mask is untouched"
    );
    // Beside the masks is fine.
    let out = maskconv(&["convert", s(&file), s(&tmp.join("out")), "--to", "cvat"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

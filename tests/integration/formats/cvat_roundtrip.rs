//! Writing CVAT: identity conversions, what CVAT's own files look like,
//! and the writer's limits (determinism across thread counts is checked
//! for every format by the matrix).

use crate::common::open_dataset;
use crate::common::{
    ACCEPTED_CVAT_CASES, TempDir, canonical, convert_to_cvat, describe, fixture, memory_dataset,
    partition, read_tree,
};
use maskconv::ErrorKind;
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::formats::find;
use maskconv::io::MemorySink;
use maskconv::model::{Class, ClassKind, Color, Item, LabelMap, Segment};
use std::path::Path;

fn decode_rgb(bytes: &[u8]) -> (png::ColorType, png::BitDepth, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut data = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut data).unwrap();
    let (color, depth) = reader.output_color_type();
    (color, depth, data)
}

/// Chunk types of a PNG file, in order.
fn chunks(bytes: &[u8]) -> Vec<String> {
    let mut at = 8;
    let mut names = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        names.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        at += 12 + len;
    }
    names
}

fn convert_cli(input: &Path, output: &Path, extra: &[&str]) {
    let out = convert_to_cvat(input, output, &[extra, &["-q"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

/// Same classes (names, colours, attributes; CVAT sorts them by name), same
/// items, subsets, sizes, and per pixel the same class and instance. A
/// class-only source comes back with one object per class region (CVAT needs
/// object numbers to import a region), so there the instance *partition* is
/// compared; elsewhere the instance numbers themselves.
fn assert_same_dataset(a: &Path, b: &Path) {
    let (da, db) = (
        open_dataset(a, None).unwrap(),
        open_dataset(b, None).unwrap(),
    );
    let classes = |d: &maskconv::formats::api::Dataset| {
        let mut classes: Vec<_> = d
            .catalog
            .classes()
            .iter()
            .map(|c| (c.name.clone(), c.color, c.attributes.clone()))
            .collect();
        classes.sort_by(|x, y| x.0.cmp(&y.0));
        classes
    };
    assert_eq!(
        classes(&da),
        classes(&db),
        "{} vs {}",
        a.display(),
        b.display()
    );
    let class_only = da.catalog.iter().all(|(_, c)| c.kind == ClassKind::Stuff);
    let (ca, cb) = (canonical(&da), canonical(&db));
    if class_only {
        let (pa, pb): (Vec<_>, Vec<_>) = (
            ca.iter().map(partition).collect(),
            cb.iter().map(partition).collect(),
        );
        assert_eq!(pa, pb, "{} vs {}", a.display(), b.display());
        assert!(db.catalog.iter().all(|(_, c)| c.kind == ClassKind::Thing));
    } else {
        assert_eq!(ca, cb, "{} vs {}", a.display(), b.display());
    }
}

#[test]
fn identity_conversion_reproduces_every_pixel_and_label_of_every_accepted_fixture() {
    let tmp = TempDir::new("identity");
    // D and R have gray masks that use two labels sharing one colour: see the next test.
    let cases = ACCEPTED_CVAT_CASES
        .iter()
        .filter(|c| !c.ends_with("D_gray_L") && !c.ends_with("R_instance_spans_classes"))
        .chain(&["cvat/generated_cvat_export/cvat_like_export.zip"]);
    for case in cases {
        for ext in ["", ".zip"] {
            let out = tmp.join(&format!("{}{ext}", case.replace('/', "_")));
            convert_cli(&fixture(case), &out, &[]);
            assert_same_dataset(&fixture(case), &out);
        }
    }
}

/// Gray masks name labels by index, so 'person' and 'tree' can both have
/// pixels although they share a colour; RGB output cannot keep them apart.
#[test]
fn gray_masks_with_labels_sharing_a_colour_fail_with_a_hint_and_convert_once_fixed() {
    let tmp = TempDir::new("gray-dup");
    for case in ["D_gray_L", "R_instance_spans_classes"] {
        let source = fixture(&format!("cvat/generated_import_cases/{case}"));
        let out = tmp.join(case);
        let failed = convert_to_cvat(&source, &out, &[]);
        assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(
            stderr.contains("class 'person' has the same colour as 'tree'")
                && stderr.contains("different colours"),
            "{stderr}"
        );
        assert!(!out.exists());
        // Following the hint: give 'tree' its own colour, and the identity holds.
        let fixed = tmp.join(&format!("{case}-fixed"));
        for (path, bytes) in read_tree(&source) {
            let target = fixed.join(&path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let bytes = if path == "labelmap.txt" {
                String::from_utf8(bytes)
                    .unwrap()
                    .replace("tree:250,50,83::", "tree:9,9,9::")
                    .into_bytes()
            } else {
                bytes
            };
            std::fs::write(target, bytes).unwrap();
        }
        convert_cli(&fixed, &out, &[]);
        assert_same_dataset(&fixed, &out);
    }
}

#[test]
fn cvat_export_round_trips_to_identical_labelmap_and_pixels() {
    let tmp = TempDir::new("export");
    let source = fixture("cvat/generated_cvat_export/dataset");
    let out = tmp.join("out");
    convert_cli(&source, &out, &[]);
    let (before, after) = (read_tree(&source), read_tree(&out));
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &before {
        if path.ends_with(".png") {
            let (color, depth, pixels) = decode_rgb(&after[path]);
            assert_eq!(
                (color, depth),
                (png::ColorType::Rgb, png::BitDepth::Eight),
                "{path}"
            );
            assert_eq!(pixels, decode_rgb(bytes).2, "{path}");
            assert_eq!(chunks(&after[path]), vec!["IHDR", "IDAT", "IEND"], "{path}");
        } else {
            assert_eq!(&after[path], bytes, "{path}");
        }
    }
}

#[test]
fn zip_output_is_stored_with_no_directory_entries() {
    let tmp = TempDir::new("zip");
    let out = tmp.join("out.zip");
    convert_cli(&fixture("cvat/generated_import_cases/K_subsets"), &out, &[]);
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        assert!(!entry.is_dir(), "{name}");
        assert_eq!(
            entry.compression(),
            zip::CompressionMethod::Stored,
            "{name}"
        );
        names.push(name);
    }
    assert_eq!(
        names,
        vec![
            "labelmap.txt",
            "SegmentationClass/frame_000000.png",
            "SegmentationObject/frame_000000.png",
            "ImageSets/Segmentation/val.txt",
            "ImageSets/Segmentation/my_train.txt",
        ]
    );
}

#[test]
fn source_images_are_copied_along() {
    let tmp = TempDir::new("images");
    let out = tmp.join("out");
    convert_cli(&fixture("cvat/datumaro_voc_dataset1"), &out, &[]);
    for name in ["2007_000001.jpg", "2007_000002.jpg"] {
        let copied = std::fs::read(out.join("JPEGImages").join(name)).unwrap();
        assert_eq!(
            copied,
            std::fs::read(fixture("cvat/datumaro_voc_dataset1/JPEGImages").join(name)).unwrap()
        );
    }
}

#[test]
fn more_than_255_segments_fail_the_run_also_with_keep_going_when_no_item_is_left() {
    // CVAT's own wrapped export: 255 objects plus one pixel with no object number.
    let tmp = TempDir::new("many");
    let input = fixture("cvat/generated_many_instances");
    let out = tmp.join("out");
    let failed = convert_to_cvat(&input, &out, &[]);
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("item 'many'") && stderr.contains("needs 256 object numbers"),
        "{stderr}"
    );
    assert!(!out.exists());
    // Its one item skipped, nothing is left to write: a failure, not an
    // empty dataset published as a partial success.
    let skipped = convert_to_cvat(&input, &out, &["--keep-going", "--json"]);
    assert_eq!(skipped.status.code(), Some(1), "{}", describe(&skipped));
    let report: serde_json::Value = serde_json::from_slice(&skipped.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("every item failed")
            && error.contains("'many'")
            && error.contains("256 object numbers"),
        "{error}"
    );
    assert!(!out.exists());
}

fn item(key: &str) -> Item {
    Item::new(key)
}

fn write_memory(
    dataset: &maskconv::formats::api::Dataset,
    options: &ConvertOptions,
) -> maskconv::Result<(MemorySink, maskconv::convert::ConvertReport)> {
    let mut sink = MemorySink::default();
    let report = convert_dataset(dataset, find("cvat").unwrap(), &mut sink, options)?;
    Ok((sink, report))
}

#[test]
fn class_names_cvat_cannot_hold_are_errors_with_a_hint() {
    for name in ["a:b", "#hash", " lead", "background"] {
        let dataset = memory_dataset(
            vec![Class::new(name, ClassKind::Stuff)],
            vec![item("x")],
            vec![None],
        );
        let err = write_memory(&dataset, &ConvertOptions::default()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Input);
        assert!(
            err.to_string().contains(&format!("class '{name}'"))
                && err.to_string().contains("rename"),
            "{err}"
        );
    }
}

#[test]
fn shared_colours_fail_only_when_cvat_would_misread_pixels() {
    let red = Color::Rgb8([200, 0, 0]);
    let classes = || {
        vec![
            Class::new("person", ClassKind::Thing).with_color(red),
            Class::new("tree", ClassKind::Thing).with_color(red),
        ]
    };
    // Only 'tree' (the one CVAT reads the colour as) has pixels: written as CVAT would.
    let tree_only = LabelMap::new(2, 1, vec![1, 0], vec![Segment::new(2, Some(1))]).unwrap();
    let dataset = memory_dataset(classes(), vec![item("x")], vec![Some(tree_only)]);
    let (sink, _) = write_memory(&dataset, &ConvertOptions::default()).unwrap();
    let labelmap = String::from_utf8(sink.files["labelmap.txt"].clone()).unwrap();
    assert!(
        labelmap.contains("person:200,0,0::\n") && labelmap.contains("tree:200,0,0::\n"),
        "{labelmap}"
    );
    // 'person' pixels would import as 'tree': an error naming both.
    let person = LabelMap::new(2, 1, vec![1, 0], vec![Segment::new(1, Some(1))]).unwrap();
    let dataset = memory_dataset(classes(), vec![item("x")], vec![Some(person)]);
    let err = write_memory(&dataset, &ConvertOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("class 'person' has the same colour as 'tree'"),
        "{err}"
    );
}

#[test]
fn sixteen_bit_colours_that_collide_in_eight_bits_stay_distinct_classes() {
    let classes = vec![
        Class::new("human.head.hair", ClassKind::Stuff)
            .with_color(Color::Rgb16([4384, 1699, 55003])),
        Class::new("human.head.skin", ClassKind::Stuff)
            .with_color(Color::Rgb16([4400, 1700, 55000])),
    ];
    let map = LabelMap::new(
        3,
        1,
        vec![1, 2, 0],
        vec![Segment::new(1, None), Segment::new(2, None)],
    )
    .unwrap();
    let dataset = memory_dataset(classes, vec![item("a")], vec![Some(map)]);
    let (sink, report) = write_memory(&dataset, &ConvertOptions::default()).unwrap();
    let codes: Vec<&str> = report.losses.summaries().iter().map(|s| s.code).collect();
    assert_eq!(codes, vec!["colour-precision"]);
    assert!(
        report
            .warnings
            .summaries()
            .iter()
            .any(|s| s.code == "recoloured")
    );
    let (_, _, class_px) = decode_rgb(&sink.files["SegmentationClass/a.png"]);
    assert_ne!(class_px[0..3], class_px[3..6], "two classes, two colours");
    let (_, _, object_px) = decode_rgb(&sink.files["SegmentationObject/a.png"]);
    assert_eq!(
        (&object_px[0..3], &object_px[3..6], &object_px[6..9]),
        (&[128u8, 0, 0][..], &[0u8, 128, 0][..], &[0u8, 0, 0][..]),
        "stuff gets object numbers 1, 2; unlabeled stays 0"
    );
}

#[test]
fn segment_attributes_are_a_named_loss_and_strict_refuses_them() {
    let mut segment = Segment::new(1, Some(1));
    segment
        .attributes
        .insert("occluded".into(), serde_json::Value::Bool(true));
    let make = || {
        let map = LabelMap::new(1, 1, vec![1], vec![segment.clone()]).unwrap();
        memory_dataset(
            vec![Class::new("car", ClassKind::Thing)],
            vec![item("x")],
            vec![Some(map)],
        )
    };
    let (_, report) = write_memory(&make(), &ConvertOptions::default()).unwrap();
    assert_eq!(report.losses.summaries()[0].code, "segment-attributes");
    let strict = ConvertOptions {
        strict: true,
        ..ConvertOptions::default()
    };
    let err = write_memory(&make(), &strict).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Loss);
    assert!(err.to_string().contains("--strict"), "{err}");
    // --keep-going does not turn a forbidden loss into a skipped item.
    let both = ConvertOptions {
        strict: true,
        keep_going: true,
        ..ConvertOptions::default()
    };
    assert_eq!(
        write_memory(&make(), &both).unwrap_err().kind,
        ErrorKind::Loss
    );
}

#[test]
fn item_keys_a_subset_file_cannot_hold_are_errors() {
    // (A space ending a key is escaped, `frame%20`; one starting it is not.)
    for key in ["#frame", " frame"] {
        let dataset = memory_dataset(
            vec![Class::new("car", ClassKind::Thing)],
            vec![item(key)],
            vec![None],
        );
        let err = write_memory(&dataset, &ConvertOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("item '{key}'")) && err.contains("rename the item"),
            "{err}"
        );
    }
}

#[test]
fn class_attributes_other_than_parts_and_actions_are_a_named_loss_known_before_pixels() {
    let mut class = Class::new("car", ClassKind::Thing);
    class
        .attributes
        .insert("parts".into(), serde_json::json!(["wheel"]));
    class
        .attributes
        .insert("supercategory".into(), serde_json::json!("vehicle"));
    let dataset = memory_dataset(vec![class.clone()], vec![item("x")], vec![None]);
    let (sink, report) = write_memory(&dataset, &ConvertOptions::default()).unwrap();
    assert_eq!(report.losses.summaries()[0].code, "class-attributes");
    assert!(String::from_utf8_lossy(&sink.files["labelmap.txt"]).contains("car:128,0,0:wheel:\n"));
    let strict = ConvertOptions {
        strict: true,
        ..ConvertOptions::default()
    };
    let dataset = memory_dataset(vec![class], vec![item("x")], vec![None]);
    assert_eq!(
        write_memory(&dataset, &strict).unwrap_err().kind,
        ErrorKind::Loss
    );
}

/// 255 objects, one of them covering pixels of two classes: 256 segments
/// with pixels, but the 255 object numbers a CVAT object mask holds.
#[test]
fn an_object_spanning_two_classes_shares_its_number_within_the_255() {
    let classes = vec![
        Class::new("car", ClassKind::Thing).with_color(Color::Rgb8([10, 20, 30])),
        Class::new("roof", ClassKind::Thing).with_color(Color::Rgb8([40, 50, 60])),
    ];
    let mut segments: Vec<Segment> = (1..=255).map(|k| Segment::new(1, Some(k))).collect();
    segments.push(Segment::new(2, Some(7)));
    let ids: Vec<u32> = (1..=256).collect();
    let map = LabelMap::new(16, 16, ids, segments).unwrap();
    let dataset = memory_dataset(classes, vec![Item::new("crowd")], vec![Some(map)]);
    let (sink, report) = write_memory(&dataset, &ConvertOptions::default()).unwrap();
    assert!(report.skipped.is_empty());
    let object = decode_rgb(&sink.files["SegmentationObject/crowd.png"]).2;
    let colours: std::collections::BTreeSet<&[u8]> = object.chunks(3).collect();
    assert_eq!(
        colours.len(),
        255,
        "255 object numbers, object 7 on both classes"
    );
    assert_eq!(&object[6 * 3..7 * 3], &object[255 * 3..256 * 3]);
}

/// labelme writes its `__ignore__` area as class pixels in no object: kept
/// (with a warning, since CVAT's importer drops them), and written back to
/// CVAT in no object, not as a new one.
#[test]
fn class_pixels_in_no_object_are_warned_about_and_stay_objectless_cvat_to_cvat() {
    use maskconv::codec::{Compression, PngLayout, encode_png};
    let tmp = TempDir::new("objectless");
    let input = tmp.join("in");
    std::fs::create_dir_all(input.join("SegmentationClass")).unwrap();
    std::fs::create_dir_all(input.join("SegmentationObject")).unwrap();
    std::fs::create_dir_all(input.join("ImageSets/Segmentation")).unwrap();
    std::fs::write(
        input.join("labelmap.txt"),
        "background:0,0,0::\ncar:10,20,30::\n__ignore__:200,200,200::\n",
    )
    .unwrap();
    std::fs::write(input.join("ImageSets/Segmentation/default.txt"), "a\n").unwrap();
    // Left half a car (object 1), right half ignored (no object).
    let (w, h) = (4u32, 2u32);
    let class: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            if i % w < 2 {
                [10, 20, 30]
            } else {
                [200, 200, 200]
            }
        })
        .collect();
    let first_object = maskconv::formats::colors::voc_color(1);
    let object: Vec<u8> = (0..w * h)
        .flat_map(|i| if i % w < 2 { first_object } else { [0, 0, 0] })
        .collect();
    let png = |data: &[u8]| encode_png(w, h, PngLayout::Rgb8, data, Compression::Fast);
    std::fs::write(input.join("SegmentationClass/a.png"), png(&class)).unwrap();
    std::fs::write(input.join("SegmentationObject/a.png"), png(&object)).unwrap();
    let out = tmp.join("out");
    let report = crate::common::convert(&input, &out, "cvat", &[]);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("class-without-object") && warnings.contains("'__ignore__' (4 px)"),
        "{warnings}"
    );
    assert_eq!(
        std::fs::read(out.join("SegmentationObject/a.png")).unwrap(),
        png(&object),
        "the ignored half is in no object again"
    );
}

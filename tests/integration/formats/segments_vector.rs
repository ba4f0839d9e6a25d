//! Segments.ai vector labels and image sequences: releases built with the
//! SDK's own label types (`tests/conformance/segments_sdk_vector_fixtures.py`)
//! read to the pixels pycocotools rasterises, frames to items with their
//! track ids, and what has no area or overlaps reported as named losses.

use crate::common::{TempDir, assert_fails, codes, convert, fixture, maskconv, open_dataset, s};
use maskconv::losses::Diagnostics;
use maskconv::model::{ClassKind, LabelMap};
use serde_json::Value;
use std::collections::HashMap;

/// The object id of every pixel, as the fixture script computed it with
/// pycocotools (vector labels) or gave it to `bitmap2file` (bitmaps).
fn expected_ids(key: &str) -> Vec<Vec<u32>> {
    let bytes = std::fs::read(fixture("segments/expected_vector.json")).unwrap();
    let all: Value = serde_json::from_slice(&bytes).unwrap();
    serde_json::from_value(all[key].clone()).unwrap()
}

/// Checks that `map` holds `expected`'s objects pixel for pixel: one
/// segment per object id, of the object's category (`category_of`), with the
/// id as instance number for things.
fn assert_same_objects(
    map: &LabelMap,
    expected: &[Vec<u32>],
    class_name: impl Fn(u32) -> String,
    category_of: impl Fn(u32) -> &'static str,
    kind_of: impl Fn(u32) -> ClassKind,
) {
    assert_eq!(
        (map.height() as usize, map.width() as usize),
        (expected.len(), expected[0].len())
    );
    let ids = map.ids();
    let mut segment_of_object: HashMap<u32, u32> = HashMap::new();
    for (y, row) in expected.iter().enumerate() {
        for (x, &object) in row.iter().enumerate() {
            let segment = ids[y * row.len() + x];
            assert_eq!(
                object == 0,
                segment == 0,
                "pixel {x}, {y}: object {object}, segment {segment}"
            );
            if object == 0 {
                continue;
            }
            let first = *segment_of_object.entry(object).or_insert(segment);
            assert_eq!(first, segment, "object {object} is one segment");
            let meta = map.segment(segment).unwrap();
            assert_eq!(
                class_name(meta.class),
                category_of(object),
                "object {object}"
            );
            let instance = (kind_of(meta.class) == ClassKind::Thing).then_some(object);
            assert_eq!(meta.instance, instance, "object {object}");
        }
    }
    let distinct: std::collections::HashSet<_> = segment_of_object.values().collect();
    assert_eq!(
        distinct.len(),
        segment_of_object.len(),
        "one object per segment"
    );
}

#[test]
fn vector_labels_read_to_the_pixels_pycocotools_rasterises() {
    let dataset = open_dataset(&fixture("segments/sdk_vector"), None).unwrap();
    let keys: Vec<&str> = dataset.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["shapes", "empty"]);
    let mut found = Diagnostics::default();
    let shapes = dataset.decode(0, &mut found).unwrap().unwrap();
    let name = |class| dataset.catalog.get(class).name.clone();
    let kind = |class| dataset.catalog.get(class).kind;
    let category = |object| if object == 2 { "road" } else { "car" };
    assert_same_objects(&shapes, &expected_ids("shapes"), name, category, kind);
    // The later polygon took pixels from the polygon and the box below it.
    let overlap: Vec<_> = found
        .losses
        .iter()
        .map(|l| (l.code.as_str(), &l.message))
        .collect();
    assert_eq!(overlap.len(), 1, "{overlap:?}");
    assert_eq!(overlap[0].0, "overlap-resolved");
    assert!(overlap[0].1.contains("7 pixels"), "{}", overlap[0].1);
    // An annotated image without annotations is an empty mask of its image's size.
    let empty = dataset.decode(1, &mut found).unwrap().unwrap();
    assert_eq!((empty.width(), empty.height()), (4, 3));
    assert!(empty.ids().iter().all(|&id| id == 0));
    // The polyline and the point have no area.
    assert_eq!(dataset.losses.len(), 1);
    assert_eq!(dataset.losses[0].code.as_str(), "vector-without-area");
    assert!(dataset.losses[0].message.contains("1 point, 1 polyline"));
    let attributes = &shapes
        .segments()
        .iter()
        .find(|s| s.instance == Some(3))
        .unwrap()
        .attributes;
    assert_eq!(attributes["occluded"], true);
}

#[test]
fn sequence_frames_are_items_keyed_by_frame_with_track_ids_as_instances() {
    let dataset = open_dataset(&fixture("segments/sdk_sequence"), None).unwrap();
    let keys: Vec<&str> = dataset.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["clip/0", "clip/1", "clip/2"]);
    assert!(
        dataset
            .items
            .iter()
            .all(|i| i.subset.as_deref() == Some("val"))
    );
    assert!(dataset.items[2].mask.is_none(), "frame 2 has no bitmap");
    let name = |class| dataset.catalog.get(class).name.clone();
    let kind = |class| dataset.catalog.get(class).kind;
    let category = |object| if object == 3 { "road" } else { "car" };
    for (index, key) in ["clip/0", "clip/1"].iter().enumerate() {
        let map = dataset
            .decode(index, &mut Diagnostics::default())
            .unwrap()
            .unwrap();
        assert_same_objects(&map, &expected_ids(key), name, category, kind);
    }
    assert_eq!(dataset.losses[0].code.as_str(), "stuff-track-ids");
}

#[test]
fn vector_sequences_rasterise_every_frame_on_its_own_image() {
    let dataset = open_dataset(&fixture("segments/sdk_vector_sequence"), None).unwrap();
    let keys: Vec<&str> = dataset.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["drive/0", "drive/1"]);
    let name = |class| dataset.catalog.get(class).name.clone();
    let kind = |class| dataset.catalog.get(class).kind;
    let category = |object| if object == 7 { "road" } else { "car" };
    for (index, key) in keys.iter().enumerate() {
        let map = dataset
            .decode(index, &mut Diagnostics::default())
            .unwrap()
            .unwrap();
        assert_same_objects(&map, &expected_ids(key), name, category, kind);
    }
}

#[test]
fn vector_labels_of_remote_images_need_an_image_size() {
    let input = fixture("segments/sdk_vector_remote");
    let out = TempDir::new("vector-remote");
    let output = out.join("out");
    let refused = maskconv(&["convert", s(&input), s(&output), "--to", "segments", "-q"]);
    assert_fails(&refused, &output, 1, "give --image-size WIDTHxHEIGHT");
    let report = convert(&input, &output, "segments", &["--image-size", "16x10"]);
    assert_eq!(report["written"], 1, "{report}");
    let inspected = maskconv(&["inspect", s(&output), "--json"]);
    let inspected: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(inspected["sizes"][0]["size"], serde_json::json!([16, 10]));
    for bad in ["16", "0x10", "16x99999", "axb"] {
        let out = maskconv(&["inspect", s(&input), "--image-size", bad]);
        assert_eq!(out.status.code(), Some(2), "--image-size {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--image-size"));
    }
}

#[test]
fn overlaps_and_shapes_without_area_are_named_losses_that_strict_refuses() {
    let input = fixture("segments/sdk_vector");
    let out = TempDir::new("vector-losses");
    let report = convert(&input, &out.join("nuc"), "nucleus", &[]);
    let losses = codes(&report["losses"]);
    assert!(losses.contains(&"vector-without-area"), "{losses:?}");
    assert!(losses.contains(&"overlap-resolved"), "{losses:?}");
    let strict = out.join("strict");
    let refused = maskconv(&[
        "convert",
        s(&input),
        s(&strict),
        "--to",
        "nucleus",
        "--strict",
        "-q",
    ]);
    assert_fails(&refused, &strict, 1, "vector-without-area");
}

/// Each thing track id of the frames of a written release, by item key,
/// as maskconv reads it back (instance numbers of the class `car`).
fn car_tracks(release_dir: &std::path::Path) -> Vec<(String, Vec<u32>)> {
    let dataset = open_dataset(release_dir, Some("segments")).unwrap();
    let car = dataset.catalog.find("car").unwrap();
    (0..dataset.items.len())
        .filter_map(|index| {
            let map = dataset
                .decode(index, &mut Diagnostics::default())
                .unwrap()?;
            let mut tracks: Vec<u32> = map
                .segments()
                .iter()
                .filter(|s| s.class == car)
                .filter_map(|s| s.instance)
                .collect();
            tracks.sort_unstable();
            Some((dataset.items[index].key.clone(), tracks))
        })
        .collect()
}

fn release_json(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("release.json")).unwrap()).unwrap()
}

#[test]
fn sequences_are_written_back_as_sequences_with_their_track_ids() {
    let input = fixture("segments/sdk_sequence");
    let out = TempDir::new("sequence-write");
    let report = convert(&input, &out.join("seq"), "segments", &[]);
    assert!(
        !codes(&report["warnings"]).contains(&"sequences-from-keys"),
        "read as sequences: no note"
    );
    let release = release_json(&out.join("seq"));
    assert_eq!(
        release["dataset"]["task_type"],
        "image-segmentation-sequence"
    );
    let samples = release["dataset"]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 1);
    let clip = &samples[0];
    assert_eq!(
        (clip["name"].as_str(), clip["uuid"].as_str()),
        (Some("clip"), Some("s-1"))
    );
    assert_eq!(clip["metadata"]["subset"], "val");
    assert_eq!(
        clip["attributes"]["frames"][2]["image"]["url"],
        "https://example.com/clip/2.jpg"
    );
    let frames = clip["labels"]["ground-truth"]["attributes"]["frames"]
        .as_array()
        .unwrap();
    assert_eq!(frames.len(), 3);
    assert!(
        frames[2].get("segmentation_bitmap").is_none(),
        "frame 2 has no bitmap"
    );
    // Road (stuff, class 2) is one track in every frame.
    let road: Vec<&Value> = frames[..2]
        .iter()
        .flat_map(|f| f["annotations"].as_array().unwrap())
        .filter(|a| a["category_id"] == 2)
        .map(|a| &a["track_id"])
        .collect();
    assert_eq!(road, [&Value::from(65533), &Value::from(65533)]);
    let expected = vec![
        ("clip/0".to_string(), vec![1, 2]),
        ("clip/1".to_string(), vec![2]),
    ];
    assert_eq!(car_tracks(&out.join("seq")), expected);
    assert_eq!(car_tracks(&input), expected);
    let label: Value =
        serde_json::from_slice(&std::fs::read(out.join("seq/labels/clip.json")).unwrap()).unwrap();
    assert_eq!(label, clip["labels"]["ground-truth"]["attributes"]);
}

#[test]
fn a_sequence_through_every_format_with_instances_comes_back_with_its_frames_and_track_ids() {
    let input = fixture("segments/sdk_sequence");
    let out = TempDir::new("sequence-through");
    let expected = car_tracks(&input);
    let formats = maskconv::formats::REGISTRY
        .iter()
        .map(|f| f.info())
        .filter(|f| f.can_read && f.can_write && f.capabilities.instances && f.name != "segments");
    let mut checked = Vec::new();
    for format in formats {
        let middle = out.join(format.name);
        let there = convert(&input, &middle, format.name, &[]);
        if format.name == "coco" {
            // COCO annotation ids are unique in a dataset: a track's
            // instance number cannot repeat across frames, and says so.
            assert!(
                codes(&there["warnings"]).contains(&"annotation-ids-renumbered"),
                "{there}"
            );
            continue;
        }
        let back = out.join(&format!("{}-back", format.name));
        let report = convert(&middle, &back, "segments", &[]);
        assert!(
            codes(&report["warnings"]).contains(&"sequences-from-keys"),
            "{}: {report}",
            format.name
        );
        let release = release_json(&back);
        assert_eq!(
            release["dataset"]["task_type"], "image-segmentation-sequence",
            "{}",
            format.name
        );
        let samples = release["dataset"]["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 1, "{}", format.name);
        assert_eq!(samples[0]["name"], "clip");
        assert_eq!(car_tracks(&back), expected, "through {}", format.name);
        checked.push(format.name);
    }
    assert!(
        checked.contains(&"cvat") && checked.contains(&"nucleus"),
        "{checked:?}"
    );
}

#[test]
fn single_images_writes_the_frames_as_image_samples() {
    let out = TempDir::new("sequence-single");
    convert(
        &fixture("segments/sdk_sequence"),
        &out.join("img"),
        "segments",
        &["--single-images"],
    );
    let release = release_json(&out.join("img"));
    assert_eq!(release["dataset"]["task_type"], "segmentation-bitmap");
    let names: Vec<&str> = release["dataset"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["clip/0.jpg", "clip/1.jpg", "clip/2.jpg"]);
}

#[test]
fn sequences_are_the_same_bytes_at_any_thread_count() {
    let out = TempDir::new("sequence-threads");
    for (name, jobs) in [("one", "1"), ("two", "2")] {
        for input in ["segments/sdk_sequence", "segments/sdk_vector_sequence"] {
            let to = out.join(&format!("{name}/{}", input.replace('/', "-")));
            convert(
                &fixture(input),
                &to,
                "segments",
                &["-j", jobs, "--url-prefix", "https://x/"],
            );
            convert(
                &fixture(input),
                &to.with_extension("zip"),
                "segments",
                &["-j", jobs],
            );
        }
    }
    assert_eq!(
        crate::common::read_tree(&out.join("one")),
        crate::common::read_tree(&out.join("two"))
    );
}

//! Datagen: the real datapoints read to the counts OpenCV gives, round trips
//! (datagen → datagen, datagen → cvat → datagen, cvat → datagen → cvat), the
//! folder, `.zip` and `.tar.gz` forms, the layouts, and every kind of bad input.

use crate::common::open_dataset;
use crate::common::{
    CanonicalItem, TempDir, assert_fails, canonical, codes, convert, describe, fixture, maskconv,
    raw_png, read_tree, s, varied_dataset,
};
use maskconv::codec::{Compression, PngLayout, encode_png};
use maskconv::model::Color;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(super) const REAL: &str = "datagen/three_real_datapoints";

pub(super) fn convert_fails(input: &Path, output: &Path, to: &str, needle: &str) {
    let out = maskconv(&["convert", s(input), s(output), "--to", to]);
    assert_fails(&out, output, 1, needle);
}

/// A 16-bit RGB PNG whose pixels come from `paint(x, y)`.
pub(super) fn png16(w: u32, h: u32, paint: impl Fn(u32, u32) -> [u16; 3]) -> Vec<u8> {
    let mut data = Vec::with_capacity((w * h * 6) as usize);
    for y in 0..h {
        for x in 0..w {
            for v in paint(x, y) {
                data.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
    encode_png(w, h, PngLayout::Rgb16, &data, Compression::Fast)
}

pub(super) const HAIR: [u16; 3] = [4384, 1699, 55003];
pub(super) const NOSE: [u16; 3] = [25984, 22567, 16578];

pub(super) fn small_metadata() -> String {
    format!(
        r#"{{"version": "1.0.0", "human": {{"head": {{"hair": {{"R": {}, "G": {}, "B": {}}}, "nose": {{"left": [{}, {}, {}]}}}}}}, "background": {{"R": 0, "G": 0, "B": 0}}}}"#,
        HAIR[0], HAIR[1], HAIR[2], NOSE[0], NOSE[1], NOSE[2]
    )
}

/// A one-datapoint dataset with `small_metadata` and a 6×4 mask: hair on
/// the left, nose in the middle, background on the right.
pub(super) fn small_dataset(dir: &Path) -> PathBuf {
    let dp = dir.join("datapoint_00001");
    std::fs::create_dir_all(dp.join("camera")).unwrap();
    std::fs::write(
        dp.join("semantic_segmentation_metadata.json"),
        small_metadata(),
    )
    .unwrap();
    let mask = png16(6, 4, |x, _| match x {
        0 | 1 => HAIR,
        2 | 3 => NOSE,
        _ => [0, 0, 0],
    });
    std::fs::write(dp.join("camera/semantic_segmentation.png"), mask).unwrap();
    dir.to_path_buf()
}

/// Per item, per class: pixels, as the library reads them.
pub(super) fn counts_by_item(input: &Path) -> BTreeMap<String, BTreeMap<String, u64>> {
    let dataset = open_dataset(input, None).unwrap();
    canonical(&dataset)
        .into_iter()
        .map(|item| {
            let mut counts = BTreeMap::new();
            for (class, _) in &item.pixels {
                if let Some(class) = class {
                    *counts.entry(class.clone()).or_default() += 1;
                }
            }
            (item.key, counts)
        })
        .collect()
}

/// Class name → colour, of a dataset's catalog.
pub(super) fn colours(input: &Path) -> BTreeMap<String, Option<Color>> {
    open_dataset(input, None)
        .unwrap()
        .catalog
        .classes()
        .iter()
        .map(|c| (c.name.clone(), c.color))
        .collect()
}

/// Per item (sorted by key): key, subset, size and per pixel the class;
/// instances are dropped, since Datagen holds none.
pub(super) fn classes_per_pixel(input: &Path) -> Vec<CanonicalItem> {
    let dataset = open_dataset(input, None).unwrap();
    let mut items: Vec<CanonicalItem> = canonical(&dataset)
        .into_iter()
        .map(|mut item| {
            item.pixels.iter_mut().for_each(|p| p.1 = None);
            item
        })
        .collect();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    items
}

/// Asserts two readings are equal, describing the first difference briefly.
pub(super) fn assert_same_pixels(a: &Path, b: &Path) {
    let (ia, ib) = (classes_per_pixel(a), classes_per_pixel(b));
    let keys = |items: &[CanonicalItem]| -> Vec<String> {
        items
            .iter()
            .map(|i| format!("{} subset {:?} size {:?}", i.key, i.subset, i.size))
            .collect()
    };
    assert_eq!(keys(&ia), keys(&ib), "{} vs {}", a.display(), b.display());
    for (x, y) in ia.iter().zip(&ib) {
        let differing = x
            .pixels
            .iter()
            .zip(&y.pixels)
            .filter(|(p, q)| p != q)
            .count();
        assert_eq!(differing, 0, "item '{}': {differing} pixels differ", x.key);
    }
}

#[test]
pub(super) fn real_datapoints_read_to_the_per_class_counts_opencv_gives() {
    // fixtures/datagen/three_real_datapoints_opencv_counts.json was written by
    // tests/conformance/datagen_counts.py (OpenCV IMREAD_UNCHANGED, BGR→RGB,
    // exact match against each metadata leaf).
    let expected: BTreeMap<String, BTreeMap<String, u64>> = serde_json::from_slice(
        &std::fs::read(fixture("datagen/three_real_datapoints_opencv_counts.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(expected.len(), 3);
    assert_eq!(counts_by_item(&fixture(REAL)), expected);

    let out = maskconv(&["inspect", s(&fixture(REAL)), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for counts in expected.values() {
        for (class, n) in counts {
            *totals.entry(class.clone()).or_default() += n;
        }
    }
    let mut seen = 0;
    let mut labelled = 0;
    for class in report["classes"].as_array().unwrap() {
        let name = class["name"].as_str().unwrap();
        let pixels = class["pixels"].as_u64().unwrap();
        assert_eq!(pixels, totals.get(name).copied().unwrap_or(0), "{name}");
        assert_eq!(class["color_bits"], 16);
        seen += usize::from(pixels > 0);
        labelled += pixels;
    }
    assert_eq!(seen, totals.len());
    // Every pixel is a class or background: nothing unmatched.
    let all = 2 * 1024 * 1024 + 128 * 128;
    assert_eq!(labelled + report["unlabeled_pixels"].as_u64().unwrap(), all);
    // Listed but absent (occluded) classes are in the catalog with 0 pixels.
    let gums = report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "human.head.mouth.gums.bottom")
        .unwrap();
    assert_eq!(gums["pixels"], 0);
}

#[test]
pub(super) fn datagen_to_datagen_is_exact_and_reproduces_the_metadata_bytes() {
    let tmp = TempDir::new("dg-identity");
    let out = tmp.join("out");
    let report = convert(&fixture(REAL), &out, "datagen", &[]);
    assert!(codes(&report["losses"]).is_empty(), "{report}");
    assert_same_pixels(&fixture(REAL), &out);
    assert_eq!(colours(&fixture(REAL)), colours(&out));
    let written = read_tree(&out);
    let source = read_tree(&fixture(REAL));
    assert_eq!(
        written["datapoint_00001/semantic_segmentation_metadata.json"],
        source["datapoint_00001/semantic_segmentation_metadata.json"],
        "same classes, same order, same formatting"
    );
    let meta =
        String::from_utf8(written["datapoint_00014/semantic_segmentation_metadata.json"].clone())
            .unwrap();
    assert!(meta.starts_with("{\n   \"version\": \"1.0.0\",\n") && meta.ends_with("\n}"));
    let environment: Value =
        serde_json::from_slice(&written["datapoint_00001/camera/environment.json"]).unwrap();
    assert_eq!(
        environment["environments"][0]["image_name"],
        "visible_spectrum_01.png"
    );
    assert!(!written.keys().any(|k| k.ends_with("maskconv_item.json")));
    // The masks are 16-bit RGB, as Datagen writes them.
    let mask = &written["datapoint_00001/camera/semantic_segmentation.png"];
    let reader = png::Decoder::new(std::io::Cursor::new(&mask[..]))
        .read_info()
        .unwrap();
    assert_eq!(
        (reader.info().color_type, reader.info().bit_depth),
        (png::ColorType::Rgb, png::BitDepth::Sixteen)
    );
}

#[test]
pub(super) fn datagen_to_cvat_to_datagen_keeps_names_pixels_and_datagen_colours() {
    let tmp = TempDir::new("dg-cvat-dg");
    let cvat = tmp.join("cvat.zip");
    let report = convert(&fixture(REAL), &cvat, "cvat", &[]);
    assert_eq!(codes(&report["losses"]), ["colour-precision"], "{report}");
    assert!(
        codes(&report["warnings"]).is_empty(),
        "no recolouring: {report}"
    );
    let back = tmp.join("back");
    convert(&cvat, &back, "datagen", &[]);
    assert_same_pixels(&fixture(REAL), &back);
    assert_eq!(
        colours(&fixture(REAL)),
        colours(&back),
        "Datagen's exact 16-bit colours"
    );
}

#[test]
pub(super) fn sixteen_bit_colours_that_collide_at_eight_bits_survive_datagen_to_cvat_to_datagen() {
    let tmp = TempDir::new("dg-collide");
    let input = tmp.join("in");
    let dp = input.join("datapoint_00001");
    std::fs::create_dir_all(dp.join("camera")).unwrap();
    let (a, b) = ([1000, 2000, 3000], [1001, 2001, 3001]);
    std::fs::write(
        dp.join("semantic_segmentation_metadata.json"),
        r#"{"version": "1.0.0", "a": {"R": 1000, "G": 2000, "B": 3000}, "b": [1001, 2001, 3001], "background": [0, 0, 0]}"#,
    )
    .unwrap();
    std::fs::write(
        dp.join("camera/semantic_segmentation.png"),
        png16(4, 2, |x, _| if x < 2 { a } else { b }),
    )
    .unwrap();
    let cvat = tmp.join("cvat");
    let report = convert(&input, &cvat, "cvat", &[]);
    assert_eq!(codes(&report["warnings"]), ["recoloured"], "{report}");
    let back = tmp.join("back");
    convert(&cvat, &back, "datagen", &[]);
    assert_same_pixels(&input, &back);
}

#[test]
pub(super) fn cvat_to_datagen_to_cvat_gives_back_keys_subsets_and_classes() {
    let tmp = TempDir::new("cvat-dg-cvat");
    let input = tmp.join("cvat");
    varied_dataset(&input, 9);
    let datagen = tmp.join("datagen");
    let report = convert(&input, &datagen, "datagen", &[]);
    assert_eq!(codes(&report["losses"]), ["instances-merged"], "{report}");
    let written = read_tree(&datagen);
    assert!(written.contains_key("datapoint_00001/camera/maskconv_item.json"));
    let back = tmp.join("back");
    convert(&datagen, &back, "cvat", &[]);
    assert_same_pixels(&input, &back);
    assert_eq!(colours(&input), colours(&back));
    // --strict refuses the merge of instances.
    let out = maskconv(&[
        "convert",
        s(&input),
        s(&tmp.join("strict")),
        "--to",
        "datagen",
        "--strict",
    ]);
    assert_fails(&out, &tmp.join("strict"), 1, "instances-merged");
}

#[test]
pub(super) fn items_without_a_mask_survive_a_round_trip_through_datagen() {
    let tmp = TempDir::new("dg-no-mask");
    let input = fixture("cvat/generated_cvat_export/cvat_like_export.zip");
    let source = open_dataset(&input, None).unwrap();
    let without = canonical(&source)
        .iter()
        .filter(|i| i.size.is_none())
        .count();
    assert!(without > 0, "the fixture has an item without mask");
    let datagen = tmp.join("datagen");
    convert(&input, &datagen, "datagen", &[]);
    let back = tmp.join("back.zip");
    convert(&datagen, &back, "cvat", &[]);
    let keys = |d: &maskconv::formats::api::Dataset| -> Vec<(String, Option<String>)> {
        d.items
            .iter()
            .map(|i| (i.key.clone(), i.subset.clone()))
            .collect()
    };
    assert_eq!(keys(&open_dataset(&back, None).unwrap()), keys(&source));
    assert_same_pixels(&input, &back);
}

#[test]
pub(super) fn tar_gz_zip_and_folder_forms_give_identical_output() {
    let tmp = TempDir::new("dg-forms");
    // The archives hold the datapoints under a top folder, in reverse order,
    // with a large file Datagen ships beside the masks.
    let files: Vec<(String, Vec<u8>)> = read_tree(&fixture(REAL))
        .into_iter()
        .rev()
        .flat_map(|(path, bytes)| {
            let depth = path.replace("semantic_segmentation.png", "depth.exr");
            let extra = (path != depth).then(|| (format!("faces/{depth}"), vec![7u8; 3 << 20]));
            std::iter::once((format!("faces/{path}"), bytes)).chain(extra)
        })
        .collect();
    let tar_gz = tmp.join("faces.tar.gz");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&tar_gz).unwrap(),
        flate2::Compression::fast(),
    ));
    for (path, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
    let zip_path = tmp.join("faces.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for (path, bytes) in &files {
        zip.start_file(path.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, bytes).unwrap();
    }
    zip.finish().unwrap();

    let reference = tmp.join("from-folder.zip");
    let report = convert(&fixture(REAL), &reference, "cvat", &["-j", "2"]);
    assert!(!codes(&report["warnings"]).contains(&"archive-order"));
    let reference = std::fs::read(reference).unwrap();
    for (input, threads) in [(&tar_gz, "1"), (&tar_gz, "2"), (&zip_path, "2")] {
        let out = tmp.join(&format!(
            "from-{}-{threads}.zip",
            input.extension().unwrap().to_string_lossy()
        ));
        let report = convert(input, &out, "cvat", &["-j", threads]);
        // Stored in reverse, but the masks read past are kept: one pass, no warning.
        assert!(
            !codes(&report["warnings"]).contains(&"archive-order"),
            "{report}"
        );
        assert!(
            std::fs::read(&out).unwrap() == reference,
            "{} -j{threads}",
            input.display()
        );
    }
    let from_tar = tmp.join("dg-from-tar");
    convert(&tar_gz, &from_tar, "datagen", &[]);
    let from_folder = tmp.join("dg-from-folder");
    convert(&fixture(REAL), &from_folder, "datagen", &[]);
    assert_eq!(read_tree(&from_tar), read_tree(&from_folder));
}

/// A gzip'd tar with one entry whose name is written raw into the header.
pub(super) fn tar_gz_with_raw_name(path: &Path, name: &str) {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(3);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    ));
    builder.append(&header, &b"abc"[..]).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
}

#[test]
pub(super) fn tar_entries_that_escape_the_archive_are_refused() {
    let tmp = TempDir::new("dg-tar-escape");
    let archive = tmp.join("bad.tar.gz");
    tar_gz_with_raw_name(&archive, "datapoint_00001/../../evil.json");
    convert_fails(&archive, &tmp.join("out"), "datagen", "contains '..'");
    tar_gz_with_raw_name(&archive, "/etc/evil.json");
    convert_fails(&archive, &tmp.join("out"), "datagen", "absolute path");
    std::fs::write(&archive, b"\x1f\x8b\x08\x00garbage").unwrap();
    convert_fails(&archive, &tmp.join("out"), "datagen", "bad.tar.gz");
}

#[test]
pub(super) fn older_and_humans_in_context_layouts_are_read_and_keys_survive() {
    let tmp = TempDir::new("dg-layouts");
    let input = tmp.join("in");
    // scene_00001: two cameras sharing the scene's metadata.
    let scene = input.join("scene_00001");
    for (camera, colour) in [("camera_1", HAIR), ("camera_2", NOSE)] {
        std::fs::create_dir_all(scene.join(camera)).unwrap();
        std::fs::write(
            scene.join(camera).join("semantic_segmentation.png"),
            png16(3, 2, |_, _| colour),
        )
        .unwrap();
    }
    std::fs::write(
        scene.join("semantic_segmentation_metadata.json"),
        small_metadata(),
    )
    .unwrap();
    // scene_00002: Humans-in-Context, metadata in the frame folder, no version.
    let frame = input.join("scene_00002/frames/001");
    std::fs::create_dir_all(frame.join("high_doorbell_camera")).unwrap();
    std::fs::write(
        frame.join("semantic_segmentation_metadata.json"),
        r#"{"actor": {"body": [5, 6, 7]}, "background": [0, 0, 0]}"#,
    )
    .unwrap();
    std::fs::write(
        frame.join("high_doorbell_camera/semantic_segmentation.png"),
        png16(2, 2, |x, _| if x == 0 { [5, 6, 7] } else { [0, 0, 0] }),
    )
    .unwrap();
    let dataset = open_dataset(&input, None).unwrap();
    let keys: Vec<&str> = dataset.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "scene_00001/camera_1",
            "scene_00001/camera_2",
            "scene_00002/frames/001/high_doorbell_camera"
        ]
    );
    let out = tmp.join("out");
    convert(&input, &out, "datagen", &[]);
    assert_same_pixels(&input, &out);
    let written = read_tree(&out);
    let shared: Value =
        serde_json::from_slice(&written["scene_00001/semantic_segmentation_metadata.json"])
            .unwrap();
    assert!(
        shared["human"]["head"]["hair"].is_object() && shared["human"]["head"]["nose"].is_object(),
        "union of both cameras: {shared}"
    );
    // Through CVAT and back, the keys come back as the same Datagen paths.
    let cvat = tmp.join("cvat");
    convert(&input, &cvat, "cvat", &[]);
    let back = tmp.join("back");
    convert(&cvat, &back, "datagen", &[]);
    assert_same_pixels(&input, &back);
}

#[test]
pub(super) fn the_visible_spectrum_image_named_by_environment_json_is_carried_along() {
    let tmp = TempDir::new("dg-image");
    let input = small_dataset(&tmp.join("in"));
    let camera = input.join("datapoint_00001/camera");
    std::fs::write(
        camera.join("environment.json"),
        r#"{"version": "1.0.0", "environments": [{"image_name": "visible_spectrum_02.png"}]}"#,
    )
    .unwrap();
    std::fs::write(camera.join("visible_spectrum_01.png"), b"not me").unwrap();
    std::fs::write(camera.join("visible_spectrum_02.png"), b"the image").unwrap();
    let cvat = tmp.join("cvat");
    convert(&input, &cvat, "cvat", &[]);
    assert_eq!(
        std::fs::read(cvat.join("JPEGImages/datapoint_00001/camera.png")).unwrap(),
        b"the image"
    );
    let back = tmp.join("back");
    convert(&cvat, &back, "datagen", &[]);
    let written = read_tree(&back);
    assert_eq!(
        written["datapoint_00001/camera/visible_spectrum_01.png"],
        b"the image"
    );
}

#[test]
pub(super) fn rgba16_masks_are_read_with_alpha_ignored() {
    let tmp = TempDir::new("dg-rgba");
    let input = small_dataset(&tmp.join("in"));
    let mut data = Vec::new();
    for x in 0..6u16 {
        let colour = if x < 3 { HAIR } else { NOSE };
        for v in colour.into_iter().chain([x * 1000]) {
            data.extend_from_slice(&v.to_be_bytes());
        }
    }
    let (color, depth) = (png::ColorType::Rgba, png::BitDepth::Sixteen);
    let png = raw_png(6, 1, color, depth, &data, None);
    std::fs::write(
        input.join("datapoint_00001/camera/semantic_segmentation.png"),
        png,
    )
    .unwrap();
    let counts = counts_by_item(&input);
    assert_eq!(counts["datapoint_00001/camera"]["human.head.hair"], 3);
    assert_eq!(counts["datapoint_00001/camera"]["human.head.nose.left"], 3);
}

#[test]
pub(super) fn same_class_with_two_colours_is_a_loss_and_strict_refuses_it() {
    let tmp = TempDir::new("dg-conflict");
    let input = small_dataset(&tmp.join("in"));
    let dp = input.join("datapoint_00002");
    std::fs::create_dir_all(dp.join("camera")).unwrap();
    std::fs::write(
        dp.join("semantic_segmentation_metadata.json"),
        r#"{"human": {"head": {"hair": [1, 2, 3]}}, "background": [0, 0, 0]}"#,
    )
    .unwrap();
    std::fs::write(
        dp.join("camera/semantic_segmentation.png"),
        png16(2, 2, |_, _| [1, 2, 3]),
    )
    .unwrap();
    let report = convert(&input, &tmp.join("out"), "datagen", &[]);
    assert_eq!(
        codes(&report["losses"]),
        ["class-colour-conflict"],
        "{report}"
    );
    // Both datapoints' hair pixels read as hair.
    let counts = counts_by_item(&input);
    assert_eq!(counts["datapoint_00002/camera"]["human.head.hair"], 4);
    let strict = tmp.join("strict");
    let out = maskconv(&[
        "convert",
        s(&input),
        s(&strict),
        "--to",
        "datagen",
        "--strict",
    ]);
    assert_fails(
        &out,
        &strict,
        1,
        "datapoint_00002/semantic_segmentation_metadata.json",
    );
}

/// A camera whose image is infrared, with lighting fields in its
/// environment.json: datagen → datagen keeps the image's name (its role)
/// and every field; an image environment.json names but lacks is warned about.
#[test]
fn datagen_to_datagen_keeps_the_image_name_and_environment_fields() {
    let tmp = TempDir::new("environment");
    let input = tmp.join("in");
    let camera = input.join("datapoint_00001/camera");
    std::fs::create_dir_all(&camera).unwrap();
    let mask = "semantic_segmentation.png";
    std::fs::copy(
        fixture(REAL).join("datapoint_00001/camera").join(mask),
        camera.join(mask),
    )
    .unwrap();
    std::fs::copy(
        fixture(REAL).join("datapoint_00001/semantic_segmentation_metadata.json"),
        input.join("datapoint_00001/semantic_segmentation_metadata.json"),
    )
    .unwrap();
    std::fs::write(camera.join("infrared_spectrum.png"), b"infrared bytes").unwrap();
    let environment = r#"{"version": "1.0.0", "environments": [{"image_name": "infrared_spectrum.png", "environment": "indoor", "time_of_day": "night", "background": "studio"}]}"#;
    std::fs::write(camera.join("environment.json"), environment).unwrap();
    let out = tmp.join("out");
    convert(&input, &out, "datagen", &[]);
    let written = out.join("datapoint_00001/camera");
    assert_eq!(
        std::fs::read(written.join("infrared_spectrum.png")).unwrap(),
        b"infrared bytes"
    );
    assert!(!written.join("visible_spectrum_01.png").exists());
    let kept: Value =
        serde_json::from_slice(&std::fs::read(written.join("environment.json")).unwrap()).unwrap();
    let expected: Value = serde_json::from_str(environment).unwrap();
    assert_eq!(kept, expected);

    // environment.json names an image that is not there.
    std::fs::remove_file(camera.join("infrared_spectrum.png")).unwrap();
    let report = convert(&input, &tmp.join("out2"), "cvat", &[]);
    assert!(
        codes(&report["warnings"]).contains(&"image-missing"),
        "{report}"
    );
}

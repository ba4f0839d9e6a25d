//! nucleus: bad inputs are clear errors that name the file, and publish nothing.

use super::nucleus::*;
use crate::common::open_dataset;
use crate::common::{
    TempDir, assert_fails, canonical, codes, convert, describe, fixture, maskconv, memory_dataset,
    raw_png, read_tree, s,
};
use maskconv::codec::{Compression, PngLayout, encode_png};
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::formats::find;
use maskconv::formats::options::FormatOptions;
use maskconv::io::MemorySink;
use maskconv::model::{Class, ClassKind, Item, LabelMap, Segment};
use std::path::Path;

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
fn reference_ids_that_cannot_be_file_names_are_written_escaped() {
    let tmp = TempDir::new("nucleus-keys");
    let input = tmp.join("in");
    let line = GOOD_LINE.replace(
        "\"reference_id\": \"a\"",
        "\"reference_id\": \"/data/a.jpg\"",
    );
    write_case(&input, &format!("{GOOD_LINE}\n{line}\n"), &[gray("a.png")]);
    let output = tmp.join("out");
    let out = maskconv(&["convert", s(&input), s(&output), "--to", "cvat", "-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::common::describe(&out)
    );
    assert!(output.join("SegmentationClass/%2Fdata/a.jpg.png").is_file());
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
        options: FormatOptions::new()
            .with(maskconv::formats::find_option("semantic").unwrap(), None)
            .unwrap(),
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

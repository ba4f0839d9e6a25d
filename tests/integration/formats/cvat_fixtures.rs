//! Every CVAT/Datumaro fixture read here as CVAT's importer reads it
//! (`EXPECTED_import.json`, recorded with the Datumaro fork CVAT uses), and
//! every case it rejects rejected here with a clear error. Deliberate
//! differences (exactness over the importer's losses) have their own tests.

use crate::common::open_dataset;
use crate::common::{ACCEPTED_CVAT_CASES, canonical, fixture};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Masks = BTreeMap<(String, u32), BTreeSet<(usize, usize)>>;

/// The case's EXPECTED_import.json (beside it, or one folder up for the
/// `generated_cvat_export/dataset` folder).
fn expected(case: &Path) -> Value {
    let path = [case, case.parent().unwrap()]
        .iter()
        .map(|dir| dir.join("EXPECTED_import.json"))
        .find(|p| p.exists())
        .unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The importer's masks of one expected item: (label, instance) → pixels.
fn expected_masks(item: &Value) -> Masks {
    let mut masks = Masks::new();
    for mask in item["masks"].as_array().unwrap() {
        let key = (
            mask["label"].as_str().unwrap().to_string(),
            mask["instance_id"].as_u64().unwrap() as u32,
        );
        let pixels = masks.entry(key).or_default();
        for (y, row) in mask["rows"].as_array().unwrap().iter().enumerate() {
            for (x, c) in row.as_str().unwrap().chars().enumerate() {
                if c == '1' {
                    pixels.insert((x, y));
                }
            }
        }
    }
    masks
}

/// Our reading of one item in the importer's terms: with an object mask,
/// one mask per (class, object) over pixels with an object number; without,
/// one mask per class including `background`.
fn our_masks(item: &crate::common::CanonicalItem, has_objects: bool) -> Masks {
    let mut masks = Masks::new();
    let (width, _) = item.size.unwrap();
    for (i, (class, instance)) in item.pixels.iter().enumerate() {
        if has_objects && instance.is_none() {
            continue;
        }
        let label = class.clone().unwrap_or_else(|| "background".into());
        masks
            .entry((label, instance.unwrap_or(0)))
            .or_default()
            .insert((i % width as usize, i / width as usize));
    }
    masks
}

/// Reads `case` and checks labels, items, subsets and masks against its
/// EXPECTED_import.json. Returns the dataset's warnings for further checks.
fn assert_reads_as_cvat_does(case: &Path) -> Vec<String> {
    let expected = expected(case);
    let dataset = open_dataset(case, None).unwrap_or_else(|e| panic!("{}: {e}", case.display()));

    // Labels: ours are the importer's minus the background label and minus the
    // colourless part labels the fork appends (kept here as label attributes).
    let parts: BTreeSet<String> = dataset
        .catalog
        .iter()
        .filter_map(|(_, c)| c.attributes.get("parts"))
        .flat_map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
        })
        .collect();
    let expected_labels: Vec<(String, Value)> = expected["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap().to_string(), l["color"].clone()))
        .filter(|(name, color)| name != "background" && !(color.is_null() && parts.contains(name)))
        .collect();
    let our_labels: Vec<(String, Value)> = dataset
        .catalog
        .iter()
        .map(|(_, c)| {
            (
                c.name.clone(),
                c.color
                    .map_or(Value::Null, |c| Value::from(c.channels().to_vec())),
            )
        })
        .collect();
    assert_eq!(our_labels, expected_labels, "{}: labels", case.display());

    // Items CVAT reads (subset files without '_') in the same order, same subsets, same masks.
    let ours = canonical(&dataset);
    let ours: Vec<&crate::common::CanonicalItem> = ours
        .iter()
        .filter(|i| !i.subset.as_deref().unwrap_or("").contains('_'))
        .collect();
    let items = expected["items"].as_array().unwrap();
    assert_eq!(ours.len(), items.len(), "{}: item count", case.display());
    for (our, theirs) in ours.iter().zip(items) {
        assert_eq!(
            our.key,
            theirs["id"].as_str().unwrap(),
            "{}",
            case.display()
        );
        // Datumaro's "default" subset is the model's "no subset".
        assert_eq!(
            our.subset.as_deref().unwrap_or("default"),
            theirs["subset"].as_str().unwrap(),
            "{}",
            case.display()
        );
        let expected = expected_masks(theirs);
        if our.size.is_none() {
            assert!(
                expected.is_empty(),
                "{}: {} has masks there",
                case.display(),
                our.key
            );
            continue;
        }
        let has_objects =
            case.join("SegmentationObject").exists() || expected.keys().any(|(_, i)| *i != 0);
        assert_eq!(
            our_masks(our, has_objects),
            expected,
            "{}: masks of {}",
            case.display(),
            our.key
        );
    }
    dataset.warnings.iter().map(|n| n.message.clone()).collect()
}

fn assert_rejected(case: &Path, needle: &str) -> String {
    let err = match open_dataset(case, None) {
        Err(e) => e,
        Ok(dataset) => (0..dataset.items.len())
            .find_map(|i| {
                dataset
                    .decode(i, &mut maskconv::losses::Diagnostics::default())
                    .err()
            })
            .unwrap_or_else(|| panic!("{}: read without error", case.display())),
    };
    let message = err.to_string();
    assert!(
        message.contains(needle),
        "{}: error {message:?} lacks {needle:?}",
        case.display()
    );
    assert!(
        expected(case).get("error").is_some(),
        "the importer accepts {}",
        case.display()
    );
    message
}

#[test]
fn accepted_cases_read_as_the_importer_reads_them() {
    // R differs on purpose (every pixel keeps its class): see its own test below.
    for case in ACCEPTED_CVAT_CASES
        .iter()
        .filter(|c| !c.ends_with("R_instance_spans_classes"))
    {
        assert_reads_as_cvat_does(&fixture(case));
    }
}

#[test]
fn a_cvat_zip_reads_like_its_folder() {
    let zip = open_dataset(
        &fixture("cvat/generated_cvat_export/cvat_like_export.zip"),
        None,
    )
    .unwrap();
    let folder = open_dataset(&fixture("cvat/generated_cvat_export/dataset"), None).unwrap();
    assert_eq!(canonical(&zip), canonical(&folder));
    assert_eq!(zip.catalog, folder.catalog);
}

#[test]
fn a_cvat_tar_gz_reads_like_its_folder() {
    let folder = fixture("cvat/generated_cvat_export/dataset");
    let tmp = crate::common::TempDir::new("cvat-tar");
    let archive = tmp.join("export.tar.gz");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).unwrap(),
        flate2::Compression::fast(),
    ));
    // Under a top folder, in reverse name order.
    for (path, bytes) in crate::common::read_tree(&folder).into_iter().rev() {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("export/{path}"), &bytes[..])
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
    let from_tar = open_dataset(&archive, None).unwrap();
    let from_folder = open_dataset(&folder, None).unwrap();
    assert_eq!(canonical(&from_tar), canonical(&from_folder));
    assert_eq!(from_tar.catalog, from_folder.catalog);
}

#[test]
fn duplicate_label_colours_read_as_the_last_label_with_a_warning() {
    let warnings = assert_reads_as_cvat_does(&fixture("cvat/generated_cvat_export/dataset"));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("'person', 'tree' share colour (250,50,83)")
                && w.contains("as 'tree'")),
        "{warnings:?}"
    );
}

#[test]
fn label_parts_and_actions_stay_attributes_of_their_label() {
    let dataset = open_dataset(
        &fixture("cvat/generated_import_cases/O_labelmap_whitespace_parts"),
        None,
    )
    .unwrap();
    let car = dataset.catalog.get(dataset.catalog.find("car").unwrap());
    assert_eq!(
        car.attributes["parts"],
        serde_json::json!(["wheel", "door"])
    );
    assert_eq!(car.attributes["actions"], serde_json::json!(["drive"]));
    assert!(
        dataset.catalog.find("Zebra ").is_some(),
        "the trailing space is part of the name"
    );
    assert!(dataset.catalog.find("door").is_none());
}

#[test]
fn underscore_subset_files_are_read_with_a_warning() {
    let case = fixture("cvat/generated_import_cases/K_subsets");
    let warnings = assert_reads_as_cvat_does(&case);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("my_train.txt") && w.contains("ignores")),
        "{warnings:?}"
    );
    let dataset = open_dataset(&case, None).unwrap();
    let extra: Vec<(&str, Option<&str>)> = dataset
        .items
        .iter()
        .map(|i| (i.key.as_str(), i.subset.as_deref()))
        .collect();
    assert_eq!(
        extra,
        vec![
            ("frame_000000", Some("val")),
            ("frame_000001 extra", Some("val")),
            ("frame_000001", Some("my_train"))
        ]
    );
}

#[test]
fn missing_labelmap_falls_back_to_the_voc_map_and_gray_masks_index_labels() {
    let dataset = open_dataset(&fixture("cvat/datumaro_voc_dataset1"), None).unwrap();
    assert_eq!(dataset.catalog.len(), 21, "20 VOC classes + ignored");
    assert!(
        dataset
            .warnings
            .iter()
            .any(|w| w.code == "default-labelmap")
    );
}

/// CVAT's importer gives an object spanning several classes one label (the
/// highest index) and turns objects over background into `background`
/// objects. maskconv keeps every pixel's class and says so.
#[test]
fn objects_spanning_classes_keep_each_pixels_class() {
    let case = fixture("cvat/generated_import_cases/R_instance_spans_classes");
    let dataset = open_dataset(&case, None).unwrap();
    let item = &canonical(&dataset)[0];
    let expected = expected_masks(&expected(&case)["items"][0]);

    // Independently: the class of each pixel is the gray value's labelmap line.
    let labels = ["Zebra", "background", "car", "person", "tree"];
    let png = std::fs::read(case.join("SegmentationClass/frame_000000.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut gray = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut gray).unwrap();
    for (i, (class, _)) in item.pixels.iter().enumerate() {
        let label = labels[gray[i] as usize];
        assert_eq!(
            class.as_deref(),
            (label != "background").then_some(label),
            "pixel {i}"
        );
    }
    // Objects 1 and 2 lie in one class each: identical to the importer's masks.
    for object in [1u32, 2] {
        let ours: BTreeSet<(usize, usize)> = item
            .pixels
            .iter()
            .enumerate()
            .filter(|(_, (_, inst))| *inst == Some(object))
            .map(|(i, _)| (i % 8, i / 8))
            .collect();
        let theirs = expected
            .iter()
            .find(|((_, inst), _)| *inst == object)
            .unwrap()
            .1;
        assert_eq!(&ours, theirs, "object {object}");
    }
    // Object 3: the importer labels all 16 pixels 'person'; we keep person and car apart.
    let object3: Vec<&Option<String>> = item
        .pixels
        .iter()
        .filter(|(_, inst)| *inst == Some(3))
        .map(|(class, _)| class)
        .collect();
    assert!(object3.iter().any(|c| c.as_deref() == Some("person")));
    assert!(object3.iter().any(|c| c.as_deref() == Some("car")));
    assert_eq!(expected[&("person".to_string(), 3)].len(), 16);
    let mut found = maskconv::losses::Diagnostics::default();
    dataset.decode(0, &mut found).unwrap();
    let notes = found.warnings;
    let codes: Vec<&str> = notes.iter().map(|n| n.code).collect();
    assert_eq!(
        codes,
        vec!["object-over-background", "object-spans-classes"]
    );
}

#[test]
fn unknown_class_colour_is_an_error_naming_file_colour_and_pixel_count() {
    let message = assert_rejected(
        &fixture("cvat/generated_import_cases/C_unknown_color"),
        "colour (1,2,3) on 1 pixel",
    );
    assert!(
        message.contains("SegmentationClass/frame_000000.png"),
        "{message}"
    );
}

#[test]
fn unknown_object_colour_is_an_error() {
    let message = assert_rejected(
        &fixture("cvat/generated_import_cases/C2_unknown_inst_color"),
        "not a Pascal VOC instance colour",
    );
    assert!(
        message.contains("SegmentationObject/frame_000000.png") && message.contains("(1,2,3)"),
        "{message}"
    );
}

#[test]
fn importer_rejections_are_rejected_here() {
    let cases = [
        (
            "F_no_labelmap",
            "colour (51,221,255) on 12 pixels is not in the default Pascal VOC label map",
        ),
        (
            "P_labelmap_nocolors",
            "colour (51,221,255) on 12 pixels is not in labelmap.txt",
        ),
        (
            "G_instance_only",
            "cannot import an object mask without its class mask",
        ),
        (
            "M_size_mismatch",
            "is 8x7 but SegmentationClass/frame_000000.png is 8x6",
        ),
        (
            "Q_labelmap_3fields",
            "labelmap.txt (cvat): line 1: expected 4 ':'-separated fields",
        ),
        (
            "U_nested_root_depth3",
            "not recognised as any dataset format",
        ),
    ];
    for (case, needle) in cases {
        assert_rejected(
            &fixture(&format!("cvat/generated_import_cases/{case}")),
            needle,
        );
    }
}

/// CVAT wraps 16-bit gray values modulo 256 (259 reads as 3); silently
/// changing labels is what maskconv exists to prevent, so it is an error.
#[test]
fn sixteen_bit_gray_values_above_255_are_an_error_not_a_wrap() {
    let case = fixture("cvat/generated_import_cases/J_gray16");
    let dataset = open_dataset(&case, None).unwrap();
    let message = dataset
        .decode(0, &mut maskconv::losses::Diagnostics::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("16-bit gray value 256 on 4 pixels") && message.contains("wrap it to 0"),
        "{message}"
    );
    assert!(
        expected(&case).get("items").is_some(),
        "the importer accepts it (by wrapping)"
    );
}

#[test]
fn wrapped_instance_ids_of_an_overfull_export_read_as_cvat_reads_them() {
    // 300 one-pixel objects exported by CVAT: ids 256.. wrapped; the importer sees 255 objects.
    let dataset = open_dataset(&fixture("cvat/generated_many_instances"), None).unwrap();
    let map = dataset
        .decode(0, &mut maskconv::losses::Diagnostics::default())
        .unwrap()
        .unwrap();
    let instances: BTreeSet<u32> = map.segments().iter().filter_map(|s| s.instance).collect();
    assert_eq!(instances.len(), 255);
    let counts = map.pixel_counts();
    let two_pixel = map
        .segments()
        .iter()
        .zip(&counts[1..])
        .filter(|(s, n)| s.instance.is_some() && **n == 2)
        .count();
    assert_eq!(two_pixel, 44, "objects 1..44 merged with 257..300");
}

#[test]
fn interlaced_masks_read_exactly_like_their_plain_originals() {
    let interlaced = open_dataset(&fixture("cvat/interlaced_masks"), None).unwrap();
    let plain = open_dataset(&fixture("cvat/generated_cvat_export/dataset"), None).unwrap();
    assert_eq!(canonical(&interlaced)[0], canonical(&plain)[0]);
}

#[test]
fn sixteen_bit_colour_class_masks_are_refused() {
    let tmp = crate::common::TempDir::new("rgb16");
    let dir = tmp.join("ds");
    std::fs::create_dir_all(dir.join("ImageSets/Segmentation")).unwrap();
    std::fs::create_dir_all(dir.join("SegmentationClass")).unwrap();
    std::fs::write(dir.join("ImageSets/Segmentation/default.txt"), "x\n").unwrap();
    let png = maskconv::codec::encode_png(
        1,
        1,
        maskconv::codec::PngLayout::Rgb16,
        &[0; 6],
        Default::default(),
    );
    std::fs::write(dir.join("SegmentationClass/x.png"), png).unwrap();
    let dataset = open_dataset(&dir, None).unwrap();
    let message = dataset
        .decode(0, &mut maskconv::losses::Diagnostics::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("SegmentationClass/x.png") && message.contains("16-bit RGB"),
        "{message}"
    );
}

#[test]
fn mac_finder_metadata_in_a_zip_is_not_a_second_dataset() {
    let tmp = crate::common::TempDir::new("macosx");
    let archive = tmp.join("mac.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
    let source = fixture("cvat/generated_cvat_export/dataset");
    let extra = [
        (
            "__MACOSX/ImageSets/Segmentation/._default.txt".to_string(),
            b"\x00\x05\x16\x07".to_vec(),
        ),
        (
            "ImageSets/Segmentation/._default.txt".to_string(),
            b"\x00\x05\x16\x07".to_vec(),
        ),
    ];
    for (name, bytes) in crate::common::read_tree(&source).into_iter().chain(extra) {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, &bytes).unwrap();
    }
    zip.finish().unwrap();
    let from_zip = open_dataset(&archive, None).unwrap();
    assert_eq!(
        canonical(&from_zip),
        canonical(&open_dataset(&source, None).unwrap())
    );
}

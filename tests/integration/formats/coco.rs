//! COCO instances: COCO's own layout kept through coco → coco (annotation,
//! category and image ids, crowd regions as uncompressed counts,
//! supercategories, images), overlaps and box-only annotations reported,
//! stuff written one annotation per image and class, a written dataset
//! that is a fixpoint, and a Datumaro export read.

use crate::common::{
    TempDir, canonical, codes, convert, fixture, memory_dataset, open_dataset, read_tree,
};
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::formats::find;
use maskconv::formats::options::FormatOptions;
use maskconv::io::MemorySink;
use maskconv::model::{Class, ClassKind, Item, LabelMap, Segment};
use serde_json::{Value, json};
use std::path::Path;

const OFFICIAL: &str = "coco/official_style";
const DATUMARO: &str = "coco/datumaro_export";

fn annotation_file(dir: &Path, subset: &str) -> Value {
    let path = dir.join(format!("annotations/instances_{subset}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `[id, image_id, category_id, iscrowd]` of every annotation, in file order.
fn annotation_ids(doc: &Value) -> Vec<Value> {
    doc["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!([a["id"], a["image_id"], a["category_id"], a["iscrowd"]]))
        .collect()
}

#[test]
fn coco_ids_crowds_and_supercategories_survive_coco_to_coco() {
    let tmp = TempDir::new("coco-official");
    let out = tmp.join("out");
    let report = convert(&fixture(OFFICIAL), &out, "coco", &[]);
    let lost: Vec<&str> = report["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["code"].as_str().unwrap())
        .collect();
    assert_eq!(lost, ["box-without-mask", "overlap-resolved"], "{report}");
    let (before, after) = (
        annotation_file(&fixture(OFFICIAL), "val2017"),
        annotation_file(&out, "val2017"),
    );
    for key in ["info", "licenses"] {
        assert!(after.get(key).is_some(), "always written: {key}");
    }
    let categories = |doc: &Value| -> Vec<Value> {
        let listed = doc["categories"].as_array().unwrap().iter();
        listed
            .map(|c| json!([c["id"], c["name"], c["supercategory"]]))
            .collect()
    };
    assert_eq!(categories(&after), categories(&before));
    let images = |doc: &Value| -> Vec<Value> {
        let listed = doc["images"].as_array().unwrap().iter();
        listed
            .map(|i| json!([i["id"], i["file_name"], i["width"], i["height"]]))
            .collect()
    };
    assert_eq!(images(&after), images(&before));
    // The box-only annotation (1770) is the loss; the crowd region's id
    // (beyond 32 bits) cannot be an instance number, so ids are counted.
    assert_eq!(
        annotation_ids(&after),
        [
            json!([1, 139, 1, 0]),
            json!([2, 139, 3, 0]),
            json!([3, 139, 1, 1]),
            json!([4, 285, 18, 0]),
            json!([5, 285, 1, 0]),
        ]
    );
    let warned = codes(&report["warnings"]);
    assert!(warned.contains(&"annotation-ids-renumbered"), "{report}");
    let crowd = &after["annotations"][2]["segmentation"];
    assert_eq!(
        crowd, &before["annotations"][2]["segmentation"],
        "counts as listed"
    );
    let car = &after["annotations"][1]["segmentation"];
    assert_eq!(
        car, &before["annotations"][1]["segmentation"],
        "pycocotools' string"
    );
    let files = read_tree(&out);
    assert_eq!(
        files["images/val2017/000000000139.jpg"],
        std::fs::read(fixture(&format!("{OFFICIAL}/val2017/000000000139.jpg"))).unwrap(),
        "the source image is copied"
    );
}

#[test]
fn annotation_ids_that_increase_through_the_file_are_kept() {
    let tmp = TempDir::new("coco-ids");
    let (once, twice) = (tmp.join("once"), tmp.join("twice"));
    let source = fixture("cvat/generated_cvat_export/dataset");
    convert(&source, &once, "coco", &[]);
    let mut doc = annotation_file(&once, "default");
    // Ids with gaps, increasing: what a COCO file written elsewhere has.
    for (i, annotation) in doc["annotations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        annotation["id"] = json!(1000 + 7 * i);
    }
    let path = once.join("annotations/instances_default.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let report = convert(&once, &twice, "coco", &[]);
    assert!(!codes(&report["warnings"]).contains(&"annotation-ids-renumbered"));
    assert_eq!(
        annotation_ids(&annotation_file(&twice, "default")),
        annotation_ids(&doc)
    );
}

#[test]
fn overlapping_annotations_go_to_the_later_in_the_file() {
    let dataset = open_dataset(&fixture(OFFICIAL), None).unwrap();
    let items = canonical(&dataset);
    let dog_image = items.iter().find(|i| i.key == "000000000285").unwrap();
    let pixels = |class: &str| -> u64 {
        dog_image
            .pixels
            .iter()
            .filter(|(c, _)| c.as_deref() == Some(class))
            .map(|(_, _)| 1u64)
            .sum()
    };
    // The dog: a 6×6 square with a 2×2 hole (32 pixels); the person's
    // square (36 pixels) covers 8 of them.
    assert_eq!(pixels("person"), 36);
    assert_eq!(pixels("dog"), 24);
}

fn street() -> maskconv::formats::api::Dataset {
    let classes = vec![
        Class::new("car", ClassKind::Thing),
        Class::new("road", ClassKind::Stuff),
    ];
    // Two cars (instances 7 and 9), road in two separate segments.
    let map = LabelMap::new(
        4,
        2,
        vec![1, 1, 3, 2, 4, 0, 3, 2],
        vec![
            Segment::new(1, Some(7)),
            Segment::new(2, None),
            Segment::new(1, Some(9)),
            Segment::new(2, None),
        ],
    )
    .unwrap();
    memory_dataset(classes, vec![Item::new("a")], vec![Some(map)])
}

#[test]
fn stuff_is_one_annotation_per_image_and_class_and_things_only_drops_it() {
    let write = |options: FormatOptions| {
        let mut sink = MemorySink::default();
        let report = convert_dataset(
            &street(),
            find("coco").unwrap(),
            &mut sink,
            &ConvertOptions {
                options,
                ..ConvertOptions::default()
            },
        )
        .unwrap();
        let doc: Value =
            serde_json::from_slice(&sink.files["annotations/instances_default.json"]).unwrap();
        (report, doc)
    };
    let (_, doc) = write(FormatOptions::new());
    let summary: Vec<Value> = doc["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!([a["id"], a["category_id"], a["area"], a["bbox"]]))
        .collect();
    assert_eq!(
        summary,
        [
            json!([1, 1, 2, [0, 0, 2, 1]]),
            json!([2, 2, 3, [0, 0, 4, 2]]),
            json!([3, 1, 2, [2, 0, 1, 2]]),
        ],
        "the road's two parts one annotation; stuff has no instance number, so ids are counted"
    );
    let things_only = find("coco").unwrap().info().options.iter().copied();
    let spec = things_only
        .into_iter()
        .find(|s| s.name == "things-only")
        .unwrap();
    let (report, doc) = write(FormatOptions::new().with(spec, None).unwrap());
    let lost: Vec<_> = report.losses.summaries().iter().map(|s| s.code).collect();
    assert_eq!(lost, ["stuff-dropped"]);
    assert_eq!(doc["categories"].as_array().unwrap().len(), 1);
    let ids: Vec<&Value> = doc["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(
        ids,
        [7, 9],
        "things only: their instance numbers are the ids"
    );
}

#[test]
fn a_written_coco_dataset_is_written_again_byte_for_byte() {
    let tmp = TempDir::new("coco-fixpoint");
    for source in [OFFICIAL, DATUMARO, "cvat/generated_cvat_export/dataset"] {
        let (once, twice) = (tmp.join("once"), tmp.join("twice"));
        let _ = std::fs::remove_dir_all(&once);
        let _ = std::fs::remove_dir_all(&twice);
        convert(&fixture(source), &once, "coco", &["--force"]);
        convert(&once, &twice, "coco", &["--force"]);
        assert_eq!(read_tree(&twice), read_tree(&once), "{source}");
    }
}

#[test]
fn datumaro_export_reads_with_its_masks_polygons_and_subsets() {
    let dataset = open_dataset(&fixture(DATUMARO), None).unwrap();
    assert_eq!(dataset.format.name, "coco");
    let items = canonical(&dataset);
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["street_1", "sub/b", "empty_9"]);
    let street = &items[0];
    let people: std::collections::BTreeSet<Option<u32>> = street
        .pixels
        .iter()
        .filter(|(c, _)| c.as_deref() == Some("person"))
        .map(|(_, i)| *i)
        .collect();
    assert_eq!(
        people,
        [Some(1), Some(3)].into(),
        "annotation ids as instances"
    );
    assert!(
        items[2].pixels.iter().all(|(c, _)| c.is_none()),
        "an image without annotations has an empty mask"
    );
}

#[test]
fn polygons_give_back_objects_without_holes_exactly_and_measure_those_with_holes() {
    let tmp = TempDir::new("coco-polygons");
    // Objects without holes: the polygons read back to the same pixels.
    let source = fixture("cvat/generated_cvat_export/dataset");
    let out = tmp.join("plain");
    let report = convert(&source, &out, "coco", &["--segmentation", "polygon"]);
    assert!(
        !codes(&report["losses"]).contains(&"polygon-approximation"),
        "{report}"
    );
    let pixels = |path: &Path| -> Vec<_> {
        let dataset = open_dataset(path, None).unwrap();
        let items = canonical(&dataset);
        items
            .into_iter()
            .map(|i| {
                let classes: Vec<Option<String>> = i.pixels.into_iter().map(|(c, _)| c).collect();
                (i.key, classes)
            })
            .filter(|(_, classes)| !classes.is_empty())
            .collect()
    };
    assert_eq!(pixels(&out), pixels(&source));
    let doc = annotation_file(&out, "default");
    let first = &doc["annotations"][0]["segmentation"];
    assert!(
        first.is_array() && first[0].as_array().unwrap().len() >= 8,
        "{first}"
    );
    // A ring around a hole: the hole fills, and its IoU is reported.
    let classes = vec![Class::new("donut", ClassKind::Thing)];
    #[rustfmt::skip]
    let ids = vec![
        1, 1, 1,
        1, 0, 1,
        1, 1, 1,
    ];
    let map = LabelMap::new(3, 3, ids, vec![Segment::new(1, Some(1))]).unwrap();
    let dataset = memory_dataset(classes, vec![Item::new("d")], vec![Some(map)]);
    let spec = find("coco").unwrap().info().options.iter().copied();
    let spec = spec.into_iter().find(|s| s.name == "segmentation").unwrap();
    let mut sink = MemorySink::default();
    let options = ConvertOptions {
        options: FormatOptions::new().with(spec, Some("polygon")).unwrap(),
        ..ConvertOptions::default()
    };
    let report = convert_dataset(&dataset, find("coco").unwrap(), &mut sink, &options).unwrap();
    let lost = report.losses.summaries();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].code, "polygon-approximation");
    assert!(
        lost[0].examples[0].contains("(IoU 0.8889)"),
        "{:?}",
        lost[0]
    );
    let doc: Value =
        serde_json::from_slice(&sink.files["annotations/instances_default.json"]).unwrap();
    assert_eq!(
        doc["annotations"][0]["segmentation"],
        json!([[0, 0, 3, 0, 3, 3, 0, 3]])
    );
    assert_eq!(
        doc["annotations"][0]["area"], 9,
        "the pixels the polygon fills"
    );
}

#[test]
fn coco_through_each_instance_format_and_back_keeps_what_that_format_holds() {
    let tmp = TempDir::new("coco-through");
    let start = tmp.join("start");
    // Things only: a stuff annotation has no instance number to keep its id in.
    convert(
        &fixture("segments/sdk_release"),
        &start,
        "coco",
        &["--things-only"],
    );
    // Ids with gaps, as a COCO file written elsewhere has them.
    let path = start.join("annotations/instances_default.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut image_ids = std::collections::HashMap::new();
    for (i, image) in doc["images"].as_array_mut().unwrap().iter_mut().enumerate() {
        image_ids.insert(image["id"].as_u64().unwrap(), 500 + 3 * i as u64);
        image["id"] = json!(500 + 3 * i);
    }
    for (i, annotation) in doc["annotations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        annotation["id"] = json!(1000 + 7 * i);
        annotation["image_id"] = json!(image_ids[&annotation["image_id"].as_u64().unwrap()]);
    }
    assert!(
        doc["annotations"].as_array().unwrap().len() > 2,
        "a source worth the test"
    );
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    // Per image with annotations (in order): its annotations' categories
    // (by name: not every format keeps category ids), areas and boxes, in order.
    let order = |doc: &Value| -> Vec<Vec<Value>> {
        let names: std::collections::HashMap<String, Value> = doc["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].to_string(), c["name"].clone()))
            .collect();
        let annotations = doc["annotations"].as_array().unwrap();
        let images = doc["images"].as_array().unwrap().iter();
        images
            .map(|image| {
                let mine = annotations.iter().filter(|a| a["image_id"] == image["id"]);
                let named =
                    |a: &Value| json!([names[&a["category_id"].to_string()], a["area"], a["bbox"]]);
                mine.map(named).collect::<Vec<_>>()
            })
            .filter(|a| !a.is_empty())
            .collect()
    };
    let formats = maskconv::formats::REGISTRY.iter().map(|f| f.info());
    let mut through = Vec::new();
    for format in formats.filter(|f| f.can_write && f.capabilities.instances && f.name != "coco") {
        let middle = tmp.join(format.name);
        let back = tmp.join(&format!("{}-back", format.name));
        convert(&start, &middle, format.name, &[]);
        convert(&middle, &back, "coco", &[]);
        let after = annotation_file(&back, "default");
        let sorted = |doc: &Value| -> Vec<Vec<Value>> {
            let mut images = order(doc);
            images
                .iter_mut()
                .for_each(|a| a.sort_by_key(|v| v.to_string()));
            images
        };
        assert_eq!(
            sorted(&after),
            sorted(&doc),
            "annotations through {}",
            format.name
        );
        if format.name == "coco-panoptic" {
            // segments_info keeps the order, thing segment ids and image ids.
            assert_eq!(order(&after), order(&doc), "annotation order");
            assert_eq!(
                annotation_ids(&after),
                annotation_ids(&doc),
                "ids and image ids"
            );
        }
        through.push(format.name);
    }
    assert!(
        through.contains(&"coco-panoptic") && through.len() >= 4,
        "{through:?}"
    );
}

#[test]
fn an_image_without_a_size_takes_its_rle_annotations_size() {
    // Datumaro writes width and height 0 for an item without an image.
    let tmp = TempDir::new("coco-no-size");
    let files = read_tree(&fixture(OFFICIAL));
    let path = "annotations/instances_val2017.json";
    let mut doc: Value = serde_json::from_slice(&files[path]).unwrap();
    doc["images"][0]["width"] = json!(0);
    doc["images"][0]["height"] = json!(0);
    let dir = tmp.join("in");
    std::fs::create_dir_all(dir.join("annotations")).unwrap();
    std::fs::write(dir.join(path), serde_json::to_vec(&doc).unwrap()).unwrap();
    let dataset = open_dataset(&dir, None).unwrap();
    let codes: Vec<&str> = dataset.warnings.iter().map(|w| w.code).collect();
    assert!(codes.contains(&"image-size-from-rle"), "{codes:?}");
    let items = canonical(&dataset);
    let original = canonical(&open_dataset(&fixture(OFFICIAL), None).unwrap());
    assert_eq!(items[0].size, Some((16, 12)));
    assert_eq!(items[0].pixels, original[0].pixels);
}

#[test]
fn an_outline_too_fragmented_for_pycocotools_fails_its_item_with_a_hint() {
    use maskconv::model::RunsBuilder;
    // One serpentine object: full rows joined at alternate ends; its one
    // outline crosses more pixel columns than pycocotools' kernel takes.
    // 520 full rows of 4096: about 2 × 520 × 4096 crossings, above 2^22.
    let (w, h) = (4096u32, 1040u32);
    let mut runs = RunsBuilder::new(w);
    for y in 0..h {
        match y % 4 {
            0 | 2 => runs.push_run(1, w as usize),
            1 => {
                runs.push_run(0, w as usize - 1);
                runs.push_run(1, 1);
            }
            _ => {
                runs.push_run(1, 1);
                runs.push_run(0, w as usize - 1);
            }
        }
    }
    let map = LabelMap::from_runs(w, h, runs, vec![Segment::new(1, Some(1))]).unwrap();
    let classes = vec![Class::new("snake", ClassKind::Thing)];
    let dataset = memory_dataset(classes, vec![Item::new("s")], vec![Some(map)]);
    let spec = find("coco").unwrap().info().options.iter().copied();
    let spec = spec.into_iter().find(|s| s.name == "segmentation").unwrap();
    let options = ConvertOptions {
        options: FormatOptions::new().with(spec, Some("polygon")).unwrap(),
        ..ConvertOptions::default()
    };
    let mut sink = MemorySink::default();
    let error = convert_dataset(&dataset, find("coco").unwrap(), &mut sink, &options)
        .expect_err("the item fails");
    let text = error.to_string();
    assert!(
        text.contains("item 's'") && text.contains("--segmentation rle"),
        "{text}"
    );
}

#[test]
fn masks_of_too_many_runs_together_are_refused_before_painting() {
    // Two annotations of 9 M one-pixel runs each on a 4096² image: each
    // alone is a valid RLE, together more than the runs one image may hold.
    let (side, runs) = (4096u64, 9_000_000usize);
    let rest = side * side - runs as u64;
    let counts = |last: u64| {
        let rle = maskconv::remap::rle::Rle {
            height: side as u32,
            width: side as u32,
            counts: std::iter::repeat_n(1, runs).chain([last as u32]).collect(),
        };
        rle.to_coco_string()
    };
    let annotation = |id: u32| {
        json!({"id": id, "image_id": 1, "category_id": 1, "iscrowd": 0,
               "segmentation": {"size": [side, side], "counts": counts(rest)}})
    };
    let doc = json!({
        "images": [{"id": 1, "file_name": "a.jpg", "width": side, "height": side}],
        "annotations": [annotation(1), annotation(2)],
        "categories": [{"id": 1, "name": "noise"}],
    });
    let tmp = TempDir::new("coco-too-many-runs");
    let dir = tmp.join("in");
    std::fs::create_dir_all(dir.join("annotations")).unwrap();
    let path = dir.join("annotations/instances_default.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let dataset = open_dataset(&dir, None).unwrap();
    let error = dataset
        .decode(0, &mut maskconv::losses::Diagnostics::default())
        .expect_err("refused");
    assert!(error.to_string().contains("too fragmented"), "{error}");
}

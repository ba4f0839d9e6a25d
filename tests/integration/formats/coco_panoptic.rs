//! COCO panoptic: COCO's own layout kept through coco-panoptic →
//! coco-panoptic (category, image and thing segment ids, crowd flags,
//! supercategories, images), a written dataset that is a fixpoint, a
//! Datumaro export read with its instances, and what the writer warns of.

use crate::common::{
    TempDir, canonical, convert, fixture, memory_dataset, open_dataset, read_tree,
};
use maskconv::convert::{ConvertOptions, convert_dataset};
use maskconv::formats::find;
use maskconv::io::MemorySink;
use maskconv::model::{Class, ClassKind, Item, LabelMap, Segment};
use serde_json::{Value, json};
use std::path::Path;

const OFFICIAL: &str = "coco_panoptic/official_style";
const DATUMARO: &str = "coco_panoptic/datumaro_export";

fn annotation_file(dir: &Path, subset: &str) -> Value {
    let path = dir.join(format!("annotations/panoptic_{subset}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The segments of every annotation, by image id, without the stuff
/// segments' ids (which a reading does not keep).
fn segments_by_image(doc: &Value, stuff: &[u64]) -> Vec<(u64, Vec<Value>)> {
    let mut found: Vec<(u64, Vec<Value>)> = doc["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut segments: Vec<Value> = a["segments_info"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    if stuff.contains(&s["category_id"].as_u64().unwrap()) {
                        s["id"] = Value::Null;
                    }
                    s
                })
                .collect();
            segments.sort_by_key(|s| (s["category_id"].as_u64(), s["bbox"].to_string()));
            (a["image_id"].as_u64().unwrap(), segments)
        })
        .collect();
    found.sort_by_key(|(id, _)| *id);
    found
}

#[test]
fn coco_ids_crowds_and_supercategories_survive_coco_panoptic_to_coco_panoptic() {
    let tmp = TempDir::new("panoptic-official");
    let out = tmp.join("out");
    let report = convert(&fixture(OFFICIAL), &out, "coco-panoptic", &[]);
    assert_eq!(report["losses"], json!([]), "{report}");
    let (before, after) = (
        annotation_file(&fixture(OFFICIAL), "val2017"),
        annotation_file(&out, "val2017"),
    );
    let categories = |doc: &Value| -> Vec<Value> {
        doc["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                json!([
                    c["id"],
                    c["name"],
                    c["supercategory"],
                    c["isthing"],
                    c["color"]
                ])
            })
            .collect()
    };
    assert_eq!(categories(&after), categories(&before));
    let images = |doc: &Value| -> Vec<Value> {
        let mut images: Vec<Value> = doc["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| json!([i["id"], i["file_name"], i["width"], i["height"]]))
            .collect();
        images.sort_by_key(|i| i[0].as_u64());
        images
    };
    assert_eq!(images(&after), images(&before));
    let stuff = [184, 193];
    assert_eq!(
        segments_by_image(&after, &stuff),
        segments_by_image(&before, &stuff),
        "thing ids, categories, areas, boxes and crowd flags"
    );
    let files = read_tree(&out);
    for image in ["000000000139", "000000000285"] {
        assert_eq!(
            files[&format!("images/val2017/{image}.jpg")],
            std::fs::read(fixture(&format!("{OFFICIAL}/val2017/{image}.jpg"))).unwrap(),
            "the source image is copied"
        );
    }
}

#[test]
fn a_written_coco_panoptic_dataset_is_written_again_byte_for_byte() {
    let tmp = TempDir::new("panoptic-fixpoint");
    for source in [OFFICIAL, DATUMARO, "cvat/generated_cvat_export/dataset"] {
        let (once, twice) = (tmp.join("once"), tmp.join("twice"));
        let _ = std::fs::remove_dir_all(&once);
        let _ = std::fs::remove_dir_all(&twice);
        convert(&fixture(source), &once, "coco-panoptic", &["--force"]);
        convert(&once, &twice, "coco-panoptic", &["--force"]);
        assert_eq!(read_tree(&twice), read_tree(&once), "{source}");
    }
}

#[test]
fn datumaro_export_reads_with_its_instances_kept_apart() {
    let dataset = open_dataset(&fixture(DATUMARO), None).unwrap();
    assert_eq!(dataset.format.name, "coco-panoptic");
    let person = dataset.catalog.find("person").unwrap();
    assert_eq!(
        dataset.catalog.get(person).kind,
        ClassKind::Thing,
        "isthing 0 (as Datumaro writes every category) with two segments in one image"
    );
    let codes: Vec<&str> = dataset.warnings.iter().map(|w| w.code).collect();
    assert_eq!(codes, ["stuff-with-instances"]);
    let items = canonical(&dataset);
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["street_1", "sub/b", "field_7", "empty_9"]);
    let street = &items[0];
    let people: std::collections::BTreeSet<Option<u32>> = street
        .pixels
        .iter()
        .filter(|(c, _)| c.as_deref() == Some("person"))
        .map(|(_, i)| *i)
        .collect();
    assert_eq!(people.len(), 2, "two people");
    assert_eq!(items[3].size, None, "an image without annotation");
}

fn two_items() -> maskconv::formats::api::Dataset {
    let classes = vec![
        Class::new("car", ClassKind::Thing),
        Class::new("road", ClassKind::Stuff),
    ];
    let map = |w, h, ids: Vec<u32>| {
        LabelMap::new(
            w,
            h,
            ids,
            vec![Segment::new(1, Some(7)), Segment::new(2, None)],
        )
        .unwrap()
    };
    memory_dataset(
        classes,
        vec![Item::new("cam.front/frame.001"), Item::new("b")],
        vec![
            Some(map(2, 2, vec![1, 2, 2, 0])),
            Some(map(1, 2, vec![2, 1])),
        ],
    )
}

#[test]
fn keys_with_a_dot_are_written_with_a_warning_and_ids_follow_the_item_order() {
    let mut sink = MemorySink::default();
    let report = convert_dataset(
        &two_items(),
        find("coco-panoptic").unwrap(),
        &mut sink,
        &ConvertOptions::default(),
    )
    .unwrap();
    let warned: Vec<&str> = report.warnings.summaries().iter().map(|s| s.code).collect();
    assert!(warned.contains(&"dotted-keys"), "{warned:?}");
    let doc: Value =
        serde_json::from_slice(&sink.files["annotations/panoptic_default.json"]).unwrap();
    assert_eq!(
        doc["images"],
        json!([
            {"id": 1, "file_name": "cam.front/frame.001.jpg", "width": 2, "height": 2},
            {"id": 2, "file_name": "b.jpg", "width": 1, "height": 2},
        ])
    );
    assert_eq!(
        doc["annotations"][0],
        json!({"image_id": 1, "file_name": "cam.front/frame.001.png", "segments_info": [
            {"id": 7, "category_id": 1, "area": 1, "bbox": [0, 0, 1, 1], "iscrowd": 0},
            {"id": 1, "category_id": 2, "area": 2, "bbox": [0, 0, 2, 2], "iscrowd": 0},
        ]})
    );
    assert!(
        sink.files
            .contains_key("annotations/panoptic_default/b.png")
    );
}

#[test]
fn file_names_leading_outside_the_dataset_are_refused() {
    let tmp = TempDir::new("panoptic-outside");
    for (field, at) in [("annotations", "file_name"), ("images", "file_name")] {
        let copy = tmp.join(field);
        let _ = std::fs::remove_dir_all(&copy);
        for (path, bytes) in read_tree(&fixture(OFFICIAL)) {
            let dest = copy.join(&path);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(dest, bytes).unwrap();
        }
        let json = copy.join("annotations/panoptic_val2017.json");
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        doc[field][0][at] = json!("../../../etc/passwd.png");
        std::fs::write(&json, serde_json::to_vec(&doc).unwrap()).unwrap();
        let error = open_dataset(&copy, None)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            error.contains("leads outside the dataset's folders"),
            "{error}"
        );
        assert!(error.contains(&format!("{field}[0]")), "{error}");
    }
}

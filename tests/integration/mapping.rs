//! Label mapping (`--map`): renames, merges (stuff segments merge, things
//! stay apart), drops, ignore (the target's ignore value, or unlabeled),
//! globs, explicit ids, `--unknown`, and what is reported.

use crate::common::{
    TempDir, canonical, describe, fixture, maskconv, memory_dataset, open_dataset, s,
};
use maskconv::formats::api::Dataset;
use maskconv::mapping::{Mapping, Unknown};
use maskconv::model::{Class, ClassKind, ClassNumber, Item, LabelMap, Segment};
use serde_json::{Value, json};

/// Classes road, sidewalk (stuff), car, truck (things); one 4×1 image:
/// road, sidewalk, car #1, truck #1.
fn street() -> Dataset {
    let classes = vec![
        Class::new("road", ClassKind::Stuff),
        Class::new("sidewalk", ClassKind::Stuff),
        Class::new("vehicle.car", ClassKind::Thing),
        Class::new("vehicle.truck", ClassKind::Thing),
    ];
    let segments = vec![
        Segment::new(1, None),
        Segment::new(2, None),
        Segment::new(3, Some(1)),
        Segment::new(4, Some(1)),
    ];
    let map = LabelMap::new(4, 1, vec![1, 2, 3, 4], segments).unwrap();
    memory_dataset(classes, vec![Item::new("a")], vec![Some(map)])
}

fn mapped(
    rules: &[&str],
    unknown: Unknown,
    ignore_value: bool,
) -> (Dataset, maskconv::mapping::Applied) {
    let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
    Mapping::from_args(&rules, unknown)
        .unwrap()
        .apply(street(), ignore_value)
        .unwrap()
}

fn names(dataset: &Dataset) -> Vec<&str> {
    dataset
        .catalog
        .iter()
        .map(|(_, c)| c.name.as_str())
        .collect()
}

/// Per pixel: (class name, instance).
fn pixels(dataset: &Dataset) -> Vec<(Option<String>, Option<u32>)> {
    canonical(dataset).remove(0).pixels
}

#[test]
fn merged_stuff_becomes_one_segment_and_merged_things_stay_apart() {
    let (dataset, applied) = mapped(
        &["road=ground", "sidewalk=ground", "vehicle.*=vehicle"],
        Unknown::Keep,
        false,
    );
    assert_eq!(names(&dataset), ["ground", "vehicle"]);
    let vehicle = dataset.catalog.find("vehicle").unwrap();
    assert_eq!(dataset.catalog.get(vehicle).kind, ClassKind::Thing);
    let got = pixels(&dataset);
    assert_eq!(got[0], got[1]);
    assert_eq!(got[2].0.as_deref(), Some("vehicle"));
    assert_ne!(got[2].1, got[3].1, "car #1 and truck #1 are two vehicles");
    // Pixels are counted as items are decoded: once so far.
    let rows = json!(applied.rows());
    assert_eq!(
        rows[0],
        json!({"from": "road", "to": "ground", "pixels": 1})
    );
    let map = dataset.decode(0, &mut Default::default()).unwrap().unwrap();
    assert_eq!(map.segments().len(), 3, "ground once, two vehicles");
    assert_eq!(map.row(0).len(), 3, "the two ground runs merged");
    assert_eq!(rows.as_array().unwrap().len(), 4);
}

#[test]
fn a_name_another_class_has_merges_into_it_and_keeps_its_place() {
    let (dataset, _) = mapped(&["road=sidewalk"], Unknown::Keep, false);
    assert_eq!(
        names(&dataset),
        ["sidewalk", "vehicle.car", "vehicle.truck"]
    );
    let got = pixels(&dataset);
    assert_eq!(got[0].0.as_deref(), Some("sidewalk"));
    assert_eq!(got[0], got[1]);
}

#[test]
fn dropped_classes_are_unlabeled_and_ignore_is_too_where_the_target_has_no_ignore_value() {
    let (dataset, applied) = mapped(&["road=", "sidewalk=ignore"], Unknown::Keep, false);
    assert_eq!(names(&dataset), ["vehicle.car", "vehicle.truck"]);
    assert_eq!(pixels(&dataset)[..2], [(None, None), (None, None)]);
    let codes: Vec<&str> = applied.warnings.iter().map(|w| w.code).collect();
    assert_eq!(codes, ["ignore-as-unlabeled"]);
    let (dataset, _) = mapped(&["sidewalk=ignore"], Unknown::Keep, true);
    let ignore = dataset.catalog.find("ignore").unwrap();
    assert_eq!(
        dataset.catalog.get(ignore).number,
        Some(ClassNumber::Ignore)
    );
}

#[test]
fn unknown_classes_are_kept_dropped_or_refused_and_unused_rules_warn() {
    let (dataset, applied) = mapped(&["road=ground", "lane=x"], Unknown::Drop, false);
    assert_eq!(names(&dataset), ["ground"]);
    assert_eq!(applied.warnings[0].code, "map-rule-unused");
    let refused = Mapping::from_args(&["road=ground".into()], Unknown::Error)
        .unwrap()
        .apply(street(), false)
        .err()
        .unwrap();
    assert!(
        refused
            .to_string()
            .contains("'sidewalk', 'vehicle.car', 'vehicle.truck'"),
        "{refused}"
    );
}

#[test]
fn explicit_ids_are_kept_and_two_ids_for_one_class_are_refused() {
    let (dataset, _) = mapped(&["road=road:7"], Unknown::Keep, false);
    assert_eq!(dataset.catalog.get(1).number, Some(ClassNumber::Mapped(7)));
    let clash = Mapping::from_args(
        &["road=ground:1".into(), "sidewalk=ground:2".into()],
        Unknown::Keep,
    )
    .unwrap()
    .apply(street(), false)
    .err()
    .unwrap();
    assert!(clash.to_string().contains("two ids, 1 and 2"), "{clash}");
}

#[test]
fn convert_applies_a_mapping_file_and_reports_each_changed_class_with_its_pixels() {
    let tmp = TempDir::new("map-cli");
    let rules = tmp.join("map.txt");
    std::fs::write(
        &rules,
        "# Cityscapes-like\nroad -> ground\ntraffic sign -> ignore\nsidewalk -> ground:3\n",
    )
    .unwrap();
    let out = tmp.join("out");
    let output = maskconv(&[
        "convert",
        s(&fixture("semantic/ultralytics_names_only")),
        s(&out),
        "--to",
        "semantic",
        "--map",
        s(&rules),
        "--json",
        "-q",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["mapping"],
        json!([
            {"from": "road", "to": "ground", "pixels": 14},
            {"from": "sidewalk", "to": "ground", "pixels": 12},
            {"from": "traffic sign", "to": "ignore", "pixels": 6},
        ])
    );
    let table: Value =
        serde_json::from_slice(&std::fs::read(out.join("classes.json")).unwrap()).unwrap();
    assert_eq!(table["id2label"], json!({"3": "ground"}));
    let back = open_dataset(&out, None).unwrap();
    assert_eq!(names(&back), ["ground"]);
    let unknown_alone = maskconv(&["inspect", s(&out), "--unknown", "drop"]);
    assert_eq!(
        unknown_alone.status.code(),
        Some(2),
        "{}",
        describe(&unknown_alone)
    );
    let neither = maskconv(&["inspect", s(&out), "--map", "no-such-file"]);
    assert_eq!(neither.status.code(), Some(2), "{}", describe(&neither));
    assert!(describe(&neither).contains("neither a rule OLD=NEW nor a file"));
}

#[test]
fn inspect_shows_the_mapped_dataset_without_writing() {
    let output = maskconv(&[
        "inspect",
        s(&fixture("datagen/three_real_datapoints")),
        "--map",
        "human.head.*=head",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let classes: Vec<&str> = report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(classes[0], "head");
    assert!(
        !classes.iter().any(|c| c.starts_with("human.head.")),
        "{classes:?}"
    );
    let head_pixels: u64 = report["mapping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pixels"].as_u64().unwrap())
        .sum();
    assert_eq!(
        report["classes"][0]["pixels"].as_u64().unwrap(),
        head_pixels
    );
}

#[test]
fn a_class_named_ignore_and_classes_mapped_to_ignore_are_refused_together() {
    let classes = vec![
        Class::new("ignore", ClassKind::Stuff),
        Class::new("tree", ClassKind::Stuff),
    ];
    let map = LabelMap::new(
        2,
        1,
        vec![1, 2],
        vec![Segment::new(1, None), Segment::new(2, None)],
    )
    .unwrap();
    let dataset = memory_dataset(classes, vec![Item::new("a")], vec![Some(map)]);
    let error = Mapping::from_args(&["tree=ignore".into()], Unknown::Keep)
        .unwrap()
        .apply(dataset, true)
        .err()
        .unwrap();
    assert!(error.to_string().contains("would be one class"), "{error}");
}

/// Road in two separate parts (one diagonal apart), a car in one segment
/// of two touching parts; 3×2: road . car / . road car.
fn two_roads() -> Dataset {
    let classes = vec![
        Class::new("road", ClassKind::Stuff),
        Class::new("car", ClassKind::Thing),
    ];
    let segments = vec![Segment::new(1, None), Segment::new(2, Some(5))];
    let map = LabelMap::new(3, 2, vec![1, 0, 2, 0, 1, 2], segments).unwrap();
    memory_dataset(classes, vec![Item::new("a")], vec![Some(map)])
}

#[test]
fn components_make_each_connected_part_an_instance_of_a_thing() {
    use maskconv::mapping::Instances;
    use maskconv::remap::components::Connectivity;
    let split = |connectivity| {
        let (dataset, remade) = Instances::Components(connectivity)
            .apply(two_roads())
            .unwrap();
        let items = canonical(&dataset);
        let kinds: Vec<ClassKind> = dataset.catalog.classes().iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [ClassKind::Thing, ClassKind::Thing],
            "every class a thing"
        );
        let rows: Vec<(String, u64)> = remade
            .rows()
            .into_iter()
            .map(|r| (r.class, r.instances))
            .collect();
        (items[0].pixels.clone(), rows)
    };
    let (pixels, rows) = split(Connectivity::Four);
    let road = |i| (Some("road".to_string()), Some(i));
    let car = (Some("car".to_string()), Some(1));
    assert_eq!(
        pixels,
        [
            road(1),
            (None, None),
            car.clone(),
            (None, None),
            road(2),
            car.clone()
        ]
    );
    assert_eq!(rows, [("road".into(), 2), ("car".into(), 1)]);
    let (pixels, rows) = split(Connectivity::Eight);
    assert_eq!(
        pixels[4],
        road(1),
        "diagonal neighbours join at 8-connectivity"
    );
    assert_eq!(rows, [("road".into(), 1), ("car".into(), 1)]);
}

#[test]
fn per_class_instances_and_components_are_reported_by_convert_and_inspect() {
    let tmp = TempDir::new("instances");
    // One image, 255 instances of 'obj'.
    let input = fixture("cvat/generated_many_instances");
    let out = tmp.join("out");
    let run = maskconv(&[
        "convert",
        s(&input),
        s(&out),
        "--to",
        "coco",
        "--instances",
        "per-class",
        "--json",
        "-q",
    ]);
    assert!(run.status.success(), "{}", describe(&run));
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        report["instances"],
        json!([{"class": "obj", "instances": 1}]),
        "{report}"
    );
    let doc: Value = serde_json::from_slice(
        &std::fs::read(out.join("annotations/instances_default.json")).unwrap(),
    )
    .unwrap();
    let annotations = doc["annotations"].as_array().unwrap();
    assert_eq!(annotations.len(), 1, "one annotation for the 255 instances");
    assert_eq!(annotations[0]["area"], 300);
    let run = maskconv(&["inspect", s(&input), "--instances", "components", "--json"]);
    assert!(run.status.success(), "{}", describe(&run));
    let inspection: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(
        inspection["instances"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{inspection}"
    );
    let bad = maskconv(&["inspect", s(&input), "--instances", "components=6"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
}

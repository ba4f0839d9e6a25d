//! COCO instances files broken one way each, through the real binary: one
//! error line naming the file, the annotation (`annotations[i]` and its
//! id) and what is wrong, nothing at OUTPUT, the input unchanged.

use crate::bad_input::build::write_tree;
use crate::bad_input::{Case, run_all};
use crate::common::{TempDir, fixture, read_tree};
use serde_json::{Value, json};

const FILE: &str = "annotations/instances_val2017.json";

#[test]
fn broken_coco_annotations_are_named_with_what_is_wrong() {
    let work = TempDir::new("coco-bad");
    let files = read_tree(&fixture("coco/official_style"));
    let doc: Value = serde_json::from_slice(&files[FILE]).unwrap();
    type Break = fn(&mut Value);
    let broken: Vec<(&str, Break, Vec<&str>)> = vec![
        (
            "no-id",
            |d| {
                d["annotations"][1].as_object_mut().unwrap().remove("id");
            },
            vec!["annotations[1] has no integer 'id'"],
        ),
        (
            "no-image-id",
            |d| {
                d["annotations"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("image_id");
            },
            vec!["annotations[1] (id 1769) has no integer or text 'image_id'"],
        ),
        (
            "unknown-image",
            |d| d["annotations"][1]["image_id"] = json!(7),
            vec!["image_id 7, which 'images' does not list"],
        ),
        (
            "no-category",
            |d| {
                d["annotations"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("category_id");
            },
            vec!["annotations[1] (id 1769) has no integer 'category_id'"],
        ),
        (
            "iscrowd-2",
            |d| d["annotations"][1]["iscrowd"] = json!(2),
            vec!["annotations[1] (id 1769) has an 'iscrowd' that is not 0 or 1"],
        ),
        (
            "segmentation-number",
            |d| d["annotations"][1]["segmentation"] = json!(5),
            vec!["'segmentation' is neither a list of polygons nor an RLE object"],
        ),
        (
            "rle-without-size",
            |d| {
                d["annotations"][1]["segmentation"]
                    .as_object_mut()
                    .unwrap()
                    .remove("size");
            },
            vec!["'segmentation' is an RLE without a 'size' [height, width]"],
        ),
        (
            "rle-negative-count",
            |d| d["annotations"][2]["segmentation"]["counts"][1] = json!(-3),
            vec![
                "annotations[2] (id 900100000139)",
                "not all integers in 0..2^32",
            ],
        ),
        (
            "rle-counts-long",
            |d| d["annotations"][2]["segmentation"]["counts"][0] = json!(1_000_000),
            vec!["annotations[2]", "but its size [12, 16] has 192 pixels"],
        ),
        (
            "rle-string-cut",
            |d| d["annotations"][1]["segmentation"]["counts"] = json!("3230o"),
            vec!["annotations[1] (id 1769)", "ends in the middle of a count"],
        ),
        (
            "ring-of-text",
            |d| d["annotations"][0]["segmentation"][0] = json!(["a", 1, 2, 3, 4, 5]),
            vec!["annotations[0] (id 1768): 'segmentation' ring 0 is not a list of numbers"],
        ),
        (
            "ring-of-two-points",
            |d| d["annotations"][0]["segmentation"][0] = json!([1, 2, 3, 4]),
            vec!["ring 0 has 4 coordinates; a polygon has an even number of them, at least 6"],
        ),
        (
            "image-twice",
            |d| d["images"][1]["id"] = json!(139),
            vec!["images[1]: image id 139 is listed twice"],
        ),
        (
            "image-outside",
            |d| d["images"][0]["file_name"] = json!("../../etc/passwd.jpg"),
            vec!["images[0]: file_name '../../etc/passwd.jpg' leads outside the dataset's folders"],
        ),
        (
            "image-without-size",
            |d| {
                d["images"][0].as_object_mut().unwrap().remove("width");
                // Only its polygons left: no RLE gives a size.
                let annotations = d["annotations"].as_array_mut().unwrap();
                annotations.drain(1..3);
            },
            vec!["image 139 has annotations but no 'width' and 'height'"],
        ),
        (
            "image-too-large",
            |d| {
                d["images"][0]["width"] = json!(4_000_000_000u64);
                d["images"][0]["height"] = json!(1);
            },
            vec!["images[0] (image 139) is 4000000000x1, beyond the limits"],
        ),
        (
            "rle-too-large",
            |d| d["annotations"][1]["segmentation"]["size"] = json!([70000, 70000]),
            vec![
                "annotations[1] (id 1769)",
                "RLE of size [70000, 70000], beyond the limits",
            ],
        ),
        (
            "category-twice",
            |d| d["categories"][1]["id"] = json!(1),
            vec!["categories[1]: category id 1 is listed twice"],
        ),
        (
            "no-categories",
            |d| {
                d.as_object_mut().unwrap().remove("categories");
            },
            vec![
                "has no 'categories' array; a COCO instances file has images, annotations and categories",
            ],
        ),
        (
            "not-an-object",
            |d| *d = json!([1, 2]),
            vec!["is not a JSON object; a COCO instances file is one"],
        ),
    ];
    let mut cases = Vec::new();
    for (tag, change, mut needles) in broken {
        let mut copy = doc.clone();
        change(&mut copy);
        let mut tree = files.clone();
        tree.insert(FILE.to_string(), serde_json::to_vec(&copy).unwrap());
        let dir = work.join(tag);
        write_tree(&tree, &dir);
        needles.push(FILE);
        cases.push(
            Case::new(format!("coco-{tag}"), dir, "coco", &needles)
                .arg("--from")
                .arg("coco"),
        );
    }
    run_all(cases, &work);
}

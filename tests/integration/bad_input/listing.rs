//! What a folder's listing leaves out and says so: links to folders outside
//! the input, links to nowhere that nothing reads, names that are not UTF-8;
//! and runs that succeed but deserve a warning.

use super::build::{bases, write_tree};
use crate::common::{TempDir, codes, convert};
use std::os::unix::ffi::OsStrExt;

#[test]
fn links_out_of_the_input_are_not_followed_and_unread_dangling_links_do_not_matter() {
    let tmp = TempDir::new("listing");
    let nucleus = bases().into_iter().find(|b| b.format == "nucleus").unwrap();
    let input = tmp.join("in");
    write_tree(&nucleus.files, &input);
    // Outside: a folder with a file that would make the dataset ambiguous.
    let outside = tmp.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("other.ndjson"), b"{}\n").unwrap();
    std::os::unix::fs::symlink(&outside, input.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(outside.join("other.ndjson"), input.join("sneaky.ndjson")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/file", input.join("masks/stale_link.png")).unwrap();
    std::os::unix::fs::symlink("../masks", input.join("masks/loop")).unwrap();
    let odd_name = std::ffi::OsStr::from_bytes(b"caf\xe9.png");
    std::fs::write(input.join("masks").join(odd_name), b"x").unwrap();
    let report = convert(&input, &tmp.join("out.zip"), "cvat", &[]);
    let warnings = codes(&report["warnings"]);
    assert!(warnings.contains(&"link-leaves-input"), "{warnings:?}");
    assert!(warnings.contains(&"file-name-not-utf8"), "{warnings:?}");
    assert_eq!(report["written"], 3);
    let text = report["warnings"].to_string();
    assert!(
        text.contains("elsewhere") && text.contains("not followed"),
        "{text}"
    );
}

#[test]
fn an_empty_dataset_is_written_with_a_warning() {
    let tmp = TempDir::new("empty");
    let cvat = bases().into_iter().find(|b| b.format == "cvat").unwrap();
    let mut files = cvat.files.clone();
    files.insert("ImageSets/Segmentation/default.txt".into(), Vec::new());
    write_tree(&files, &tmp.join("in"));
    let report = convert(&tmp.join("in"), &tmp.join("out"), "nucleus", &[]);
    assert_eq!(report["items"], 0);
    assert!(
        codes(&report["warnings"]).contains(&"empty-dataset"),
        "{report}"
    );
}

#[test]
fn an_output_name_of_254_bytes_is_written() {
    let tmp = TempDir::new("long-name");
    let input = crate::common::fixture("cvat/generated_cvat_export/dataset");
    let name = format!("{}.zip", "n".repeat(250));
    assert_eq!(name.len(), 254);
    let output = tmp.join(&name);
    convert(&input, &output, "nucleus", &[]);
    assert!(output.is_file());
}

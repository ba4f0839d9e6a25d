//! Broken containers, annotation files, paths that are not regular files,
//! links, keys that a target cannot hold, and output-side refusals.

use super::build::{
    Base, Container, Files, TarEntry, bases, mkfifo, sparse_file, write_as, write_tar_gz,
    write_tree, write_zip,
};
use super::{Case, run_all, run_limited};
use crate::common::TempDir;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// Makes something other than a regular file at a path.
type Make = fn(&Path);

fn base(format: &str) -> Base {
    bases().into_iter().find(|b| b.format == format).unwrap()
}

fn with(files: &Files, path: &str, bytes: &[u8]) -> Files {
    let mut files = files.clone();
    files.insert(path.to_string(), bytes.to_vec());
    files
}

fn without(files: &Files, path: &str) -> Files {
    let mut files = files.clone();
    files.remove(path);
    files
}

/// Archives that are not what they claim, or hold entries that escape,
/// repeat, or are not regular files.
#[test]
fn broken_archives_fail_cleanly() {
    let work = TempDir::new("bad-archives");
    let cvat = base("cvat");
    let mask = cvat.mask;
    let mut cases = Vec::new();
    let zip = write_as(Container::Zip, &cvat.files, &work.join("good"));
    let zip_bytes = std::fs::read(&zip).unwrap();
    let put = |name: &str, bytes: &[u8]| {
        let path = work.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    cases.push(Case::new(
        "zip-truncated",
        put("cut.zip", &zip_bytes[..zip_bytes.len() / 2]),
        "nucleus",
        &["cut.zip", "not a readable zip archive"],
    ));
    cases.push(Case::new(
        "zip-empty-file",
        put("empty.zip", b""),
        "nucleus",
        &["empty.zip", "not a readable zip archive"],
    ));
    cases.push(Case::new(
        "zip-garbage",
        put("garbage.zip", b"PK\x03\x04 this is no zip at all"),
        "nucleus",
        &["garbage.zip", "not a readable zip archive"],
    ));
    // Two entries of one name: written with distinct names, then renamed in place.
    let mut twice = cvat.files.clone();
    twice.insert("ImageSets/Segmentation/defaulX.txt".into(), b"x\n".to_vec());
    let twice_zip = work.join("twice.zip");
    write_zip(&twice_zip, &twice, &[]);
    let mut raw = std::fs::read(&twice_zip).unwrap();
    let needle = b"defaulX.txt";
    let mut at = 0;
    while let Some(found) = raw[at..].windows(needle.len()).position(|w| w == needle) {
        raw[at + found + 6] = b't';
        at += found + needle.len();
    }
    std::fs::write(&twice_zip, raw).unwrap();
    cases.push(Case::new(
        "zip-duplicate-entry",
        twice_zip,
        "nucleus",
        &["twice.zip", "two entries with the same name"],
    ));
    let escaping = work.join("escape.zip");
    write_zip(&escaping, &with(&cvat.files, "../evil.txt", b"x"), &[]);
    cases.push(Case::new(
        "zip-entry-climbs-out",
        escaping,
        "nucleus",
        &["escape.zip", "'../evil.txt' contains '..'"],
    ));
    let linked = work.join("link.zip");
    write_zip(
        &linked,
        &without(&cvat.files, mask),
        &[(mask, "/etc/passwd")],
    );
    cases.push(Case::new(
        "zip-mask-is-a-symlink",
        linked,
        "nucleus",
        &[mask, "is a symlink in the zip archive", "not followed"],
    ));
    // 1 GiB of zeros compresses to 1 MB: the entry's size is refused unread.
    let zeros = vec![0u8; 100 << 20];
    let big = work.join("inflates.zip");
    write_zip(&big, &with(&cvat.files, mask, &zeros), &[]);
    cases.push(
        Case::new(
            "zip-mask-inflates-past-the-limit",
            big,
            "nucleus",
            &[mask, "larger than 64 MiB"],
        )
        .bomb(),
    );
    // tar.gz
    cases.push(Case::new(
        "gzip-not-tar",
        put(
            "plain.tar.gz",
            &gzip(b"\x1b[31mraw bytes\n\x07 not a tar\n"),
        ),
        "nucleus",
        &["plain.tar.gz"],
    ));
    let tgz = write_as(Container::TarGz, &cvat.files, &work.join("good"));
    let tgz_bytes = std::fs::read(&tgz).unwrap();
    cases.push(Case::new(
        "tar-gz-truncated",
        put("cut.tar.gz", &tgz_bytes[..tgz_bytes.len() / 2]),
        "nucleus",
        &["cut.tar.gz", "corrupt tar.gz archive"],
    ));
    let entries = |extra: TarEntry, leave_out: &str| -> Vec<TarEntry> {
        let mut list: Vec<TarEntry> = cvat
            .files
            .iter()
            .filter(|(name, _)| name.as_str() != leave_out)
            .map(|(name, bytes)| TarEntry::File(name.clone(), bytes.clone()))
            .collect();
        list.push(extra);
        list
    };
    let tar = |name: &str, list: Vec<TarEntry>| {
        let path = work.join(name);
        write_tar_gz(&path, &list);
        path
    };
    cases.push(Case::new(
        "tar-mask-links-outside",
        tar(
            "link.tar.gz",
            entries(TarEntry::Symlink(mask.into(), "/etc/passwd".into()), mask),
        ),
        "nucleus",
        &[
            mask,
            "a link that leads to no file inside the archive",
            "not followed",
        ],
    ));
    cases.push(Case::new(
        "tar-mask-is-a-fifo",
        tar("fifo.tar.gz", entries(TarEntry::Fifo(mask.into()), mask)),
        "nucleus",
        &[mask, "is a FIFO in the tar archive"],
    ));
    cases.push(Case::new(
        "tar-duplicate-entry",
        tar(
            "twice.tar.gz",
            entries(TarEntry::File(mask.into(), b"x".to_vec()), ""),
        ),
        "nucleus",
        &["twice.tar.gz", "two entries named", mask],
    ));
    cases.push(Case::new(
        "tar-entry-climbs-out",
        tar(
            "escape.tar.gz",
            entries(TarEntry::RawName("../evil.txt".into(), b"x".to_vec()), ""),
        ),
        "nucleus",
        &["escape.tar.gz", "'../evil.txt' contains '..'"],
    ));
    cases.push(Case::new(
        "input-missing",
        work.join("nowhere"),
        "nucleus",
        &["nowhere", "no such file or folder"],
    ));
    let fifo = work.join("input.fifo");
    mkfifo(&fifo);
    cases.push(Case::new(
        "input-is-a-fifo",
        fifo,
        "nucleus",
        &["input.fifo", "is a FIFO"],
    ));
    cases.push(Case::new(
        "input-is-a-device",
        "/dev/zero".into(),
        "nucleus",
        &["/dev/zero", "is a device"],
    ));
    run_all(cases, &work);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// JSON `text` with a key holding 20 MiB of text put just before `marker`
/// (the start of another key).
fn with_huge_key_before(text: &[u8], marker: &str) -> Vec<u8> {
    let text = String::from_utf8(text.to_vec()).unwrap();
    let at = text.find(marker).unwrap();
    let huge = format!("\"huge\": \"{}\", ", "a".repeat(20 << 20));
    [&text[..at], &huge, &text[at..]].concat().into_bytes()
}

/// Annotation files that do not parse, name what is not there, or are
/// something else than a file; each named with what is wrong.
#[test]
fn broken_annotation_files_are_named_with_their_error() {
    let work = TempDir::new("bad-annotations");
    let mut cases = Vec::new();
    for base in bases() {
        let files = &base.files;
        let annotations = base.annotations;
        let to = if base.format == "cvat" {
            "nucleus"
        } else {
            "cvat"
        };
        let broken: Vec<(&str, Vec<u8>, Vec<&str>)> = match base.format {
            "cvat" => vec![
                (
                    "garbage-line",
                    b"background:0,0,0::\nnot a label\n".to_vec(),
                    vec!["line 2", "expected 4"],
                ),
                (
                    "name-twice",
                    b"a:1,2,3::\na:4,5,6::\n".to_vec(),
                    vec!["line 2", "'a' is defined twice"],
                ),
                (
                    "not-utf8",
                    b"a:1,2,3::\n\xff\xfe\n".to_vec(),
                    vec!["is not valid UTF-8"],
                ),
                (
                    "colour-out-of-range",
                    b"a:1,2,300::\n".to_vec(),
                    vec!["line 1", "300 is outside 0..255"],
                ),
            ],
            "datagen" => vec![
                (
                    "larger-than-16MiB",
                    [vec![b' '; 17 << 20], b"{}".to_vec()].concat(),
                    vec!["is larger than 16 MiB, the limit for a metadata file"],
                ),
                ("garbage", b"{not json".to_vec(), vec![]),
                ("empty", b"".to_vec(), vec![]),
                ("wrong-shape", b"[1, 2, 3]".to_vec(), vec![]),
            ],
            "nucleus" => vec![
                (
                    "bad-first-line",
                    b"{bad\n".to_vec(),
                    vec!["is not valid NDJSON", "line 1 column 2"],
                ),
                (
                    "huge-first-line",
                    format!(
                        "{{\"type\": \"mask\", \"mask_url\": \"masks/street_a.png\", \"note\": \"{}\"}}\n",
                        "a".repeat(20 << 20)
                    )
                    .into_bytes(),
                    vec!["line 1: the annotation is longer than 16 MiB"],
                ),
                (
                    "huge-later-line",
                    {
                        let mut text = files[annotations].clone();
                        let huge = format!("{{\"note\": \"{}\"}}\n", "a".repeat(20 << 20));
                        text.extend_from_slice(huge.as_bytes());
                        text
                    },
                    vec!["line 4: the annotation is longer than 16 MiB"],
                ),
                (
                    "bad-later-line",
                    {
                        let mut text = files[annotations].clone();
                        text.extend_from_slice(b"{\"type\": \"mask\", oops}\n");
                        text
                    },
                    vec!["line 4"],
                ),
            ],
            _ => vec![
                (
                    "huge-sample",
                    with_huge_key_before(&files[annotations], "\"uuid\": \"u-2\""),
                    vec!["one sample is longer than 16 MiB"],
                ),
                (
                    "huge-head",
                    with_huge_key_before(&files[annotations], "\"labelsets\""),
                    vec!["the release without its samples is longer than 16 MiB"],
                ),
                ("empty", b"".to_vec(), vec!["is empty"]),
                (
                    "garbage",
                    b"xx{".to_vec(),
                    vec!["is not valid JSON", "line 1 column 1"],
                ),
                (
                    "truncated",
                    files[annotations][..files[annotations].len() / 2].to_vec(),
                    vec!["EOF while parsing"],
                ),
            ],
        };
        for (tag, bytes, mut needles) in broken {
            let name = format!("{}-{tag}", base.format);
            let input = write_as(
                Container::Folder,
                &with(files, annotations, &bytes),
                &work.join(&name),
            );
            needles.push(annotations);
            let mut case = Case::new(&name, input, to, &needles);
            if matches!(base.format, "nucleus" | "segments") {
                case = case.arg("--from").arg(base.format);
            }
            cases.push(case);
        }
        // The annotation file is a FIFO, a folder, a link to nowhere; or huge.
        // (A folder in its place is no file: the formats go on without it,
        // as their own importers do.)
        let odd: [(&str, Make, &str); 3] = [
            ("fifo", |p| mkfifo(p), "is a FIFO"),
            (
                "dangling-link",
                |p| std::os::unix::fs::symlink("/nonexistent/x", p).unwrap(),
                "symlink to a file that does not exist",
            ),
            ("sparse-2GiB", |p| sparse_file(p, 2 << 30), "is larger than"),
        ];
        for (tag, make, needle) in odd {
            let name = format!("{}-annotations-{tag}", base.format);
            let dir = work.join(&name);
            write_tree(&without(files, annotations), &dir);
            make(&dir.join(annotations));
            let case = Case::new(&name, dir, to, &[annotations, needle])
                .arg("--from")
                .arg(base.format);
            cases.push(if tag.starts_with("sparse") {
                case.bomb()
            } else {
                case
            });
        }
    }
    run_all(cases, &work);
}

/// Masks that are FIFOs, devices, links to nowhere, folders or huge sparse
/// files, named by a folder's listing or by a `mask_url` path.
#[test]
fn masks_that_are_not_regular_files_are_refused() {
    let work = TempDir::new("bad-mask-files");
    let mut cases = Vec::new();
    for base in bases() {
        let to = if base.format == "cvat" {
            "nucleus"
        } else {
            "cvat"
        };
        // (A folder named like the mask is no file: the item has no mask,
        // as the formats' own importers see it.)
        let odd: [(&str, Make, &str, bool); 3] = [
            ("fifo", |p| mkfifo(p), "is a FIFO", false),
            (
                "dangling-link",
                |p| std::os::unix::fs::symlink("/nonexistent/x.png", p).unwrap(),
                "symlink to a file that does not exist",
                false,
            ),
            (
                "sparse-2GiB",
                |p| sparse_file(p, 2 << 30),
                "is larger than 64 MiB",
                true,
            ),
        ];
        for (tag, make, needle, bomb) in odd {
            let name = format!("{}-mask-{tag}", base.format);
            let dir = work.join(&name);
            write_tree(&without(&base.files, base.mask), &dir);
            std::fs::create_dir_all(dir.join(base.mask).parent().unwrap()).unwrap();
            make(&dir.join(base.mask));
            let case = Case::new(&name, dir, to, &[base.mask, needle]);
            cases.push(if bomb { case.bomb() } else { case });
        }
    }
    // Nucleus names masks by path: an absolute one may lead anywhere.
    let nucleus = base("nucleus");
    for (tag, target, needle) in [
        ("dev-zero", "/dev/zero", "is a device"),
        ("missing", "/nonexistent/mask.png", "no such file"),
        ("folder", "/usr/lib", "is a folder, not a regular file"),
    ] {
        let text = String::from_utf8(nucleus.files[nucleus.annotations].clone()).unwrap();
        let text = text.replacen("masks/street_a.png", target, 1);
        let name = format!("nucleus-mask-url-{tag}");
        let input = write_as(
            Container::Folder,
            &with(&nucleus.files, nucleus.annotations, text.as_bytes()),
            &work.join(&name),
        );
        cases.push(Case::new(&name, input, "cvat", &[target, needle]).bomb());
    }
    run_all(cases, &work);
}

/// Keys a line-based target cannot hold, runs with nothing left to write,
/// and OUTPUTs that may not be replaced.
#[test]
fn what_the_output_cannot_hold_or_replace_is_refused() {
    let work = TempDir::new("bad-output");
    let mut cases = Vec::new();
    let nucleus = base("nucleus");
    // ASCII control characters are escaped in file names and list lines
    // (`tests/integration/keys.rs`); Unicode's line breaks are not.
    for (tag, key) in [
        ("line-separator", "a\\u2028b"),
        ("paragraph-separator", "a\\u2029b"),
        ("next-line", "a\\u0085b"),
    ] {
        let text = String::from_utf8(nucleus.files[nucleus.annotations].clone()).unwrap();
        let text = text.replacen(
            "\"reference_id\": \"street_a\"",
            &format!("\"reference_id\": \"{key}\""),
            1,
        );
        let name = format!("nucleus-key-{tag}-to-cvat");
        let input = write_as(
            Container::Folder,
            &with(&nucleus.files, nucleus.annotations, text.as_bytes()),
            &work.join(&name),
        );
        cases.push(Case::new(
            &name,
            input,
            "cvat",
            &["cannot be listed", "rename the item"],
        ));
    }
    let segments = base("segments");
    let text = String::from_utf8(segments.files[segments.annotations].clone()).unwrap();
    let text = text.replacen(
        "\"name\": \"street.jpg\"",
        "\"name\": \"street\\u2028jpg\"",
        1,
    );
    let input = write_as(
        Container::Zip,
        &with(&segments.files, segments.annotations, text.as_bytes()),
        &work.join("segments-key-line-separator"),
    );
    cases.push(
        Case::new(
            "segments-name-line-separator-to-cvat",
            input,
            "cvat",
            &["street\u{2028}jpg", "cannot be listed"],
        )
        .zip_output(),
    );
    // Every item fails under --keep-going: nothing is published (exit 1).
    let cvat = base("cvat");
    let all_bad = with(&cvat.files, cvat.mask, b"not a png");
    let input = write_as(
        Container::Folder,
        &all_bad,
        &work.join("cvat-every-item-fails"),
    );
    cases.push(
        Case::new(
            "keep-going-with-every-item-failing",
            input,
            "nucleus",
            &["every item failed", "nothing was written"],
        )
        .arg("--keep-going"),
    );
    // An empty dataset cannot be written as Datagen.
    let empty = with(&cvat.files, "ImageSets/Segmentation/default.txt", b"");
    let input = write_as(Container::Folder, &empty, &work.join("cvat-empty"));
    cases.push(Case::new(
        "empty-dataset-to-datagen",
        input,
        "datagen",
        &["no item to write", "Datagen"],
    ));
    // OUTPUT is a FIFO (a device, as root, would be deleted by a careless --force).
    let input = write_as(Container::Folder, &cvat.files, &work.join("cvat-good"));
    let fifo_dir = work.join("fifo-out");
    std::fs::create_dir(&fifo_dir).unwrap();
    mkfifo(&fifo_dir.join("result"));
    let (code, _, stderr) = run_limited(
        &[
            "convert".into(),
            input.display().to_string(),
            fifo_dir.join("result").display().to_string(),
            "--to".into(),
            "nucleus".into(),
            "--force".into(),
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "is a FIFO (named pipe); OUTPUT may only replace a file, a folder or a symlink"
        ),
        "{stderr}"
    );
    let kept = std::fs::symlink_metadata(fifo_dir.join("result")).unwrap();
    assert!(kept.file_type().is_fifo(), "the FIFO is still there");
    assert!(cases.len() >= 6);
    run_all(cases, &work);
}

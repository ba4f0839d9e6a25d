//! The round-trip matrix: one synthetic dataset written in every format of
//! the registry, then every reader × writer pair converted, read back and
//! compared with what the target can hold; X → Y → X compared with what both
//! hold. Every loss a conversion reports must be in the README's "Known
//! losses" table for that target, so the table cannot drift from the code.

use crate::common::open_dataset;
use crate::common::{CanonicalItem, TempDir, canonical, memory_dataset, partition, read_tree, s};
use maskconv::convert::{ConvertOptions, ConvertReport, convert};
use maskconv::formats::api::Dataset;
use maskconv::formats::options::Direction;
use maskconv::formats::{self, REGISTRY};
use maskconv::losses::LossCode;
use maskconv::model::{Class, ClassKind, Color, Item, LabelMap, Segment};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every format that can be read and written.
fn formats() -> Vec<&'static str> {
    REGISTRY
        .iter()
        .map(|f| f.info())
        .filter(|i| i.can_read && i.can_write)
        .map(|i| i.name)
        .collect()
}

/// The classes: stuff and things, names with dots, spaces and non-ASCII
/// letters, and two 16-bit colours that are one colour at 8 bits.
fn classes() -> Vec<Class> {
    vec![
        Class::new("road", ClassKind::Stuff).with_color(Color::Rgb8([128, 64, 128])),
        Class::new("vehicle.car", ClassKind::Thing).with_color(Color::Rgb16([4384, 1699, 55003])),
        Class::new("vehicle.truck", ClassKind::Thing).with_color(Color::Rgb16([4385, 1699, 55003])),
        Class::new("traffic light", ClassKind::Thing),
        Class::new("Straße", ClassKind::Stuff).with_color(Color::Rgb8([70, 70, 70])),
    ]
}

/// One item: `w × h` pixels from `paint(x, y) -> (class, instance)` (class 0 = unlabeled).
fn item(
    key: &str,
    subset: Option<&str>,
    w: u32,
    h: u32,
    paint: impl Fn(u32, u32) -> (u32, Option<u32>),
) -> (Item, Option<LabelMap>) {
    let mut segments: Vec<Segment> = Vec::new();
    let mut ids = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (class, instance) = paint(x, y);
            let id = if class == 0 {
                0
            } else {
                match segments
                    .iter()
                    .position(|s| s.class == class && s.instance == instance)
                {
                    Some(i) => i as u32 + 1,
                    None => {
                        segments.push(Segment::new(class, instance));
                        segments.len() as u32
                    }
                }
            };
            ids.push(id);
        }
    }
    let mut item = Item::new(key);
    item.subset = subset.map(String::from);
    (item, Some(LabelMap::new(w, h, ids, segments).unwrap()))
}

/// The synthetic dataset, in the model.
fn synthetic() -> Dataset {
    let mut items = vec![
        // Stuff bands, cars and trucks (several instances), a light, unlabeled pixels.
        item("street/frame_1", Some("train"), 40, 30, |x, y| {
            match (x, y) {
                (_, 24..) => (1, None),
                (0..=9, 10..=19) => (2, Some(1)),
                (12..=21, 10..=19) => (2, Some(2)),
                (24..=33, 8..=19) => (3, Some(3)),
                (36.., 0..=5) => (4, Some(4)),
                (_, 0..=3) => (5, None),
                _ => (0, None),
            }
        }),
        item("street/frame_2", Some("val"), 24, 16, |x, y| {
            if y > 11 {
                (5, None)
            } else if x < 12 {
                (2, Some(1 + y % 3))
            } else {
                (0, None)
            }
        }),
        // Exactly 255 instances, and 256: more than CVAT and Nucleus hold.
        item("crowd_255", Some("train"), 16, 16, |x, y| {
            let i = y * 16 + x;
            if i < 255 { (4, Some(i + 1)) } else { (0, None) }
        }),
        item("crowd_256", Some("train"), 16, 16, |x, y| {
            (4, Some(y * 16 + x + 1))
        }),
    ];
    // An item without mask.
    items.push((Item::new("no_mask"), None));
    let (items, maps): (Vec<Item>, Vec<Option<LabelMap>>) = items.into_iter().unzip();
    memory_dataset(classes(), items, maps)
}

fn keep_going() -> ConvertOptions<'static> {
    ConvertOptions {
        keep_going: true,
        ..Default::default()
    }
}

/// What the comparison needs of what a format holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    instances: bool,
    subsets: bool,
    /// Items without mask are written.
    items_without_mask: bool,
    /// The most segments with pixels one image holds.
    max_segments: u32,
}

/// What a format can hold, and what both of two can.
fn holds(format: &str) -> Held {
    let c = formats::find(format).unwrap().info().capabilities;
    Held {
        instances: c.instances,
        subsets: c.subsets,
        items_without_mask: c.items_without_mask,
        max_segments: c.max_segments.map_or(u32::MAX, |m| m.max),
    }
}

fn both(a: Held, b: Held) -> Held {
    Held {
        instances: a.instances && b.instances,
        subsets: a.subsets && b.subsets,
        items_without_mask: a.items_without_mask && b.items_without_mask,
        max_segments: a.max_segments.min(b.max_segments),
    }
}

/// `item` as a format that holds `h` keeps it: classes per pixel always,
/// the instance partition only with instances, the subset only with subsets.
fn as_held(item: &CanonicalItem, h: Held) -> CanonicalItem {
    let mut kept = if h.instances {
        partition(item)
    } else {
        CanonicalItem {
            pixels: item.pixels.iter().map(|(c, _)| (c.clone(), None)).collect(),
            ..item.clone()
        }
    };
    if !h.subsets {
        kept.subset = None;
    }
    kept
}

/// Compares what `after` has of `before` as `h` holds it; items `after`
/// cannot have (skipped, or without mask where masks are required) are
/// listed in `gone`.
fn assert_holds(
    before: &[CanonicalItem],
    after: &[CanonicalItem],
    h: Held,
    gone: &BTreeSet<String>,
    what: &str,
) {
    let after: BTreeMap<&str, &CanonicalItem> = after.iter().map(|i| (i.key.as_str(), i)).collect();
    let kept: BTreeSet<&str> = before
        .iter()
        .map(|i| i.key.as_str())
        .filter(|k| !gone.contains(*k))
        .collect();
    let found: BTreeSet<&str> = after.keys().copied().collect();
    assert_eq!(found, kept, "{what}: the items, no more and no fewer");
    for item in before {
        if gone.contains(&item.key) {
            assert!(
                !after.contains_key(item.key.as_str()),
                "{what}: {} should be gone",
                item.key
            );
            continue;
        }
        let Some(other) = after.get(item.key.as_str()) else {
            panic!("{what}: item {} is missing", item.key);
        };
        assert_eq!(
            as_held(other, h),
            as_held(item, h),
            "{what}: item {}",
            item.key
        );
    }
}

/// Items a conversion into `to` leaves out: the skipped ones, and, where
/// the target holds no item without mask (Nucleus), those without mask.
fn gone(report: &ConvertReport, source: &[CanonicalItem], to: &str) -> BTreeSet<String> {
    let mut gone: BTreeSet<String> = report.skipped.iter().map(|s| s.key.clone()).collect();
    if !holds(to).items_without_mask {
        gone.extend(
            source
                .iter()
                .filter(|i| i.size.is_none())
                .map(|i| i.key.clone()),
        );
    }
    gone
}

/// Every kind of difference the comparison allows is reported by name:
/// instances merged, subsets dropped, items skipped or left out.
fn assert_differences_are_reported(
    source: &[CanonicalItem],
    report: &ConvertReport,
    to: &str,
    what: &str,
) {
    let codes: BTreeSet<&str> = report.losses.summaries().iter().map(|s| s.code).collect();
    let target = holds(to);
    let had_instances = source
        .iter()
        .any(|i| i.pixels.iter().any(|p| p.1.is_some()));
    if had_instances && !target.instances {
        assert!(codes.contains("instances-merged"), "{what}: {codes:?}");
    }
    if source.iter().any(|i| i.subset.is_some()) && !target.subsets {
        assert!(codes.contains("subsets-dropped"), "{what}: {codes:?}");
    }
    if !target.items_without_mask && source.iter().any(|i| i.size.is_none()) {
        assert!(codes.contains("item-without-mask"), "{what}: {codes:?}");
    }
    for skipped in &report.skipped {
        assert!(
            skipped.loss.is_some(),
            "{what}: unnamed skip: {}",
            skipped.error
        );
    }
}

/// `(target, loss code)` pairs of the README's "Known losses" table (`any`
/// for losses of any target).
fn readme_losses() -> BTreeSet<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = readme
        .split("## Known losses and differences")
        .nth(1)
        .expect("README has a Known losses section");
    let mut pairs = BTreeSet::new();
    for line in table
        .lines()
        .skip_while(|l| !l.starts_with("| target"))
        .skip(2)
    {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let target = cells[1]
            .trim_matches('`')
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        for code in cells[2].split(',') {
            pairs.insert((target.clone(), code.trim().trim_matches('`').to_string()));
        }
    }
    pairs
}

#[test]
fn every_reader_writer_pair_keeps_what_the_target_holds_and_names_every_loss() {
    let tmp = TempDir::new("matrix");
    let listed = readme_losses();
    assert!(
        listed.contains(&("cvat".into(), "too-many-segments".into())),
        "{listed:?}"
    );
    let mut unlisted: BTreeSet<(String, String)> = BTreeSet::new();
    let mut note_losses = |report: &ConvertReport, to: &str| {
        for summary in report.losses.summaries() {
            let pair = (to.to_string(), summary.code.to_string());
            let any = ("any".to_string(), summary.code.to_string());
            if !listed.contains(&pair) && !listed.contains(&any) {
                unlisted.insert(pair);
            }
        }
        for skipped in &report.skipped {
            let code = match skipped.loss {
                Some(loss) => loss.as_str().to_string(),
                None => skipped.error.clone(),
            };
            let pair = (to.to_string(), code);
            if !listed.contains(&pair) {
                unlisted.insert(pair);
            }
        }
    };

    // The synthetic dataset in each format, as that format holds it.
    let model = synthetic();
    let model_items = canonical(&model);
    let mut sources = BTreeMap::new();
    for format in formats() {
        let dir = tmp.join(&format!("source-{format}"));
        let mut out = maskconv::io::Output::create(&dir, &tmp.join("nowhere"), false).unwrap();
        let target = formats::find(format).unwrap();
        let report =
            maskconv::convert::convert_dataset(&model, target, &mut out, &keep_going()).unwrap();
        out.publish().unwrap();
        note_losses(&report, format);
        let read = canonical(&open_dataset(&dir, None).unwrap());
        let gone = gone(&report, &model_items, format);
        assert_holds(
            &model_items,
            &read,
            holds(format),
            &gone,
            &format!("model → {format}"),
        );
        sources.insert(format, (dir, read));
    }
    // 256 instances: formats holding at most 255 segments per image (CVAT,
    // Nucleus) skip that item; the others keep it.
    for (format, (_, read)) in &sources {
        let has_256 = read.iter().any(|i| i.key == "crowd_256");
        assert_eq!(has_256, holds(format).max_segments >= 256, "{format}");
        assert!(
            read.iter().any(|i| i.key == "crowd_255"),
            "{format} holds 255"
        );
    }

    for from in formats() {
        let (source_dir, source) = &sources[from];
        for to in formats() {
            let what = format!("{from} → {to}");
            let there = tmp.join(&format!("{from}-to-{to}"));
            let report = convert(source_dir, &there, None, to, &keep_going())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            note_losses(&report, to);
            let read = canonical(&open_dataset(&there, None).unwrap());
            let h = both(holds(from), holds(to));
            let gone_there = gone(&report, source, to);
            assert_holds(source, &read, h, &gone_there, &what);
            assert_differences_are_reported(source, &report, to, &what);

            // And back: X → Y → X keeps what both hold.
            let back = tmp.join(&format!("{from}-to-{to}-back"));
            let report = convert(&there, &back, None, from, &keep_going())
                .unwrap_or_else(|e| panic!("{what} → {from}: {e}"));
            note_losses(&report, from);
            let round = canonical(&open_dataset(&back, None).unwrap());
            assert_holds(source, &round, h, &gone_there, &format!("{what} → {from}"));
        }
    }
    assert!(
        unlisted.is_empty(),
        "losses reported but missing from the README's Known losses table: {unlisted:?}"
    );
}

#[test]
fn the_readme_loss_table_lists_exactly_the_loss_codes() {
    let listed: BTreeSet<String> = readme_losses().into_iter().map(|(_, code)| code).collect();
    let codes: BTreeSet<String> = LossCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    assert_eq!(
        listed, codes,
        "README 'Known losses' codes against LossCode::ALL"
    );
}

/// Every reader × writer pair (and every writer flag, such as Nucleus
/// `--semantic`) writes the same bytes at `-j 1` and `-j 2`, into a zip, a
/// `.tar.gz` and a folder: the determinism check, once for every format.
#[test]
fn every_conversion_writes_the_same_bytes_at_one_and_two_threads() {
    let tmp = TempDir::new("matrix-threads");
    let model = synthetic();
    let mut pairs = 0;
    for from in formats() {
        let source = tmp.join(&format!("source-{from}"));
        let mut out = maskconv::io::Output::create(&source, &tmp.join("nowhere"), false).unwrap();
        let target = formats::find(from).unwrap();
        maskconv::convert::convert_dataset(&model, target, &mut out, &keep_going()).unwrap();
        out.publish().unwrap();
        for to in formats() {
            let info = formats::find(to).unwrap().info();
            let flags = info
                .options
                .iter()
                .filter(|o| o.value.is_none() && o.direction == Direction::Write)
                .map(|o| format!("--{}", o.name));
            for flag in std::iter::once(None).chain(flags.map(Some)) {
                for ext in [".zip", ".tar.gz", ""] {
                    let written: Vec<Vec<u8>> = ["1", "2"]
                        .iter()
                        .map(|j| {
                            // One name in two folders: a .tar.gz may hold its name.
                            let out = tmp.join(&format!("j{j}/{from}-{to}{ext}"));
                            let mut args = vec!["-j", j, "--keep-going", "--force"];
                            args.extend(flag.as_deref());
                            let output = crate::common::maskconv(
                                &[
                                    &["convert", s(&source), s(&out), "--to", to, "-q"][..],
                                    &args,
                                ]
                                .concat(),
                            );
                            assert!(
                                matches!(output.status.code(), Some(0 | 3)),
                                "{}",
                                crate::common::describe(&output)
                            );
                            match ext {
                                "" => serde_json::to_vec(&read_tree(&out)).unwrap(),
                                _ => std::fs::read(&out).unwrap(),
                            }
                        })
                        .collect();
                    assert!(
                        written[0] == written[1],
                        "{from} → {to} {flag:?} {ext}: -j 1 and -j 2 differ"
                    );
                    pairs += 1;
                }
            }
        }
    }
    assert!(pairs >= 3 * 16, "{pairs}");
}

/// Every writer's `.tar.gz` holds what its folder output holds, file for
/// file (under one top folder named after the archive where the format's
/// archives have one: Datagen), and reads back to the same dataset.
#[test]
fn every_writer_writes_a_tar_gz_holding_its_folder_output() {
    let tmp = TempDir::new("matrix-targz");
    let model = synthetic();
    let source = tmp.join("source");
    let mut out = maskconv::io::Output::create(&source, &tmp.join("nowhere"), false).unwrap();
    maskconv::convert::convert_dataset(
        &model,
        formats::find("cvat").unwrap(),
        &mut out,
        &keep_going(),
    )
    .unwrap();
    out.publish().unwrap();
    for to in formats() {
        let folder = tmp.join(to);
        let archive = tmp.join(&format!("{to}-set.tar.gz"));
        for out in [&folder, &archive] {
            let output = crate::common::maskconv(&[
                "convert",
                s(&source),
                s(out),
                "--to",
                to,
                "-q",
                "--keep-going",
            ]);
            assert!(
                matches!(output.status.code(), Some(0 | 3)),
                "{}",
                crate::common::describe(&output)
            );
        }
        let prefix = match formats::find(to).unwrap().info().archive_folder {
            true => format!("{to}-set/"),
            false => String::new(),
        };
        let mut entries = std::collections::BTreeMap::new();
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap());
        for entry in tar::Archive::new(gz).entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut path = entry.path().unwrap().to_string_lossy().into_owned();
            if entry.header().entry_type().is_dir() && !path.ends_with('/') {
                path.push('/');
            }
            let path = path
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{to}: {path} outside {prefix:?}"))
                .to_string();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            assert!(
                entries.insert(path, bytes).is_none(),
                "{to}: an entry twice"
            );
        }
        assert_eq!(
            entries,
            read_tree(&folder),
            "{to}: the archive holds the folder's files"
        );
        let inspect = |p: &Path| {
            let out = crate::common::maskconv(&["inspect", s(p), "--json", "--per-item"]);
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            (report["classes"].clone(), report["per_item"].clone())
        };
        assert_eq!(
            inspect(&archive),
            inspect(&folder),
            "{to}: the archive reads as the folder"
        );
    }
}

/// Writes the synthetic dataset in every format under `$MASKCONV_SYNTHETIC/<format>`,
/// for the conformance suite to check with the formats' own software
/// (`tests/conformance/run.sh` runs it).
#[test]
#[ignore = "run by tests/conformance/run.sh"]
fn write_the_synthetic_dataset_for_the_conformance_suite() {
    let dir = std::env::var_os("MASKCONV_SYNTHETIC").expect("MASKCONV_SYNTHETIC names a folder");
    let dir = Path::new(&dir);
    let model = synthetic();
    for format in formats() {
        let out = dir.join(format);
        let mut sink = maskconv::io::Output::create(&out, &dir.join("nowhere"), true).unwrap();
        let target = formats::find(format).unwrap();
        maskconv::convert::convert_dataset(&model, target, &mut sink, &keep_going()).unwrap();
        sink.publish().unwrap();
    }
}

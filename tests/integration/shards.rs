//! `convert --shard K/N` and `merge`: the merged output is byte-identical
//! to one unsharded run for every writable format, in a folder, a .zip and
//! a .tar.gz, whatever the number of shards and the order they are given
//! in; shards that do not make one whole job are refused, naming them.

use crate::common::{
    TempDir, assert_fails, describe, fixture, maskconv, read_tree, s, varied_dataset,
};
use maskconv::convert::ConvertReport;
use maskconv::convert::{ConvertOptions, convert};
use maskconv::formats::REGISTRY;
use maskconv::merge::{MergeOptions, merge};
use maskconv::shard::{Shard, ShardChoice};
use std::path::{Path, PathBuf};

/// Every file of an output (a folder's tree, or an archive's bytes).
fn bytes_of(output: &Path) -> Vec<(String, Vec<u8>)> {
    match output.is_dir() {
        true => read_tree(output).into_iter().collect(),
        false => vec![(String::new(), std::fs::read(output).unwrap())],
    }
}

/// Converts `input` to `to` at `output` once, then as `count` shards merged
/// (given last shard first), and checks the two are the same bytes.
fn assert_merge_is_one_run(
    tmp: &TempDir,
    input: &Path,
    to: &str,
    ext: &str,
    count: usize,
    options: &ConvertOptions,
) {
    let tag = format!("{to}-{count}{ext}");
    // The same file name: a .tar.gz of Datagen holds a top folder named after it.
    let one = tmp.join(&format!("one/{tag}"));
    let whole = convert(input, &one, None, to, options).unwrap_or_else(|e| panic!("{tag}: {e}"));
    let mut parts: Vec<PathBuf> = Vec::new();
    for index in (0..count).rev() {
        let part = tmp.join(&format!("part{index}-{tag}"));
        let shard = Some(ShardChoice::new(
            Shard::new(index, count).unwrap(),
            "--shard",
        ));
        let report = convert(
            input,
            &part,
            None,
            to,
            &ConvertOptions {
                shard,
                ..options.clone()
            },
        )
        .unwrap_or_else(|e| panic!("{tag} shard {index}: {e}"));
        let part_of = report.shard.expect("a shard says so");
        assert_eq!(report.written, part_of.end - part_of.first, "{tag}");
        parts.push(part);
    }
    let merged = tmp.join(&format!("merged/{tag}"));
    let report = merge(&parts, &merged, &MergeOptions::default())
        .unwrap_or_else(|e| panic!("{tag} merge: {e}"));
    let single = bytes_of(&one);
    assert!(
        single.iter().any(|(_, b)| !b.is_empty()),
        "{tag}: something was written"
    );
    assert!(
        bytes_of(&merged) == single,
        "{tag}: the merged output differs from one run"
    );
    assert_eq!(report.items, report.written + report.skipped.len(), "{tag}");
    assert_eq!(
        tally(&report),
        tally(&whole),
        "{tag}: the merge reports what one run does"
    );
}

/// What a report counts: items, per loss and warning code its count (but
/// `polygon-iou`, a shard's own), the mapping's and instances' rows.
fn tally(report: &ConvertReport) -> String {
    let codes = |list: &maskconv::report::NoteList| {
        let mut counts: Vec<(&str, usize)> = (list.summaries().iter())
            .filter(|s| s.code != "polygon-iou")
            .map(|s| (s.code, s.count))
            .collect();
        counts.sort();
        counts
    };
    format!(
        "{} written, {} skipped, losses {:?}, warnings {:?}, mapping {:?}, instances {:?}",
        report.written,
        report.skipped.len(),
        codes(&report.losses),
        codes(&report.warnings),
        report.mapping,
        report.instances
    )
}

#[test]
fn merged_shards_are_one_runs_bytes_for_every_format_and_container() {
    let tmp = TempDir::new("shards-every-format");
    let input = tmp.join("varied");
    varied_dataset(&input, 8);
    let writable = REGISTRY.iter().map(|f| f.info()).filter(|i| i.can_write);
    for to in writable.map(|i| i.name) {
        for ext in ["", ".zip", ".tar.gz"] {
            assert_merge_is_one_run(&tmp, &input, to, ext, 3, &ConvertOptions::default());
        }
    }
}

#[test]
fn more_shards_than_items_leave_some_empty_and_still_merge() {
    let tmp = TempDir::new("shards-empty");
    let input = tmp.join("varied");
    varied_dataset(&input, 5);
    for to in ["coco", "segments", "datagen"] {
        assert_merge_is_one_run(&tmp, &input, to, ".zip", 8, &ConvertOptions::default());
    }
}

#[test]
fn dataset_wide_ids_agree_across_shards() {
    // Sequences split across shards (Segments.ai samples and track ids),
    // datapoints with several cameras (Datagen's per-datapoint metadata),
    // COCO annotation ids kept from the source or counted through it.
    let cases = [
        ("segments/sdk_sequence", "segments"),
        ("segments/sdk_sequence", "coco"),
        ("datagen/three_real_datapoints", "datagen"),
        ("coco/official_style", "coco"),
        ("coco/official_style", "coco-panoptic"),
        ("nucleus/sdk_annotations", "nucleus"),
    ];
    for (source, to) in cases {
        for count in [2, 3] {
            let tmp = TempDir::new("shards-ids");
            assert_merge_is_one_run(
                &tmp,
                &fixture(source),
                to,
                "",
                count,
                &ConvertOptions::default(),
            );
        }
    }
}

#[test]
fn label_mapping_and_instances_are_replayed_by_the_merge() {
    let tmp = TempDir::new("shards-mapping");
    let input = tmp.join("varied");
    varied_dataset(&input, 6);
    let mapping =
        maskconv::mapping::Mapping::from_args(&["car=vehicle:7".into()], Default::default())
            .unwrap();
    let options = ConvertOptions {
        mapping: Some(mapping),
        instances: Some(maskconv::mapping::Instances::parse("components=4").unwrap()),
        ..ConvertOptions::default()
    };
    assert_merge_is_one_run(&tmp, &input, "coco", "", 3, &options);
}

/// Three shard outputs of `input` to coco, for the refusal tests.
fn three_shards(tmp: &TempDir, input: &Path, tag: &str) -> Vec<PathBuf> {
    (0..3)
        .map(|k| {
            let part = tmp.join(&format!("{tag}{k}"));
            let out = maskconv(&[
                "convert",
                s(input),
                s(&part),
                "--to",
                "coco",
                "--shard",
                &format!("{k}/3"),
                "-q",
            ]);
            assert!(out.status.success(), "{}", describe(&out));
            part
        })
        .collect()
}

#[test]
fn missing_duplicated_and_foreign_shards_are_refused_by_name() {
    let tmp = TempDir::new("shards-refused");
    let input = tmp.join("varied");
    varied_dataset(&input, 6);
    let parts = three_shards(&tmp, &input, "part");
    let merged = tmp.join("merged");
    let run = |paths: &[&PathBuf]| {
        let mut args = vec!["merge"];
        args.extend(paths.iter().map(|p| s(p)));
        args.push(s(&merged));
        maskconv(&args)
    };
    assert_fails(
        &run(&[&parts[0], &parts[2]]),
        &merged,
        2,
        "1 of the 3 shards is missing: 1/3",
    );
    let twice = format!(
        "shard 2/3 is given twice: {} and {}",
        s(&parts[2]),
        s(&parts[2])
    );
    assert_fails(
        &run(&[&parts[0], &parts[1], &parts[2], &parts[2]]),
        &merged,
        2,
        &twice,
    );
    let other = tmp.join("other");
    varied_dataset(&other, 7);
    let foreign = three_shards(&tmp, &other, "foreign");
    let message = format!(
        "{} is a shard of another conversion than {} (its input differs)",
        s(&foreign[1]),
        s(&parts[0])
    );
    assert_fails(
        &run(&[&parts[0], &foreign[1], &parts[2]]),
        &merged,
        2,
        &message,
    );
    assert_fails(
        &run(&[&parts[0], &input, &parts[2]]),
        &merged,
        1,
        "is not the output of a maskconv shard",
    );
    // A damaged item log (cut short, or counts beyond reason) is named.
    let log = parts[1].join(".maskconv-shard/items.bin");
    let whole = std::fs::read(&log).unwrap();
    std::fs::write(&log, &whole[..whole.len() - 3]).unwrap();
    assert_fails(
        &run(&[&parts[0], &parts[1], &parts[2]]),
        &merged,
        1,
        "items.bin: is cut short or damaged",
    );
    let mut huge = whole.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&log, &huge).unwrap();
    assert_fails(
        &run(&[&parts[0], &parts[1], &parts[2]]),
        &merged,
        1,
        "more than 65536",
    );
    // A log naming a file outside the shard (an absolute path, one through
    // `..`) is refused before anything is read.
    for outside in ["/etc/hostname", "../part0/annotations/instances_train.json"] {
        let mut hostile = maskconv::shard::ItemLog::new(None);
        let record = maskconv::formats::api::Record::default();
        hostile.push(2, &[outside], &record).unwrap();
        let mut sink = maskconv::io::MemorySink::default();
        hostile.write(&mut sink).unwrap();
        std::fs::write(&log, &sink.files[".maskconv-shard/items.bin"]).unwrap();
        let needle = format!("logs '{outside}' as an item's file, which is not one of the shard's");
        assert_fails(
            &run(&[&parts[0], &parts[1], &parts[2]]),
            &merged,
            1,
            &needle,
        );
    }
    std::fs::write(&log, &whole).unwrap();
    // The input moved (another machine's mount): --input says where it is now.
    let moved = tmp.join("moved");
    std::fs::rename(&input, &moved).unwrap();
    assert_fails(
        &run(&[&parts[0], &parts[1], &parts[2]]),
        &merged,
        1,
        "give --input where it is now",
    );
    let mut args = vec!["merge", "--input", s(&moved)];
    args.extend(parts.iter().map(|p| s(p)));
    args.push(s(&merged));
    let out = maskconv(&args);
    assert!(out.status.success(), "{}", describe(&out));
    std::fs::remove_dir_all(&merged).unwrap();
    std::fs::rename(&moved, &input).unwrap();
    // The input changed since: the merge refuses to plan another dataset.
    varied_dataset(&input, 7);
    assert_fails(
        &run(&[&parts[0], &parts[1], &parts[2]]),
        &merged,
        1,
        "or changed since (its classes or items differ)",
    );
}

#[test]
fn schedulers_variables_choose_the_shard_and_a_quoted_glob_merges() {
    let tmp = TempDir::new("shards-env");
    let input = tmp.join("varied");
    varied_dataset(&input, 6);
    let single = tmp.join("single.zip");
    assert!(
        maskconv(&["convert", s(&input), s(&single), "--to", "cvat", "-q"])
            .status
            .success()
    );
    for task in 1..=3 {
        let part = tmp.join(&format!("out-{task}.zip"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_maskconv"))
            .args(["convert", s(&input), s(&part), "--to", "cvat", "--json"])
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["shard"]["index"], task - 1);
        assert_eq!(report["shard"]["chosen_by"], "SLURM_ARRAY_TASK_ID");
        let codes: Vec<&str> = (report["warnings"].as_array().unwrap().iter())
            .map(|w| w["code"].as_str().unwrap())
            .collect();
        assert!(
            codes.contains(&"shard-from-environment"),
            "a shard from the environment says so: {codes:?}"
        );
    }
    let merged = tmp.join("merged.zip");
    let glob = tmp.join("out-*.zip");
    let out = maskconv(&["merge", s(&glob), s(&merged), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["shards"].as_array().unwrap().len(), 3);
    assert_eq!(report["written"], 6);
    assert!(std::fs::read(&merged).unwrap() == std::fs::read(&single).unwrap());
    // A Kubernetes index needs the count; --no-shard converts everything.
    let k8s = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_maskconv"))
            .args([
                "convert",
                s(&input),
                s(&tmp.join("k8s")),
                "--to",
                "cvat",
                "-q",
            ])
            .args(extra)
            .env("JOB_COMPLETION_INDEX", "0")
            .output()
            .unwrap()
    };
    assert_fails(&k8s(&[]), &tmp.join("k8s"), 2, "give --shard-count");
    let out = k8s(&["--no-shard"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        !tmp.join("k8s/.maskconv-shard").exists(),
        "--no-shard writes a whole dataset"
    );
}

/// Writes the varied dataset the scheduler tests shard
/// (`tests/scheduler/run.sh`): `MASKCONV_VARIED=FOLDER,ITEMS`.
#[test]
#[ignore = "run by tests/scheduler/run.sh"]
fn write_a_varied_dataset_for_the_scheduler_tests() {
    let spec = std::env::var("MASKCONV_VARIED").expect("MASKCONV_VARIED=FOLDER,ITEMS");
    let (folder, items) = spec.rsplit_once(',').expect("FOLDER,ITEMS");
    varied_dataset(Path::new(folder), items.parse().expect("a number of items"));
}

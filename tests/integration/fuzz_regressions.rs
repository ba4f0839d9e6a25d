//! The fuzz targets on stable: every target's seeds (from the fixtures) and
//! every input committed under `fuzz/regressions/<target>/` (inputs the
//! fuzzers found, minimised) run through the very bodies `cargo fuzz` runs,
//! so a finding stays fixed and the targets keep compiling. With
//! `MASKCONV_FUZZ_SEEDS=DIR` the seeds are also written to `DIR/<target>/`
//! (to start a corpus, see `fuzz/README.md`).

#[path = "../../fuzz/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_fuzz_target_survives_its_seeds_and_committed_findings() {
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let seed_dir = std::env::var_os("MASKCONV_FUZZ_SEEDS");
    let mut replayed = 0;
    for (name, target) in targets::TARGETS {
        for (n, seed) in targets::seeds(name).iter().enumerate() {
            if let Some(dir) = &seed_dir {
                let dir = Path::new(dir).join(name);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(format!("seed-{n}")), seed).unwrap();
            }
            target(seed);
            replayed += 1;
        }
        let Ok(found) = std::fs::read_dir(regressions.join(name)) else {
            continue;
        };
        for entry in found {
            let path = entry.unwrap().path();
            // A panic here names the input that brought it back.
            eprintln!("replaying {}", path.display());
            target(&std::fs::read(&path).unwrap());
            replayed += 1;
        }
    }
    assert!(replayed >= targets::TARGETS.len());
}

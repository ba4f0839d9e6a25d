#![no_main]
//! `cargo +nightly fuzz run coco_json`: see `fuzz/README.md`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::coco_json(data));

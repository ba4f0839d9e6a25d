#![no_main]
//! `cargo +nightly fuzz run labelmap`: see `fuzz/README.md`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::labelmap(data));

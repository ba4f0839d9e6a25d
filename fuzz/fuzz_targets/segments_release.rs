#![no_main]
//! `cargo +nightly fuzz run segments_release`: see `fuzz/README.md`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::segments_release(data));

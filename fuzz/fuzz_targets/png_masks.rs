#![no_main]
//! `cargo +nightly fuzz run png_masks`: see `fuzz/README.md`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::png_masks(data));

#![no_main]
//! `cargo +nightly fuzz run datagen_metadata`: see `fuzz/README.md`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::datagen_metadata(data));

#![no_main]
//! `cargo +nightly fuzz run semantic_tables`: see `fuzz/README.md`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::semantic_tables(data));

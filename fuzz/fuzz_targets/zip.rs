#![no_main]
//! `cargo +nightly fuzz run zip`: see `fuzz/README.md`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::zip(data));

#![no_main]
//! `cargo +nightly fuzz run whole_input`: see `fuzz/README.md`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::whole_input(data));

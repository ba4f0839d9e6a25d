//! The integration tests, in one binary (one link step instead of one per
//! file): the command line, the round-trip matrix, and each format's own
//! tests. Shared helpers are in `common`.

mod bad_input;
mod cli;
mod common;
mod formats;
mod fuzz_regressions;
mod golden;
mod keys;
mod mapping;
mod matrix;
mod polygon_cases;
mod rasterise;
mod shards;

//! # maskconv
//!
//! A fast, exact converter between segmentation-mask dataset formats. A
//! dataset is read by a format's reader into one shared model
//! ([`model`]: a class catalog, items with a handle to their masks, and per
//! item a label map of segment ids), then written by another format's
//! writer — item by item, in parallel, with everything the target cannot
//! hold reported as a named loss ([`losses`]).
//!
//! ```no_run
//! use maskconv::convert::{convert, ConvertOptions};
//! use std::path::Path;
//!
//! let report = convert(Path::new("export.zip"), Path::new("out"), None, "cvat", &ConvertOptions::default())?;
//! println!("{} items written, {} losses", report.written, report.losses.summaries().len());
//! # Ok::<(), maskconv::Error>(())
//! ```
//!
//! Layout, from the bottom up: [`error`] (the error type), [`report`]
//! (warnings as data), [`model`] (the shared model), [`losses`] (loss codes,
//! capabilities, planning, `--strict`), [`codec`] (PNG), [`remap`] (pure
//! pixel kernels), [`io`] (sources, sinks, atomic output), [`interrupt`]
//! (signals remove unpublished output), [`pyjson`] (JSON
//! byte-identical to Python's `json.dumps`), [`formats`] (the registry and
//! one module per format), [`mapping`] (label mapping, `--map`), [`pipeline`] (the ordered parallel scheduler),
//! then one module per command — [`open`], [`convert`], [`inspect`],
//! [`validate`], [`merge`] (with [`shard`]: a conversion split into parts)
//! — and [`exit`] (exit codes) and [`render`] (text and JSON).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod codec;
pub mod convert;
pub mod error;
pub mod exit;
pub mod formats;
pub mod inspect;
pub mod interrupt;
pub mod io;
pub mod losses;
pub mod mapping;
pub mod merge;
pub mod model;
pub mod open;
pub mod pipeline;
pub mod pyjson;
pub mod remap;
pub mod render;
pub mod report;
pub mod shard;
pub mod validate;

pub use error::{Error, ErrorKind, Result};

//! # maskconv
//!
//! A fast, exact converter between segmentation-mask dataset formats. A
//! dataset is read by a format's reader into one shared model
//! ([`model`]: a class catalog, items, and per item a label map of segment
//! ids), then written by another format's writer — item by item, in parallel,
//! with everything the target cannot hold reported as a named loss.
//!
//! ```no_run
//! use maskconv::pipeline::{convert, ConvertOptions};
//! use std::path::Path;
//!
//! let report = convert(Path::new("export.zip"), Path::new("out"), None, "cvat", &ConvertOptions::default())?;
//! println!("{} items written, {} losses", report.written, report.losses.summaries().len());
//! # Ok::<(), maskconv::Error>(())
//! ```
//!
//! Layout: [`model`] (the shared model), [`formats`] (the registry and one
//! module per format), [`pipeline`] (the parallel engine), [`remap`] (pure
//! pixel kernels), [`codec`] (PNG), [`io`] (sources, sinks, atomic output),
//! [`report`] (warnings and losses as data), [`error`] (the error type),
//! [`pyjson`] (JSON byte-identical to Python's `json.dumps`).

pub mod codec;
pub mod error;
pub mod formats;
pub mod io;
pub mod model;
pub mod pipeline;
pub mod pyjson;
pub mod remap;
pub mod report;

pub use error::{Error, ErrorKind, Result};

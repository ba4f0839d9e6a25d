//! Opening INPUT: its [`Source`](crate::io::Source), its format (named or
//! detected), and the reading options the format does not use.

use crate::error::{Error, Result};
use crate::formats;
use crate::formats::api::{Dataset, FormatInfo};
use crate::formats::options::{Direction, FormatOptions};
use crate::io::open_source;
use crate::report::Warning;
use std::path::Path;

/// Opens INPUT as `from` (or the format it is detected as). Reading options
/// the format does not use are reported as warnings (`option-ignored`).
pub fn open_dataset(input: &Path, from: Option<&str>, options: &FormatOptions) -> Result<Dataset> {
    let source = open_source(input)?;
    let listing_warnings = source.warnings();
    let format = match from {
        Some(name) => formats::find(name)?,
        None => formats::detect(&*source)?,
    };
    let info = format.info();
    if !info.can_read {
        return Err(Error::usage(format!(
            "format '{}' cannot be read",
            info.name
        )));
    }
    let mut dataset = format
        .open(source, options)
        .map_err(|e| e.in_format(info.name))?;
    let unused = ignored_options(options, Direction::Read, info);
    dataset.warnings.splice(0..0, listing_warnings);
    dataset.warnings.extend(unused);
    Ok(dataset)
}

/// Warnings `option-ignored` for the options of `direction` given that
/// `format` does not use.
pub fn ignored_options(
    options: &FormatOptions,
    direction: Direction,
    format: &FormatInfo,
) -> Vec<Warning> {
    options
        .unused(direction, format.options)
        .into_iter()
        .map(|name| {
            Warning::new(
                "option-ignored",
                format!("--{name} does not apply to {} and is ignored", format.name),
            )
        })
        .collect()
}

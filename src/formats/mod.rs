//! The formats: one module per format, the single list the rest of the
//! tool consults ([`REGISTRY`]), and finding a format by name or by what an
//! input looks like. What a format provides is in [`api`]; helpers several
//! formats share are in [`common`]. `CONTRIBUTING.md` lists what adding a
//! format touches.

pub mod api;
pub mod coco;
pub mod coco_panoptic;
pub mod coco_shared;
pub mod colors;
pub mod common;
pub mod cvat;
pub mod datagen;
pub mod json_stream;
pub mod mask_url;
pub mod nucleus;
pub mod options;
pub mod segments;
pub mod semantic;
pub mod shapes;

use crate::error::{Error, Result};
use crate::io::Source;
use api::Format;
use options::OptionSpec;

/// Every format the tool knows, in the order `maskconv formats` lists them.
pub static REGISTRY: &[&dyn Format] = &[
    &coco::Coco,
    &coco_panoptic::CocoPanoptic,
    &cvat::Cvat,
    &datagen::Datagen,
    &nucleus::Nucleus,
    &segments::Segments,
    &semantic::Semantic,
];

/// Finds a format by name or alias (case-insensitive).
pub fn find(name: &str) -> Result<&'static dyn Format> {
    let wanted = name.to_ascii_lowercase();
    REGISTRY
        .iter()
        .copied()
        .find(|f| f.info().name == wanted || f.info().aliases.contains(&wanted.as_str()))
        .ok_or_else(|| {
            Error::usage(format!(
                "unknown format '{name}'; known formats: {}",
                names()
            ))
        })
}

/// The names of all formats, comma-separated.
pub fn names() -> String {
    REGISTRY
        .iter()
        .map(|f| f.info().name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one readable format of the [`REGISTRY`] that `source` looks like. No
/// match is an input error; several matches is a usage error listing them.
pub fn detect(source: &dyn Source) -> Result<&'static dyn Format> {
    detect_among(REGISTRY, source)
}

/// [`detect`] over any list of formats.
pub fn detect_among(
    formats: &[&'static dyn Format],
    source: &dyn Source,
) -> Result<&'static dyn Format> {
    let candidates: Vec<&'static dyn Format> = formats
        .iter()
        .copied()
        .filter(|f| f.info().can_read && f.detect(source))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => {
            // One annotation-like file at the top that does not parse: its
            // own error is the useful one.
            let top = common::top_files(source, &[".json", ".ndjson", ".jsonl"]);
            let then = "so the input is not recognised as any dataset format";
            let problem = match top.as_slice() {
                [one] => common::not_json(source, one, then),
                _ => None,
            };
            Err(problem.unwrap_or_else(|| {
                Error::input(
                    source.name(),
                    format!(
                        "not recognised as any dataset format ({}); pass --from FORMAT",
                        names()
                    ),
                )
            }))
        }
        many => Err(Error::usage(format!(
            "{} looks like several formats: {}; pass --from to choose one",
            source.name(),
            many.iter()
                .map(|f| f.info().name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The option some format declares under `name` (without dashes).
pub fn find_option(name: &str) -> Result<&'static OptionSpec> {
    REGISTRY
        .iter()
        .flat_map(|f| f.info().options)
        .copied()
        .find(|spec| spec.name == name)
        .ok_or_else(|| Error::usage(format!("no format has an option --{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Compression;
    use crate::error::ErrorKind;
    use crate::formats::api::{Dataset, FormatInfo, Writer};
    use crate::formats::options::FormatOptions;
    use crate::io::MemorySource;
    use crate::losses::{Capabilities, Diagnostics};
    use std::sync::Arc;

    /// A format that claims any input holding a file named after it.
    struct Claims(&'static FormatInfo);

    impl Format for Claims {
        fn info(&self) -> &'static FormatInfo {
            self.0
        }
        fn detect(&self, source: &dyn Source) -> bool {
            source.contains(self.0.name)
        }
        fn open(&self, _: Arc<dyn Source>, _: &FormatOptions) -> Result<Dataset> {
            unreachable!()
        }
        fn writer<'a>(
            &self,
            _: &'a Dataset,
            _: &FormatOptions,
            _: Compression,
            _: &mut Diagnostics,
        ) -> Result<Box<dyn Writer + 'a>> {
            unreachable!()
        }
    }

    const fn info(name: &'static str) -> FormatInfo {
        FormatInfo {
            name,
            aliases: &[],
            description: "",
            can_read: true,
            can_write: false,
            capabilities: Capabilities::NONE,
            options: &[],
            archive_folder: false,
        }
    }

    static A: FormatInfo = info("a");
    static B: FormatInfo = info("b");
    static CLAIMS_A: Claims = Claims(&A);
    static CLAIMS_B: Claims = Claims(&B);

    #[test]
    fn detection_picks_the_one_match_and_lists_several() {
        let formats: &[&'static dyn Format] = &[&CLAIMS_A, &CLAIMS_B];
        let files = |names: &[&str]| {
            MemorySource::new(
                "in",
                names.iter().map(|n| (n.to_string(), Vec::new())).collect(),
            )
        };
        assert_eq!(
            detect_among(formats, &files(&["a"])).unwrap().info().name,
            "a"
        );
        let none = detect_among(formats, &files(&["c"])).err().unwrap();
        assert_eq!(none.kind, ErrorKind::Input);
        let both = detect_among(formats, &files(&["a", "b"])).err().unwrap();
        assert_eq!(both.kind, ErrorKind::Usage);
        assert!(
            both.to_string()
                .contains("looks like several formats: a, b"),
            "{both}"
        );
    }

    #[test]
    fn formats_are_found_by_name_or_alias_case_insensitively() {
        assert_eq!(find("CVAT").unwrap().info().name, "cvat");
        assert_eq!(find("voc").unwrap().info().name, "cvat");
        assert_eq!(find("nope").err().unwrap().kind, ErrorKind::Usage);
    }

    #[test]
    fn options_declared_by_several_formats_agree() {
        let mut seen: Vec<&OptionSpec> = Vec::new();
        for spec in REGISTRY.iter().flat_map(|f| f.info().options) {
            match seen.iter().find(|s| s.name == spec.name) {
                Some(first) => assert!(
                    std::ptr::eq(*first, *spec),
                    "--{} is declared twice differently; share one OptionSpec",
                    spec.name
                ),
                None => seen.push(spec),
            }
        }
        let first = seen.first().expect("some format declares an option");
        assert!(std::ptr::eq(find_option(first.name).unwrap(), *first));
        assert_eq!(find_option("nope").unwrap_err().kind, ErrorKind::Usage);
    }
}

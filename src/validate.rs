//! `validate`: decode every mask and list every problem, not just the first.

use crate::formats::api::Dataset;
use crate::inspect::dataset_warnings;
use crate::losses::Diagnostics;
use crate::pipeline::{RunOptions, for_each_ordered};
use crate::report::NoteList;
use serde::Serialize;

/// One problem `validate` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The item concerned, if the problem is one item's.
    pub item: Option<String>,
    /// What is wrong (names the file).
    pub error: String,
}

/// What `validate` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Validation {
    /// Items checked.
    pub items: usize,
    /// Every problem, in item order.
    pub problems: Vec<Problem>,
    /// Warnings.
    pub warnings: NoteList,
}

/// Decodes every mask and lists every problem (it does not stop at the first).
pub fn validate(dataset: &Dataset, run: RunOptions) -> Validation {
    let mut validation = Validation {
        items: dataset.items.len(),
        ..Validation::default()
    };
    validation.warnings = dataset_warnings(dataset);
    let work = |index: usize| {
        let mut found = Diagnostics::default();
        dataset
            .decode(index, &mut found)
            .map(|_| found.into_warnings())
    };
    for_each_ordered(dataset.items.len(), run, work, |index, result| {
        match result {
            Ok(notes) => validation.warnings.extend(notes),
            Err(e) => validation.problems.push(Problem {
                item: Some(dataset.items[index].key.clone()),
                error: e.to_string(),
            }),
        }
        true
    });
    validation
}

impl Validation {
    /// What `validate --json` reports of a dataset that could not even be
    /// opened: one problem, of no item.
    pub fn unopened(error: &crate::Error) -> Validation {
        Validation {
            problems: vec![Problem {
                item: None,
                error: error.to_string(),
            }],
            ..Validation::default()
        }
    }
}

//! The process exit codes (DESIGN.md §4), in one place.

use crate::convert::ConvertReport;
use crate::error::{Error, ErrorKind};
use crate::validate::Validation;

/// How a command ended, as the process reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success (declared losses are printed as warnings).
    Ok = 0,
    /// 1: failure — bad input, unwritable output, a loss under `--strict`,
    /// a problem `validate` found; nothing was published.
    Failed = 1,
    /// 2: usage error.
    Usage = 2,
    /// 3: published, but some items were skipped under `--keep-going`.
    Partial = 3,
}

impl Exit {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<&ConvertReport> for Exit {
    fn from(report: &ConvertReport) -> Self {
        if report.skipped.is_empty() {
            Exit::Ok
        } else {
            Exit::Partial
        }
    }
}

impl From<&Validation> for Exit {
    fn from(validation: &Validation) -> Self {
        if validation.problems.is_empty() {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }
}

impl From<&Error> for Exit {
    fn from(error: &Error) -> Self {
        match error.kind {
            ErrorKind::Usage => Exit::Usage,
            _ => Exit::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::Skipped;
    use crate::report::NoteList;

    #[test]
    fn each_outcome_has_its_code() {
        let mut report = ConvertReport {
            from: "a",
            to: "b",
            items: 1,
            written: 1,
            skipped: Vec::new(),
            losses: NoteList::default(),
            warnings: NoteList::default(),
            mapping: Vec::new(),
            instances: Vec::new(),
            shard: None,
        };
        assert_eq!(Exit::from(&report).code(), 0);
        report.skipped.push(Skipped {
            key: "k".into(),
            error: "e".into(),
            loss: None,
        });
        assert_eq!(Exit::from(&report).code(), 3);
        assert_eq!(Exit::from(&Error::usage("u")).code(), 2);
        assert_eq!(Exit::from(&Error::invalid_input("i")).code(), 1);
        let unopened = Validation::unopened(&Error::invalid_input("i"));
        assert_eq!(Exit::from(&unopened).code(), 1);
        assert_eq!(Exit::from(&Validation::default()).code(), 0);
    }
}

//! The library's one error type: what went wrong, in which file, reading or
//! writing which format (its kind decides the exit code, see `exit`).

use std::fmt;

/// What sort of failure an [`Error`] is; decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line asks for something impossible (unknown format, output
    /// exists without `--force`, output inside input, ambiguous input). Exit 2.
    Usage,
    /// The input is malformed or cannot be represented. Exit 1.
    Input,
    /// The output could not be written. Exit 1.
    Output,
    /// The conversion would lose information and `--strict` forbids it. Exit 1.
    Loss,
}

/// An error that names the file, the format and what is wrong, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What sort of failure this is.
    pub kind: ErrorKind,
    /// What is concerned, as the user would recognise it: a file, an archive
    /// entry, or a dataset element (`class 'x'`, `item 'y'`).
    pub path: Option<String>,
    /// The format being read or written, if the error is specific to one.
    pub format: Option<&'static str>,
    /// What is wrong, in words a person understands.
    pub what: String,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input data.
    pub fn input(path: impl Into<String>, what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, Some(path.into()), what)
    }

    /// Bad input that no single file is to blame for (duplicate item keys, say).
    pub fn invalid_input(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, None, what)
    }

    /// The output could not be written.
    pub fn output(path: impl Into<String>, what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Output, Some(path.into()), what)
    }

    /// The command line asks for something impossible.
    pub fn usage(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, None, what)
    }

    /// A loss that `--strict` turned into a failure.
    pub fn loss(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Loss, None, what)
    }

    /// An I/O error on `path`, classed as input or output.
    pub fn io(kind: ErrorKind, path: impl Into<String>, err: &std::io::Error) -> Self {
        Self::new(kind, Some(path.into()), err.to_string())
    }

    fn new(kind: ErrorKind, path: Option<String>, what: impl Into<String>) -> Self {
        Error {
            kind,
            path,
            format: None,
            what: what.into(),
        }
    }

    /// The same error with `context` appended to what is wrong, in
    /// parentheses (`… (the mask of annotations.ndjson line 3)`).
    pub fn in_context(mut self, context: impl std::fmt::Display) -> Self {
        self.what = format!("{} ({context})", self.what);
        self
    }

    /// Attach the format being read or written (kept if already set).
    pub fn in_format(mut self, format: &'static str) -> Self {
        self.format.get_or_insert(format);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, self.format) {
            (Some(path), Some(format)) => write!(f, "{path} ({format}): {}", self.what),
            (Some(path), None) => write!(f, "{path}: {}", self.what),
            (None, Some(format)) => write!(f, "{format}: {}", self.what),
            (None, None) => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_path_format_and_problem() {
        let err = Error::input("a.zip/SegmentationClass/x.png", "unknown colour (1,2,3)")
            .in_format("cvat");
        assert_eq!(
            err.to_string(),
            "a.zip/SegmentationClass/x.png (cvat): unknown colour (1,2,3)"
        );
        assert_eq!(err.kind, ErrorKind::Input);
    }
}

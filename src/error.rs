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
    /// One line: control characters in a file name or message (a newline in
    /// an item key, raw archive bytes) are written as escapes (`\n`, `\u{1b}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = Printable(&self.what);
        match (&self.path, self.format) {
            (Some(path), Some(format)) => write!(f, "{} ({format}): {what}", Printable(path)),
            (Some(path), None) => write!(f, "{}: {what}", Printable(path)),
            (None, Some(format)) => write!(f, "{format}: {what}"),
            (None, None) => write!(f, "{what}"),
        }
    }
}

/// Text with its control characters escaped, for one-line messages.
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
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

    #[test]
    fn control_characters_are_escaped_so_an_error_is_one_line() {
        let err = Error::input("a\nb.png", "bad byte \u{1b}[31m\r here");
        assert_eq!(err.to_string(), r"a\nb.png: bad byte \u{1b}[31m\r here");
    }
}

//! Format-specific options: each format declares the ones it reads
//! ([`OptionSpec`], in its [`FormatInfo`](super::api::FormatInfo)); the
//! command line is built from those declarations, and the values given
//! travel to the format as one [`FormatOptions`] bag, checked generically.

use crate::error::{Error, Result};

/// Whether an option shapes reading or writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Read by the reader of the input's format.
    Read,
    /// Read by the writer of the output's format.
    Write,
}

/// One option a format declares: `--name VALUE` (or a flag `--name`).
#[derive(Debug)]
pub struct OptionSpec {
    /// The long name without dashes (`mask-root`).
    pub name: &'static str,
    /// The value's placeholder (`PREFIX=DIR`); `None`: a flag.
    pub value: Option<&'static str>,
    /// One or two sentences for `--help`.
    pub help: &'static str,
    /// May be given several times.
    pub repeatable: bool,
    /// Reading or writing.
    pub direction: Direction,
    /// Checks a value when the command line is parsed (a usage error names
    /// what is wrong), for values whose form does not depend on the input.
    pub check: Option<CheckValue>,
}

/// Checks an option's value; the error says what is wrong with it.
pub type CheckValue = fn(&str) -> Result<(), String>;

impl OptionSpec {
    /// `--name VALUE`, as the command line spells it.
    pub fn usage(&self) -> String {
        match self.value {
            Some(value) => format!("--{} {value}", self.name),
            None => format!("--{}", self.name),
        }
    }
}

/// The format options given to one command: each a declared [`OptionSpec`]
/// with its value (flags have none), in the order given.
#[derive(Debug, Clone, Default)]
pub struct FormatOptions {
    given: Vec<(&'static OptionSpec, Option<String>)>,
}

impl FormatOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `spec` with `value`: a usage error when a flag gets a value, an
    /// option no value, or a non-repeatable option is given twice.
    pub fn add(&mut self, spec: &'static OptionSpec, value: Option<&str>) -> Result<()> {
        match (spec.value, value) {
            (None, Some(_)) => {
                return Err(Error::usage(format!("--{} takes no value", spec.name)));
            }
            (Some(placeholder), None) => {
                return Err(Error::usage(format!(
                    "--{} needs a value ({placeholder})",
                    spec.name
                )));
            }
            _ => {}
        }
        if !spec.repeatable && self.given.iter().any(|(s, _)| s.name == spec.name) {
            return Err(Error::usage(format!(
                "--{} may be given only once",
                spec.name
            )));
        }
        self.given.push((spec, value.map(String::from)));
        Ok(())
    }

    /// [`FormatOptions::add`], returning the options (for building them in code).
    pub fn with(mut self, spec: &'static OptionSpec, value: Option<&str>) -> Result<Self> {
        self.add(spec, value)?;
        Ok(self)
    }

    /// Every option given, by name, with its value, in the order given.
    pub fn given(&self) -> impl Iterator<Item = (&'static str, Option<&str>)> + '_ {
        self.given.iter().map(|(s, v)| (s.name, v.as_deref()))
    }

    /// Whether the option `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.given.iter().any(|(s, _)| s.name == name)
    }

    /// The value of the option `name`, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.given
            .iter()
            .find(|(s, _)| s.name == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value of the (repeatable) option `name`, in the order given.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.given
            .iter()
            .filter(move |(s, _)| s.name == name)
            .filter_map(|(_, v)| v.as_deref())
    }

    /// The options of `direction` given that `declared` does not list, as
    /// `--name` (once each): they are ignored, with a warning.
    pub fn unused(&self, direction: Direction, declared: &[&OptionSpec]) -> Vec<&'static str> {
        let mut unused: Vec<&'static str> = Vec::new();
        for (spec, _) in &self.given {
            if spec.direction == direction
                && !declared.iter().any(|d| d.name == spec.name)
                && !unused.contains(&spec.name)
            {
                unused.push(spec.name);
            }
        }
        unused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FLAG: OptionSpec = OptionSpec {
        name: "flag",
        value: None,
        help: "",
        repeatable: false,
        direction: Direction::Write,
        check: None,
    };
    static LIST: OptionSpec = OptionSpec {
        name: "list",
        value: Some("V"),
        help: "",
        repeatable: true,
        direction: Direction::Read,
        check: None,
    };

    #[test]
    fn options_are_checked_against_their_declaration() {
        let mut options = FormatOptions::new();
        options.add(&FLAG, None).unwrap();
        options.add(&LIST, Some("a")).unwrap();
        options.add(&LIST, Some("b")).unwrap();
        assert!(options.flag("flag"));
        assert_eq!(options.values("list").collect::<Vec<_>>(), ["a", "b"]);
        assert!(options.add(&FLAG, None).is_err(), "given twice");
        assert!(FormatOptions::new().add(&FLAG, Some("x")).is_err());
        assert!(FormatOptions::new().add(&LIST, None).is_err());
        assert_eq!(options.unused(Direction::Read, &[]), ["list"]);
        assert!(options.unused(Direction::Read, &[&LIST]).is_empty());
        assert_eq!(options.unused(Direction::Write, &[&LIST]), ["flag"]);
    }
}

//! The bad-input suite: hostile and broken inputs over every format and
//! container, each generated here, each run through the real binary and
//! held to the same promises — the exit code, one error line that names
//! the file and what is wrong, nothing at or beside OUTPUT (no temporary,
//! no parent folder made), the input unchanged, and for bombs a bounded
//! address space (`RLIMIT_AS`: an allocation beyond it aborts the process,
//! which fails the exit code check).

pub mod build;
mod inputs;
mod listing;
mod masks;
mod signals;
mod stdout;

use crate::common::TempDir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The address space a bomb may take, in MiB: the README's budget of 64 MiB
/// plus 64 MiB per worker, at `-j 2` (the binary, its stacks and malloc's
/// reservations included: one malloc arena, `MALLOC_ARENA_MAX=1`).
pub const BOMB_MEMORY_MIB: u64 = 64 + 2 * 64;

/// One hostile input and what maskconv must do with it.
pub struct Case {
    pub name: String,
    pub input: PathBuf,
    /// Arguments after `convert INPUT OUTPUT`.
    pub args: Vec<String>,
    /// OUTPUT's file name (`result.zip` for a zip, `result` for a folder).
    pub output_name: &'static str,
    pub exit: i32,
    /// Each must be in the one error line.
    pub needles: Vec<String>,
    /// A bound on the address space, for bombs.
    pub max_memory_mib: Option<u64>,
}

impl Case {
    /// A case converting `input` to `to` that must fail with exit 1 and an
    /// error holding every needle.
    pub fn new(name: impl Into<String>, input: PathBuf, to: &str, needles: &[&str]) -> Case {
        Case {
            name: name.into(),
            input,
            args: vec!["--to".into(), to.into(), "-j".into(), "2".into()],
            output_name: "result",
            exit: 1,
            needles: needles.iter().map(|n| n.to_string()).collect(),
            max_memory_mib: None,
        }
    }

    pub fn bomb(mut self) -> Case {
        self.max_memory_mib = Some(BOMB_MEMORY_MIB);
        self
    }

    pub fn zip_output(mut self) -> Case {
        self.output_name = "result.zip";
        self
    }

    pub fn arg(mut self, arg: &str) -> Case {
        self.args.push(arg.into());
        self
    }
}

/// What is on disk under `path`: each entry's relative path with its kind
/// and, for files, content (FIFOs are not opened).
fn snapshot(path: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut seen = BTreeMap::new();
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return seen;
    };
    let describe = |p: &Path, meta: &std::fs::Metadata| -> (String, Vec<u8>) {
        let kind = format!("{:?}", meta.file_type());
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(p).unwrap();
            return (kind, target.to_string_lossy().as_bytes().to_vec());
        }
        if meta.is_file() && meta.len() < (64 << 20) {
            return (kind, std::fs::read(p).unwrap());
        }
        (format!("{kind} {}", meta.len()), Vec::new())
    };
    seen.insert(String::new(), describe(path, &meta));
    if meta.is_dir() {
        for entry in walkdir::WalkDir::new(path).min_depth(1) {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let rel = entry
                .path()
                .strip_prefix(path)
                .unwrap()
                .display()
                .to_string();
            seen.insert(rel, describe(entry.path(), &meta));
        }
    }
    seen
}

/// Runs `maskconv` with `args`, its address space limited to `max_mib` when
/// given; returns the exit code (128 + the signal if one ended it), stdout
/// and stderr.
pub fn run_limited(args: &[String], max_mib: Option<u64>) -> (i32, String, String) {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut command = Command::new(env!("CARGO_BIN_EXE_maskconv"));
    command.args(args).stdin(Stdio::null());
    if let Some(mib) = max_mib {
        let limit = libc::rlimit {
            rlim_cur: mib << 20,
            rlim_max: mib << 20,
        };
        command.env("MALLOC_ARENA_MAX", "1");
        // SAFETY: setrlimit is async-signal-safe, and the closure touches
        // nothing but its own copy of `limit`.
        unsafe {
            command.pre_exec(move || match libc::setrlimit(libc::RLIMIT_AS, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            });
        }
    }
    let out = command.output().unwrap();
    let code = match (out.status.code(), out.status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        _ => unreachable!("a process exits or is ended by a signal"),
    };
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs every case and checks its promises; all failures are reported together.
pub fn run_all(cases: Vec<Case>, work: &TempDir) {
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        if let Err(why) = run_one(case, &work.join(&format!("out-{n}"))) {
            failures.push(format!("[{}] {why}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn run_one(case: &Case, out_dir: &Path) -> Result<(), String> {
    let before = snapshot(&case.input);
    let output = out_dir.join("deep").join(case.output_name);
    let mut args = vec![
        "convert".to_string(),
        case.input.display().to_string(),
        output.display().to_string(),
    ];
    args.extend(case.args.iter().cloned());
    let (code, stdout, stderr) = run_limited(&args, case.max_memory_mib);
    let shown = format!("exit {code}, stderr {stderr:?}, stdout {stdout:?}");
    if code != case.exit {
        return Err(format!("expected exit {}: {shown}", case.exit));
    }
    let line = stderr.trim_end();
    if line.lines().count() != 1 || !line.starts_with("error: ") {
        return Err(format!("expected one 'error: ' line: {shown}"));
    }
    if let Some(missing) = case.needles.iter().find(|n| !line.contains(n.as_str())) {
        return Err(format!("{missing:?} not in the error: {shown}"));
    }
    if out_dir.exists() {
        return Err(format!("{} was created: {shown}", out_dir.display()));
    }
    let parent = case.input.parent().unwrap();
    let leftovers: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".maskconv-"))
        .collect();
    if !leftovers.is_empty() {
        return Err(format!("temporaries left: {leftovers:?}"));
    }
    if snapshot(&case.input) != before {
        return Err("the input changed".into());
    }
    Ok(())
}

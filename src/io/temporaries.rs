//! The hidden temporaries an [`Output`](super::Output) is built in: their
//! names, the ones being written now (removed when the process is
//! interrupted, see [`remove_unpublished`]), and the ones a killed run left
//! behind (removed by the next run that writes the same OUTPUT).

use crate::report::Warning;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The tag of a temporary being built: `.NAME.maskconv-tmp-PID`.
pub(crate) const TMP_TAG: &str = ".maskconv-tmp-";
/// The tag of a replaced OUTPUT about to be removed: `.NAME.maskconv-old-PID`.
pub(crate) const OLD_TAG: &str = ".maskconv-old-";

/// The hidden sibling name `.NAME<tag>PID`, within the 255 bytes a file name
/// may have (NAME is shortened when it must be).
pub(crate) fn sibling_name(file_name: &str, tag: &str, pid: u32) -> String {
    let suffix = format!("{tag}{pid}");
    let mut end = file_name.len().min(255 - 1 - suffix.len());
    while !file_name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}{suffix}", &file_name[..end])
}

/// An output being written, with the folders made for it.
pub(crate) struct Live {
    /// Which [`Output`](super::Output) it is.
    pub id: u64,
    /// Its temporary.
    pub temp: PathBuf,
    /// Parent folders of OUTPUT this run made, outermost first.
    pub made_parents: Vec<PathBuf>,
}

static LIVE: Mutex<Vec<Live>> = Mutex::new(Vec::new());
static PUBLISHED: AtomicBool = AtomicBool::new(false);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether an interruption has removed the outputs being written (no new
/// one may start then).
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Notes that an output of this process has been published.
pub(crate) fn note_published() {
    PUBLISHED.store(true, Ordering::SeqCst);
}

/// Whether this process has published an output (an interruption after
/// that leaves it in place, complete).
pub fn any_published() -> bool {
    PUBLISHED.load(Ordering::SeqCst)
}

/// The outputs being written. Whoever holds this may rename or remove them
/// without an interruption cleaning up under its feet.
pub(crate) fn live() -> MutexGuard<'static, Vec<Live>> {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every output being written (its temporary and the parent
/// folders made for it), as an interruption must: nothing is left at or
/// beside OUTPUT. An output being published finishes first.
pub fn remove_unpublished() {
    let mut live = live();
    INTERRUPTED.store(true, Ordering::SeqCst);
    for output in live.drain(..) {
        remove_all(&output.temp, &output.made_parents);
    }
}

/// Removes `temp` and then the folders in `made_parents` that are empty.
pub(crate) fn remove_all(temp: &Path, made_parents: &[PathBuf]) {
    remove_path(temp);
    remove_empty_folders(made_parents);
}

/// Removes the file or folder at `path`, if any (retrying while other
/// threads still add files to a folder).
pub(crate) fn remove_path(path: &Path) {
    for _ in 0..20 {
        let removed = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(_) => return,
        };
        if removed.is_ok() {
            return;
        }
    }
}

/// Removes the folders of `folders` (outermost first) that are empty,
/// innermost first.
pub(crate) fn remove_empty_folders(folders: &[PathBuf]) {
    for folder in folders.iter().rev() {
        let _ = fs::remove_dir(folder);
    }
}

/// Removes the temporaries of OUTPUT `file_name` in `parent` that runs no
/// longer running left (killed with `kill -9`, or by a power cut), and says
/// so. Where it cannot be known whether their process still runs (no
/// `/proc`), they are only named.
pub(crate) fn remove_stale(parent: &Path, file_name: &str) -> Vec<Warning> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let can_tell = Path::new("/proc/self").exists();
    let mut warnings = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = stale_pid(name, file_name) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let path = entry.path();
        if !can_tell {
            warnings.push(Warning::new(
                "stale-temporary",
                format!(
                    "{}: left by an interrupted maskconv run (process {pid}); remove it when no maskconv runs",
                    path.display()
                ),
            ));
        } else if !Path::new("/proc").join(pid.to_string()).exists() {
            // No such process here; but one on another machine or in another
            // container sharing the folder would still be writing to it.
            let idle = last_written(&path).and_then(|t| t.elapsed().ok());
            if idle.is_some_and(|idle| idle >= STALE_AFTER) {
                remove_path(&path);
                warnings.push(Warning::new(
                    "stale-temporary",
                    format!(
                        "{}: removed; an interrupted maskconv run (process {pid}) left it",
                        path.display()
                    ),
                ));
            } else {
                warnings.push(Warning::new(
                    "stale-temporary",
                    format!(
                        "{}: left by maskconv process {pid}, which does not run here but wrote to it within the last minute (another machine?); a later run removes it once it is idle",
                        path.display()
                    ),
                ));
            }
        }
    }
    warnings
}

/// How long a temporary of a process that does not run here must have been
/// left alone before it is removed.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// When `path` (or, for a folder, anything directly in it: files are added
/// to its subfolders) was last written.
fn last_written(path: &Path) -> Option<std::time::SystemTime> {
    let own = fs::symlink_metadata(path).ok()?.modified().ok()?;
    let inside = fs::read_dir(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok()?.modified().ok());
    Some(inside.fold(own, std::cmp::max))
}

/// The process id in `name` when it is a temporary of OUTPUT `file_name`.
fn stale_pid(name: &str, file_name: &str) -> Option<u32> {
    [TMP_TAG, OLD_TAG].iter().find_map(|tag| {
        let (_, digits) = name.rsplit_once(tag)?;
        let pid: u32 = digits.parse().ok()?;
        (sibling_name(file_name, tag, pid) == name).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_output_name_still_gives_a_legal_temporary_name() {
        let long = "a".repeat(254);
        let name = sibling_name(&long, TMP_TAG, 4_000_000);
        assert_eq!(name.len(), 255);
        assert_eq!(stale_pid(&name, &long), Some(4_000_000));
        let accents = "é".repeat(127);
        assert!(sibling_name(&accents, TMP_TAG, 7).len() <= 255);
        assert_eq!(
            sibling_name("out.zip", TMP_TAG, 7),
            ".out.zip.maskconv-tmp-7"
        );
        assert_eq!(stale_pid(".out.zip.maskconv-old-12", "out.zip"), Some(12));
        assert_eq!(stale_pid(".other.zip.maskconv-tmp-12", "out.zip"), None);
    }
}

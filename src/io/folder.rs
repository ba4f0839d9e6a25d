//! A folder INPUT, read in place: its listing (links followed only inside
//! it, each folder through one link at most) and its files.

use super::{Source, read_path, read_path_with};
use crate::error::{Error, ErrorKind, Result};
use crate::report::Warning;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A folder on disk.
pub struct FolderSource {
    root: PathBuf,
    name: String,
    files: Vec<String>,
    warnings: Vec<Warning>,
}

impl FolderSource {
    /// Lists every file under `root`. Links are followed only while they
    /// stay inside `root` (a link that leads nowhere is listed: reading it
    /// is the error), a folder through one link at most. Links that leave, and
    /// names that are not UTF-8, are left out with a warning. FIFOs and
    /// devices are listed, and refused when read.
    pub fn open(root: &Path) -> Result<Self> {
        let name = root.display().to_string();
        let real_root = root
            .canonicalize()
            .map_err(|e| Error::io(ErrorKind::Input, &name, &e))?;
        let mut listing = Listing {
            files: Vec::new(),
            warnings: Vec::new(),
            ancestors: vec![real_root.clone()],
            linked: std::collections::HashSet::new(),
            real_root,
        };
        listing.walk(root, "", &name)?;
        let Listing {
            mut files,
            warnings,
            ..
        } = listing;
        files.sort();
        Ok(FolderSource {
            root: root.to_path_buf(),
            name,
            files,
            warnings,
        })
    }
}

/// What [`FolderSource::open`] gathers while walking the folder.
struct Listing {
    files: Vec<String>,
    warnings: Vec<Warning>,
    /// The real (symlink-free) paths of the folders being walked, innermost
    /// last: a link back to one of them is a loop.
    ancestors: Vec<PathBuf>,
    /// The folders followed through a link so far, by real path.
    linked: std::collections::HashSet<PathBuf>,
    real_root: PathBuf,
}

impl Listing {
    /// Lists folder `dir` (relative path `rel`, `""` or ending in `/`).
    fn walk(&mut self, dir: &Path, rel: &str, display: &str) -> Result<()> {
        let cannot = |e: &std::io::Error| {
            Error::input(dir.display().to_string(), format!("cannot list: {e}"))
        };
        // In name order, so that which of two links to one folder is
        // followed does not depend on the file system.
        let mut entries = fs::read_dir(dir)
            .and_then(|list| list.collect::<std::io::Result<Vec<_>>>())
            .map_err(|e| cannot(&e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
                self.warnings.push(Warning::new(
                    "file-name-not-utf8",
                    format!("{}: the name is not UTF-8; left out", path.display()),
                ));
                continue;
            };
            let entry_rel = format!("{rel}{file_name}");
            let file_type = entry.file_type().map_err(|e| cannot(&e))?;
            let real = match file_type.is_symlink() {
                false => self.ancestors.last().expect("the root").join(&file_name),
                // A link to nothing is listed; reading it says so.
                true => match path.canonicalize() {
                    Ok(real) => real,
                    Err(_) => {
                        self.files.push(entry_rel);
                        continue;
                    }
                },
            };
            if !real.starts_with(&self.real_root) {
                self.warnings.push(Warning::new(
                    "link-leaves-input",
                    format!(
                        "{display}/{entry_rel}: links to {}, outside the input; not followed",
                        real.display()
                    ),
                ));
                continue;
            }
            let is_dir = match file_type.is_symlink() {
                true => real.is_dir(),
                false => file_type.is_dir(),
            };
            if !is_dir {
                self.files.push(entry_rel);
                continue;
            }
            if self.ancestors.contains(&real) {
                continue; // a loop
            }
            // Each folder is followed through one link at most (links that
            // double at every level would list exponentially many paths).
            if file_type.is_symlink() && !self.linked.insert(real.clone()) {
                self.warnings.push(Warning::new(
                    "folder-listed-once",
                    format!(
                        "{display}/{entry_rel}: links to a folder another link already leads to; its files are listed under that one only"
                    ),
                ));
                continue;
            }
            self.ancestors.push(real);
            let walked = self.walk(&path, &format!("{entry_rel}/"), display);
            self.ancestors.pop();
            walked?;
        }
        Ok(())
    }
}

impl Source for FolderSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn files(&self) -> &[String] {
        &self.files
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        read_path(&self.root.join(path), &self.display(path))
    }

    fn read_with(
        &self,
        path: &str,
        read: &mut dyn FnMut(&mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        read_path_with(&self.root.join(path), &self.display(path), read)
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn warnings(&self) -> Vec<Warning> {
        self.warnings.clone()
    }
}

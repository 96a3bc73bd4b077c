//! Finding a session's input files and hashing them.
//!
//! Hashes are memoised for one run, so sessions over the same files read each file once. Any
//! session that runs or restores may change files, so the executor calls
//! [`Fingerprinter::invalidate`] after each; a memoised hash never outlives a write.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ignore::WalkBuilder;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::digest::Digest;
use crate::patterns::InputPatterns;
use crate::relpath::RelPath;

/// One input file in a cache key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub path: RelPath,
    pub hash: Digest,
    pub executable: bool,
}

#[derive(Debug, Error)]
pub enum InputError {
    #[error("input `{0}` does not exist")]
    MissingLiteral(RelPath),
    #[error("cannot read input `{path}`: {source}")]
    Read { path: RelPath, source: io::Error },
    #[error("cannot list input files: {0}")]
    Walk(String),
}

pub struct Fingerprinter {
    root: PathBuf,
    /// Directories never searched for inputs: `.git`, rtask's own state, the cache.
    skipped: Vec<PathBuf>,
    /// `.gitignore` files between the enclosing git repository's root and the project root.
    outer_ignores: Vec<PathBuf>,
    epoch: AtomicU64,
    memo: Mutex<HashMap<RelPath, (u64, InputFile)>>,
}

/// Directory names never searched for inputs.
const SKIPPED_NAMES: &[&str] = &[".git"];

impl Fingerprinter {
    pub fn new(root: &Path, skipped: Vec<PathBuf>) -> Fingerprinter {
        Fingerprinter {
            root: root.to_path_buf(),
            outer_ignores: outer_ignores(root),
            skipped,
            epoch: AtomicU64::new(0),
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// Forget every memoised hash: files may have changed.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The input files of a session, sorted by path, with their hashes.
    pub fn inputs(&self, patterns: &InputPatterns) -> Result<Vec<InputFile>, InputError> {
        let paths = self.matching_paths(patterns)?;
        let epoch = self.epoch.load(Ordering::SeqCst);
        paths
            .into_par_iter()
            .map(|path| self.hash(path, epoch))
            .collect()
    }

    fn matching_paths(&self, patterns: &InputPatterns) -> Result<BTreeSet<RelPath>, InputError> {
        let mut found = BTreeSet::new();
        if !patterns.glob_bases.is_empty() {
            self.walk(&patterns.glob_bases, &mut |path| {
                if patterns.globs.is_match(path.as_str()) && !patterns.excluded(path.as_str()) {
                    found.insert(path);
                }
            })?;
        }
        for literal in &patterns.literals {
            let path = literal.to_path(&self.root);
            match path.symlink_metadata() {
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    return Err(InputError::MissingLiteral(literal.clone()));
                }
                Err(source) => {
                    return Err(InputError::Read {
                        path: literal.clone(),
                        source,
                    });
                }
                Ok(metadata) if metadata.is_dir() => {
                    self.walk(std::slice::from_ref(literal), &mut |path| {
                        if !patterns.excluded(path.as_str()) {
                            found.insert(path);
                        }
                    })?;
                }
                Ok(_) => {
                    found.insert(literal.clone());
                }
            }
        }
        Ok(found)
    }

    /// Every file and symlink below the `bases` that `.gitignore` files do not exclude.
    ///
    /// The walk starts at the project root, so the root's own `.gitignore` applies, and prunes
    /// every directory that is neither above nor below a base. Ignore files above the root are
    /// read only up to the root of the git repository holding the project, as git does.
    fn walk(&self, bases: &[RelPath], visit: &mut dyn FnMut(RelPath)) -> Result<(), InputError> {
        let skipped = self.skipped.clone();
        let root = self.root.clone();
        let kept = bases.to_vec();
        let mut builder = WalkBuilder::new(&self.root);
        builder
            .hidden(false)
            .ignore(false)
            .parents(false)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(false)
            .require_git(false)
            .follow_links(false);
        for ignore_file in &self.outer_ignores {
            if let Some(error) = builder.add_ignore(ignore_file) {
                return Err(InputError::Walk(error.to_string()));
            }
        }
        builder.filter_entry(move |entry| {
            if !entry.file_type().is_some_and(|kind| kind.is_dir()) {
                return true;
            }
            if SKIPPED_NAMES.iter().any(|name| entry.file_name() == *name)
                || skipped.iter().any(|dir| entry.path() == dir)
            {
                return false;
            }
            RelPath::from_path(&root, entry.path()).is_some_and(|dir| {
                kept.iter()
                    .any(|base| base.starts_with(&dir) || dir.starts_with(base))
            })
        });
        for entry in builder.build() {
            let entry = entry.map_err(|error| InputError::Walk(error.to_string()))?;
            if entry.file_type().is_some_and(|kind| kind.is_dir()) {
                continue;
            }
            if let Some(path) = RelPath::from_path(&self.root, entry.path())
                && bases.iter().any(|base| path.starts_with(base))
            {
                visit(path);
            }
        }
        Ok(())
    }

    fn hash(&self, path: RelPath, epoch: u64) -> Result<InputFile, InputError> {
        if let Some((seen, file)) = self
            .memo
            .lock()
            .expect("no thread panics holding the memo")
            .get(&path)
            && *seen == epoch
        {
            return Ok(file.clone());
        }
        let file = hash_input(&self.root, &path).map_err(|source| InputError::Read {
            path: path.clone(),
            source,
        })?;
        self.memo
            .lock()
            .expect("no thread panics holding the memo")
            .insert(path, (epoch, file.clone()));
        Ok(file)
    }
}

/// The `.gitignore` files in the directories above `root`, up to the root of the git
/// repository that holds it; none when `root` is not inside a repository (or is its root).
fn outer_ignores(root: &Path) -> Vec<PathBuf> {
    let Some(repository) = root.ancestors().find(|dir| dir.join(".git").exists()) else {
        return Vec::new();
    };
    root.ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(repository))
        .map(|dir| dir.join(".gitignore"))
        .filter(|file| file.is_file())
        .collect()
}

fn hash_input(root: &Path, path: &RelPath) -> io::Result<InputFile> {
    let full = path.to_path(root);
    let metadata = full.symlink_metadata()?;
    if metadata.file_type().is_symlink() {
        let target = std::fs::read_link(&full)?;
        return Ok(InputFile {
            path: path.clone(),
            hash: symlink_digest(&target),
            executable: false,
        });
    }
    Ok(InputFile {
        path: path.clone(),
        hash: Digest::of_file(&full)?,
        executable: metadata.permissions().mode() & 0o111 != 0,
    })
}

/// A symlink's digest is its target's, in a hash domain of its own so no file content can equal it.
pub fn symlink_digest(target: &Path) -> Digest {
    Digest::from(
        blake3::Hasher::new_derive_key("rtask 1 symlink target")
            .update(target.as_os_str().as_encoded_bytes())
            .finalize(),
    )
}

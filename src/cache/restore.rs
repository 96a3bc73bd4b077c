//! Restoring an entry's outputs into the workspace, never writing outside the project.
//!
//! Files already equal to the stored ones are left alone. A declared output directory is made
//! to match the stored one exactly. The whole entry is checked before anything is written, as
//! a cache may come from elsewhere (a CI artifact, a shared directory): every path must be one
//! the session declares as an output, appear once, and not lie below a stored symlink; no path
//! may be the project root, hold a `.git` component or fall in rtask's own directories; symlink
//! targets must stay inside the project; and no write goes through a symlinked directory that
//! leads out. (Absolute paths and `..` cannot even be parsed from a manifest.)

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::manifest::{Manifest, OutputEntry};
use super::outputs::{dir_mode, file_mode, link_stays_inside};
use super::store::Store;
use crate::digest::{self, Digest};
use crate::patterns::OutputPattern;
use crate::relpath::RelPath;

#[derive(Debug, Error)]
pub enum RestoreError {
    #[error("refusing to restore `{path}`: {why}")]
    Unsafe { path: RelPath, why: String },
    #[error("stored copy of `{path}` is damaged: {why}")]
    Damaged { path: RelPath, why: String },
    #[error("cannot restore `{path}`: {source}")]
    Io { path: RelPath, source: io::Error },
}

/// What a restore did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Paths written or replaced, or whose mode changed.
    pub written: Vec<RelPath>,
    /// Paths removed from declared output directories.
    pub removed: Vec<RelPath>,
}

impl Restored {
    pub fn changed_anything(&self) -> bool {
        !self.written.is_empty() || !self.removed.is_empty()
    }
}

/// Where a restore may write.
pub struct Target<'a> {
    pub root: &'a Path,
    /// The session's output declarations: every stored path must fall under one.
    pub declared: &'a [OutputPattern],
    /// Directories never written or cleaned: rtask's own and the cache.
    pub protected: &'a [PathBuf],
}

pub fn restore(
    target: &Target<'_>,
    store: &Store,
    manifest: &Manifest,
) -> Result<Restored, RestoreError> {
    let mut entries: Vec<&OutputEntry> = manifest.outputs.iter().collect();
    entries.sort_by(|a, b| a.path().cmp(b.path()));
    check_entries(target, &entries)?;
    let canonical_root = target
        .root
        .canonicalize()
        .map_err(|source| RestoreError::Io {
            path: RelPath::root(),
            source,
        })?;
    let mut restored = Restored::default();
    for entry in &entries {
        let path = entry.path();
        let io = |source| RestoreError::Io {
            path: path.clone(),
            source,
        };
        let destination = prepare_parent(&canonical_root, path)?;
        let current = destination.symlink_metadata().ok();
        let wrote = match entry {
            OutputEntry::Dir { mode, .. } => {
                let is_dir = current.as_ref().is_some_and(fs::Metadata::is_dir);
                if !is_dir {
                    remove_any(&destination).map_err(io)?;
                    fs::create_dir(&destination).map_err(io)?;
                }
                // Set now, before what it holds is written: the owner always keeps rwx.
                let changed = set_mode(&destination, dir_mode(*mode)).map_err(io)?;
                !is_dir || changed
            }
            OutputEntry::Symlink { target: link, .. } => {
                let same = current
                    .as_ref()
                    .is_some_and(|metadata| metadata.file_type().is_symlink())
                    && fs::read_link(&destination)
                        .is_ok_and(|existing| existing == Path::new(link));
                if !same {
                    remove_any(&destination).map_err(io)?;
                    symlink(link, &destination).map_err(io)?;
                }
                !same
            }
            OutputEntry::File { blob, mode, .. } => {
                let mode = file_mode(*mode);
                let same = current
                    .as_ref()
                    .is_some_and(|metadata| metadata.is_file() && metadata.len() == blob.size)
                    && Digest::of_file(&destination).is_ok_and(|existing| existing == blob.hash);
                if same {
                    set_mode(&destination, mode).map_err(io)?
                } else {
                    write_file(store, &destination, &blob.hash, mode).map_err(
                        |error| match error {
                            WriteError::Io(source) => RestoreError::Io {
                                path: path.clone(),
                                source,
                            },
                            WriteError::Damaged => {
                                store.discard_blob(&blob.hash);
                                RestoreError::Damaged {
                                    path: path.clone(),
                                    why: "its content does not match its digest".to_string(),
                                }
                            }
                        },
                    )?;
                    true
                }
            }
        };
        if wrote {
            restored.written.push(path.clone());
        }
    }
    let stored: BTreeSet<&RelPath> = entries.iter().map(|entry| entry.path()).collect();
    for pattern in target.declared {
        if let OutputPattern::Literal { path, .. } = pattern
            && entries
                .iter()
                .any(|entry| matches!(entry, OutputEntry::Dir { path: dir, .. } if dir == path))
        {
            remove_extra(
                target,
                &path.to_path(target.root),
                &stored,
                &mut restored.removed,
            )
            .map_err(|source| RestoreError::Io {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(restored)
}

/// Refuse an entry that writes anywhere the session does not declare, before writing anything.
fn check_entries(target: &Target<'_>, entries: &[&OutputEntry]) -> Result<(), RestoreError> {
    let refuse = |path: &RelPath, why: &str| {
        Err(RestoreError::Unsafe {
            path: path.clone(),
            why: why.to_string(),
        })
    };
    let mut links: Vec<&RelPath> = Vec::new();
    let mut previous: Option<&RelPath> = None;
    for entry in entries {
        let path = entry.path();
        if path.is_root() {
            return refuse(path, "it is the project root");
        }
        if previous == Some(path) {
            return refuse(path, "the entry lists it twice");
        }
        previous = Some(path);
        if path.as_str().split('/').any(|part| part == ".git") {
            return refuse(path, "it is inside a `.git` directory");
        }
        if target.protected.iter().any(|dir| {
            RelPath::from_path(target.root, dir).is_some_and(|dir| path.starts_with(&dir))
        }) {
            return refuse(path, "it is inside rtask's own directories");
        }
        if links.iter().any(|link| path.starts_with(link)) {
            return refuse(path, "it lies below a symlink of the same entry");
        }
        if !target
            .declared
            .iter()
            .any(|pattern| declares(pattern, path))
        {
            return refuse(path, "the session does not declare it as an output");
        }
        if let OutputEntry::Symlink { target: link, .. } = entry {
            if !link_stays_inside(path, link) {
                return refuse(
                    path,
                    &format!("it is a symlink to `{link}`, outside the project"),
                );
            }
            links.push(path);
        }
    }
    Ok(())
}

/// Whether `pattern` covers `path`: the path itself, or a path below a directory it names or
/// matches.
fn declares(pattern: &OutputPattern, path: &RelPath) -> bool {
    match pattern {
        OutputPattern::Literal { path: declared, .. } => path.starts_with(declared),
        OutputPattern::Glob { matcher, .. } => {
            let parts: Vec<&str> = path.as_str().split('/').collect();
            (1..=parts.len()).any(|depth| matcher.is_match(parts[..depth].join("/")))
        }
    }
}

/// Make sure every directory above `path` exists, is a directory, and lies inside the project;
/// returns where `path` goes.
fn prepare_parent(canonical_root: &Path, path: &RelPath) -> Result<PathBuf, RestoreError> {
    let mut current = canonical_root.to_path_buf();
    let parts: Vec<&str> = path.as_str().split('/').collect();
    let (name, parents) = parts.split_last().expect("a path has at least one part");
    for part in parents {
        current.push(part);
        let io = |source| RestoreError::Io {
            path: path.clone(),
            source,
        };
        match current.symlink_metadata() {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let resolved = current.canonicalize().map_err(io)?;
                if !resolved.starts_with(canonical_root) || !resolved.is_dir() {
                    return Err(RestoreError::Unsafe {
                        path: path.clone(),
                        why: format!(
                            "`{}` is a symlink that leads out of the project",
                            current.display()
                        ),
                    });
                }
            }
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => {
                fs::remove_file(&current).map_err(io)?;
                fs::create_dir(&current).map_err(io)?;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&current).map_err(io)?
            }
            Err(source) => return Err(io(source)),
        }
    }
    Ok(current.join(name))
}

enum WriteError {
    Io(io::Error),
    Damaged,
}

/// Copy a blob to `destination` through a temporary file beside it, checking its digest.
fn write_file(
    store: &Store,
    destination: &Path,
    hash: &Digest,
    mode: u32,
) -> Result<(), WriteError> {
    let parent = destination.parent().unwrap_or(destination);
    let mut source = File::open(store.blob_path(hash)).map_err(WriteError::Io)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".rtask-restore")
        .tempfile_in(parent)
        .map_err(WriteError::Io)?;
    let (actual, _) =
        digest::copy_hashing(&mut source, temp.as_file_mut()).map_err(WriteError::Io)?;
    if &actual != hash {
        return Err(WriteError::Damaged);
    }
    set_mode(temp.path(), mode).map_err(WriteError::Io)?;
    if destination
        .symlink_metadata()
        .is_ok_and(|metadata| metadata.is_dir())
    {
        fs::remove_dir_all(destination).map_err(WriteError::Io)?;
    }
    temp.persist(destination)
        .map_err(|error| WriteError::Io(error.error))?;
    Ok(())
}

/// Set a mode; whether it changed.
fn set_mode(path: &Path, mode: u32) -> io::Result<bool> {
    let metadata = path.symlink_metadata()?;
    if metadata.permissions().mode() & 0o7777 == mode {
        return Ok(false);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(true)
}

fn remove_any(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Remove what lies below `dir` but is not part of the entry, never following a symlink and
/// never touching `.git` directories or rtask's own.
fn remove_extra(
    target: &Target<'_>,
    dir: &Path,
    stored: &BTreeSet<&RelPath>,
    removed: &mut Vec<RelPath>,
) -> io::Result<()> {
    if !dir.symlink_metadata()?.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name() == ".git" || target.protected.contains(&path) {
            continue;
        }
        let Some(relative) = RelPath::from_path(target.root, &path) else {
            continue;
        };
        if !stored.contains(&relative) {
            remove_any(&path)?;
            removed.push(relative);
        } else if entry.file_type()?.is_dir() {
            remove_extra(target, &path, stored, removed)?;
        }
    }
    Ok(())
}

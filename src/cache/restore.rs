//! Restoring an entry's outputs into the workspace, never writing outside the project.
//!
//! Files already equal to the stored ones are left alone. A declared output directory is made
//! to match the stored one exactly. Every path is checked before anything is written: entries
//! cannot hold absolute paths or `..` (the manifest refuses to parse them), symlink targets must
//! stay inside the project, and no write goes through a symlinked directory that leads out.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::manifest::{Manifest, OutputEntry};
use super::outputs::link_stays_inside;
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
    /// Paths written or replaced.
    pub written: Vec<RelPath>,
    /// Paths removed from declared output directories.
    pub removed: Vec<RelPath>,
}

impl Restored {
    pub fn changed_anything(&self) -> bool {
        !self.written.is_empty() || !self.removed.is_empty()
    }
}

pub fn restore(
    root: &Path,
    store: &Store,
    manifest: &Manifest,
    declared: &[OutputPattern],
) -> Result<Restored, RestoreError> {
    for entry in &manifest.outputs {
        if let OutputEntry::Symlink { path, target } = entry
            && !link_stays_inside(path, target)
        {
            return Err(RestoreError::Unsafe {
                path: path.clone(),
                why: format!("it is a symlink to `{target}`, outside the project"),
            });
        }
    }
    let canonical_root = root.canonicalize().map_err(|source| RestoreError::Io {
        path: RelPath::root(),
        source,
    })?;
    let mut restored = Restored::default();
    for entry in &manifest.outputs {
        let path = entry.path();
        let io = |source| RestoreError::Io {
            path: path.clone(),
            source,
        };
        let destination = prepare_parent(&canonical_root, path)?;
        let current = destination.symlink_metadata().ok();
        let wrote = match entry {
            OutputEntry::Dir { mode, .. } => {
                match &current {
                    Some(metadata) if metadata.is_dir() => {}
                    _ => {
                        remove_any(&destination).map_err(io)?;
                        fs::create_dir(&destination).map_err(io)?;
                    }
                }
                set_mode(&destination, *mode).map_err(io)?;
                current.as_ref().is_none_or(|metadata| !metadata.is_dir())
            }
            OutputEntry::Symlink { target, .. } => {
                let same = current
                    .as_ref()
                    .is_some_and(|metadata| metadata.file_type().is_symlink())
                    && fs::read_link(&destination)
                        .is_ok_and(|existing| existing == Path::new(target));
                if !same {
                    remove_any(&destination).map_err(io)?;
                    symlink(target, &destination).map_err(io)?;
                }
                !same
            }
            OutputEntry::File { blob, mode, .. } => {
                let same = current
                    .as_ref()
                    .is_some_and(|metadata| metadata.is_file() && metadata.len() == blob.size)
                    && Digest::of_file(&destination).is_ok_and(|existing| existing == blob.hash);
                if same {
                    set_mode(&destination, *mode).map_err(io)?;
                } else {
                    write_file(store, &destination, &blob.hash, *mode).map_err(
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
                }
                !same
            }
        };
        if wrote {
            restored.written.push(path.clone());
        }
    }
    let stored: BTreeSet<&RelPath> = manifest.outputs.iter().map(OutputEntry::path).collect();
    for pattern in declared {
        if let OutputPattern::Literal { path, .. } = pattern
            && manifest
                .outputs
                .iter()
                .any(|entry| matches!(entry, OutputEntry::Dir { path: dir, .. } if dir == path))
        {
            remove_extra(root, &path.to_path(root), &stored, &mut restored.removed).map_err(
                |source| RestoreError::Io {
                    path: path.clone(),
                    source,
                },
            )?;
        }
    }
    Ok(restored)
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

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    let metadata = path.metadata()?;
    if metadata.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

fn remove_any(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Remove what lies below `dir` but is not part of the entry.
fn remove_extra(
    root: &Path,
    dir: &Path,
    stored: &BTreeSet<&RelPath>,
    removed: &mut Vec<RelPath>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(relative) = RelPath::from_path(root, &path) else {
            continue;
        };
        if !stored.contains(&relative) {
            remove_any(&path)?;
            removed.push(relative);
        } else if entry.file_type()?.is_dir() {
            remove_extra(root, &path, stored, removed)?;
        }
    }
    Ok(())
}

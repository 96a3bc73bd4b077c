//! Restoring an entry's outputs into the workspace, never writing outside the declared outputs.
//!
//! Files already equal to the stored ones are left alone. A declared output directory is made
//! to match the stored one exactly, sparing `.git` directories and rtask's own. A cache may
//! come from elsewhere (a CI artifact, a shared directory), so the whole entry, and the
//! workspace it goes into, are checked before anything is written (see `check`).

mod check;

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use thiserror::Error;

use self::check::{Parent, Stored, guarded_below, inspect_parent, parents};
use super::manifest::{Blob, Manifest, OutputEntry};
use super::outputs::{dir_mode, file_mode};
use super::store::{BlobFlaw, Store};
use crate::digest;
use crate::patterns::OutputPattern;
use crate::protected;
use crate::relpath::RelPath;

/// Why a restore failed, in two kinds the executor tells apart:
/// - a problem of the entry (`Unsafe`, `Damaged`): running the session instead, and storing
///   the new result in the entry's place, gets past it.
/// - a problem of this workspace (`Blocked`, `Io`): the workspace holds what a restore must not
///   write through or remove, or reading or writing it failed (no space left, permission
///   denied). The entry may be good: it is neither used nor replaced by a run made in such a
///   workspace.
///
/// What a failed restore leaves behind: the paths restored until then hold their stored
/// content, the path being written keeps what it held (its temporary copy is removed), the
/// directories created for it stay, and declared directories are not cleaned.
#[derive(Debug, Error)]
pub enum RestoreError {
    /// The entry would write where a restore must not, or is not shaped as rtask stores one.
    /// Found before anything is written.
    #[error("refusing to restore `{path}`: {why}")]
    Unsafe { path: RelPath, why: String },
    /// The workspace holds what a restore must not write through or remove: a file where a
    /// directory goes, a symlink that leads out of the project or into `.git`, a directory
    /// holding a checkout where a file goes. Found before anything is written (unless the
    /// workspace changes while the restore runs).
    #[error("cannot restore `{path}`: {why}")]
    Blocked { path: RelPath, why: String },
    /// The entry lacks a declared output (found before anything is written), or a stored copy
    /// does not match its digest or is gone from the cache (found while copying it; a copy
    /// that does not match is discarded).
    #[error("stored copy of `{path}` is damaged: {why}")]
    Damaged { path: RelPath, why: String },
    /// Reading or writing the workspace failed for a local reason: no space left, permission
    /// denied, a read-only file system.
    #[error("cannot restore `{path}`: {source}")]
    Io { path: RelPath, source: io::Error },
}

/// What a restore did, path by path as the entry names them. Each path in `written` holds what
/// the entry stores once the restore is over: no write goes through a symlink inside the
/// declared outputs, and nothing written is replaced or removed later in the same restore.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Paths written or replaced, or whose mode changed.
    pub written: Vec<RelPath>,
    /// Paths removed from declared output directories; a directory stands for what it held.
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

/// A `Target` resolved once for the whole restore.
struct Site<'a> {
    declared: &'a [OutputPattern],
    /// The project root with symlinks resolved: every path of the restore is below it.
    root: PathBuf,
    /// rtask's own directories that lie in the project.
    protected: Vec<RelPath>,
}

impl<'a> Site<'a> {
    fn new(target: &Target<'a>) -> io::Result<Site<'a>> {
        let root = target.root.canonicalize()?;
        let protected = target
            .protected
            .iter()
            .filter_map(|dir| {
                RelPath::from_path(target.root, dir).or_else(|| RelPath::from_path(&root, dir))
            })
            .collect();
        Ok(Site {
            declared: target.declared,
            root,
            protected,
        })
    }

    /// Why nothing may be written at `path`, if so.
    fn reserved(&self, path: &RelPath) -> Option<&'static str> {
        if protected::in_git(path) {
            return Some("it is inside a `.git` directory");
        }
        if self.protected.iter().any(|dir| path.starts_with(dir)) {
            return Some("it is inside rtask's own directories");
        }
        None
    }

    /// Whether `path`, a name found in the workspace, is a `.git` directory or rtask's own.
    fn guarded(&self, name: &OsStr, path: &RelPath) -> bool {
        protected::is_git(name) || self.protected.contains(path)
    }
}

/// Restore the outputs `manifest` stores into `target`, or refuse it before writing anything
/// (see `check`).
pub fn restore(
    target: &Target<'_>,
    store: &Store,
    manifest: &Manifest,
) -> Result<Restored, RestoreError> {
    // No prune removes the blobs while they are copied.
    let _in_use = store.in_use();
    store.used(manifest);
    let site = Site::new(target).map_err(|source| RestoreError::Io {
        path: RelPath::root(),
        source,
    })?;
    let mut entries: Vec<&OutputEntry> = manifest.outputs.iter().collect();
    entries.sort_by(|a, b| a.path().cmp(b.path()));
    let stored = check::check_entries(&site, &entries)?;
    check::check_workspace(&site, &entries, &stored)?;
    let mut restored = Restored::default();
    for entry in &entries {
        if restore_entry(&site, store, entry)? {
            restored.written.push(entry.path().clone());
        }
    }
    for pattern in site.declared {
        if let OutputPattern::Literal { path, .. } = pattern
            && matches!(stored.get(path), Some(OutputEntry::Dir { .. }))
        {
            remove_extra(
                &site,
                &path.to_path(&site.root),
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

fn refuse<T>(path: &RelPath, why: impl Into<String>) -> Result<T, RestoreError> {
    Err(RestoreError::Unsafe {
        path: path.clone(),
        why: why.into(),
    })
}

fn blocked<T>(path: &RelPath, why: impl Into<String>) -> Result<T, RestoreError> {
    Err(RestoreError::Blocked {
        path: path.clone(),
        why: why.into(),
    })
}

/// Check, without writing anything, that `outputs` could be restored into `target` as it
/// stands: the checks a restore makes before it writes.
pub fn check(target: &Target<'_>, outputs: &[OutputEntry]) -> Result<(), RestoreError> {
    let site = Site::new(target).map_err(|source| RestoreError::Io {
        path: RelPath::root(),
        source,
    })?;
    let mut entries: Vec<&OutputEntry> = outputs.iter().collect();
    entries.sort_by(|a, b| a.path().cmp(b.path()));
    let stored = check::check_entries(&site, &entries)?;
    check::check_workspace(&site, &entries, &stored)
}

/// Make sure every directory above `path` is there, creating those missing; returns where
/// `path` goes.
fn prepare_parent(site: &Site<'_>, path: &RelPath) -> Result<PathBuf, RestoreError> {
    for parent in parents(path) {
        if inspect_parent(site, path, &parent)? == Parent::Missing {
            fs::create_dir(parent.to_path(&site.root)).map_err(|source| RestoreError::Io {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(path.to_path(&site.root))
}

/// Restore one path; whether it wrote anything.
fn restore_entry(
    site: &Site<'_>,
    store: &Store,
    entry: &OutputEntry,
) -> Result<bool, RestoreError> {
    let path = entry.path();
    let destination = prepare_parent(site, path)?;
    let io = |source| RestoreError::Io {
        path: path.clone(),
        source,
    };
    match entry {
        OutputEntry::Dir { mode, .. } => restore_dir(&destination, *mode).map_err(io),
        OutputEntry::Symlink { target: link, .. } => {
            restore_symlink(&destination, link).map_err(io)
        }
        OutputEntry::File { blob, mode, .. } => restore_file(store, &destination, blob, *mode)
            .map_err(|error| match error {
                WriteError::Io(source) => io(source),
                WriteError::Damaged(why) => RestoreError::Damaged {
                    path: path.clone(),
                    why: why.to_string(),
                },
            }),
    }
}

fn restore_dir(destination: &Path, mode: u32) -> io::Result<bool> {
    let is_dir = destination
        .symlink_metadata()
        .is_ok_and(|metadata| metadata.is_dir());
    if !is_dir {
        remove_any(destination)?;
        fs::create_dir(destination)?;
    }
    // Set now, before what it holds is written: the owner always keeps rwx.
    let changed = set_mode(destination, dir_mode(mode))?;
    Ok(!is_dir || changed)
}

fn restore_symlink(destination: &Path, link: &str) -> io::Result<bool> {
    let same = destination
        .symlink_metadata()
        .is_ok_and(|metadata| metadata.file_type().is_symlink())
        && fs::read_link(destination).is_ok_and(|existing| existing == Path::new(link));
    if !same {
        remove_any(destination)?;
        symlink(link, destination)?;
    }
    Ok(!same)
}

fn restore_file(
    store: &Store,
    destination: &Path,
    blob: &Blob,
    mode: u32,
) -> Result<bool, WriteError> {
    let mode = file_mode(mode);
    if blob.matches_file(destination) {
        return set_mode(destination, mode).map_err(WriteError::Io);
    }
    write_file(store, destination, blob, mode)?;
    Ok(true)
}

enum WriteError {
    Io(io::Error),
    /// Why the stored copy cannot be used.
    Damaged(&'static str),
}

/// Copy a blob to `destination` through a temporary file beside it, decoding it and checking
/// its digest; a copy that does not match (or cannot be decoded) is discarded from the store.
fn write_file(store: &Store, destination: &Path, blob: &Blob, mode: u32) -> Result<(), WriteError> {
    let parent = destination.parent().unwrap_or(destination);
    let mut source = store.open_blob(blob).map_err(|flaw| match flaw {
        BlobFlaw::Missing => WriteError::Damaged("it is gone from the cache"),
        BlobFlaw::WrongSize => WriteError::Damaged("it has the wrong size"),
        BlobFlaw::WrongDigest => WriteError::Damaged("its content does not match its digest"),
    })?;
    let mut temp = store.restore_temp_file(parent).map_err(WriteError::Io)?;
    let copied = {
        let mut out = io::BufWriter::with_capacity(1024 * 1024, temp.as_file_mut());
        digest::copy_hashing(&mut source, &mut out).and_then(|copied| {
            out.flush()?;
            Ok(copied)
        })
    };
    let (actual, size) = match copied {
        Ok((digest, size)) => (Some(digest), size),
        Err(_) if source.failed() => (None, 0),
        Err(error) => return Err(WriteError::Io(error)),
    };
    if actual != Some(blob.hash) || size != blob.size {
        store.discard_blob(&blob.hash);
        return Err(WriteError::Damaged("its content does not match its digest"));
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
/// sparing `.git` directories and rtask's own, wherever they are: a directory that holds one
/// is emptied of the rest instead of removed.
fn remove_extra(
    site: &Site<'_>,
    dir: &Path,
    stored: &Stored<'_>,
    removed: &mut Vec<RelPath>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(relative) = RelPath::from_path(&site.root, &path) else {
            continue;
        };
        if site.guarded(&entry.file_name(), &relative) {
            continue;
        }
        let is_dir = entry.file_type()?.is_dir();
        if stored.contains_key(&relative) || (is_dir && guarded_below(site, &path)?.is_some()) {
            if is_dir {
                remove_extra(site, &path, stored, removed)?;
            }
        } else {
            remove_any(&path)?;
            removed.push(relative);
        }
    }
    Ok(())
}

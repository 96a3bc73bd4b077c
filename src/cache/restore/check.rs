//! What a restore checks before it writes anything, so that it never writes outside the
//! declared outputs and every path it reports holds, once it is over, what the entry stores:
//! - each path on its own: the session declares it as an output, the entry lists it once, it
//!   is not the project root, holds no `.git` component (in any letter case) and is not in
//!   rtask's own directories; names are ones a file system takes; symlink targets stay inside
//!   the project. (Absolute paths and `..` cannot even be parsed from a manifest.)
//! - the entry's shape, as a collection of outputs always has it: every output the session
//!   declares by name is there (a directory declared with `/` as a directory), and a path
//!   below a stored path lies directly in a stored directory.
//! - the workspace: a directory above a path the entry does not hold is a directory or missing,
//!   never a file to remove; it is a symlink only above the declared outputs, where the
//!   session's own commands go through it too, and only to a directory inside the project,
//!   outside `.git` and rtask's own. A stored file or symlink never replaces a directory that
//!   holds a `.git` directory or rtask's own.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::{RestoreError, Site, blocked, refuse};
use crate::cache::manifest::OutputEntry;
use crate::cache::outputs::link_stays_inside;
use crate::patterns::OutputPattern;
use crate::relpath::RelPath;

/// The paths of an entry, each once.
pub(super) type Stored<'a> = BTreeMap<&'a RelPath, &'a OutputEntry>;

/// The longest name a file system takes (`NAME_MAX`) and the longest symlink target (`PATH_MAX`
/// less its NUL): a longer one could only fail to be written, which is the entry's fault.
const NAME_MAX: usize = 255;
const TARGET_MAX: usize = 4095;

/// Refuse an entry that writes anywhere the session does not declare, or that rtask could not
/// have stored, before writing anything.
pub(super) fn check_entries<'a>(
    site: &Site<'_>,
    entries: &[&'a OutputEntry],
) -> Result<Stored<'a>, RestoreError> {
    let mut stored = Stored::new();
    for entry in entries {
        let path = entry.path();
        if let Some(why) = entry_problem(site, entry) {
            return refuse(path, why);
        }
        if stored.insert(path, entry).is_some() {
            return refuse(path, "the entry lists it twice");
        }
    }
    for path in stored.keys() {
        check_place(&stored, path)?;
    }
    for pattern in site.declared {
        check_declared(&stored, pattern)?;
    }
    Ok(stored)
}

/// What is wrong with one entry on its own, if anything.
fn entry_problem(site: &Site<'_>, entry: &OutputEntry) -> Option<String> {
    let path = entry.path();
    if path.is_root() {
        return Some("it is the project root".to_string());
    }
    if path.as_str().contains('\0') || path.as_str().split('/').any(|part| part.len() > NAME_MAX) {
        return Some(format!(
            "its path holds a NUL byte or a name longer than {NAME_MAX} bytes"
        ));
    }
    if let Some(why) = site.reserved(path) {
        return Some(why.to_string());
    }
    if !site.declared.iter().any(|pattern| pattern.declares(path)) {
        return Some("the session does not declare it as an output".to_string());
    }
    let OutputEntry::Symlink { target: link, .. } = entry else {
        return None;
    };
    if link.is_empty() || link.contains('\0') || link.len() > TARGET_MAX {
        return Some(format!(
            "it is a symlink whose target is empty, holds a NUL byte or is longer than {TARGET_MAX} bytes"
        ));
    }
    if !link_stays_inside(path, link) {
        return Some(format!("it is a symlink to `{link}`, outside the project"));
    }
    None
}

/// A path below a stored path must lie directly in a stored directory, as a collected output
/// always does: otherwise it would be written, then lost to a file that replaces its directory
/// or to the cleaning of a declared directory that does not list its own.
fn check_place(stored: &Stored<'_>, path: &RelPath) -> Result<(), RestoreError> {
    let parents = parents(path);
    let Some((depth, ancestor)) = parents
        .iter()
        .enumerate()
        .rev()
        .find_map(|(depth, parent)| stored.get(parent).map(|entry| (depth, entry)))
    else {
        return Ok(());
    };
    let kind = match ancestor {
        OutputEntry::Dir { .. } => None,
        OutputEntry::File { .. } => Some("a file"),
        OutputEntry::Symlink { .. } => Some("a symlink"),
    };
    if let Some(kind) = kind {
        return refuse(
            path,
            format!(
                "it lies below `{}`, which the entry stores as {kind}",
                ancestor.path()
            ),
        );
    }
    match parents.get(depth + 1) {
        Some(missing) => refuse(path, format!("the entry lacks its directory `{missing}`")),
        None => Ok(()),
    }
}

/// An output declared by name is always collected, as a directory when declared with `/`.
fn check_declared(stored: &Stored<'_>, pattern: &OutputPattern) -> Result<(), RestoreError> {
    let OutputPattern::Literal { path, dir } = pattern else {
        return Ok(());
    };
    match stored.get(path) {
        None => Err(RestoreError::Damaged {
            path: path.clone(),
            why: "the entry does not hold this declared output".to_string(),
        }),
        Some(entry) if *dir && !matches!(entry, OutputEntry::Dir { .. }) => {
            refuse(path, "the session declares it as a directory")
        }
        Some(_) => Ok(()),
    }
}

/// The directories above `path`, outermost first, without the project root.
pub(super) fn parents(path: &RelPath) -> Vec<RelPath> {
    let parts: Vec<&str> = path.as_str().split('/').collect();
    let mut current = RelPath::root();
    parts[..parts.len() - 1]
        .iter()
        .map(|part| {
            current = current.join(part);
            current.clone()
        })
        .collect()
}

/// Refuse, before writing anything, a workspace the entry cannot be restored into safely: see
/// `inspect_parent` and `check_replaced`.
pub(super) fn check_workspace(
    site: &Site<'_>,
    entries: &[&OutputEntry],
    stored: &Stored<'_>,
) -> Result<(), RestoreError> {
    for entry in entries {
        let path = entry.path();
        if in_place(site, stored, path)? && !matches!(entry, OutputEntry::Dir { .. }) {
            check_replaced(site, path)?;
        }
    }
    Ok(())
}

/// Whether every directory above `path` is there now and stays (none missing, none a stored
/// directory that will replace what is there), checking those the entry does not hold.
fn in_place(site: &Site<'_>, stored: &Stored<'_>, path: &RelPath) -> Result<bool, RestoreError> {
    for parent in parents(path) {
        let there = if stored.contains_key(&parent) {
            parent
                .to_path(&site.root)
                .symlink_metadata()
                .is_ok_and(|metadata| metadata.is_dir())
        } else {
            inspect_parent(site, path, &parent)? == Parent::Dir
        };
        if !there {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A stored file or symlink replaces what is at its path, but never a directory that holds a
/// `.git` directory (a checkout) or rtask's own.
fn check_replaced(site: &Site<'_>, path: &RelPath) -> Result<(), RestoreError> {
    let on_disk = path.to_path(&site.root);
    if !on_disk
        .symlink_metadata()
        .is_ok_and(|metadata| metadata.is_dir())
    {
        return Ok(());
    }
    let guarded = guarded_below(site, &on_disk).map_err(|source| RestoreError::Io {
        path: path.clone(),
        source,
    })?;
    match guarded {
        Some(kept) => blocked(path, format!("replacing it would delete `{kept}`")),
        None => Ok(()),
    }
}

/// The first `.git` directory or directory of rtask's own below `dir`, not following symlinks.
pub(super) fn guarded_below(site: &Site<'_>, dir: &Path) -> io::Result<Option<RelPath>> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(relative) = RelPath::from_path(&site.root, &path) else {
            continue;
        };
        if site.guarded(&entry.file_name(), &relative) {
            return Ok(Some(relative));
        }
        if entry.file_type()?.is_dir()
            && let Some(found) = guarded_below(site, &path)?
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// What stands at a directory above a path being restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Parent {
    /// A directory, or a symlink the restore may go through to one.
    Dir,
    /// Nothing: the restore creates it.
    Missing,
}

/// Look at `parent`, a directory above `path` (one the entry holds is a directory by the time
/// its paths are written). A file there is refused: a restore never removes what the entry does
/// not hold. A symlink is refused unless the session's own commands
/// would go through it (see `may_follow`) and it leads to a directory inside the project,
/// outside `.git` and rtask's own.
pub(super) fn inspect_parent(
    site: &Site<'_>,
    path: &RelPath,
    parent: &RelPath,
) -> Result<Parent, RestoreError> {
    let on_disk = parent.to_path(&site.root);
    let io = |source| RestoreError::Io {
        path: path.clone(),
        source,
    };
    let metadata = match on_disk.symlink_metadata() {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Parent::Missing),
        Err(source) => return Err(io(source)),
    };
    if metadata.is_dir() {
        return Ok(Parent::Dir);
    }
    if !metadata.file_type().is_symlink() {
        return blocked(
            path,
            format!(
                "`{parent}` is not a directory, and a restore removes only what the entry holds"
            ),
        );
    }
    if !may_follow(site.declared, path, parent) {
        return blocked(
            path,
            format!(
                "`{parent}` is a symlink within the declared outputs, which a restore never goes through"
            ),
        );
    }
    let resolved = match on_disk.canonicalize() {
        Ok(resolved) => resolved,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return blocked(path, format!("`{parent}` is a symlink that leads nowhere"));
        }
        Err(source) => return Err(io(source)),
    };
    let Some(inside) = RelPath::from_path(&site.root, &resolved) else {
        return blocked(
            path,
            format!("`{parent}` is a symlink that leads out of the project"),
        );
    };
    if let Some(why) = site.reserved(&inside) {
        return blocked(
            path,
            format!("`{parent}` is a symlink to `{inside}`: {why}"),
        );
    }
    if !resolved.is_dir() {
        return blocked(
            path,
            format!("`{parent}` is a symlink to `{inside}`, not to a directory"),
        );
    }
    Ok(Parent::Dir)
}

/// Whether a restore of `path` may go through a symlink at `parent`: only above the outputs
/// the session declares (strictly above a declared path; at or above a glob's fixed leading
/// directories), where its commands and the collection of its outputs go through it too.
/// Below that, a collected output holds a symlink as a symlink, never a path through it.
fn may_follow(declared: &[OutputPattern], path: &RelPath, parent: &RelPath) -> bool {
    declared.iter().any(|pattern| {
        pattern.declares(path)
            && match pattern {
                OutputPattern::Literal { path: declared, .. } => {
                    declared != parent && declared.starts_with(parent)
                }
                OutputPattern::Glob { base, .. } => base.starts_with(parent),
            }
    })
}

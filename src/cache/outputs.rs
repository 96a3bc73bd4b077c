//! Finding a session's outputs in the workspace after it ran.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::manifest::{Manifest, OutputEntry};
use crate::digest::Digest;
use crate::file_stat::FileStat;
use crate::fingerprint::symlink_input;
use crate::patterns::OutputPattern;
use crate::protected;
use crate::relpath::RelPath;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundOutput {
    pub path: RelPath,
    pub kind: FoundKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundKind {
    File { mode: u32 },
    Dir { mode: u32 },
    Symlink { target: String },
}

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("declared output `{0}` was not produced")]
    Missing(String),
    #[error("declared output `{0}/` is a file, not a directory")]
    NotADirectory(RelPath),
    #[error("output `{path}` is a symlink to `{target}`, outside the project")]
    EscapingLink { path: RelPath, target: String },
    #[error("output `{path}` is neither a file, a directory nor a symlink with a UTF-8 target")]
    Special { path: RelPath },
    #[error("cannot read output `{path}`: {source}")]
    Io { path: RelPath, source: io::Error },
}

/// Every path the declarations match, sorted, directories before their contents.
/// `skipped` directories (the cache, `.git`) are never searched by globs.
pub fn collect(
    root: &Path,
    declared: &[OutputPattern],
    skipped: &[PathBuf],
) -> Result<Vec<FoundOutput>, OutputError> {
    let mut found = BTreeMap::new();
    for pattern in declared {
        match pattern {
            OutputPattern::Literal { path, dir } => {
                let metadata = match path.to_path(root).symlink_metadata() {
                    Ok(metadata) => metadata,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {
                        return Err(OutputError::Missing(pattern.declaration()));
                    }
                    Err(source) => {
                        return Err(OutputError::Io {
                            path: path.clone(),
                            source,
                        });
                    }
                };
                if *dir && !metadata.is_dir() {
                    return Err(OutputError::NotADirectory(path.clone()));
                }
                add(root, path, &metadata, skipped, &mut found)?;
            }
            OutputPattern::Glob { base, matcher, .. } => {
                let mut matched = Vec::new();
                visit(root, &base.to_path(root), skipped, &mut |path| {
                    if matcher.is_match(path.as_str()) {
                        matched.push(path);
                    }
                })
                .map_err(|source| OutputError::Io {
                    path: base.clone(),
                    source,
                })?;
                let mut added_dir: Option<RelPath> = None;
                for path in matched {
                    // A matched directory brought everything below it already.
                    if added_dir.as_ref().is_some_and(|dir| path.starts_with(dir)) {
                        continue;
                    }
                    let metadata = path.to_path(root).symlink_metadata().map_err(|source| {
                        OutputError::Io {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    add(root, &path, &metadata, skipped, &mut found)?;
                    if metadata.is_dir() {
                        added_dir = Some(path);
                    }
                }
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(path, kind)| FoundOutput { path, kind })
        .collect())
}

fn add(
    root: &Path,
    path: &RelPath,
    metadata: &fs::Metadata,
    skipped: &[PathBuf],
    found: &mut BTreeMap<RelPath, FoundKind>,
) -> Result<(), OutputError> {
    add_one(root, path, metadata, found)?;
    if metadata.is_dir() {
        let mut below = Vec::new();
        visit(root, &path.to_path(root), skipped, &mut |child| {
            below.push(child)
        })
        .map_err(|source| OutputError::Io {
            path: path.clone(),
            source,
        })?;
        for child in below {
            let metadata =
                child
                    .to_path(root)
                    .symlink_metadata()
                    .map_err(|source| OutputError::Io {
                        path: child.clone(),
                        source,
                    })?;
            add_one(root, &child, &metadata, found)?;
        }
    }
    Ok(())
}

/// Record one path, without looking below it.
fn add_one(
    root: &Path,
    path: &RelPath,
    metadata: &fs::Metadata,
    found: &mut BTreeMap<RelPath, FoundKind>,
) -> Result<(), OutputError> {
    let file_type = metadata.file_type();
    let mode = metadata.permissions().mode();
    let kind = if file_type.is_symlink() {
        let target = fs::read_link(path.to_path(root)).map_err(|source| OutputError::Io {
            path: path.clone(),
            source,
        })?;
        let Some(target) = target.to_str().map(str::to_string) else {
            return Err(OutputError::Special { path: path.clone() });
        };
        if !link_stays_inside(path, &target) {
            return Err(OutputError::EscapingLink {
                path: path.clone(),
                target,
            });
        }
        FoundKind::Symlink { target }
    } else if file_type.is_file() {
        FoundKind::File {
            mode: file_mode(mode),
        }
    } else if file_type.is_dir() {
        FoundKind::Dir {
            mode: dir_mode(mode),
        }
    } else {
        return Err(OutputError::Special { path: path.clone() });
    };
    found.insert(path.clone(), kind);
    Ok(())
}

/// The permission bits a file output is stored and restored with: never setuid, setgid or
/// sticky, and always readable by its owner, so that it can be hashed and stored again.
pub fn file_mode(mode: u32) -> u32 {
    mode & 0o777 | 0o400
}

/// The permission bits a directory output is stored and restored with: never setuid, setgid or
/// sticky, and always readable, writable and searchable by its owner, so that a later restore,
/// the cleaning of a declared directory and the user's own `rm -rf` can work in it.
pub fn dir_mode(mode: u32) -> u32 {
    mode & 0o777 | 0o700
}

/// Calls `visit` with every entry directly or indirectly below `dir` (not following symlinks),
/// files and directories alike, skipping `skipped`, restore temps, and `.git` in any letter
/// case (a restore never writes `.GIT`, which a case-insensitive file system takes for `.git`).
fn visit(
    root: &Path,
    dir: &Path,
    skipped: &[PathBuf],
    visit_path: &mut dyn FnMut(RelPath),
) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        // A restore temp (a killed restore's, or a concurrent one's) is never an output.
        if protected::is_git(&name) || protected::is_restore_temp(&name) || skipped.contains(&path)
        {
            continue;
        }
        let relative = RelPath::from_path(root, &path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("`{}` is not a valid UTF-8 path", path.display()),
            )
        })?;
        let is_dir = entry.file_type()?.is_dir();
        visit_path(relative);
        if is_dir {
            visit(root, &path, skipped, &mut |child| visit_path(child))?;
        }
    }
    Ok(())
}

/// What files and symlinks glob outputs matched, with their stat: taken before a run.
pub type Snapshot = BTreeMap<RelPath, FileStat>;

/// The files the glob declarations match now (literal outputs are always the session's own).
pub fn glob_matches(root: &Path, declared: &[OutputPattern], skipped: &[PathBuf]) -> Snapshot {
    let Ok(found) = glob_found(root, declared, skipped) else {
        return Snapshot::new();
    };
    found
        .into_iter()
        .filter(|output| !matches!(output.kind, FoundKind::Dir { .. }))
        .filter_map(|output| {
            let metadata = output.path.to_path(root).symlink_metadata().ok()?;
            Some((output.path, FileStat::of(&metadata)))
        })
        .collect()
}

/// Remove from `found` the files that only a glob declares and that are exactly as they were
/// in `before`.
/// Returns the paths it removed.
pub fn drop_untouched(
    root: &Path,
    found: &mut Vec<FoundOutput>,
    declared: &[OutputPattern],
    before: &Snapshot,
) -> Vec<RelPath> {
    let literal = |path: &RelPath| {
        declared
            .iter()
            .any(|pattern| matches!(pattern, OutputPattern::Literal { path: declared, .. } if path.starts_with(declared)))
    };
    let mut dropped = Vec::new();
    found.retain(|output| {
        let Some(old) = before.get(&output.path) else {
            return true;
        };
        let keep = literal(&output.path)
            || output
                .path
                .to_path(root)
                .symlink_metadata()
                .map_or(true, |metadata| FileStat::of(&metadata) != *old);
        if !keep {
            dropped.push(output.path.clone());
        }
        keep
    });
    dropped
}

/// What the declarations match now, with digests (as [`digests`]); a declared path that is
/// missing is left out rather than an error: a requirement's outputs as a dependent finds them.
pub fn present(
    root: &Path,
    declared: &[OutputPattern],
    skipped: &[PathBuf],
) -> Result<BTreeMap<String, Digest>, OutputError> {
    let mut present = BTreeMap::new();
    for pattern in declared {
        match collect(root, std::slice::from_ref(pattern), skipped) {
            Ok(found) => present.extend(digests(root, &found)?),
            Err(OutputError::Missing(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(present)
}

/// What glob declarations match now (literal declarations are left out: a restore makes a
/// declared directory match its entry exactly).
pub fn glob_found(
    root: &Path,
    declared: &[OutputPattern],
    skipped: &[PathBuf],
) -> Result<Vec<FoundOutput>, OutputError> {
    let globs: Vec<OutputPattern> = declared
        .iter()
        .filter(|pattern| matches!(pattern, OutputPattern::Glob { .. }))
        .cloned()
        .collect();
    if globs.is_empty() {
        return Ok(Vec::new());
    }
    collect(root, &globs, skipped)
}

/// Whether a symlink at `path` with `target` resolves, lexically, to a place inside the project.
pub fn link_stays_inside(path: &RelPath, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth: Vec<&str> = path.as_str().split('/').collect();
    depth.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            part => depth.push(part),
        }
    }
    true
}

/// The digests of what the declarations match now, for a session that is not cached: its
/// dependents' keys hold these instead of its key.
pub fn digests(
    root: &Path,
    found: &[FoundOutput],
) -> Result<BTreeMap<String, Digest>, OutputError> {
    let mut digests = BTreeMap::new();
    for output in found {
        let io = |source| OutputError::Io {
            path: output.path.clone(),
            source,
        };
        let digest = match &output.kind {
            FoundKind::File { mode } => {
                let content = Digest::of_file(&output.path.to_path(root)).map_err(io)?;
                file_digest(&content, *mode)
            }
            FoundKind::Dir { mode } => dir_digest(*mode),
            FoundKind::Symlink { .. } => link_digest(root, &output.path).map_err(io)?,
        };
        digests.insert(output.path.to_string(), digest);
    }
    Ok(digests)
}

/// The digests [`digests`] gives an entry's outputs once they are restored, from the entry
/// itself: file contents are not read again (a symlink's target is: it may lead to a file the
/// entry does not hold).
pub fn entry_digests(
    root: &Path,
    manifest: &Manifest,
) -> Result<BTreeMap<String, Digest>, OutputError> {
    let mut digests = BTreeMap::new();
    for entry in &manifest.outputs {
        let path = entry.path();
        let digest = match entry {
            OutputEntry::File { blob, mode, .. } => file_digest(&blob.hash, *mode),
            OutputEntry::Dir { mode, .. } => dir_digest(*mode),
            OutputEntry::Symlink { .. } => {
                link_digest(root, path).map_err(|source| OutputError::Io {
                    path: path.clone(),
                    source,
                })?
            }
        };
        digests.insert(path.to_string(), digest);
    }
    Ok(digests)
}

fn file_digest(content: &Digest, mode: u32) -> Digest {
    Digest::of_bytes(format!("{content} {mode:o}").as_bytes())
}

fn dir_digest(mode: u32) -> Digest {
    Digest::of_bytes(format!("dir {mode:o}").as_bytes())
}

/// A symlink output as an input of its dependents: its target and, when that is a file, the
/// file's content; when it is a directory, everything below it (a dependent reads through it).
fn link_digest(root: &Path, path: &RelPath) -> io::Result<Digest> {
    let full = path.to_path(root);
    if !full.metadata().is_ok_and(|metadata| metadata.is_dir()) {
        return symlink_input(path, &full).map(|input| input.hash);
    }
    let mut hasher = blake3::Hasher::new_derive_key("rtask 1 symlink to a directory");
    hasher.update(fs::read_link(&full)?.as_os_str().as_encoded_bytes());
    hasher.update(b"\0");
    tree_digest(&full, &mut hasher)?;
    Ok(Digest::from(hasher.finalize()))
}

/// Names, kinds, modes and contents of everything below `dir`, in name order, without following
/// symlinks (a symlink counts by its target).
fn tree_digest(dir: &Path, hasher: &mut blake3::Hasher) -> io::Result<()> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let metadata = entry.path().symlink_metadata()?;
        hasher.update(entry.file_name().as_encoded_bytes());
        hasher.update(format!("\0{:o}\0", metadata.permissions().mode()).as_bytes());
        if metadata.file_type().is_symlink() {
            hasher.update(fs::read_link(entry.path())?.as_os_str().as_encoded_bytes());
        } else if metadata.is_dir() {
            hasher.update(b"dir{");
            tree_digest(&entry.path(), hasher)?;
            hasher.update(b"}");
        } else if metadata.is_file() {
            hasher.update(Digest::of_file(&entry.path())?.as_bytes());
        }
        hasher.update(b"\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_may_not_climb_out() {
        let path = RelPath::parse("out/link").unwrap();
        assert!(link_stays_inside(&path, "file"));
        assert!(link_stays_inside(&path, "../src/file"));
        assert!(!link_stays_inside(&path, "../../etc/passwd"));
        assert!(!link_stays_inside(&path, "/etc/passwd"));
    }

    #[test]
    fn modes_drop_special_bits_and_keep_the_owner_in() {
        // As `st_mode` has them: with the file type bits.
        assert_eq!(file_mode(0o106755), 0o755);
        assert_eq!(file_mode(0o100000), 0o400);
        assert_eq!(file_mode(0o100220), 0o620);
        assert_eq!(dir_mode(0o041777), 0o777);
        assert_eq!(dir_mode(0o040500), 0o700);
        assert_eq!(dir_mode(0o040055), 0o755);
    }

    #[test]
    fn collects_files_directories_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("htmlcov/sub")).unwrap();
        fs::write(root.join("htmlcov/sub/index.html"), "x").unwrap();
        fs::write(root.join(".coverage.a"), "a").unwrap();
        fs::write(root.join(".coverage.b"), "b").unwrap();
        let declared = [
            OutputPattern::compile("htmlcov/").unwrap(),
            OutputPattern::compile(".coverage.*").unwrap(),
        ];
        let found = collect(root, &declared, &[]).unwrap();
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                ".coverage.a",
                ".coverage.b",
                "htmlcov",
                "htmlcov/sub",
                "htmlcov/sub/index.html"
            ]
        );
        let missing = collect(root, &[OutputPattern::compile("nope").unwrap()], &[]);
        assert!(matches!(missing, Err(OutputError::Missing(name)) if name == "nope"));
    }
}

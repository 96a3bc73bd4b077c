//! `--report FILE`: the run as JSON, in nox's report shape, with rtask's `cached` and `key`.

use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::AccessFlags;

use serde::Serialize;

use crate::digest::Digest;
use crate::project::Session;
use crate::reporter::Outcome;
use crate::ui::words;

#[derive(Serialize)]
struct Report<'a> {
    /// 1 when nothing failed (skipped sessions do not fail a run), as in nox.
    result: u8,
    sessions: Vec<SessionReport<'a>>,
}

#[derive(Serialize)]
struct SessionReport<'a> {
    args: serde_json::Map<String, serde_json::Value>,
    name: &'a str,
    result: &'static str,
    result_code: i8,
    reason: Option<String>,
    signatures: &'a [String],
    duration: f64,
    /// Seconds its commands took in this run (`null` when none started: restored, skipped).
    commands_duration: Option<f64>,
    /// Seconds spent making or updating its environment (`null` when none was made).
    environment_duration: Option<f64>,
    /// Seconds a cache hit saved: the stored run's commands' time less the restore's.
    saved: Option<f64>,
    cached: bool,
    key: Option<&'a Digest>,
}

/// One session's part in the report.
pub struct Entry<'a> {
    pub session: &'a Session,
    pub outcome: &'a Outcome,
    pub key: Option<&'a Digest>,
    pub elapsed: Duration,
}

pub fn render(entries: &[Entry<'_>]) -> String {
    let sessions: Vec<SessionReport<'_>> = entries
        .iter()
        .map(|entry| {
            let (result, result_code, reason) = match entry.outcome {
                Outcome::Ran { .. } | Outcome::Cached { .. } | Outcome::Installed { .. } => {
                    ("success", 1, None)
                }
                Outcome::Failed { error, .. } => ("failed", 0, Some(error.to_string())),
                Outcome::Skipped { reason } => ("skipped", 2, Some(words::skip(reason))),
                Outcome::Aborted { reason } => ("aborted", -1, Some(words::abort(reason))),
                Outcome::Interrupted { .. } => ("aborted", -1, Some("interrupted".to_string())),
            };
            let (took, environment, saved) = match entry.outcome {
                Outcome::Ran { took }
                | Outcome::Failed { took, .. }
                | Outcome::Interrupted { took } => (Some(took), took.environment, None),
                Outcome::Cached { saved, environment } => (None, *environment, Some(*saved)),
                Outcome::Installed { duration } => (None, Some(*duration), None),
                Outcome::Aborted { .. } | Outcome::Skipped { .. } => (None, None, None),
            };
            SessionReport {
                args: entry
                    .session
                    .call_spec
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect(),
                name: &entry.session.base,
                result,
                result_code,
                reason,
                signatures: &entry.session.signatures,
                duration: entry.elapsed.as_secs_f64(),
                commands_duration: took.and_then(|took| took.commands).map(|d| d.as_secs_f64()),
                environment_duration: environment.map(|d| d.as_secs_f64()),
                saved: saved.map(|d| d.as_secs_f64()),
                cached: matches!(entry.outcome, Outcome::Cached { .. }),
                key: entry.key,
            }
        })
        .collect();
    let report = Report {
        result: u8::from(entries.iter().all(|entry| !entry.outcome.is_failure())),
        sessions,
    };
    let mut text = serde_json::to_string_pretty(&report).expect("plain data serialises");
    text.push('\n');
    text
}

/// Where `--report` writes, decided once by [`check_writable`] before any session runs.
#[derive(Debug)]
pub(crate) enum Destination {
    /// A regular file, or one to create: written beside it and renamed over it, so that it is
    /// never seen half written, and two runs writing it at once leave one whole report. A
    /// symbolic link is resolved first: the file it points to is replaced, the link stays.
    File(PathBuf),
    /// Written in place, as it cannot be renamed over: another user's file in a sticky
    /// directory (`/tmp`) that this user may write but not replace.
    InPlace(PathBuf),
    /// Appended to: a device, a pipe or a descriptor (`/dev/stdout`, `/dev/null`), which may
    /// stand for a file that holds this run's output already (`rtask --report /dev/stdout >
    /// all.log`): the report goes after it, as the run's own lines do.
    Append(PathBuf),
}

/// Why `--report`'s file cannot be written: found before any session runs, so that a run
/// never ends, however well, without the report it was asked for.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unwritable {
    #[error("its directory `{}` does not exist", .0.display())]
    NoDirectory(PathBuf),
    #[error("`{}` is a file, not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("it is a directory")]
    IsADirectory,
    #[error("it is read-only")]
    ReadOnly,
    #[error("cannot reach `{}`: {source}", path.display())]
    Unreachable { path: PathBuf, source: io::Error },
    #[error("cannot write in its directory `{}`: {source}", directory.display())]
    DirectoryNotWritable {
        directory: PathBuf,
        source: io::Error,
    },
    #[error("its symbolic links go round in a loop")]
    LinkLoop,
    #[error("it is in `{}`, which rtask keeps to itself", .0.display())]
    Protected(PathBuf),
    #[error("it ends with `/`, which names a directory")]
    TrailingSlash,
    #[error("its name is longer than the {NAME_MAX} bytes a file name may have")]
    NameTooLong,
    /// The path is a symbolic link, and what it points to cannot be written.
    #[error("it links to `{}`, and {problem}", target.display())]
    Link {
        target: PathBuf,
        problem: Box<Unwritable>,
    },
}

impl Unwritable {
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            Unwritable::Link { problem, .. } => problem.hint(),
            Unwritable::ReadOnly => {
                "make it writable (`chmod u+w`), or give `--report` another file"
            }
            Unwritable::LinkLoop => "give `--report` a file, or a link that ends at one",
            Unwritable::Protected(_) => {
                "give `--report` a file outside `.rtask/`, the cache and the environments"
            }
            Unwritable::TrailingSlash | Unwritable::NameTooLong => {
                "give `--report` the path of a file, such as `report.json`"
            }
            Unwritable::NoDirectory(_)
            | Unwritable::NotADirectory(_)
            | Unwritable::IsADirectory
            | Unwritable::Unreachable { .. }
            | Unwritable::DirectoryNotWritable { .. } => {
                "give `--report` a file in a directory that exists and that you can write"
            }
        }
    }
}

/// As many links as Linux follows in one path before it gives up (`ELOOP`).
const MAX_LINKS: usize = 40;

/// The longest file name Linux's file systems and macOS's take (`NAME_MAX`), in bytes.
const NAME_MAX: usize = 255;

/// What the system refuses in a path that names a file to create, which `Path` hides: a
/// trailing `/` (`Path` drops it) and a name too long.
fn names_a_file(path: &Path) -> Result<(), Unwritable> {
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return Err(Unwritable::TrailingSlash);
    }
    match path.file_name() {
        Some(name) if name.len() > NAME_MAX => Err(Unwritable::NameTooLong),
        _ => Ok(()),
    }
}

/// Whether `path` names a device, a pipe or a descriptor through the system's own trees
/// (`/dev/stdout`, `/proc/self/fd/1`): whatever it ends at, even a regular file stdout was
/// redirected to, is written in place, as a shell's `>` would.
fn system_path(path: &Path) -> bool {
    path.starts_with("/dev") || path.starts_with("/proc")
}

/// Check that `path` (absolute) can be written as the report, and decide how: its directory
/// exists, a file can be made in it, and the path is neither a directory nor a read-only file.
/// Nothing is left behind, and an existing report is neither truncated nor touched.
pub(crate) fn check_writable(
    path: &Path,
    protected: &[PathBuf],
) -> Result<Destination, Unwritable> {
    // Followed by the system, as opening does: `/dev/stdout` may end at a pipe, which no
    // path names.
    if let Ok(metadata) = fs::metadata(path)
        && !metadata.is_dir()
        && (!metadata.is_file() || system_path(path))
    {
        return writable(path).map(|()| Destination::Append(path.to_path_buf()));
    }
    names_a_file(path)?;
    let target = follow_links(path)?;
    if target == path {
        check_file(target, protected)
    } else {
        check_file(target.clone(), protected).map_err(|problem| Unwritable::Link {
            target,
            problem: Box::new(problem),
        })
    }
}

/// Where `path`'s chain of symbolic links ends: a path that is no link, and may not exist.
fn follow_links(path: &Path) -> Result<PathBuf, Unwritable> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let is_link =
            fs::symlink_metadata(&current).is_ok_and(|metadata| metadata.file_type().is_symlink());
        if !is_link {
            return Ok(current);
        }
        let target = fs::read_link(&current).map_err(|source| Unwritable::Unreachable {
            path: current.clone(),
            source,
        })?;
        names_a_file(&target).map_err(|problem| Unwritable::Link {
            target: target.clone(),
            problem: Box::new(problem),
        })?;
        // A relative target is read from the link's directory; an absolute one replaces it.
        current = match current.parent() {
            Some(directory) => directory.join(target),
            None => target,
        };
    }
    Err(Unwritable::LinkLoop)
}

/// Check `target`, a path that is no symbolic link: a regular file to replace, or one to make.
fn check_file(target: PathBuf, protected: &[PathBuf]) -> Result<Destination, Unwritable> {
    let existing = fs::metadata(&target).ok();
    if let Some(existing) = &existing {
        if existing.is_dir() {
            return Err(Unwritable::IsADirectory);
        }
        writable(&target)?;
    }
    let directory = existing_directory(&target)?;
    // rtask's own places (its state, the cache, the environments): a report there would
    // replace its run lock or lie among its entries.
    let resolved = fs::canonicalize(directory).unwrap_or_else(|_| directory.to_path_buf());
    if let Some(dir) = protected.iter().find(|dir| resolved.starts_with(dir)) {
        return Err(Unwritable::Protected(dir.clone()));
    }
    let not_writable = |source| Unwritable::DirectoryNotWritable {
        directory: directory.to_path_buf(),
        source,
    };
    // A real file made there, unnamed where the system can (`O_TMPFILE`), else made and removed:
    // permissions, read-only mounts and ACLs all answer. Its owner is this user.
    let me = tempfile::tempfile_in(directory)
        .and_then(|probe| probe.metadata())
        .map_err(not_writable)?
        .uid();
    let directory = fs::metadata(directory).map_err(not_writable)?;
    Ok(match existing {
        Some(existing)
            if sticky_refuses_replacing(
                Owners {
                    directory: directory.uid(),
                    file: existing.uid(),
                    me,
                },
                directory.mode(),
            ) =>
        {
            Destination::InPlace(target)
        }
        _ => Destination::File(target),
    })
}

/// Who owns what, for the sticky bit's rule.
#[derive(Debug, Clone, Copy)]
struct Owners {
    directory: u32,
    file: u32,
    me: u32,
}

/// Whether renaming over a file would be refused: in a directory with the sticky bit (`/tmp`),
/// only the file's owner, the directory's owner or root may replace or remove a file.
fn sticky_refuses_replacing(owners: Owners, directory_mode: u32) -> bool {
    const STICKY: u32 = 0o1000;
    directory_mode & STICKY != 0
        && owners.me != 0
        && owners.me != owners.file
        && owners.me != owners.directory
}

/// Whether this user may write the existing file at `path`, asked of the system (`access`).
fn writable(path: &Path) -> Result<(), Unwritable> {
    nix::unistd::access(path, AccessFlags::W_OK).map_err(|_| Unwritable::ReadOnly)
}

/// `target`'s directory, when it exists; else the first of its ancestors that is not missing
/// says why not.
fn existing_directory(target: &Path) -> Result<&Path, Unwritable> {
    let directory = target.parent().unwrap_or(target);
    for ancestor in directory.ancestors() {
        match fs::metadata(ancestor) {
            Ok(metadata) if metadata.is_dir() && ancestor == directory => return Ok(directory),
            Ok(metadata) if metadata.is_dir() => break,
            Ok(_) => return Err(Unwritable::NotADirectory(ancestor.to_path_buf())),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) => {}
            Err(source) => {
                return Err(Unwritable::Unreachable {
                    path: ancestor.to_path_buf(),
                    source,
                });
            }
        }
    }
    Err(Unwritable::NoDirectory(directory.to_path_buf()))
}

/// Write `text` where [`check_writable`] decided: a file whole or not at all.
pub(crate) fn write(destination: &Destination, text: &str) -> io::Result<()> {
    match destination {
        Destination::InPlace(path) => fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)?
            .write_all(text.as_bytes()),
        Destination::Append(path) => fs::OpenOptions::new()
            .append(true)
            .open(path)?
            .write_all(text.as_bytes()),
        Destination::File(path) => {
            let directory = path.parent().unwrap_or(path);
            // Made as `std::fs::write` would make it (0666 less the umask), or with the mode of
            // the report it replaces.
            let mut temp = tempfile::Builder::new()
                .prefix(".rtask-report-")
                .suffix(".tmp")
                .permissions(fs::Permissions::from_mode(0o666))
                .tempfile_in(directory)?;
            if let Ok(metadata) = fs::metadata(path) {
                temp.as_file().set_permissions(metadata.permissions())?;
            }
            temp.write_all(text.as_bytes())?;
            temp.as_file().sync_all()?;
            temp.persist(path).map(drop).map_err(|error| error.error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Owners, sticky_refuses_replacing};

    const STICKY_TMP: u32 = 0o41777;
    const PLAIN: u32 = 0o40777;

    #[test]
    fn only_a_sticky_directory_keeps_others_files_from_being_replaced() {
        let others = Owners {
            directory: 0,
            file: 0,
            me: 1000,
        };
        assert!(sticky_refuses_replacing(others, STICKY_TMP));
        assert!(!sticky_refuses_replacing(others, PLAIN));
    }

    #[test]
    fn the_files_owner_the_directorys_owner_and_root_may_replace_it() {
        let mine = Owners {
            directory: 0,
            file: 1000,
            me: 1000,
        };
        let my_directory = Owners {
            directory: 1000,
            file: 0,
            me: 1000,
        };
        let root = Owners {
            directory: 1000,
            file: 1001,
            me: 0,
        };
        for owners in [mine, my_directory, root] {
            assert!(!sticky_refuses_replacing(owners, STICKY_TMP), "{owners:?}");
        }
    }
}

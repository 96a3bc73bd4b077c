//! The errors rtask reports to the user, each with its exit code and a hint.

use std::path::PathBuf;

use thiserror::Error;

use crate::cache::limits::{BadLimit, LimitKind};
use crate::cache::store::{BlobFlaw, Stored};
use crate::exit::Exit;
use crate::taskfile::{CacheDirClash, EnvDirClash, TASK_FILE, TaskFileError};

#[derive(Debug, Error)]
pub enum Error {
    #[error("{}", not_found_message(searched, *explicit))]
    TaskFileNotFound { searched: PathBuf, explicit: bool },

    #[error("cannot read `{}`: {source}", path.display())]
    ReadTaskFile {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Rendered with its own snippets; see [`TaskFileError::render`].
    #[error("invalid task file")]
    TaskFile(Box<TaskFileError>),

    /// `RTASK_CACHE_DIR` names a directory the cache cannot use; it has no place in the file.
    #[error("{}", clash.message("RTASK_CACHE_DIR", &path.display().to_string()))]
    CacheDirOverride { path: PathBuf, clash: CacheDirClash },

    /// `--envdir` names a directory the environments cannot use.
    #[error("`--envdir` `{}` {clash}", path.display())]
    EnvDirOverride { path: PathBuf, clash: EnvDirClash },

    /// `RTASK_CACHE_MAX_SIZE` is not a size; it has no place in the file.
    #[error("`RTASK_CACHE_MAX_SIZE` is not a size: {problem}")]
    CacheMaxSizeOverride { value: String, problem: BadLimit },

    /// `rtask cache prune --max-size`/`--older-than` with a value that cannot be read.
    #[error("`{flag} {value}` is not a {}: {problem}", match kind { LimitKind::Size => "size", LimitKind::Age => "duration" })]
    BadLimit {
        flag: &'static str,
        value: String,
        kind: LimitKind,
        problem: BadLimit,
    },

    /// `rtask cache prune` with no flag, and no `cache_max_size` to fall back on.
    #[error("`rtask cache prune` needs a limit to prune to")]
    NoPruneLimit,

    #[error("cannot read the cache `{}`: {source}", path.display())]
    CacheCount {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("unknown session `{name}`")]
    UnknownSession {
        name: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },

    #[error("no session has the tag `{tag}`")]
    UnknownTag { tag: String, known: Vec<String> },

    #[error("cannot read the keyword expression `{expression}`: {message}")]
    Keywords { expression: String, message: String },

    #[error("no session matches the `-k`/`-p` filters")]
    NothingSelected,

    #[error("cannot write the report `{}`: {source}", path.display())]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },

    /// `--report`'s file could not be written, found before any session ran.
    #[error("`--report {}`: {problem}", path.display())]
    ReportPath {
        path: PathBuf,
        problem: crate::report::Unwritable,
    },

    #[error("cannot determine the current directory: {0}")]
    CurrentDir(std::io::Error),

    #[error("cannot write to standard output: {0}")]
    Output(std::io::Error),

    #[error("cannot listen for interrupts: {0}")]
    Signals(std::io::Error),

    #[error("cannot take the run lock `{}`: {source}", path.display())]
    RunLock {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A remote cache setting from the command line or the environment.
    #[error(transparent)]
    Remote(crate::remote::config::BadSetting),

    /// `rtask init` could not write its file.
    #[error(transparent)]
    Init(crate::init::InitError),
    /// `rtask cache export`: sessions of the closure whose results are not stored at their
    /// current keys, each with why (worded by the ui).
    #[error("{}", not_exported_message(missing))]
    NotExported { missing: Vec<(String, String)> },

    /// `--restore-only` sessions that no entry could ever restore: none is stored for them
    /// (or they are not cacheable), and no remote cache is set. Said before anything runs.
    #[error("{}", never_cached_message(sessions))]
    NeverCached {
        sessions: Vec<(String, Uncacheable)>,
    },

    #[error("cannot write the bundle `{}`: {source}", path.display())]
    BundleWrite {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read the bundle `{}`: {source}", path.display())]
    BundleRead {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("`{}` is not an rtask bundle, or it is damaged: {why}", path.display())]
    NotABundle { path: PathBuf, why: String },

    #[error("the bundle `{}` has format {found}, this rtask reads format {}", path.display(), crate::cache::bundle::BUNDLE_FORMAT)]
    BundleFormat {
        path: PathBuf,
        found: u32,
        made_by: String,
    },

    #[error("cannot read the cache entry of `{session}`: {source}")]
    CacheRead {
        session: String,
        source: std::io::Error,
    },

    #[error("cannot write to the cache: {0}")]
    CacheWrite(std::io::Error),

    #[error("the stored {what} of `{session}` {flaw}")]
    StoredBlobDamaged {
        session: String,
        what: Stored,
        flaw: BlobFlaw,
    },
}

/// Why no entry could ever restore a `--restore-only` session in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncacheable {
    /// It has no `inputs`, or says `cache = false`.
    NotCacheable,
    /// The cache holds no entry of it, and no remote cache is set.
    NeverStored,
}

fn never_cached_message(sessions: &[(String, Uncacheable)]) -> String {
    let mut text = "`--restore-only` cannot restore what it names, so nothing was run:".to_string();
    for (session, why) in sessions {
        text.push_str(&match why {
            Uncacheable::NotCacheable => {
                format!("\n  `{session}` is not cacheable (no `inputs`, or `cache = false`)")
            }
            Uncacheable::NeverStored => format!(
                "\n  `{session}` has no entry in the cache at all, and no remote cache is set"
            ),
        });
    }
    text
}

fn not_exported_message(missing: &[(String, String)]) -> String {
    let mut text = match missing.len() {
        1 => {
            "1 session has no cache entry at its current key, so nothing was exported:".to_string()
        }
        count => format!(
            "{count} sessions have no cache entry at their current keys, so nothing was exported:"
        ),
    };
    for (session, why) in missing {
        text.push_str(&format!("\n  `{session}`: {why}"));
    }
    text
}

fn not_found_message(searched: &std::path::Path, explicit: bool) -> String {
    if explicit {
        format!("task file `{}` does not exist", searched.display())
    } else {
        format!(
            "no `{TASK_FILE}` in `{}` or any directory above it",
            searched.display()
        )
    }
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::TaskFileNotFound { .. }
            | Error::ReadTaskFile { .. }
            | Error::TaskFile(_)
            | Error::CacheDirOverride { .. }
            | Error::CacheMaxSizeOverride { .. } => Exit::InvalidTaskFile,
            Error::EnvDirOverride { .. } | Error::ReportPath { .. } | Error::Report { .. } => {
                Exit::Usage
            }
            Error::UnknownSession { .. }
            | Error::UnknownTag { .. }
            | Error::Keywords { .. }
            | Error::NothingSelected
            | Error::Remote(_)
            | Error::BadLimit { .. }
            | Error::NoPruneLimit => Exit::Usage,
            Error::CurrentDir(_) | Error::Output(_) | Error::Signals(_) | Error::RunLock { .. } => {
                Exit::SessionFailed
            }
            Error::NotExported { .. } | Error::NeverCached { .. } => Exit::NotCached,
            Error::Init(init) => init.exit(),
            Error::BundleWrite { .. }
            | Error::BundleRead { .. }
            | Error::NotABundle { .. }
            | Error::BundleFormat { .. }
            | Error::CacheRead { .. }
            | Error::CacheWrite(_)
            | Error::CacheCount { .. }
            | Error::StoredBlobDamaged { .. } => Exit::SessionFailed,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::TaskFileNotFound {
                explicit: false, ..
            } => Some(format!(
                "create `{TASK_FILE}` at the project root (see docs/tasks-toml.md), or pass `-f PATH`"
            )),
            Error::UnknownSession {
                suggestion: Some(near),
                ..
            } => Some(format!("did you mean `{near}`?")),
            Error::UnknownSession { known, .. } | Error::UnknownTag { known, .. } => {
                Some(if known.is_empty() {
                    "the task file defines none".to_string()
                } else {
                    format!(
                        "known: {}",
                        known
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            }
            Error::Keywords { .. } => Some(
                "words match parts of session names; join them with `and`, `or`, `not` and parentheses".to_string(),
            ),
            Error::CacheDirOverride { clash, .. } => Some(clash.hint().to_string()),
            Error::EnvDirOverride { clash, .. } => Some(clash.hint().to_string()),
            Error::CacheMaxSizeOverride { .. } => Some(LimitKind::Size.hint().to_string()),
            Error::BadLimit { kind, .. } => Some(kind.hint().to_string()),
            Error::NoPruneLimit => Some(
                "give `--max-size SIZE` (`5GiB`) or `--older-than DURATION` (`30d`), or set `cache_max_size` in the `[settings]` of `tasks.toml`".to_string(),
            ),
            Error::Remote(bad) => Some(bad.hint().to_string()),
            Error::Init(init) => init.hint(),
            Error::ReportPath { problem, .. } => Some(problem.hint().to_string()),
            Error::Report { .. } => Some(
                "the run is over, but its report is lost: give `--report` a file that can take it, and run again".to_string(),
            ),
            Error::NothingSelected => Some("`rtask -l` lists the sessions and their Python versions".to_string()),
            Error::NeverCached { .. } => Some(
                "a `--restore-only` session must be cacheable, and its entry stored where this job reads (a remote cache, or `rtask cache import`); or run it without `--restore-only`".to_string(),
            ),
            Error::NotExported { .. } => Some(
                "run those sessions first, or pass `--allow-missing` to export the entries that are stored".to_string(),
            ),
            Error::NotABundle { .. } => Some(
                "a bundle is the file `rtask cache export -o FILE` writes; export it again if it was cut short".to_string(),
            ),
            Error::BundleFormat { made_by, .. } => Some(format!(
                "it was made by rtask {made_by}: import it with that version, or export it again with this one"
            )),
            Error::StoredBlobDamaged { session, .. } => Some(format!(
                "`rtask {session} --force` runs it again and stores its result afresh"
            )),
            _ => None,
        }
    }
}

/// Write `bytes` to stdout, all of them: a failure (a closed pipe, a full disk) is
/// [`Error::Output`], never a panic.
pub(crate) fn print_stdout(bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

//! Why a session failed: one typed error for everything that can fail a session, from a
//! planning step, its environment, its commands or its outputs.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::cache::outputs::OutputError;
use crate::cache::restore::RestoreError;
use crate::exec::process::{Exit, SpawnError};
use crate::fingerprint::InputError;
use crate::plan::reason::RunReason;
use crate::python::uv::UvFailure;
use crate::relpath::RelPath;

#[derive(Debug, Error)]
pub(crate) enum SessionError {
    #[error("command {number} of `{session}` is empty once `{{posargs}}` is expanded")]
    EmptyCommand { session: String, number: usize },

    #[error("Python interpreter {version} not found")]
    MissingInterpreter { version: String },

    #[error("`venv_backend = \"uv\"` but `uv` is not on PATH (install it, or use \"venv\")")]
    UvMissing,

    /// `venv_backend = "uv"`, and the `uv` on `PATH` does not run.
    #[error("`venv_backend = \"uv\"` but `{}` does not run: {failure}", path.display())]
    UvBroken { path: PathBuf, failure: UvFailure },

    /// A local project its environment installs cannot be read (the words say which).
    #[error("{0}")]
    LocalProject(String),

    #[error("cannot prepare `{}`: {source}", dir.display())]
    PrepareEnvironment { dir: PathBuf, source: io::Error },

    /// Where the environment goes, a directory that holds something else: never deleted.
    #[error("`{}` exists and is not a virtual environment: rtask does not delete it", dir.display())]
    NotAnEnvironment { dir: PathBuf },

    #[error("creating its environment failed: `{program}` {end}")]
    CreateEnvironment { program: String, end: Ended },

    #[error("cannot record `{}`: {source}", dir.display())]
    RecordEnvironment { dir: PathBuf, source: io::Error },

    #[error(transparent)]
    Inputs(#[from] InputError),

    #[error("`cwd` `{cwd}` is not a directory")]
    CwdNotADirectory { cwd: RelPath },

    #[error("`{program}` {}", Ended::Exit(*exit))]
    Command { program: String, exit: Exit },

    #[error(transparent)]
    Spawn(#[from] SpawnError),

    /// `--error-on-external-run`: a command's program was found outside the session's virtual
    /// environment, and the command is not marked `external = true`; it did not start.
    #[error(
        "`{program}` is not installed into the virtual environment, it is located at `{}`: external program disallowed",
        found.display()
    )]
    ExternalProgram { program: String, found: PathBuf },

    #[error(transparent)]
    Outputs(#[from] OutputError),

    /// Restoring its own entry failed for a reason of this machine (a full disk, permissions):
    /// the entry may be good, so it is neither used nor replaced.
    #[error("cannot restore its cached result: {0}")]
    Restore(RestoreError),

    #[error("cannot restore the outputs of `{session}`: {source}")]
    RestoreRequired {
        session: String,
        source: RestoreError,
    },

    /// `--restore-only`: it had to be restored, and the cache has no entry it can use; why
    /// (the reasons it would have run for).
    #[error("not in the cache, and `--restore-only` forbids running it")]
    NotCached { reasons: Vec<RunReason> },

    #[error("its environment is still not ready after being made (a bug: please report it)")]
    EnvironmentNotMade,

    #[error("rtask itself failed while running it (a bug: please report it)")]
    Panicked,
}

/// How a command that did not succeed ended.
#[derive(Debug)]
pub(crate) enum Ended {
    Exit(Exit),
    NotStarted(SpawnError),
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Exit(Exit::Code(code)) => write!(f, "exited with code {code}"),
            Ended::Exit(Exit::Signal(signal)) => write!(f, "was killed by signal {signal}"),
            Ended::NotStarted(error) => write!(f, "could not start: {error}"),
        }
    }
}

impl fmt::Display for UvFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UvFailure::NotStarted(error) => write!(f, "it could not start: {error}"),
            UvFailure::TimedOut(after) => write!(
                f,
                "`uv --version` did not answer within {}",
                crate::ui::style::duration(*after)
            ),
            UvFailure::Exited { code, stderr } => {
                match code {
                    Some(code) => write!(f, "`uv --version` exited with code {code}")?,
                    None => write!(f, "`uv --version` was killed by a signal")?,
                }
                match stderr {
                    Some(line) => write!(f, " ({line})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl SessionError {
    /// A stable identifier for JSON output.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SessionError::EmptyCommand { .. } => "empty_command",
            SessionError::MissingInterpreter { .. } => "missing_interpreter",
            SessionError::UvMissing => "uv_missing",
            SessionError::UvBroken { .. } => "uv_broken",
            SessionError::LocalProject(_) => "local_project_unreadable",
            SessionError::PrepareEnvironment { .. }
            | SessionError::NotAnEnvironment { .. }
            | SessionError::CreateEnvironment { .. }
            | SessionError::RecordEnvironment { .. }
            | SessionError::EnvironmentNotMade => "environment_failed",
            SessionError::Inputs(_) => "inputs_unreadable",
            SessionError::CwdNotADirectory { .. } => "cwd_not_a_directory",
            SessionError::Command { .. } | SessionError::Spawn(_) => "command_failed",
            SessionError::ExternalProgram { .. } => "external_program",
            SessionError::Outputs(_) => "outputs_invalid",
            SessionError::Restore(_) | SessionError::RestoreRequired { .. } => "restore_failed",
            SessionError::NotCached { .. } => "not_cached",
            SessionError::Panicked => "internal_error",
        }
    }

    /// What to do about it, when there is something to say.
    pub(crate) fn hint(&self) -> Option<&'static str> {
        match self {
            SessionError::Restore(RestoreError::Io { source, .. })
                if source.raw_os_error() == Some(nix::libc::ENOSPC) =>
            {
                Some("free some disk space and run again; the cached result is kept")
            }
            SessionError::Restore(_) | SessionError::RestoreRequired { .. } => Some(
                "fix what keeps rtask from writing there and run again; `--no-cache` runs without the cache",
            ),
            SessionError::NotCached { .. } => Some(
                "restore it where its result was stored (the same inputs, and its job's cache: a remote cache or `rtask cache import`), or run it without `--restore-only`",
            ),
            SessionError::MissingInterpreter { .. } => {
                Some("install it, or select other versions with `-p`")
            }
            SessionError::UvBroken { .. } => Some(
                "repair or reinstall that `uv`, put a working one first on PATH, or set `venv_backend = \"venv\"`",
            ),
            SessionError::NotAnEnvironment { .. } => Some(
                "move it away, or set `envdir` (or `--envdir`) to a directory that holds environments only",
            ),
            SessionError::ExternalProgram { .. } => Some(
                "mark the command `external = true` in `run` to allow it, or install the program into the environment",
            ),
            _ => None,
        }
    }
}

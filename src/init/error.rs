//! What can go wrong in `rtask init`, each with its exit code and a hint.

use std::path::PathBuf;

use thiserror::Error;

use crate::exit::Exit;

#[derive(Debug, Error)]
pub(crate) enum InitError {
    #[error("`{}` already exists", path.display())]
    Exists { path: PathBuf },

    #[error("no noxfile at `{}`", path.display())]
    NoNoxfile { path: PathBuf },

    #[error("no Python interpreter to read the noxfile with: `python3` is not on `PATH`")]
    NoPython,

    #[error("cannot run `{}`: {source}", python.display())]
    PythonFailed {
        python: PathBuf,
        source: std::io::Error,
    },

    #[error("`{}` failed to import:\n{traceback}", noxfile.display())]
    NoxfileFailed { noxfile: PathBuf, traceback: String },

    #[error(
        "`{}` exited (status {status}) while it was imported (`sys.exit` at noxfile.py:{line}){}",
        noxfile.display(),
        message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
    )]
    NoxfileExited {
        noxfile: PathBuf,
        status: i64,
        line: u32,
        message: Option<String>,
    },

    #[error("`{}` declares no session", noxfile.display())]
    NoSessions { noxfile: PathBuf },

    #[error("cannot read what the noxfile recorded: {0}")]
    Recording(String),

    #[error("cannot prepare the stand-in nox: {0}")]
    Scratch(std::io::Error),

    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl InitError {
    pub(crate) fn exit(&self) -> Exit {
        match self {
            InitError::Exists { .. } => Exit::Usage,
            InitError::NoNoxfile { .. }
            | InitError::NoxfileFailed { .. }
            | InitError::NoxfileExited { .. }
            | InitError::NoSessions { .. } => Exit::InvalidTaskFile,
            InitError::NoPython
            | InitError::PythonFailed { .. }
            | InitError::Recording(_)
            | InitError::Scratch(_)
            | InitError::Write { .. } => Exit::SessionFailed,
        }
    }

    pub(crate) fn hint(&self) -> Option<String> {
        Some(match self {
            InitError::Exists { .. } => {
                "`rtask init --force` replaces it; move it away to keep it".to_string()
            }
            InitError::NoNoxfile { .. } => {
                "give the noxfile's path: `rtask init --from-nox path/to/noxfile.py`".to_string()
            }
            InitError::NoPython | InitError::PythonFailed { .. } => {
                "install Python 3.11 or later, or put its `python3` on `PATH`; nox itself is not needed"
                    .to_string()
            }
            InitError::NoxfileFailed { .. } => "the noxfile runs under a stand-in `nox` without the project's \
                 packages: make what it imports importable (or guard it), then run `rtask init --from-nox` again"
                .to_string(),
            InitError::NoxfileExited { .. } => "the noxfile is imported without nox's command line: \
                 guard the `sys.exit` (or what calls it) with `if __name__ == \"__main__\":`, then run \
                 `rtask init --from-nox` again"
                .to_string(),
            InitError::NoSessions { .. } => {
                "decorate session functions with `@nox.session`".to_string()
            }
            InitError::Recording(_) | InitError::Scratch(_) | InitError::Write { .. } => {
                return None;
            }
        })
    }
}

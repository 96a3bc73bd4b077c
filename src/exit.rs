//! Exit codes, decided in one place.

use std::process::ExitCode;

/// How a run of rtask ended, as the shell sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every selected session ran or was restored from the cache.
    Success,
    /// At least one session failed (or was aborted because a session it requires failed).
    SessionFailed,
    /// `tasks.toml` could not be found, read, parsed or validated.
    InvalidTaskFile,
    /// The command line is wrong: an unknown option, or a session or tag that does not exist.
    Usage,
    /// A session that had to come from the cache has no usable entry: `--restore-only`, or
    /// `rtask cache export` of a session whose result is not stored at its current key.
    NotCached,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::SessionFailed => 1,
            Exit::InvalidTaskFile => 2,
            Exit::Usage => 3,
            Exit::NotCached => 4,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

//! How the executor tells the outside world what happens. The core never prints: the command
//! line implements this trait for terminals, plain logs and CI services.

use std::time::Duration;

use crate::cache::manifest::Manifest;
use crate::cache::restore::Restored;

/// Why a session's commands run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunReason {
    /// The session has no `inputs` (or says `cache = false`).
    NotCacheable,
    /// `--no-cache`.
    CacheDisabled,
    /// `--force`.
    Forced,
    /// No entry for this key; the differences from the session's newest entry, if any.
    Miss(Vec<String>),
    /// An entry exists but cannot be used.
    Unusable(String),
    /// Its virtual environment could not be made (the output shown is that of its making).
    Environment,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ran {
        duration: Duration,
    },
    /// Restored from the cache; `saved` is how long the run that made the entry took.
    Cached {
        saved: Duration,
    },
    Failed {
        duration: Duration,
        reason: String,
    },
    /// Not started: a session it requires failed, or the run stopped.
    Aborted {
        reason: String,
    },
    Interrupted {
        duration: Duration,
    },
    /// Not run, and not a failure: its Python interpreter is missing, or a session it requires
    /// was skipped.
    Skipped {
        reason: String,
    },
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Ran { .. } | Outcome::Cached { .. })
    }

    /// Whether it makes the run fail: skipped sessions do not.
    pub fn is_failure(&self) -> bool {
        !self.succeeded() && !matches!(self, Outcome::Skipped { .. })
    }
}

pub trait Reporter: Sync {
    /// A session's commands are about to run.
    fn started(&self, session: &str, reason: &RunReason);
    /// Output of a running session (its command echoes included), as it arrives.
    fn output(&self, session: &str, bytes: &[u8]);
    /// A session was restored from the cache; `log` is its captured output.
    fn restored(&self, session: &str, manifest: &Manifest, log: &[u8], restored: &Restored);
    /// A session that started has ended (ran, failed or was interrupted), or a session failed
    /// before its commands could start.
    fn finished(&self, session: &str, outcome: &Outcome);
    /// A session's virtual environment was made.
    fn environment(&self, session: &str, message: &str);
    /// Something went wrong that does not stop the run.
    fn warning(&self, message: &str);
}

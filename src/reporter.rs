//! How the executor tells the outside world what happens, as typed events. The core never
//! prints nor words anything: the command line implements this trait for terminals, plain
//! logs and CI services.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::blob::BlobReader;
use crate::cache::manifest::Manifest;
use crate::cache::restore::Restored;
use crate::cache::signing::SignatureProblem;
use crate::failure::SessionError;
use crate::fingerprint::InputError;
use crate::lock::Holder;
use crate::plan::reason::{AbortReason, Recreate, RunReason, SkipReason};
use crate::project::Backend;
use crate::python::uv::BrokenUv;
use crate::remote::config::RemoteUrl;
use crate::remote::transfer::Failure;
use crate::spool::Spool;

/// How a session ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Ran {
        took: Took,
    },
    /// `--install-only`: its environment (when it has one) was made or found up to date, and
    /// nothing else was done.
    Installed {
        duration: Duration,
    },
    /// Restored from the cache; `saved` is how long the commands of the run that made the
    /// entry took, less what restoring and replaying it took (never a saving that did not
    /// happen). `environment` is the time spent making its environment first, to compare it
    /// with the entry's: a hit pays it too, so it is no saving.
    Cached {
        saved: Duration,
        environment: Option<Duration>,
    },
    Failed {
        took: Took,
        error: Arc<SessionError>,
    },
    /// Not started: a session it requires failed, or the run stopped.
    Aborted {
        reason: AbortReason,
    },
    Interrupted {
        took: Took,
    },
    /// Not run, and not a failure: its Python interpreter is missing, or a session it requires
    /// was skipped.
    Skipped {
        reason: SkipReason,
    },
}

/// How long a session took, the making of its environment told apart from the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Took {
    /// All of it: hashing its inputs, making its environment, running its commands, storing.
    pub total: Duration,
    /// Making or updating its virtual environment, when that was done.
    pub environment: Option<Duration>,
    /// Its commands, when they started.
    pub commands: Option<Duration>,
}

impl Took {
    /// All but the making of its environment: what the session itself took.
    pub(crate) fn own(&self) -> Duration {
        self.total
            .saturating_sub(self.environment.unwrap_or_default())
    }
}

impl Outcome {
    pub(crate) fn succeeded(&self) -> bool {
        matches!(
            self,
            Outcome::Ran { .. } | Outcome::Cached { .. } | Outcome::Installed { .. }
        )
    }

    /// Whether it makes the run fail: skipped sessions do not.
    pub(crate) fn is_failure(&self) -> bool {
        !self.succeeded() && !matches!(self, Outcome::Skipped { .. })
    }

    pub(crate) fn failed(took: Took, error: SessionError) -> Outcome {
        Outcome::Failed {
            took,
            error: Arc::new(error),
        }
    }
}

/// A virtual environment that was made.
#[derive(Debug, Clone)]
pub(crate) struct EnvironmentMade {
    /// Where it lives (relative to the project root when inside it).
    pub dir: PathBuf,
    pub backend: Backend,
    pub python_version: String,
    pub took: Duration,
    /// The `install` entries a marker left out, as written.
    pub left_out: Vec<String>,
    /// Why it was made again, when it existed.
    pub recreated: Option<Recreate>,
}

/// Something that went wrong without stopping the run.
#[derive(Debug)]
pub(crate) enum Warning<'a> {
    /// A session succeeded but its result is not stored.
    NotStored { session: &'a str, why: NotStored },
    /// Files a session's output globs match were there before it ran and it left them
    /// untouched: they are not stored as its outputs.
    Untouched {
        session: &'a str,
        paths: &'a [crate::relpath::RelPath],
    },
    /// A command of a session with a virtual environment runs a program found outside it,
    /// and is not marked `external = true`.
    ExternalProgram {
        session: &'a str,
        program: &'a str,
        found: &'a std::path::Path,
    },
    /// The cache outgrew `cache_max_size` and could not be pruned.
    NotPruned(std::io::Error),
}

/// Why a successful run's result is not stored.
#[derive(Debug)]
pub(crate) enum NotStored {
    /// Its inputs differ from those it was keyed on.
    InputsChanged,
    /// Its inputs could not be listed again after it ran.
    Inputs(InputError),
    /// A required session's outputs (which it read) changed while it ran.
    RequiredOutputsChanged { name: String },
    /// The outputs of a required session could not be read to tell.
    RequiredOutputsUnreadable(String),
    /// A command installed or removed packages in its environment.
    PackagesChanged,
    /// `--no-install`: it ran in an environment that is not up to date with its declaration.
    EnvironmentOutdated,
    /// What its key read of its environment's declaration (requirement files, the sources of
    /// local projects) changed while its environment was made or it ran.
    DeclaredEnvironmentChanged,
    /// The cache's file system is full: no manifest was written and its temps are removed
    /// (blobs written before the disk filled stay, unreferenced).
    NoSpace,
    /// Writing the entry failed (permissions, a read-only file system).
    Write(std::io::Error),
    /// A restore would refuse the entry in this workspace (an output reached through a
    /// symlink that leads out of the project).
    Unrestorable(crate::cache::restore::RestoreError),
}

impl NotStored {
    /// Why writing the entry failed: a full disk is told apart.
    pub(crate) fn write(error: std::io::Error) -> NotStored {
        // A temporary file's error names its path and keeps only the kind of the OS error.
        if error.kind() == std::io::ErrorKind::StorageFull
            || error.raw_os_error() == Some(nix::libc::ENOSPC)
        {
            NotStored::NoSpace
        } else {
            NotStored::Write(error)
        }
    }
}

pub(crate) trait Reporter: Sync {
    /// Another rtask holds the project's run lock; this one waits for it.
    fn waiting_for_lock(&self, holder: &Holder);
    /// Ctrl-C or SIGTERM ended the wait for the run lock: nothing ran.
    fn interrupted_waiting_for_lock(&self, holder: &Holder);
    /// A session's commands are about to run, for these reasons.
    fn started(&self, session: &str, reasons: &[RunReason]);
    /// Output of a running session (its command echoes included), as it arrives.
    fn output(&self, session: &str, bytes: &[u8]);
    /// A session was restored from the cache; `log` streams its captured output (checked
    /// against its digest already).
    fn restored(&self, session: &str, manifest: &Manifest, log: BlobReader, restored: &Restored);
    /// A session that started has ended (ran, failed or was interrupted), or a session failed
    /// or was skipped before its commands could start.
    fn finished(&self, session: &str, outcome: &Outcome);
    /// A session's virtual environment was made.
    fn environment_made(&self, session: &str, made: &EnvironmentMade);
    /// The `uv` on `PATH` does not run: environments that would be made with it are made with
    /// venv instead (said once in a run).
    fn uv_fallback(&self, broken: &BrokenUv);
    /// Making a session's virtual environment failed; `log` is what its commands printed.
    fn environment_failed(&self, session: &str, log: Spool);
    /// Something went wrong that does not stop the run.
    fn warning(&self, warning: &Warning<'_>);
}

/// What happened with the remote cache.
#[derive(Debug)]
pub(crate) enum RemoteEvent<'a> {
    /// A session's entry was downloaded into the local cache.
    Downloaded { session: &'a str },
    /// A session's entry was uploaded; `bytes` is what the remote lacked.
    Uploaded { session: &'a str, bytes: u64 },
    /// A download (then a miss) or an upload (then skipped) failed.
    Failed {
        op: RemoteOp,
        session: &'a str,
        why: &'a Failure,
    },
    /// The remote is not used for the rest of the run.
    Disabled {
        remote: &'a RemoteUrl,
        why: Disabling,
    },
    /// A downloaded entry's signature was refused: it is neither stored nor restored.
    SignatureRefused {
        session: &'a str,
        problem: SignatureProblem,
    },
    /// `RTASK_CACHE_SIGNING_KEY` is set but empty: nothing is signed or checked.
    SigningKeyEmpty,
    /// The run ended before these uploads were done.
    UploadsAbandoned {
        remote: &'a RemoteUrl,
        pending: usize,
    },
}

/// What a remote request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RemoteOp {
    Download,
    Upload,
}

/// Why the remote was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disabling {
    /// This many requests failed.
    Failures(u32),
    /// A request timed out: the server hangs.
    Timeout,
}

/// Receives remote events, from the planner and from background uploads alike.
pub(crate) trait RemoteReporter: Send + Sync {
    fn remote(&self, event: &RemoteEvent<'_>);
}

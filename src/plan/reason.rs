//! Why a session runs, is skipped or does not start: the typed vocabulary the plan decides in
//! and the UI words (as cargo's `DirtyReason`).

use crate::cache::store::EntryProblem;
use crate::relpath::RelPath;

/// Why a session's commands run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunReason {
    /// The session has no `inputs` (or says `cache = false`).
    NotCacheable,
    /// `--no-cache`.
    CacheDisabled,
    /// `--force`.
    Forced,
    /// `--no-venv`: it runs on the host, without its environment; its result is neither
    /// restored nor stored (the host's packages are not part of any key).
    NoVenv,
    /// The cache holds no entry for this session.
    NoEntry,
    /// No entry for this key: how it differs from the session's newest entry.
    Changed(Change),
    /// No entry for this key, and nothing tells it apart from the newest entry's.
    KeyDiffers,
    /// An entry exists but cannot be used.
    EntryUnusable(EntryProblem),
    /// An entry exists, but this workspace holds what a restore must not write through or
    /// remove; the session runs, and its result is not stored, so the entry is kept.
    RestoreBlocked { path: RelPath, why: String },
    /// Its virtual environment must be (re)made before its key is known (`--dry-run` only:
    /// a run makes it, then decides).
    EnvironmentNotReady,
    /// A session it requires has no key yet, so neither has it (`--dry-run` only).
    RequiredKeyUnknown { name: String, why: KeyUnknown },
    /// A session of the run it starts `after` would run first, and may change what its
    /// `inputs` read, so its key is not known yet (`--dry-run` only: a run keys it when it
    /// starts, after that session finished).
    AfterKeyUnknown { name: String, why: KeyUnknown },
}

/// Why what a required session will leave (which its dependents are keyed on) is not known
/// before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUnknown {
    /// Its virtual environment must be made before it is even decided.
    EnvironmentNotReady,
    /// It would run.
    Runs,
}

/// One difference between a key and the newest entry of the same session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// rtask's key format changed.
    Schema,
    /// `{posargs}` differ (the commands differ only through them).
    Posargs {
        old: Vec<String>,
        new: Vec<String>,
    },
    /// The first command that differs.
    Command {
        old: Vec<String>,
        new: Vec<String>,
    },
    CommandCount {
        old: usize,
        new: usize,
    },
    Shell,
    Cwd {
        old: String,
        new: String,
    },
    /// `[env]` or the session's `env`.
    Env {
        name: String,
        edit: Edit,
    },
    /// A variable of `env_inputs`; `set` says whether it was set before and after.
    EnvInput {
        name: String,
        edit: Edit,
        set: (bool, bool),
    },
    Outputs,
    SuccessCodes,
    InputAdded(RelPath),
    InputRemoved(RelPath),
    InputChanged(RelPath),
    InputMode(RelPath),
    /// The input list of the entry cannot be read: only the counts are known.
    InputFiles {
        old: usize,
        new: usize,
    },
    /// A required session's key or outputs, or the list of required sessions.
    Required {
        name: String,
        edit: Edit,
    },
    /// A leftover among the outputs of required sessions (a file their output declarations
    /// match that none of them produced) appeared, changed or went away.
    Stray {
        path: String,
        edit: Edit,
    },
    /// It now runs in a virtual environment, or no longer does.
    Venv {
        now: bool,
    },
    /// The interpreter asked for (`python`).
    PythonRequest {
        old: String,
        new: String,
    },
    /// The `install` arguments.
    Install,
    /// A file the install arguments read (a requirements file, a dependency group's
    /// `pyproject.toml`, an editable project's metadata) changed, appeared or went away.
    ReferencedFile {
        path: String,
        edit: Edit,
    },
    /// The source of a local project installed without `-e` (or a local dependency its
    /// `pyproject.toml` declares) changed, or it is now (or no longer) installed.
    LocalProject {
        path: String,
        edit: Edit,
    },
    /// The sources of a local dependency the entry's environment held (found there, not
    /// declared) differ in this checkout; `gone`: they are missing.
    LocalDependency {
        path: String,
        gone: bool,
    },
    /// The entry was found, but the local environment differs from the one it was made in.
    Environment(EnvironmentDifference),
    Platform {
        old: String,
        new: String,
    },
}

/// The first difference between a local environment and the one an entry was made in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvironmentDifference {
    /// The interpreter (implementation, version, platform).
    Interpreter { here: String, entry: String },
    /// An installed distribution's version (`None`: not installed).
    Distribution {
        name: String,
        here: Option<String>,
        entry: Option<String>,
    },
    /// An installer's seed (pip, setuptools, wheel) no `install` entry names, in one of the two
    /// environments only (`here`: in this one): venv puts them in, uv does not.
    Seed { name: String, here: bool },
    /// What a distribution copied from a local directory or archive installed.
    LocalInstall { name: String },
    /// The sources of a local dependency found in the environment.
    LocalDependency { path: String },
    /// The entry records no environment.
    Unrecorded,
}

/// Why an environment that exists is made again, from the first difference between its
/// record and its plan, or the reuse flags when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recreate {
    /// rtask has no record of completing it: an install was interrupted, or another tool
    /// made it.
    Unrecorded,
    /// Its record is in the format of another version of rtask.
    Schema,
    /// It was made at another path (`old`): environments hold absolute paths.
    Moved { old: String },
    /// The interpreter it is made from (`cpython 3.11.7 at /usr/bin/python3.11`).
    Interpreter { old: String, new: String },
    /// What makes it (`venv` -> `uv`).
    Backend { old: String, new: String },
    /// `venv_params`.
    Params,
    /// The `install` arguments, as their markers apply to the interpreter.
    Install,
    /// `[env]` or the session's `env`, which the install commands see.
    Env { name: String },
    /// A file the install arguments read.
    File { path: String, edit: Edit },
    /// The sources of a local project installed without `-e`.
    LocalProject { path: String },
    /// The sources of a local dependency found in it.
    LocalDependency { path: String },
    /// Up to date, and remade as `--reuse-venv never` (`--reinstall`) asks.
    Reinstall,
    /// Up to date, and remade as `--reuse-venv no` (`-N`) asks.
    ReuseNo,
    /// Up to date, and remade as the session's `reuse_venv = false` asks.
    SessionReuseFalse,
}

/// How a named item differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    Added,
    Changed,
    Removed,
}

/// Why a session is not run, without that being a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// No interpreter of the version asked for (and not under `CI`).
    MissingInterpreter { version: String },
    /// A session it requires was skipped, for this reason.
    RequiredSkipped { name: String, why: Box<SkipReason> },
}

/// Why a session never started, which fails the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AbortReason {
    RequiredFailed {
        name: String,
    },
    RequiredInterrupted {
        name: String,
    },
    /// A session it requires did not start; `why`, when a missing interpreter is behind it.
    RequiredDidNotRun {
        name: String,
        why: Option<Box<AbortReason>>,
    },
    /// A session it requires failed because its Python interpreter is missing (under `CI` or
    /// `--error-on-missing-interpreters`).
    RequiredMissingInterpreter {
        name: String,
        version: String,
    },
    Interrupted,
    StoppedAfterFirstFailure,
    /// The scheduler stopped before it came to this session.
    DidNotRun,
}

/// How a required session ended, as far as its dependents care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequirementEnd {
    Succeeded,
    Skipped(SkipReason),
    Failed,
    /// Failed for want of its Python interpreter.
    MissingInterpreter {
        version: String,
    },
    Interrupted,
    /// It did not start, for this reason when it is known.
    Aborted(Option<AbortReason>),
}

/// What keeps a session from starting, given how its requirements ended: the first one that
/// did not succeed decides (one that was skipped skips it, any other aborts it). `None` when
/// every requirement succeeded. The scheduler and `--dry-run` both ask this.
pub(crate) enum Blocked {
    Skip(SkipReason),
    Abort(AbortReason),
}

pub(crate) fn blocked<'a>(
    requirements: impl IntoIterator<Item = (&'a str, RequirementEnd)>,
) -> Option<Blocked> {
    let (name, end) = requirements
        .into_iter()
        .find(|(_, end)| *end != RequirementEnd::Succeeded)?;
    let name = name.to_string();
    Some(match end {
        RequirementEnd::Skipped(why) => Blocked::Skip(SkipReason::RequiredSkipped {
            name,
            why: Box::new(why),
        }),
        RequirementEnd::MissingInterpreter { version } => {
            Blocked::Abort(AbortReason::RequiredMissingInterpreter { name, version })
        }
        RequirementEnd::Interrupted => Blocked::Abort(AbortReason::RequiredInterrupted { name }),
        RequirementEnd::Aborted(why) => Blocked::Abort(AbortReason::RequiredDidNotRun {
            name,
            // Said when a missing interpreter is behind it, the fan-in people ask about.
            why: why.filter(AbortReason::missing_interpreter).map(Box::new),
        }),
        RequirementEnd::Failed | RequirementEnd::Succeeded => {
            Blocked::Abort(AbortReason::RequiredFailed { name })
        }
    })
}

impl Recreate {
    /// A stable identifier for JSON output.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Recreate::Unrecorded => "unrecorded",
            Recreate::Schema => "made_by_another_rtask",
            Recreate::Moved { .. } => "moved",
            Recreate::Interpreter { .. } => "interpreter_changed",
            Recreate::Backend { .. } => "backend_changed",
            Recreate::Params => "venv_params_changed",
            Recreate::Install => "install_changed",
            Recreate::Env { .. } => "env_changed",
            Recreate::File { .. } => "file_changed",
            Recreate::LocalProject { .. } => "local_project_changed",
            Recreate::LocalDependency { .. } => "local_dependency_changed",
            Recreate::Reinstall => "reinstall",
            Recreate::ReuseNo => "reuse_venv_no",
            Recreate::SessionReuseFalse => "session_reuse_venv_false",
        }
    }
}

impl RunReason {
    /// A stable identifier for JSON output.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            RunReason::NotCacheable => "not_cacheable",
            RunReason::CacheDisabled => "cache_disabled",
            RunReason::Forced => "forced",
            RunReason::NoVenv => "no_venv",
            RunReason::NoEntry => "no_entry",
            RunReason::Changed(change) => change.kind(),
            RunReason::KeyDiffers => "key_differs",
            RunReason::EntryUnusable(_) => "entry_unusable",
            RunReason::RestoreBlocked { .. } => "restore_blocked",
            RunReason::EnvironmentNotReady => "environment_not_ready",
            RunReason::RequiredKeyUnknown { .. } => "required_key_unknown",
            RunReason::AfterKeyUnknown { .. } => "after_key_unknown",
        }
    }
}

impl Change {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Change::Schema => "schema_changed",
            Change::Posargs { .. } => "posargs_changed",
            Change::Command { .. } | Change::CommandCount { .. } => "command_changed",
            Change::Shell => "shell_changed",
            Change::Cwd { .. } => "cwd_changed",
            Change::Env { .. } => "env_changed",
            Change::EnvInput { .. } => "env_input_changed",
            Change::Outputs => "outputs_changed",
            Change::SuccessCodes => "success_codes_changed",
            Change::InputAdded(_) => "input_added",
            Change::InputRemoved(_) => "input_removed",
            Change::InputChanged(_) => "input_changed",
            Change::InputMode(_) => "input_mode_changed",
            Change::InputFiles { .. } => "inputs_changed",
            Change::Required { .. } => "required_changed",
            Change::Stray { .. } => "stray_changed",
            Change::Venv { .. } | Change::Environment(_) => "environment_changed",
            Change::PythonRequest { .. } => "python_changed",
            Change::Install | Change::ReferencedFile { .. } => "install_changed",
            Change::LocalProject { .. } | Change::LocalDependency { .. } => "local_source_changed",
            Change::Platform { .. } => "platform_changed",
        }
    }
}

impl SkipReason {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SkipReason::MissingInterpreter { .. } => "missing_interpreter",
            SkipReason::RequiredSkipped { .. } => "required_skipped",
        }
    }
}

impl AbortReason {
    /// Whether a required session failed for want of its interpreter, directly or through
    /// sessions that did not start because of it.
    fn missing_interpreter(&self) -> bool {
        match self {
            AbortReason::RequiredMissingInterpreter { .. } => true,
            AbortReason::RequiredDidNotRun { why, .. } => why.is_some(),
            _ => false,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            AbortReason::RequiredFailed { .. } => "required_failed",
            AbortReason::RequiredInterrupted { .. } => "required_interrupted",
            AbortReason::RequiredDidNotRun { .. } => "required_did_not_run",
            AbortReason::RequiredMissingInterpreter { .. } => "required_missing_interpreter",
            AbortReason::Interrupted => "interrupted",
            AbortReason::StoppedAfterFirstFailure => "stopped_after_first_failure",
            AbortReason::DidNotRun => "did_not_run",
        }
    }
}

//! The plan's and the executor's typed reasons, in people's words.

use std::path::Path;
use std::time::SystemTime;

use crate::cache::bundle::export::Exported;
use crate::cache::bundle::import::{EntryName, Fate, Imported, Refusal, Skip};
use crate::cache::prune::{Pruned, Stats};
use crate::command;
use crate::failure::SessionError;
use crate::lock::Holder;
use crate::plan::Decision;
use crate::plan::reason::{
    AbortReason, Change, Edit, EnvironmentDifference, KeyUnknown, Recreate, RunReason, SkipReason,
};
use crate::python::Realised;
use crate::python::uv::BrokenUv;
use crate::relpath::RelPath;
use crate::reporter::{Disabling, NotStored, RemoteEvent, RemoteOp};

/// At most this many reasons are listed; the rest are counted.
pub(crate) const MAX_REASONS: usize = 6;

pub(crate) fn run_reason(reason: &RunReason) -> String {
    match reason {
        RunReason::NotCacheable => "not cacheable: no `inputs`, or `cache = false`".to_string(),
        RunReason::CacheDisabled => "--no-cache".to_string(),
        RunReason::Forced => "--force".to_string(),
        RunReason::NoVenv => {
            "--no-venv: it runs on the host, without its environment".to_string()
        }
        RunReason::NoEntry => "no cache entry for this session yet".to_string(),
        RunReason::Changed(change) => self::change(change),
        RunReason::KeyDiffers => "the key differs from the newest entry's".to_string(),
        RunReason::EntryUnusable(problem) => format!("its cache entry cannot be used: {problem}"),
        RunReason::RestoreBlocked { path, why } => format!(
            "its cache entry cannot be restored here (`{path}`: {why}); its result will not be stored, so the entry is kept"
        ),
        RunReason::EnvironmentNotReady => {
            "its environment would be (re)created first, then compared with the one its cache entry was made in".to_string()
        }
        RunReason::RequiredKeyUnknown { name, why } => {
            let first = match why {
                KeyUnknown::EnvironmentNotReady => {
                    format!("`{name}`'s environment would be (re)created first")
                }
                KeyUnknown::Runs => format!("`{name}` would run first"),
            };
            format!("{first}, so its key is not known yet")
        }
        RunReason::AfterKeyUnknown { name, why } => {
            let first = match why {
                KeyUnknown::EnvironmentNotReady => {
                    "whose environment would be (re)created first".to_string()
                }
                KeyUnknown::Runs => "which would run first".to_string(),
            };
            format!("it starts after `{name}`, {first}: what it reads is known only then")
        }
    }
}

pub(crate) fn change(change: &Change) -> String {
    let words = |argv: &[String]| command::display(argv);
    match change {
        Change::Schema => "rtask's key format changed".to_string(),
        Change::Posargs { old, new } => {
            format!("posargs changed: `{}` -> `{}`", words(old), words(new))
        }
        Change::Command { old, new } => {
            format!("command changed: `{}` -> `{}`", words(old), words(new))
        }
        Change::CommandCount { old, new } => {
            format!("number of commands changed: {old} -> {new}")
        }
        Change::Shell => "`shell` changed".to_string(),
        Change::Cwd { old, new } => format!("`cwd` changed: `{old}` -> `{new}`"),
        Change::Env { name, edit } => format!("env `{name}` {}", edited(*edit)),
        Change::EnvInput {
            name,
            edit: Edit::Changed,
            set,
        } => {
            let state = |set: bool| if set { "set" } else { "unset" };
            match set {
                (true, true) => format!("env `{name}` changed"),
                (before, after) => {
                    format!(
                        "env `{name}` changed ({} -> {})",
                        state(*before),
                        state(*after)
                    )
                }
            }
        }
        Change::EnvInput {
            name,
            edit: Edit::Added,
            ..
        } => format!("env `{name}` became an input"),
        Change::EnvInput {
            name,
            edit: Edit::Removed,
            ..
        } => format!("env `{name}` is no longer an input"),
        Change::Outputs => "`outputs` changed".to_string(),
        Change::SuccessCodes => "`success_codes` changed".to_string(),
        Change::InputAdded(path) => format!("input `{path}` added"),
        Change::InputRemoved(path) => format!("input `{path}` removed"),
        Change::InputChanged(path) => format!("input `{path}` changed"),
        Change::InputMode(path) => format!("input `{path}` changed mode"),
        Change::InputFiles { old, new } if old == new => {
            format!("the content of input files changed ({new} files)")
        }
        Change::InputFiles { old, new } => format!("input files changed ({old} -> {new} files)"),
        Change::Required {
            name,
            edit: Edit::Changed,
        } => format!("required session `{name}` changed"),
        Change::Required {
            name,
            edit: Edit::Added,
        } => format!("now requires `{name}`"),
        Change::Required {
            name,
            edit: Edit::Removed,
        } => format!("no longer requires `{name}`"),
        Change::Stray {
            path,
            edit: Edit::Added,
        } => format!(
            "`{path}`, which a required session's outputs match but it did not produce, appeared"
        ),
        Change::Stray {
            path,
            edit: Edit::Changed,
        } => format!(
            "`{path}`, which a required session's outputs match but it did not produce, changed"
        ),
        Change::Stray {
            path,
            edit: Edit::Removed,
        } => format!(
            "`{path}`, which a required session's outputs match but it did not produce, is gone"
        ),
        Change::Venv { now: true } => "it now runs in a virtual environment".to_string(),
        Change::Venv { now: false } => "it no longer runs in a virtual environment".to_string(),
        Change::LocalProject {
            path,
            edit: Edit::Changed,
        } => format!("local project `{path}` changed"),
        Change::LocalProject {
            path,
            edit: Edit::Added,
        } => format!("local project `{path}` is now installed"),
        Change::LocalProject {
            path,
            edit: Edit::Removed,
        } => format!("local project `{path}` is no longer installed"),
        Change::PythonRequest { old, new } => format!("`python` changed: {old} -> {new}"),
        Change::Install => "`install` changed".to_string(),
        Change::ReferencedFile {
            path,
            edit: Edit::Changed,
        } => format!("requirements file `{path}` changed"),
        Change::ReferencedFile {
            path,
            edit: Edit::Added,
        } => format!("`install` now reads `{path}`"),
        Change::ReferencedFile {
            path,
            edit: Edit::Removed,
        } => format!("`install` no longer reads `{path}`"),
        Change::LocalDependency { path, gone: false } => {
            format!("local dependency `{path}` changed")
        }
        Change::LocalDependency { path, gone: true } => {
            format!("local dependency `{path}` is missing")
        }
        Change::Environment(difference) => environment_difference(difference),
        Change::Platform { old, new } => format!("platform changed: {old} -> {new}"),
    }
}

fn environment_difference(difference: &EnvironmentDifference) -> String {
    let version = |version: &Option<String>| match version {
        Some(version) => version.clone(),
        None => "not installed".to_string(),
    };
    match difference {
        EnvironmentDifference::Interpreter { here, entry } => {
            format!("Python is {here} here, {entry} in the entry")
        }
        EnvironmentDifference::Distribution { name, here, entry } => match (here, entry) {
            (Some(here), None) => format!("`{name}` {here} is installed here, not in the entry"),
            _ => format!(
                "`{name}` is {} here, {} in the entry",
                version(here),
                version(entry)
            ),
        },
        EnvironmentDifference::Seed { name, here: true } => {
            format!("`{name}` is in the environment here, not in the entry's (an installer's seed)")
        }
        EnvironmentDifference::Seed { name, here: false } => {
            format!("`{name}` was in the entry's environment, not here (an installer's seed)")
        }
        EnvironmentDifference::LocalInstall { name } => {
            format!("the files `{name}` installed from its local source differ from the entry's")
        }
        EnvironmentDifference::LocalDependency { path } => {
            format!("local dependency `{path}` in the environment differs from the entry's")
        }
        EnvironmentDifference::Unrecorded => {
            "the entry records no environment to compare with".to_string()
        }
    }
}

/// The detail of a session that runs once its environment is made, and why it is made again
/// when it exists.
pub(crate) fn environment_first(recreate: Option<&Recreate>) -> String {
    match recreate {
        None => "its environment would be created first".to_string(),
        Some(why) => format!(
            "its environment would be recreated first: {}",
            recreated(why)
        ),
    }
}

/// Why an environment that existed was made again.
pub(crate) fn recreated(why: &Recreate) -> String {
    match why {
        Recreate::Unrecorded => {
            "rtask has no record of completing it (an interrupted install, or another tool made it)"
                .to_string()
        }
        Recreate::Schema => "it was made by another version of rtask".to_string(),
        Recreate::Moved { old } => format!("it was made at `{old}`"),
        Recreate::Interpreter { old, new } => format!("interpreter changed: {old} -> {new}"),
        Recreate::Backend { old, new } => format!("backend changed: {old} -> {new}"),
        Recreate::Params => "`venv_params` changed".to_string(),
        Recreate::Install => "the `install` arguments changed".to_string(),
        Recreate::Env { name } => format!("env `{name}` changed"),
        Recreate::File { path, edit } => format!("`{path}` {}", edited(*edit)),
        Recreate::LocalProject { path } => format!("local project `{path}` changed"),
        Recreate::LocalDependency { path } => format!("local dependency `{path}` changed"),
        Recreate::Reinstall => "`--reinstall` (`--reuse-venv never`) remakes it".to_string(),
        Recreate::ReuseNo => "`--reuse-venv no` remakes it".to_string(),
        Recreate::SessionReuseFalse => "the session says `reuse_venv = false`".to_string(),
    }
}

/// A `uv` on `PATH` that does not run, and what is done instead.
pub(crate) fn uv_fallback(broken: &BrokenUv) -> String {
    format!(
        "`{}` does not run: {}; environments are made with venv instead",
        broken.path.display(),
        broken.failure
    )
}

/// An `install` entry whose marker does not hold for the session's interpreter.
pub(crate) fn marker_left_out(entry: &str) -> String {
    format!("`{entry}` is not installed: its marker does not hold for this interpreter")
}

/// What an entry's environment was, in one short line: `made with CPython 3.11.7, 14
/// distributions`.
pub(crate) fn made_with(realised: &Realised) -> String {
    let implementation = match realised.implementation.as_str() {
        "cpython" => "CPython",
        "pypy" => "PyPy",
        other => other,
    };
    let count = realised.count();
    let plural = if count == 1 { "" } else { "s" };
    format!(
        "made with {implementation} {}, {count} distribution{plural}",
        realised.version
    )
}

fn edited(edit: Edit) -> &'static str {
    match edit {
        Edit::Added => "added",
        Edit::Changed => "changed",
        Edit::Removed => "removed",
    }
}

pub(crate) fn skip(reason: &SkipReason) -> String {
    match reason {
        SkipReason::MissingInterpreter { version } => {
            format!("Python interpreter {version} not found")
        }
        SkipReason::RequiredSkipped { name, why } => {
            format!("requires `{name}`, which was skipped: {}", skip(why))
        }
    }
}

pub(crate) fn abort(reason: &AbortReason) -> String {
    match reason {
        AbortReason::RequiredFailed { name } => format!("`{name}` failed"),
        AbortReason::RequiredInterrupted { name } => format!("`{name}` was interrupted"),
        AbortReason::RequiredDidNotRun { name, why: None } => format!("`{name}` did not run"),
        AbortReason::RequiredDidNotRun {
            name,
            why: Some(why),
        } => format!("requires `{name}`, which did not run: {}", abort(why)),
        AbortReason::RequiredMissingInterpreter { name, version } => {
            format!("requires `{name}`, which failed: Python interpreter {version} not found")
        }
        AbortReason::Interrupted => "interrupted".to_string(),
        AbortReason::StoppedAfterFirstFailure => "stopped after the first failure".to_string(),
        AbortReason::DidNotRun => "did not run".to_string(),
    }
}

pub(crate) fn not_stored(session: &str, why: &NotStored) -> String {
    match why {
        NotStored::InputsChanged => {
            format!("inputs of `{session}` changed while it ran; its result is not cached")
        }
        NotStored::Inputs(error) => format!("`{session}` is not cached: {error}"),
        NotStored::RequiredOutputsChanged { name } => format!(
            "outputs of `{name}`, which `{session}` requires, changed or were removed while it ran; its result is not cached"
        ),
        NotStored::RequiredOutputsUnreadable(error) => format!(
            "`{session}` is not cached: cannot tell whether the outputs of the sessions it requires changed while it ran ({error})"
        ),
        NotStored::PackagesChanged => format!(
            "the packages installed in `{session}`'s environment changed while it ran; its result is not cached"
        ),
        NotStored::EnvironmentOutdated => format!(
            "`{session}` ran in its environment as it stands (`--no-install`), which is not up to date with what it declares; its result is not cached"
        ),
        NotStored::DeclaredEnvironmentChanged => format!(
            "the files or local sources `{session}`'s environment is made from changed while it ran; its result is not cached"
        ),
        NotStored::Unrestorable(error) => {
            format!("`{session}` is not cached: no restore could use its result here ({error})")
        }
        NotStored::NoSpace => format!(
            "no space left on the device of the cache: the result of `{session}` is not cached (the session succeeded; free some space to cache it)"
        ),
        NotStored::Write(error) => {
            format!("cannot store the result of `{session}` in the cache: {error}")
        }
    }
}

pub(crate) fn no_venv(session: &str) -> String {
    format!(
        "`{session}` runs on the host without its virtual environment (`--no-venv`): `install` is skipped, and its result is neither restored nor cached"
    )
}

pub(crate) fn external_program(session: &str, program: &str, found: &std::path::Path) -> String {
    format!(
        "`{program}` is not installed into the virtual environment of `{session}`, it is located at `{}`\n  hint: mark the command `external = true` if it is meant to run from there",
        found.display()
    )
}

pub(crate) fn untouched(session: &str, paths: &[RelPath]) -> String {
    let shown: Vec<String> = paths
        .iter()
        .take(3)
        .map(|path| format!("`{path}`"))
        .collect();
    let more = match paths.len() {
        0..=3 => String::new(),
        count => format!(" and {} more", count - 3),
    };
    format!(
        "`{session}` left {}{more} as it found {}: not stored as its output, so a restore will not bring {} back (remove it before the run if the session makes it)",
        shown.join(", "),
        if paths.len() == 1 { "it" } else { "them" },
        if paths.len() == 1 { "it" } else { "them" },
    )
}

/// Whom a run waits for, and what for.
fn awaited(holder: &Holder) -> String {
    let who = match (holder.pid, holder.command.is_empty()) {
        (Some(pid), false) => format!("process {pid} (`{}`)", holder.command),
        (Some(pid), true) => format!("process {pid}"),
        (None, _) => "another rtask".to_string(),
    };
    let who = if holder.alive || holder.pid.is_none() {
        who
    } else {
        format!("the commands started by {who}, which has exited,")
    };
    format!("{who} to finish its run in this project")
}

pub(crate) fn holder(holder: &Holder) -> String {
    format!(
        "waiting for {} (it holds `{}`)",
        awaited(holder),
        holder.lock_file.display()
    )
}

/// Ctrl-C or SIGTERM ended a wait for the run lock.
pub(crate) fn interrupted_waiting(holder: &Holder) -> String {
    format!(
        "interrupted while waiting for {}: no session ran",
        awaited(holder)
    )
}

/// What a failure has to say below its message: why a `--restore-only` session is not in the
/// cache.
pub(crate) fn failure_details(error: &SessionError) -> Vec<String> {
    match error {
        SessionError::NotCached { reasons } => {
            listed(&reasons.iter().map(run_reason).collect::<Vec<_>>())
        }

        _ => Vec::new(),
    }
}

/// Reasons joined for one line, at most [`MAX_REASONS`] of them.
pub(crate) fn listed(reasons: &[String]) -> Vec<String> {
    if reasons.len() <= MAX_REASONS {
        return reasons.to_vec();
    }
    let mut shown = reasons[..MAX_REASONS - 1].to_vec();
    shown.push(format!(
        "and {} more differences",
        reasons.len() - (MAX_REASONS - 1)
    ));
    shown
}

pub(crate) fn remote(event: &RemoteEvent<'_>) -> String {
    match event {
        RemoteEvent::Downloaded { session } => {
            format!("{session}: downloaded from the remote cache")
        }
        RemoteEvent::Uploaded { session, bytes } => {
            format!("{session}: uploaded to the remote cache ({bytes} bytes sent)")
        }
        RemoteEvent::Failed {
            op: RemoteOp::Download,
            session,
            why,
        } => format!("remote cache: cannot fetch the entry of `{session}` ({why}); it is a miss"),
        RemoteEvent::Failed {
            op: RemoteOp::Upload,
            session,
            why,
        } => {
            format!("remote cache: cannot upload the entry of `{session}` ({why}); it stays local")
        }
        RemoteEvent::Disabled {
            remote,
            why: Disabling::Failures(count),
        } => format!(
            "remote cache `{remote}` is not used for the rest of this run after {count} failures"
        ),
        RemoteEvent::Disabled {
            remote,
            why: Disabling::Timeout,
        } => format!(
            "remote cache `{remote}` is not used for the rest of this run: it did not answer in time"
        ),
        RemoteEvent::SignatureRefused { session, problem } => format!(
            "remote cache: refusing the entry of `{session}`: {problem}; it is a miss (`RTASK_CACHE_SIGNING_KEY` is set)"
        ),
        RemoteEvent::SigningKeyEmpty => empty_signing_key(),
        RemoteEvent::UploadsAbandoned { remote, pending } => format!(
            "remote cache `{remote}`: gave up waiting for {pending} upload(s) still under way"
        ),
    }
}
/// Why `rtask cache export` has no entry of a session at its current key: what a run would do.
pub(crate) fn not_exported(decision: &Decision) -> String {
    match decision {
        Decision::Restore(_) => "it is cached".to_string(),
        Decision::Run { reasons, .. } => {
            let reasons: Vec<String> = reasons.iter().map(run_reason).collect();
            format!("it would run: {}", listed(&reasons).join("; "))
        }
        Decision::PrepareEnvironment { .. } => format!(
            "it would run: {}",
            run_reason(&RunReason::EnvironmentNotReady)
        ),
        Decision::Skip(reason) => format!("it would be skipped: {}", skip(reason)),
        Decision::Fail(error) => format!("it would fail: {error}"),
        Decision::Abort(reason) => format!("it would not start: {}", abort(reason)),
    }
}

/// `RTASK_CACHE_SIGNING_KEY` set to nothing.
pub(crate) fn empty_signing_key() -> String {
    "`RTASK_CACHE_SIGNING_KEY` is set but empty (as CI passes a secret this job cannot read): entries are neither signed nor checked".to_string()
}

/// A session `--allow-missing` leaves out of a bundle.
pub(crate) fn left_out(session: &str, why: &str) -> String {
    format!("`{session}` is not exported: {why}")
}

/// `1 entry`, `3 blobs`.
fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// `812 B`, `4.0 KiB`, `1.5 MiB`, `2.3 GiB`.
pub(crate) fn bytes(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

pub(crate) fn exported(exported: &Exported, path: &Path) -> String {
    format!(
        "exported {} ({}, {}) to `{}`",
        counted(exported.entries, "entry", "entries"),
        counted(exported.blobs, "blob", "blobs"),
        bytes(exported.bytes),
        path.display()
    )
}

fn entry(name: &EntryName) -> String {
    format!("the entry of `{}` (key {})", name.session, name.key.short())
}

pub(crate) fn refused(name: &EntryName, refusal: &Refusal) -> String {
    let why = match refusal {
        Refusal::NoManifest => "the bundle holds no manifest for it".to_string(),
        Refusal::Damaged(error) => format!("its manifest is damaged: {error}"),
        Refusal::Format { found } => format!(
            "its manifest has format {found}, this rtask reads format {}",
            crate::cache::manifest::MANIFEST_FORMAT
        ),
        Refusal::NotItsEntry => {
            "its manifest is of another session or key than the bundle's index says".to_string()
        }
        Refusal::KeyMismatch => "its manifest does not match its key".to_string(),
        Refusal::Signature(problem) => {
            format!("`RTASK_CACHE_SIGNING_KEY` is set and {problem}")
        }
        Refusal::Unsafe(error) => error.to_string(),
        Refusal::Blob {
            what,
            flaw: crate::cache::store::BlobFlaw::Missing,
        } => format!("the bundle lacks its {what}"),
        Refusal::Blob { what, flaw } => format!("the bundle's {what} {flaw}"),
        Refusal::Store(received) => format!("the cache would not take it: {received}"),
    };
    format!("refused {}: {why}", entry(name))
}

pub(crate) fn skipped(name: &EntryName, skip: Skip) -> String {
    let why = match skip {
        Skip::UnknownSession => format!("this project has no session `{}`", name.session),
        Skip::OtherOutputs => format!(
            "`{}` declares other `outputs` here, so this entry could never be restored",
            name.session
        ),
        Skip::Duplicate => "the bundle lists it twice".to_string(),
    };
    format!("skipped {}: {why}", entry(name))
}

pub(crate) fn cut(error: &std::io::Error) -> String {
    format!("the bundle could not be read to its end: {error}")
}

pub(crate) fn ignored(count: usize) -> String {
    format!(
        "ignored {} that {} not part of a bundle (links, devices, other names)",
        counted(count, "archive member", "archive members"),
        if count == 1 { "is" } else { "are" }
    )
}

pub(crate) fn imported(imported: &Imported, path: &Path) -> String {
    let count = |wanted: fn(&Fate) -> bool| {
        imported
            .entries
            .iter()
            .filter(|(_, fate)| wanted(fate))
            .count()
    };
    let mut text = format!(
        "imported {} ({}, {}) from `{}`",
        counted(
            count(|fate| matches!(fate, Fate::Imported)),
            "entry",
            "entries"
        ),
        counted(imported.blobs, "blob", "blobs"),
        bytes(imported.bytes),
        path.display()
    );
    for (fate, words) in [
        (
            count(|fate| matches!(fate, Fate::Present)),
            "already present",
        ),
        (count(|fate| matches!(fate, Fate::Refused(_))), "refused"),
        (count(|fate| matches!(fate, Fate::Skipped(_))), "skipped"),
    ] {
        if fate > 0 {
            text.push_str(&format!(", {fate} {words}"));
        }
    }
    text
}

/// How long ago something happened, in its largest whole unit: `just now`, `5s ago`, `3d ago`.
fn ago(then: SystemTime, now: SystemTime) -> String {
    let seconds = now.duration_since(then).map_or(0, |since| since.as_secs());
    let (count, unit) = match seconds {
        0 => return "just now".to_string(),
        1..60 => (seconds, "s"),
        60..3600 => (seconds / 60, "m"),
        3600..86_400 => (seconds / 3600, "h"),
        _ => (seconds / 86_400, "d"),
    };
    format!("{count}{unit} ago")
}

/// `rtask cache stats`: the cache's totals, then a table of its sessions.
pub(crate) fn cache_stats(dir: &str, stats: Option<&Stats>, now: SystemTime) -> String {
    let Some(stats) = stats else {
        return format!("there is no cache at `{dir}` yet\n");
    };
    if stats.entries == 0 && stats.bytes == 0 {
        return format!("the cache at `{dir}` is empty\n");
    }
    let mut text = format!(
        "the cache at `{dir}` holds {} ({}) of {}\n",
        counted(stats.entries, "entry", "entries"),
        bytes(stats.bytes),
        counted(stats.sessions.len(), "session", "sessions"),
    );
    let rows: Vec<[String; 4]> = stats
        .sessions
        .iter()
        .map(|session| {
            [
                session.session.clone(),
                session.entries.to_string(),
                bytes(session.bytes),
                ago(session.last_use, now),
            ]
        })
        .collect();
    let header = ["session", "entries", "size", "last used"].map(str::to_string);
    let width = |column: usize| {
        rows.iter()
            .chain([&header])
            .map(|row| row[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths = [width(0), width(1), width(2)];
    if !rows.is_empty() {
        for row in [&header].into_iter().chain(&rows) {
            text.push_str(&format!(
                "  {:<w0$}  {:>w1$}  {:>w2$}  {}\n",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
            ));
        }
    }
    if stats.unreferenced > 0 {
        text.push_str(&format!(
            "{} of it no entry refers to (left by an interrupted or replaced store): `rtask cache prune` removes it once it is an hour old\n",
            bytes(stats.unreferenced)
        ));
    }
    text
}

/// `rtask cache prune`: what it removed and what is left.
pub(crate) fn pruned(dir: &str, pruned: Option<&Pruned>) -> String {
    let Some(pruned) = pruned else {
        return format!("there is no cache at `{dir}` yet: nothing to prune");
    };
    let left = format!(
        "the cache at `{dir}` holds {} ({})",
        counted(pruned.remaining_entries, "entry", "entries"),
        bytes(pruned.remaining_bytes)
    );
    if pruned.entries == 0 && pruned.blobs == 0 {
        return format!("nothing to prune: {left}");
    }
    format!(
        "removed {} and {} ({}); {left}",
        counted(pruned.entries, "entry", "entries"),
        counted(pruned.blobs, "blob", "blobs"),
        bytes(pruned.bytes),
    )
}

/// The cache could not be pruned after a run.
pub(crate) fn not_pruned(error: &std::io::Error) -> String {
    format!("the cache could not be pruned to `cache_max_size`: {error}")
}

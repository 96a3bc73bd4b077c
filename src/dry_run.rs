//! `--dry-run`: the plan of each selected session — restored, run (and why), skipped or
//! failed — as text or as JSON (`--json`, documented in docs/dry-run-json.md). Runs nothing
//! and stores nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::failure::SessionError;
use crate::plan::reason::{Recreate, RunReason};
use crate::plan::{AfterPrepare, Decision, SessionPlan};
use crate::project::{Project, SessionId};
use crate::ui::{style, words};

/// Whether the cache holds a session's result now, as `--list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheState {
    Fresh,
    Stale,
    /// Not cacheable, the cache is off, or it would be skipped or fail before running.
    NotCached,
}

impl CacheState {
    pub(crate) fn of(plan: &SessionPlan) -> CacheState {
        match &plan.decision {
            Decision::Restore(_) => CacheState::Fresh,
            Decision::Run { reasons, .. }
                if matches!(
                    reasons.as_slice(),
                    [RunReason::NotCacheable | RunReason::CacheDisabled]
                ) =>
            {
                CacheState::NotCached
            }
            Decision::Run { reasons, .. } if reasons.as_slice() == [RunReason::Forced] => {
                CacheState::Fresh
            }
            Decision::Run { .. } | Decision::PrepareEnvironment { .. } => CacheState::Stale,
            // It would not run at all: whether its result is cached does not matter now.
            Decision::Skip(_) | Decision::Fail(_) | Decision::Abort(_) => CacheState::NotCached,
        }
    }
}

/// The plan as lines: `NAME: what would happen`, then its reasons, indented.
pub(crate) fn text(project: &Project, plans: &[SessionPlan]) -> String {
    let mut out = String::new();
    for plan in plans {
        let (headline, mut details) = describe(plan);
        out.push_str(&format!("{}: {headline}\n", project.sessions[plan.id].name));
        let after = after_in_run(project, plans, plan.id);
        if !after.is_empty() {
            let names: Vec<String> = after.iter().map(|name| format!("`{name}`")).collect();
            details.push(format!("starts after {}", names.join(", ")));
        }
        for detail in details {
            out.push_str(&format!("  - {detail}\n"));
        }
    }
    out
}

/// The sessions of the run (those `plans` decide) that `id` starts after, by full name.
fn after_in_run<'a>(project: &'a Project, plans: &[SessionPlan], id: SessionId) -> Vec<&'a str> {
    project.sessions[id]
        .after
        .iter()
        .filter(|earlier| plans.iter().any(|plan| plan.id == **earlier))
        .map(|&earlier| project.sessions[earlier].name.as_str())
        .collect()
}

/// A plan's headline and the details below it.
fn describe(plan: &SessionPlan) -> (String, Vec<String>) {
    match &plan.decision {
        Decision::Restore(manifest) => (
            format!(
                "would be restored from the cache (commands {}, key {})",
                style::duration(manifest.commands()),
                manifest.key.short()
            ),
            manifest.environment.iter().map(words::made_with).collect(),
        ),
        Decision::Run { reasons, .. } => describe_run(reasons),
        Decision::PrepareEnvironment {
            then: AfterPrepare::Run(reasons),
            plan,
        } => {
            let (headline, mut details) = describe_run(reasons);
            details.push(words::environment_first(plan.recreate.as_ref()));
            details.extend(plan.left_out.iter().map(|entry| words::marker_left_out(entry)));
            (headline, details)
        }
        Decision::PrepareEnvironment {
            then: AfterPrepare::Verify,
            plan,
        } => (
            "would be restored if its environment, made again first, matches the entry's (else it would run)".to_string(),
            plan.left_out.iter().map(|entry| words::marker_left_out(entry)).collect(),
        ),
        Decision::Skip(reason) => (
            format!("would be skipped: {}", words::skip(reason)),
            Vec::new(),
        ),
        Decision::Fail(error) => (
            format!("would fail: {error}"),
            words::failure_details(error),
        ),
        Decision::Abort(reason) => (
            format!("would not start: {}", words::abort(reason)),
            Vec::new(),
        ),
    }
}

/// The headline and details of a session that would run for `reasons`.
fn describe_run(reasons: &[RunReason]) -> (String, Vec<String>) {
    match reasons {
        [reason @ (RunReason::NotCacheable | RunReason::CacheDisabled | RunReason::Forced)] => (
            format!("would run ({})", words::run_reason(reason)),
            Vec::new(),
        ),
        [RunReason::EntryUnusable(problem)] => (
            "would run: its cache entry cannot be used".to_string(),
            vec![problem.to_string()],
        ),
        [reason @ RunReason::Changed(_)] | [reason @ RunReason::KeyDiffers] => (
            "would run, differences from the newest entry:".to_string(),
            vec![words::run_reason(reason)],
        ),
        [only] => (
            format!("would run: {}", words::run_reason(only)),
            Vec::new(),
        ),
        all => {
            let all: Vec<String> = all.iter().map(words::run_reason).collect();
            (
                "would run, differences from the newest entry:".to_string(),
                words::listed(&all),
            )
        }
    }
}

/// One session in `--dry-run --json`.
#[derive(Serialize)]
struct Planned<'a> {
    session: &'a str,
    decision: &'static str,
    reasons: Vec<Reason>,
    /// The cache key, when it is known.
    key: Option<String>,
    /// The entry a restore would use.
    entry: Option<Entry>,
    requires: Vec<&'a str>,
    /// The sessions of this run it starts after (`after`), by full name.
    after: Vec<&'a str>,
    cacheable: bool,
    /// Its `install` entries as written (its Python version's override's, if any); `None`
    /// without an environment.
    install: Option<Vec<String>>,
    /// What would be done to its environment first: `None` when nothing.
    environment: Option<PlannedEnvironment>,
    /// Its commands' argvs as they would run (its Python version's override's, if any).
    run: Vec<Vec<String>>,
}

#[derive(Serialize)]
struct PlannedEnvironment {
    /// `create` (none is there) or `recreate`.
    action: &'static str,
    /// Why one that is there is made again.
    reason: Option<Reason>,
}

impl PlannedEnvironment {
    fn of(recreate: Option<&Recreate>) -> PlannedEnvironment {
        PlannedEnvironment {
            action: if recreate.is_some() {
                "recreate"
            } else {
                "create"
            },
            reason: recreate.map(|why| Reason {
                kind: why.kind(),
                message: words::recreated(why),
            }),
        }
    }
}

#[derive(Serialize)]
struct Reason {
    kind: &'static str,
    message: String,
}

impl Reason {
    fn of(reason: &RunReason) -> Reason {
        Reason {
            kind: reason.kind(),
            message: words::run_reason(reason),
        }
    }
}

#[derive(Serialize)]
struct Entry {
    key: String,
    created_unix_ms: u64,
    /// The whole run, its environment included.
    duration_ms: u64,
    /// The commands alone: what restoring the entry saves.
    commands_ms: u64,
    rtask_version: String,
    /// What the session's virtual environment held when the entry was made.
    environment: Option<EntryEnvironment>,
}

#[derive(Serialize)]
struct EntryEnvironment {
    implementation: String,
    version: String,
    platform: String,
    distributions: BTreeMap<String, String>,
    /// The installers' seeds it held without `install` naming them, by name.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    seeds: BTreeSet<String>,
}

/// The plan as a JSON array, one object per session, in the order they would run.
pub(crate) fn json(project: &Project, plans: &[SessionPlan], posargs: &[String]) -> String {
    let planned: Vec<Planned<'_>> = plans
        .iter()
        .map(|plan| {
            let session = &project.sessions[plan.id];
            let one = |kind, message| vec![Reason { kind, message }];
            let (decision, reasons) = match &plan.decision {
                Decision::Restore(_) => ("restore", Vec::new()),
                Decision::Run { reasons, .. } => ("run", reasons.iter().map(Reason::of).collect()),
                Decision::PrepareEnvironment {
                    then: AfterPrepare::Run(reasons),
                    ..
                } => ("run", reasons.iter().map(Reason::of).collect()),
                Decision::PrepareEnvironment {
                    then: AfterPrepare::Verify,
                    ..
                } => {
                    let reason = RunReason::EnvironmentNotReady;
                    ("run", one(reason.kind(), words::run_reason(&reason)))
                }
                Decision::Skip(reason) => ("skip", one(reason.kind(), words::skip(reason))),
                Decision::Fail(error @ SessionError::NotCached { reasons }) => {
                    let mut all = one(error.kind(), error.to_string());
                    all.extend(reasons.iter().map(|reason| Reason {
                        kind: reason.kind(),
                        message: words::run_reason(reason),
                    }));
                    ("fail", all)
                }
                Decision::Fail(error) => ("fail", one(error.kind(), error.to_string())),
                Decision::Abort(reason) => ("fail", one(reason.kind(), words::abort(reason))),
            };
            let entry = match &plan.decision {
                Decision::Restore(manifest) => Some(Entry {
                    key: manifest.key.to_hex(),
                    created_unix_ms: manifest.created_unix_ms,
                    duration_ms: manifest.duration_ms,
                    commands_ms: manifest.commands_ms(),
                    rtask_version: manifest.rtask_version.clone(),
                    environment: manifest
                        .environment
                        .as_ref()
                        .map(|realised| EntryEnvironment {
                            implementation: realised.implementation.clone(),
                            version: realised.version.clone(),
                            platform: realised.platform.clone(),
                            distributions: realised.distributions.clone(),
                            seeds: realised.seeds.clone(),
                        }),
                }),
                _ => None,
            };
            Planned {
                session: &session.name,
                decision,
                reasons,
                key: plan.key().map(|key| key.to_hex()),
                entry,
                requires: session
                    .requires
                    .iter()
                    .map(|dep| project.sessions[*dep].name.as_str())
                    .collect(),
                after: after_in_run(project, plans, plan.id),
                cacheable: session.cacheable(),
                install: session
                    .venv
                    .as_ref()
                    .map(|spec| spec.written().iter().map(|entry| entry.join(" ")).collect()),
                environment: match &plan.decision {
                    Decision::PrepareEnvironment { plan, .. } => {
                        Some(PlannedEnvironment::of(plan.recreate.as_ref()))
                    }
                    _ => None,
                },
                run: session
                    .commands
                    .iter()
                    .map(|command| command.template.expand(posargs))
                    .collect(),
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&planned).expect("plain data serialises");
    text.push('\n');
    text
}

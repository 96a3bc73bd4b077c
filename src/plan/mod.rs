//! The plan: for each session, decided once, whether it is restored from the cache (which
//! entry), run (and why), skipped or failed. Running acts on the decision, `--dry-run` and
//! `--list` render it; none of them computes a key or a reason of its own.
//!
//! A session is decided when its turn comes, once the sessions it requires are done (their
//! keys and outputs are part of its key) and those of the run it starts `after` finished
//! (what it reads of theirs enters its key through its inputs, hashed then).
//! [`Planner::preview`] decides a whole order without running anything, assuming each session
//! ends as decided.

pub(crate) mod reason;
mod restore_only;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use self::reason::{
    AbortReason, Blocked, Change, EnvironmentDifference, KeyUnknown, RequirementEnd, RunReason,
    SkipReason, blocked,
};
use crate::cache::explain::{self, Current};
use crate::cache::manifest::Manifest;
use crate::cache::outputs::{self, FoundOutput, OutputError};
use crate::cache::restore::{self, RestoreError, Target};
use crate::cache::store::{EntryProblem, Lookup, Miss, Store, Writer};
use crate::digest::Digest;
use crate::environment::Environment;
use crate::failure::SessionError;
use crate::fingerprint::{Fingerprinter, InputFile};
use crate::key::{Ingredients, Resolved, Upstream};
use crate::patterns::OutputPattern;
use crate::project::{Project, Session, SessionId};
use crate::protected::Protected;
use crate::python::venv::Env;
use crate::python::{self, EnvPurpose, EnvironmentUse, NotReady, Reuse};
use crate::relpath::RelPath;

/// What deciding needs: the project, the command line's choices, and the machine's tools.
pub(crate) struct Planner<'a> {
    pub project: &'a Project,
    pub environment: &'a Environment,
    /// `None` with `--no-cache`.
    pub store: Option<&'a Store>,
    pub force: bool,
    pub posargs: &'a [String],
    pub fingerprinter: &'a Fingerprinter,
    pub protected: &'a Protected,
    pub python: &'a python::Tools,
    /// `--restore-only`: sessions that are restored or fail, never run.
    pub restore_only: &'a BTreeSet<SessionId>,
    /// The remote cache asked on a local miss (`None`: none, or `-l`).
    pub remote: Option<&'a crate::remote::Remote>,
}

/// What the sessions that require a session know of it once it is done (in a preview, once
/// it would be).
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    /// What it contributes to their keys.
    pub upstream: Upstream,
    /// Its cache entry: what a run restores before they start, and the paths it produced.
    pub entry: Option<Arc<Manifest>>,
}

impl Finished {
    /// A session whose outputs are those of `entry` (restored from it, or stored in it).
    pub(crate) fn of_entry(root: &Path, entry: Arc<Manifest>) -> Result<Finished, OutputError> {
        Ok(Finished {
            upstream: Upstream {
                key: Some(entry.key),
                outputs: outputs::entry_digests(root, &entry)?,
            },
            entry: Some(entry),
        })
    }

    /// The paths it produced: those of its entry, or the outputs a run that was not stored left.
    fn produced(&self) -> BTreeSet<String> {
        match (&self.entry, &self.upstream) {
            (Some(entry), _) => entry
                .outputs
                .iter()
                .map(|output| output.path().to_string())
                .collect(),
            (None, upstream) => upstream.outputs.keys().cloned().collect(),
        }
    }
}

/// What was decided for one session.
pub(crate) enum Decision {
    /// Restore this entry.
    Restore(Arc<Manifest>),
    /// Run the commands; `store` is the right to store the result, when it is cacheable.
    Run {
        reasons: Vec<RunReason>,
        store: Option<Writer>,
    },
    /// Its virtual environment must be (re)made first: a run makes it and decides again.
    PrepareEnvironment {
        plan: Box<python::Plan>,
        then: AfterPrepare,
    },
    Skip(SkipReason),
    Fail(SessionError),
    /// A session it requires would fail (a preview only: a run never starts it).
    Abort(AbortReason),
}

/// Why a session's environment is to be made before it goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterPrepare {
    /// Its key has an entry, and its local environment is stale: once made again, the
    /// environment is compared with the one the entry was made in.
    Verify,
    /// It runs, for these reasons, in the environment made.
    Run(Vec<RunReason>),
}

/// What a session's key found in the cache, before its environment is looked at.
enum Found {
    /// It has no key: it runs, and its result is not stored.
    Unkeyed(RunReason),
    /// The entry of its key.
    Hit(Box<Manifest>),
    /// No usable entry: it runs, and stores its result with this writer.
    Miss {
        reasons: Vec<RunReason>,
        store: Writer,
    },
}

/// A session's local environment, as it stands.
pub(crate) enum LocalEnv {
    /// The session runs without one.
    Without,
    /// Made, and matching its plan.
    Ready(Env),
    /// Missing or stale: to be made from this plan.
    Stale(Box<python::Plan>),
    /// Not up to date, and used as it stands (`--no-install`): a result made in it is not
    /// stored.
    Outdated(Env),
    /// It cannot be made here.
    Unavailable(NotReady),
}

/// What becomes of a session whose entry could not be restored.
pub(crate) enum Unrestored {
    /// Run it, replacing the entry.
    Run {
        reason: RunReason,
        store: Option<Writer>,
    },
    /// Fail it, keeping the entry.
    Fail(SessionError),
}

/// A session's plan: the decision and what it was made from.
pub(crate) struct SessionPlan {
    pub id: SessionId,
    pub decision: Decision,
    /// Its key and what it was computed from, when the key is known.
    pub keyed: Option<Keyed>,
    /// Each command's argv, `{posargs}` expanded.
    pub commands: Vec<Vec<String>>,
    /// Its environment, ready, when it has one.
    pub venv: Option<Env>,
}

/// A key and its ingredients.
pub(crate) struct Keyed {
    pub key: Digest,
    pub ingredients: Ingredients,
    pub inputs: Vec<InputFile>,
}

impl SessionPlan {
    fn new(id: SessionId, decision: Decision) -> SessionPlan {
        SessionPlan {
            id,
            decision,
            keyed: None,
            commands: Vec::new(),
            venv: None,
        }
    }

    pub(crate) fn key(&self) -> Option<Digest> {
        self.keyed.as_ref().map(|keyed| keyed.key)
    }
}

impl Planner<'_> {
    /// Decide one session, given what the sessions it requires contribute to its key (a
    /// requirement missing from `upstream` has no key yet).
    pub(crate) fn decide(
        &self,
        id: SessionId,
        upstream: &BTreeMap<SessionId, Finished>,
    ) -> SessionPlan {
        self.decide_with(id, upstream, &BTreeMap::new())
    }

    /// [`Planner::decide`], knowing why the requirements missing from `upstream` have no key
    /// yet (a preview's requirements that would make their environments or outputs first).
    fn decide_with(
        &self,
        id: SessionId,
        upstream: &BTreeMap<SessionId, Finished>,
        unknown: &BTreeMap<SessionId, KeyUnknown>,
    ) -> SessionPlan {
        let session = &self.project.sessions[id];
        let commands = match expand_commands(session, self.posargs) {
            Ok(commands) => commands,
            Err(error) => return SessionPlan::new(id, Decision::Fail(error)),
        };
        let (found, keyed) = match self.lookup(session, (upstream, unknown), &commands) {
            Ok(found) => found,
            Err(decision) => return SessionPlan::new(id, decision),
        };
        let overwrite = |manifest: &Manifest| self.store.map(|store| store.overwrite(manifest));
        let restore_only = self.restore_only.contains(&id);
        let (decision, venv) = match found {
            // A session that must be restored fails without making its environment.
            Found::Unkeyed(reason) if restore_only => {
                (self.not_cached(vec![reason], keyed.as_ref()), None)
            }
            Found::Miss { reasons, .. } if restore_only => {
                (self.not_cached(reasons, keyed.as_ref()), None)
            }
            Found::Unkeyed(reason) => self.to_run(session, vec![reason], None),
            Found::Miss { reasons, store } => self.to_run(session, reasons, Some(store)),
            Found::Hit(manifest) if self.force => {
                let store = overwrite(&manifest);
                self.to_run(session, vec![RunReason::Forced], store)
            }
            Found::Hit(manifest) => self.verify(restore_only, session, *manifest),
        };
        let plan = SessionPlan {
            id,
            decision,
            keyed,
            commands,
            venv,
        };
        self.restore_only(plan)
    }

    /// A session that runs: in its environment, which must be ready (or made first).
    fn to_run(
        &self,
        session: &Session,
        reasons: Vec<RunReason>,
        store: Option<Writer>,
    ) -> (Decision, Option<Env>) {
        match self.local_env(session, EnvPurpose::Run) {
            LocalEnv::Without => (Decision::Run { reasons, store }, None),
            LocalEnv::Ready(env) | LocalEnv::Outdated(env) => {
                (Decision::Run { reasons, store }, Some(env))
            }
            LocalEnv::Stale(plan) => {
                let then = AfterPrepare::Run(reasons);
                (Decision::PrepareEnvironment { plan, then }, None)
            }
            LocalEnv::Unavailable(why) => (self.unavailable(why), None),
        }
    }

    /// A hit: restored, unless what the entry's environment held differs from what is here.
    /// The local dependencies that environment was found to hold are read again here (no
    /// environment needed); a local environment, when the session has one, is compared with
    /// the entry's; a session without one is restored without looking for an interpreter.
    ///
    /// A `--restore-only` session never makes its environment: a stale one is not verified,
    /// as a machine without one would not be.
    fn verify(
        &self,
        restore_only: bool,
        session: &Session,
        manifest: Manifest,
    ) -> (Decision, Option<Env>) {
        let root = &self.project.root;
        let overwrite = || self.store.map(|store| store.overwrite(&manifest));
        if let Some(entry) = &manifest.environment {
            match python::changed_dependency(self.project, session, self.fingerprinter, entry) {
                Err(why) => return (Decision::Fail(SessionError::LocalProject(why)), None),
                Ok(Some((path, present))) => {
                    let change = Change::LocalDependency {
                        path,
                        gone: !present,
                    };
                    return self.to_run(session, vec![RunReason::Changed(change)], overwrite());
                }
                Ok(None) => {}
            }
        }
        let has_venv = session.venv.is_some();
        let remade = self.python.reuse_of(session) == Reuse::Remake;
        let local = has_venv && (remade || python::has_local_environment(session));
        if !local {
            return self.restore_checked(session, manifest);
        }
        match self.local_env(session, EnvPurpose::Verify) {
            // Nothing here to compare with: an environment this machine cannot use or make.
            LocalEnv::Without | LocalEnv::Unavailable(_) => self.restore_checked(session, manifest),
            LocalEnv::Stale(_) if restore_only => self.restore_checked(session, manifest),
            // `--no-install`: the entry was made in an up-to-date environment.
            LocalEnv::Outdated(_) => self.restore_checked(session, manifest),
            LocalEnv::Stale(plan) => {
                let then = AfterPrepare::Verify;
                (Decision::PrepareEnvironment { plan, then }, None)
            }
            LocalEnv::Ready(env) => {
                let here = python::realised(root, session, &env);
                let difference = match &manifest.environment {
                    Some(entry) => here.first_difference(entry),
                    None => Some(EnvironmentDifference::Unrecorded),
                };
                match difference {
                    None => {
                        let (decision, _) = self.restore_checked(session, manifest);
                        (decision, Some(env))
                    }
                    Some(difference) => {
                        let reason = RunReason::Changed(Change::Environment(difference));
                        // To run, the environment may be remade first (`reuse_venv = false`).
                        self.to_run(session, vec![reason], overwrite())
                    }
                }
            }
        }
    }

    /// Restore the entry, once the checks a restore makes before writing pass (made here so
    /// that `--dry-run` and `-l` say what the run will do); otherwise run, or fail.
    fn restore_checked(&self, session: &Session, manifest: Manifest) -> (Decision, Option<Env>) {
        match restore::check(&self.target(&session.outputs), &manifest.outputs) {
            Ok(()) => (Decision::Restore(Arc::new(manifest)), None),
            Err(error) => match self.after_failed_restore(&manifest, error) {
                Unrestored::Run { reason, store } => self.to_run(session, vec![reason], store),
                Unrestored::Fail(error) => (Decision::Fail(error), None),
            },
        }
    }

    /// Where a restore of outputs `declared` may write.
    pub(crate) fn target<'t>(&'t self, declared: &'t [OutputPattern]) -> Target<'t> {
        Target {
            root: &self.project.root,
            declared,
            protected: self.protected.dirs(),
        }
    }

    /// The session's local environment, as it stands, for what it is `wanted` for.
    pub(crate) fn local_env(&self, session: &Session, wanted: EnvPurpose) -> LocalEnv {
        match self.python.plan(self.project, session, self.fingerprinter) {
            Ok(None) => LocalEnv::Without,
            Ok(Some(plan)) => match self.python.ready(&plan, wanted) {
                Some(env) => LocalEnv::Ready(env),
                None => match self.python.as_it_stands(&plan) {
                    Some(env) => LocalEnv::Outdated(env),
                    None => LocalEnv::Stale(Box::new(plan)),
                },
            },
            Err(why) => LocalEnv::Unavailable(why),
        }
    }

    /// What becomes of a session that must run when its environment cannot be made.
    pub(crate) fn unavailable(&self, why: NotReady) -> Decision {
        match why {
            NotReady::MissingInterpreter(version) if self.python.error_on_missing => {
                Decision::Fail(SessionError::MissingInterpreter { version })
            }
            NotReady::MissingInterpreter(version) => {
                Decision::Skip(SkipReason::MissingInterpreter { version })
            }
            NotReady::UvMissing => Decision::Fail(SessionError::UvMissing),
            NotReady::UvBroken(broken) => Decision::Fail(SessionError::UvBroken {
                path: broken.path,
                failure: broken.failure,
            }),
            NotReady::LocalProject(why) => Decision::Fail(SessionError::LocalProject(why)),
        }
    }

    /// Key the session and look the key up: what was found, and the key when it is known; the
    /// decision when it fails before. Needs no interpreter or environment.
    fn lookup(
        &self,
        session: &Session,
        (upstream, unknown): (
            &BTreeMap<SessionId, Finished>,
            &BTreeMap<SessionId, KeyUnknown>,
        ),
        commands: &[Vec<String>],
    ) -> Result<(Found, Option<Keyed>), Decision> {
        let unkeyed = |reason| Ok((Found::Unkeyed(reason), None));
        if self.python.environments == EnvironmentUse::Without && session.venv.is_some() {
            return unkeyed(RunReason::NoVenv);
        }
        let Some(patterns) = &session.inputs else {
            return unkeyed(RunReason::NotCacheable);
        };
        let Some(store) = self.store else {
            return unkeyed(RunReason::CacheDisabled);
        };
        // Inputs first: a session that would fail to read them fails, whatever else is unknown.
        let inputs = self
            .fingerprinter
            .inputs(patterns)
            .map_err(|error| Decision::Fail(SessionError::Inputs(error)))?;
        let mut requires = BTreeMap::new();
        for &dep in &session.requires {
            let name = &self.project.sessions[dep].name;
            let Some(known) = upstream.get(&dep) else {
                let why = unknown
                    .get(&dep)
                    .cloned()
                    .unwrap_or(KeyUnknown::EnvironmentNotReady);
                let name = name.clone();
                return unkeyed(RunReason::RequiredKeyUnknown { name, why });
            };
            requires.insert(name.clone(), known.upstream.clone());
        }
        // What it reads of the sessions it starts after enters through its inputs, hashed when
        // it starts: in a preview, a key hashed before one of them would run is not its key.
        if let Some((&earlier, &why)) = session
            .after
            .iter()
            .find_map(|earlier| unknown.get_key_value(earlier))
        {
            let name = self.project.sessions[earlier].name.clone();
            return unkeyed(RunReason::AfterKeyUnknown { name, why });
        }
        let strays = self
            .strays(session, upstream)
            .map_err(|error| Decision::Fail(SessionError::Outputs(error)))?;
        let python = python::declared(self.project, session, self.fingerprinter)
            .map_err(|why| Decision::Fail(SessionError::LocalProject(why)))?;
        let resolved = Resolved {
            commands: commands.to_vec(),
            requires,
            strays,
            python,
            external_run: self.python.external_run,
        };
        let ingredients = Ingredients::assemble(
            &self.project.root,
            session,
            self.environment,
            resolved,
            &inputs,
        );
        let key = ingredients.key();
        let remote = self.remote.filter(|_| !self.force);
        let found = match crate::remote::lookup(remote, store, &session.name, &key) {
            // With a signing key set, an entry nothing checked is not trusted: the session runs
            // and its own result replaces it.
            Lookup::Hit(manifest)
                if self.environment.signing().key().is_some()
                    && store.is_unchecked(&session.name, &key) =>
            {
                Found::Miss {
                    reasons: vec![RunReason::EntryUnusable(EntryProblem::Unchecked)],
                    store: store.overwrite(&manifest),
                }
            }
            Lookup::Hit(manifest) => Found::Hit(manifest),
            Lookup::Miss(writer, Miss::NoEntry) => {
                let current = Current {
                    ingredients: &ingredients,
                    inputs: &inputs,
                    posargs: self.posargs,
                };
                let reasons = match explain::against_newest(store, &current) {
                    None => vec![RunReason::NoEntry],
                    Some(changes) if changes.is_empty() => vec![RunReason::KeyDiffers],
                    Some(changes) => changes.into_iter().map(RunReason::Changed).collect(),
                };
                Found::Miss {
                    reasons,
                    store: writer,
                }
            }
            Lookup::Miss(writer, Miss::Unusable(problem)) => Found::Miss {
                reasons: vec![RunReason::EntryUnusable(problem)],
                store: writer,
            },
        };
        let keyed = Keyed {
            key,
            ingredients,
            inputs,
        };
        Ok((found, Some(keyed)))
    }

    /// The files the output globs of `session`'s requirements match that none of them produced,
    /// with their digests: leftovers that its commands may read, so part of its key.
    fn strays(
        &self,
        session: &Session,
        upstream: &BTreeMap<SessionId, Finished>,
    ) -> Result<BTreeMap<String, Digest>, OutputError> {
        let root = &self.project.root;
        let mut matched: BTreeMap<RelPath, FoundOutput> = BTreeMap::new();
        let mut produced = BTreeSet::new();
        for dep in &session.requires {
            let declared = &self.project.sessions[*dep].outputs;
            let found = outputs::glob_found(root, declared, self.protected.dirs())?;
            if found.is_empty() {
                continue;
            }
            matched.extend(found.into_iter().map(|found| (found.path.clone(), found)));
            if let Some(finished) = upstream.get(dep) {
                produced.extend(finished.produced());
            }
        }
        let strays: Vec<FoundOutput> = matched
            .into_values()
            .filter(|found| !produced.contains(found.path.as_str()))
            .collect();
        outputs::digests(root, &strays)
    }

    /// What to do when restoring the entry a session was to be restored from failed: an entry
    /// that is unsafe or damaged is replaced by a run; a workspace the entry cannot go into (a
    /// symlink that leads out of the project in the way) runs the session without storing its
    /// result; a failure of this machine (a full disk, permissions) fails the session. In both
    /// of those the entry, which may be good, is kept.
    pub(crate) fn after_failed_restore(
        &self,
        manifest: &Manifest,
        error: RestoreError,
    ) -> Unrestored {
        let problem = match error {
            RestoreError::Io { .. } => return Unrestored::Fail(SessionError::Restore(error)),
            RestoreError::Blocked { path, why } => {
                return Unrestored::Run {
                    reason: RunReason::RestoreBlocked { path, why },
                    store: None,
                };
            }
            RestoreError::Unsafe { path, why } => EntryProblem::Unsafe { path, why },
            RestoreError::Damaged { path, why } => EntryProblem::DamagedOutput { path, why },
        };
        self.replace_unusable(manifest, problem)
    }

    /// Run a session whose entry turned out unusable while it was restored, replacing it.
    pub(crate) fn replace_unusable(
        &self,
        manifest: &Manifest,
        problem: EntryProblem,
    ) -> Unrestored {
        Unrestored::Run {
            reason: RunReason::EntryUnusable(problem),
            store: self.store.map(|store| store.overwrite(manifest)),
        }
    }

    /// Decide every session of `order` (each after those it requires) without running
    /// anything: each is assumed to end as decided.
    pub(crate) fn preview(&self, order: &[SessionId]) -> Vec<SessionPlan> {
        let sessions = &self.project.sessions;
        let mut upstream: BTreeMap<SessionId, Finished> = BTreeMap::new();
        let mut unknown: BTreeMap<SessionId, KeyUnknown> = BTreeMap::new();
        let mut ends: BTreeMap<SessionId, RequirementEnd> = BTreeMap::new();
        let mut plans = Vec::with_capacity(order.len());
        for &id in order {
            let session = &sessions[id];
            let requirements = session.requires.iter().map(|dep| {
                let end = ends
                    .get(dep)
                    .cloned()
                    .unwrap_or(RequirementEnd::Aborted(None));
                (sessions[*dep].name.as_str(), end)
            });
            let plan = match blocked(requirements) {
                Some(Blocked::Skip(reason)) => SessionPlan::new(id, Decision::Skip(reason)),
                Some(Blocked::Abort(reason)) => SessionPlan::new(id, Decision::Abort(reason)),
                None => self.decide_with(id, &upstream, &unknown),
            };
            ends.insert(id, plan.decision.end());
            match &plan.decision {
                Decision::Restore(manifest) => {
                    match Finished::of_entry(&self.project.root, Arc::clone(manifest)) {
                        Ok(finished) => {
                            upstream.insert(id, finished);
                        }
                        Err(_) => {
                            unknown.insert(id, KeyUnknown::Runs);
                        }
                    }
                }
                // What a session that runs leaves, which its dependents are keyed on, is known
                // only once it ran.
                Decision::Run { .. } => {
                    unknown.insert(id, KeyUnknown::Runs);
                }
                Decision::PrepareEnvironment {
                    then: AfterPrepare::Run(_),
                    ..
                } => {
                    unknown.insert(id, KeyUnknown::Runs);
                }
                Decision::PrepareEnvironment {
                    then: AfterPrepare::Verify,
                    ..
                } => {
                    unknown.insert(id, KeyUnknown::EnvironmentNotReady);
                }
                Decision::Skip(_) | Decision::Fail(_) | Decision::Abort(_) => {}
            }
            plans.push(plan);
        }
        plans
    }
}

impl Decision {
    /// How the session would end, as its dependents see it.
    fn end(&self) -> RequirementEnd {
        match self {
            Decision::Restore(_) | Decision::Run { .. } | Decision::PrepareEnvironment { .. } => {
                RequirementEnd::Succeeded
            }
            Decision::Skip(reason) => RequirementEnd::Skipped(reason.clone()),
            Decision::Fail(SessionError::MissingInterpreter { version }) => {
                RequirementEnd::MissingInterpreter {
                    version: version.clone(),
                }
            }
            Decision::Fail(_) => RequirementEnd::Failed,
            Decision::Abort(reason) => RequirementEnd::Aborted(Some(reason.clone())),
        }
    }
}

/// The argv of each command, after `{posargs}` expansion.
fn expand_commands(
    session: &Session,
    posargs: &[String],
) -> Result<Vec<Vec<String>>, SessionError> {
    session
        .commands
        .iter()
        .enumerate()
        .map(|(index, command)| {
            let argv = command.template.expand(posargs);
            if argv.is_empty() {
                Err(SessionError::EmptyCommand {
                    session: session.name.clone(),
                    number: index + 1,
                })
            } else {
                Ok(argv)
            }
        })
        .collect()
}

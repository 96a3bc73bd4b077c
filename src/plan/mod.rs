//! The plan: for each session, decided once, whether it is restored from the cache (which
//! entry), run (and why), skipped or failed. Running acts on the decision, `--dry-run` and
//! `--list` render it; none of them computes a key or a reason of its own.
//!
//! A session is decided when its turn comes, once the sessions it requires are done (their
//! keys and outputs are part of its key). [`Planner::preview`] decides a whole order without
//! running anything, assuming each session ends as decided.

pub(crate) mod reason;

use std::collections::BTreeMap;

use self::reason::{AbortReason, Blocked, RequirementEnd, RunReason, SkipReason, blocked};
use crate::cache::explain::{self, Current};
use crate::cache::manifest::Manifest;
use crate::cache::outputs;
use crate::cache::restore::{self, RestoreError, Target};
use crate::cache::store::{EntryProblem, Lookup, Miss, Store, Writer};
use crate::digest::Digest;
use crate::environment::Environment;
use crate::failure::SessionError;
use crate::fingerprint::{Fingerprinter, InputFile};
use crate::key::{Ingredients, Resolved, Upstream};
use crate::project::{Project, Session, SessionId};
use crate::protected::Protected;
use crate::python::venv::Env;
use crate::python::{self, NotReady, PythonKey};

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
}

/// What was decided for one session.
pub(crate) enum Decision {
    /// Restore this entry.
    Restore(Box<Manifest>),
    /// Run the commands; `store` is the right to store the result, when it is cacheable.
    Run {
        reasons: Vec<RunReason>,
        store: Option<Writer>,
    },
    /// Its virtual environment must be (re)made before its key can be known: a run makes it
    /// and decides again.
    PrepareEnvironment(Box<python::Plan>),
    Skip(SkipReason),
    Fail(SessionError),
    /// A session it requires would fail (a preview only: a run never starts it).
    Abort(AbortReason),
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
    /// What a preview assumed to decide it.
    pub assumptions: Vec<Assumption>,
}

/// A key and its ingredients.
pub(crate) struct Keyed {
    pub key: Digest,
    pub ingredients: Ingredients,
    pub inputs: Vec<InputFile>,
}

/// What a preview takes for granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Assumption {
    /// A required session that always runs will leave the outputs it left in the workspace.
    ReproducesOutputs { name: String },
}

impl SessionPlan {
    fn new(id: SessionId, decision: Decision) -> SessionPlan {
        SessionPlan {
            id,
            decision,
            keyed: None,
            commands: Vec::new(),
            venv: None,
            assumptions: Vec::new(),
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
        upstream: &BTreeMap<SessionId, Upstream>,
    ) -> SessionPlan {
        let session = &self.project.sessions[id];
        let commands = match expand_commands(session, self.posargs) {
            Ok(commands) => commands,
            Err(error) => return SessionPlan::new(id, Decision::Fail(error)),
        };
        let venv = match self.environment_of(session) {
            Ok(venv) => venv,
            Err(decision) => return SessionPlan::new(id, decision),
        };
        let (decision, keyed) = self.lookup(session, upstream, venv.as_ref(), &commands);
        SessionPlan {
            id,
            decision,
            keyed,
            commands,
            venv,
            assumptions: Vec::new(),
        }
    }

    /// The session's environment when it is ready; otherwise what to decide.
    fn environment_of(&self, session: &Session) -> Result<Option<Env>, Decision> {
        match self
            .python
            .plan(&self.project.root, session, self.fingerprinter)
        {
            Ok(None) => Ok(None),
            Ok(Some(plan)) => match self.python.ready(&plan) {
                Some(env) => Ok(Some(env)),
                None => Err(Decision::PrepareEnvironment(Box::new(plan))),
            },
            Err(NotReady::MissingInterpreter(version)) if self.python.error_on_missing => {
                Err(Decision::Fail(SessionError::MissingInterpreter { version }))
            }
            Err(NotReady::MissingInterpreter(version)) => {
                Err(Decision::Skip(SkipReason::MissingInterpreter { version }))
            }
            Err(NotReady::UvMissing) => Err(Decision::Fail(SessionError::UvMissing)),
            Err(NotReady::LocalProject(why)) => {
                Err(Decision::Fail(SessionError::LocalProject(why)))
            }
        }
    }

    /// Key the session and look it up: the decision, and the key when it is known.
    fn lookup(
        &self,
        session: &Session,
        upstream: &BTreeMap<SessionId, Upstream>,
        venv: Option<&Env>,
        commands: &[Vec<String>],
    ) -> (Decision, Option<Keyed>) {
        let run = |reason| {
            let decision = Decision::Run {
                reasons: vec![reason],
                store: None,
            };
            (decision, None)
        };
        let Some(patterns) = &session.inputs else {
            return run(RunReason::NotCacheable);
        };
        let Some(store) = self.store else {
            return run(RunReason::CacheDisabled);
        };
        let mut requires = BTreeMap::new();
        for &dep in &session.requires {
            let name = &self.project.sessions[dep].name;
            let Some(known) = upstream.get(&dep) else {
                return run(RunReason::RequiredKeyUnknown { name: name.clone() });
            };
            requires.insert(name.clone(), known.clone());
        }
        let inputs = match self.fingerprinter.inputs(patterns) {
            Ok(inputs) => inputs,
            Err(error) => return (Decision::Fail(SessionError::Inputs(error)), None),
        };
        let resolved = Resolved {
            commands: commands.to_vec(),
            requires,
            python: venv.map(PythonKey::of),
        };
        let ingredients = Ingredients::assemble(
            &self.project.root,
            session,
            self.environment,
            resolved,
            &inputs,
        );
        let key = ingredients.key();
        let decision = match store.lookup(&session.name, &key) {
            Lookup::Hit(manifest) if self.force => Decision::Run {
                reasons: vec![RunReason::Forced],
                store: Some(store.overwrite(&manifest)),
            },
            Lookup::Hit(manifest) => {
                // The checks a restore makes before writing, made here so that `--dry-run`
                // and `-l` say what the run will do.
                let target = Target {
                    root: &self.project.root,
                    declared: &session.outputs,
                    protected: self.protected.dirs(),
                };
                match restore::check(&target, &manifest.outputs) {
                    Ok(()) => Decision::Restore(manifest),
                    Err(error) => match self.after_failed_restore(&manifest, error) {
                        Unrestored::Run { reason, store } => Decision::Run {
                            reasons: vec![reason],
                            store,
                        },
                        Unrestored::Fail(error) => Decision::Fail(error),
                    },
                }
            }
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
                Decision::Run {
                    reasons,
                    store: Some(writer),
                }
            }
            Lookup::Miss(writer, Miss::Unusable(problem)) => Decision::Run {
                reasons: vec![RunReason::EntryUnusable(problem)],
                store: Some(writer),
            },
        };
        let keyed = Keyed {
            key,
            ingredients,
            inputs,
        };
        (decision, Some(keyed))
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
        let mut upstream: BTreeMap<SessionId, Upstream> = BTreeMap::new();
        let mut ends: BTreeMap<SessionId, RequirementEnd> = BTreeMap::new();
        let mut plans = Vec::with_capacity(order.len());
        for &id in order {
            let session = &sessions[id];
            let requirements = session.requires.iter().map(|dep| {
                let end = ends.get(dep).copied().unwrap_or(RequirementEnd::Aborted);
                (sessions[*dep].name.as_str(), end)
            });
            let mut plan = match blocked(requirements) {
                Some(Blocked::Skip(reason)) => SessionPlan::new(id, Decision::Skip(reason)),
                Some(Blocked::Abort(reason)) => SessionPlan::new(id, Decision::Abort(reason)),
                None => self.decide(id, &upstream),
            };
            plan.assumptions = session
                .requires
                .iter()
                .filter(|dep| !sessions[**dep].cacheable() || self.store.is_none())
                .map(|dep| Assumption::ReproducesOutputs {
                    name: sessions[*dep].name.clone(),
                })
                .collect();
            ends.insert(id, plan.decision.end());
            match (&plan.decision, plan.key()) {
                (Decision::Restore(manifest), _) => {
                    upstream.insert(id, Upstream::Key(manifest.key));
                }
                (Decision::Run { .. }, Some(key)) => {
                    upstream.insert(id, Upstream::Key(key));
                }
                (Decision::Run { .. }, None) if !session.cacheable() || self.store.is_none() => {
                    let root = &self.project.root;
                    if let Ok(digests) =
                        outputs::collect(root, &session.outputs, self.protected.dirs())
                            .and_then(|found| outputs::digests(root, &found))
                    {
                        upstream.insert(id, Upstream::Outputs(digests));
                    }
                }
                _ => {}
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
            Decision::Restore(_) | Decision::Run { .. } | Decision::PrepareEnvironment(_) => {
                RequirementEnd::Succeeded
            }
            Decision::Skip(_) => RequirementEnd::Skipped,
            Decision::Fail(_) | Decision::Abort(_) => RequirementEnd::Failed,
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
        .map(|(index, template)| {
            let argv = template.expand(posargs);
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

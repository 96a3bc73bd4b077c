//! Running one session: put back the outputs of what it requires, have the plan decide (making
//! its environment first when it must run in it, or compare it with its entry's), then act on
//! the decision: restore the entry, or run the commands and store the result.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::interrupts::Interrupts;
use super::process::{self, CommandSpec, Exit};
use super::sharing::{Presence, Shared, Sharing};
use crate::cache::blob_capture::Capture;
use crate::cache::manifest::{Manifest, OutputEntry};
use crate::cache::outputs::{self, OutputError};
use crate::cache::restore::{self, RestoreError, Restored};
use crate::cache::store::{BlobFlaw, EntryProblem, Run, Store, Stored, Writer};
use crate::command::{self, External, ExternalRun};
use crate::digest::Digest;
use crate::failure::SessionError;
use crate::key::Upstream;
use crate::patterns::OutputPattern;
use crate::plan::reason::RunReason;
use crate::plan::{Decision, Finished, Keyed, LocalEnv, Planner, SessionPlan, Unrestored};
use crate::project::{Session, SessionId};
use crate::python::prepare::{Maker, NotMade};
use crate::python::{self, EnvPurpose, EnvironmentUse, venv::Env};
use crate::relpath::RelPath;
use crate::reporter::{NotStored, Outcome, Reporter, Took, Warning};

/// Everything a session needs from the run it is part of.
pub(crate) struct Context<'a> {
    pub planner: &'a Planner<'a>,
    pub interrupts: &'a Interrupts,
    pub reporter: &'a dyn Reporter,
    pub sharing: &'a Sharing,
}

pub(crate) fn run(
    context: &Context<'_>,
    id: SessionId,
    upstream: &BTreeMap<SessionId, Finished>,
) -> (Outcome, Option<Finished>) {
    let planner = context.planner;
    let session = &planner.project.sessions[id];
    let clock = Stopwatch::start();
    // At work from here: what it puts back of its requirements, and what they left, may be
    // touched by another session at work at the same time.
    let reach = session.cacheable().then_some(&session.requires[..]);
    let presence = context.sharing.enter(id, reach);
    if let Err(error) = restore_required(context, session, upstream) {
        return context.end(session, Outcome::failed(clock.took(), error));
    }
    let mut plan = planner.decide(id, upstream);
    if let Decision::PrepareEnvironment {
        plan: environment, ..
    } = &plan.decision
    {
        match clock.environment(|| context.make(session, environment)) {
            Ok(()) => plan = planner.decide(id, upstream),
            Err(not_made) => {
                return context.end(session, not_made.outcome(clock.took()));
            }
        }
    }
    Act {
        context,
        session,
        upstream,
        presence: &presence,
        clock,
    }
    .act(plan)
}

/// `--install-only`: make or update a session's environment, and nothing else (no command
/// runs, nothing is restored or stored).
pub(crate) fn install_only(context: &Context<'_>, id: SessionId) -> Outcome {
    let session = &context.planner.project.sessions[id];
    let clock = Stopwatch::start();
    let outcome = match context.environment(session, &clock) {
        Ok(_) => Outcome::Installed {
            duration: clock.took().total,
        },
        Err(outcome) => outcome,
    };
    context.reporter.finished(&session.name, &outcome);
    outcome
}

impl NotMade {
    fn outcome(self, took: Took) -> Outcome {
        match self {
            NotMade::Interrupted => Outcome::Interrupted { took },
            NotMade::Failed(error) => Outcome::failed(took, error),
        }
    }
}

impl Context<'_> {
    /// (Re)make a session's environment.
    fn make(&self, session: &Session, plan: &python::Plan) -> Result<(), NotMade> {
        let planner = self.planner;
        let maker = Maker {
            tools: planner.python,
            root: &planner.project.root,
            environment: planner.environment,
            fingerprinter: planner.fingerprinter,
            interrupts: self.interrupts,
            reporter: self.reporter,
        };
        maker.make(session, plan)
    }

    /// The environment a session runs in, made first when it is stale; how it ends when it
    /// cannot have one.
    fn environment(&self, session: &Session, clock: &Stopwatch) -> Result<Option<Env>, Outcome> {
        let planner = self.planner;
        let unavailable = |why| match planner.unavailable(why) {
            Decision::Skip(reason) => Outcome::Skipped { reason },
            Decision::Fail(error) => Outcome::failed(clock.took(), error),
            _ => Outcome::failed(clock.took(), SessionError::EnvironmentNotMade),
        };
        match planner.local_env(session, EnvPurpose::Run) {
            LocalEnv::Without => Ok(None),
            LocalEnv::Ready(env) | LocalEnv::Outdated(env) => Ok(Some(env)),
            LocalEnv::Unavailable(why) => Err(unavailable(why)),
            LocalEnv::Stale(plan) => {
                clock
                    .environment(|| self.make(session, &plan))
                    .map_err(|not_made| not_made.outcome(clock.took()))?;
                match planner.local_env(session, EnvPurpose::Run) {
                    LocalEnv::Without => Ok(None),
                    LocalEnv::Ready(env) => Ok(Some(env)),
                    LocalEnv::Unavailable(why) => Err(unavailable(why)),
                    LocalEnv::Stale(_) | LocalEnv::Outdated(_) => Err(Outcome::failed(
                        clock.took(),
                        SessionError::EnvironmentNotMade,
                    )),
                }
            }
        }
    }

    /// Report how a session that did not run to completion ended.
    fn end(&self, session: &Session, outcome: Outcome) -> (Outcome, Option<Finished>) {
        self.reporter.finished(&session.name, &outcome);
        (outcome, None)
    }

    /// Restore an entry's outputs into the project; memoised hashes are forgotten when that
    /// wrote anything.
    fn restore(
        &self,
        declared: &[OutputPattern],
        manifest: &Manifest,
    ) -> Result<Restored, RestoreError> {
        let planner = self.planner;
        let Some(store) = planner.store else {
            return Ok(Restored::default());
        };
        let restored = restore::restore(&planner.target(declared), store, manifest)?;
        if restored.changed_anything() {
            planner.fingerprinter.invalidate();
        }
        self.sharing
            .restored(&planner.project.root, &restored.written);
        Ok(restored)
    }
}

/// Outputs of required sessions may have been deleted since they were restored or stored (a
/// later command may delete them: `coverage combine` does); put them back before starting.
fn restore_required(
    context: &Context<'_>,
    session: &Session,
    upstream: &BTreeMap<SessionId, Finished>,
) -> Result<(), SessionError> {
    for dep in &session.requires {
        let Some(entry) = upstream
            .get(dep)
            .and_then(|finished| finished.entry.as_ref())
        else {
            continue;
        };
        let declared = &context.planner.project.sessions[*dep].outputs;
        context
            .restore(declared, entry)
            .map_err(|source| SessionError::RestoreRequired {
                session: entry.session.clone(),
                source,
            })?;
    }
    Ok(())
}

/// One session acting on its plan.
struct Act<'a> {
    context: &'a Context<'a>,
    session: &'a Session,
    upstream: &'a BTreeMap<SessionId, Finished>,
    presence: &'a Presence<'a>,
    clock: Stopwatch,
}

impl Act<'_> {
    fn act(&self, plan: SessionPlan) -> (Outcome, Option<Finished>) {
        let SessionPlan {
            decision,
            keyed,
            commands,
            venv,
            ..
        } = plan;
        let running = |store, venv| Running {
            commands: &commands,
            venv,
            keyed,
            store,
        };
        let outcome = match decision {
            Decision::Restore(manifest) => {
                let planner = self.context.planner;
                let unrestored = match self.replay(&manifest) {
                    Ok(outcome) => {
                        let root = &planner.project.root;
                        return match Finished::of_entry(root, Arc::clone(&manifest)) {
                            Ok(finished) => (outcome, Some(finished)),
                            Err(error) => {
                                let failed = Outcome::failed(self.clock.took(), error.into());
                                self.context.end(self.session, failed)
                            }
                        };
                    }
                    Err(Replay::Restore(error)) => planner.after_failed_restore(&manifest, error),
                    Err(Replay::Log(flaw)) => {
                        let problem = EntryProblem::Blob {
                            what: Stored::Log,
                            flaw,
                        };
                        planner.replace_unusable(&manifest, problem)
                    }
                };
                match unrestored {
                    // A restore needs no environment, a run does.
                    Unrestored::Run { reason, store } => {
                        match self.context.environment(self.session, &self.clock) {
                            Ok(env) => {
                                return self.execute(running(store, env.as_ref()), &[reason]);
                            }
                            Err(outcome) => outcome,
                        }
                    }
                    Unrestored::Fail(error) => Outcome::failed(self.clock.took(), error),
                }
            }
            Decision::Run { reasons, store } => {
                return self.execute(running(store, venv.as_ref()), &reasons);
            }
            Decision::Skip(reason) => Outcome::Skipped { reason },
            Decision::Fail(error) => Outcome::failed(self.clock.took(), error),
            Decision::Abort(reason) => Outcome::Aborted { reason },
            Decision::PrepareEnvironment { .. } => {
                Outcome::failed(self.clock.took(), SessionError::EnvironmentNotMade)
            }
        };
        self.context.end(self.session, outcome)
    }

    fn replay(&self, manifest: &Manifest) -> Result<Outcome, Replay> {
        let store = self
            .context
            .planner
            .store
            .expect("only a store can decide to restore");
        let started = Instant::now();
        // Read through once before a byte is shown: a damaged log is a miss, never shown.
        let log = store.checked_blob(&manifest.log).map_err(Replay::Log)?;
        let restored = self
            .context
            .restore(&self.session.outputs, manifest)
            .map_err(Replay::Restore)?;
        self.context
            .reporter
            .restored(&self.session.name, manifest, log, &restored);
        // What the hit saved: the commands it spares, less the restore and the replay. Making
        // an environment is no saving: the hit made it too when it had to (to compare it with
        // the entry's), and a run on a machine that has it would not make it.
        Ok(Outcome::Cached {
            saved: manifest.commands().saturating_sub(started.elapsed()),
            environment: self.clock.took().environment,
        })
    }

    fn execute(&self, run: Running<'_>, reasons: &[RunReason]) -> (Outcome, Option<Finished>) {
        let context = self.context;
        let root = &context.planner.project.root;
        let protected = context.planner.protected.dirs();
        self.clear_older_results();
        let own = outputs::glob_matches(root, &self.session.outputs, protected);
        context.reporter.started(&self.session.name, reasons);
        let ran = self.clock.commands(|| self.run_commands(&run));
        let shared = self.presence.leave();
        let (outcome, finished) = match ran {
            Ok(log) => match self.finish(run, &own, shared, log) {
                Ok(finished) => (
                    Outcome::Ran {
                        took: self.clock.took(),
                    },
                    Some(finished),
                ),
                Err(error) => (Outcome::failed(self.clock.took(), error), None),
            },
            Err(outcome) => (outcome, None),
        };
        context.reporter.finished(&self.session.name, &outcome);
        (outcome, finished)
    }

    /// Remove what a restore of an older result of this session left that its output globs match
    /// (`.coverage.*` files of a run before the sources changed): unchanged copies of what its
    /// newest entry stores. A run then never mixes its results with an older one's, for itself
    /// or for the sessions that read them (`coverage combine`). Anything else is left alone.
    fn clear_older_results(&self) {
        let planner = self.context.planner;
        let globs: Vec<&OutputPattern> = self
            .session
            .outputs
            .iter()
            .filter(|pattern| matches!(pattern, OutputPattern::Glob { .. }))
            .collect();
        let Some(store) = planner.store.filter(|_| !globs.is_empty()) else {
            return;
        };
        let Some(newest) = store.newest(&self.session.name) else {
            return;
        };
        let root = &planner.project.root;
        let mut removed = false;
        for entry in &newest.outputs {
            let OutputEntry::File { path, blob, .. } = entry else {
                continue;
            };
            if !globs.iter().any(|pattern| pattern.declares(path)) {
                continue;
            }
            let on_disk = path.to_path(root);
            if blob.matches_file(&on_disk) && std::fs::remove_file(&on_disk).is_ok() {
                removed = true;
            }
        }
        if removed {
            planner.fingerprinter.invalidate();
        }
    }

    /// Run the commands in order; the captured log, or how the session ended early.
    fn run_commands(&self, run: &Running<'_>) -> Result<Capture, Outcome> {
        let (context, session) = (self.context, self.session);
        let failed = |error| Outcome::failed(self.clock.took(), error);
        let interrupted = || Outcome::Interrupted {
            took: self.clock.took(),
        };
        let cwd = session.cwd.to_path(&context.planner.project.root);
        if !cwd.is_dir() {
            return Err(failed(SessionError::CwdNotADirectory {
                cwd: session.cwd.clone(),
            }));
        }
        let env = process::session_env(context.planner.environment, session, run.venv);
        // Captured only when the result is to be stored, written to the store as it comes.
        let mut log = match (&run.keyed, &run.store, context.planner.store) {
            (Some(_), Some(_), Some(store)) => Capture::into_store(store),
            _ => Capture::off(),
        };
        for (index, argv) in run.commands.iter().enumerate() {
            if context.interrupts.interrupted() {
                return Err(interrupted());
            }
            let options = &session.commands[index].options;
            let own_env;
            let env = if options.env.is_empty() {
                &env
            } else {
                let mut merged = env.clone();
                merged.extend(
                    options
                        .env
                        .iter()
                        .map(|(name, value)| (name.into(), value.into())),
                );
                own_env = merged;
                &own_env
            };
            let shown = if session.shell {
                argv[2].clone()
            } else {
                command::display(argv)
            };
            let echo = format!("$ {shown}\n");
            log.push(echo.as_bytes());
            context.reporter.output(&session.name, echo.as_bytes());
            let spec = CommandSpec {
                argv,
                cwd: &cwd,
                env,
            };
            if let Some(venv) = run.venv
                && !session.shell
                && options.external == External::Checked
            {
                self.check_external(&spec, venv).map_err(&failed)?;
            }
            let result = process::run(&spec, context.interrupts, &mut |bytes| {
                log.push(bytes);
                context.reporter.output(&session.name, bytes);
            });
            context.planner.fingerprinter.invalidate();
            if context.interrupts.interrupted() {
                return Err(interrupted());
            }
            let program = if session.shell { "sh" } else { &argv[0] };
            match result {
                Ok(Exit::Code(code)) if options.succeeds(code, &session.success_codes) => {}
                Ok(exit) => {
                    return Err(failed(SessionError::Command {
                        program: program.to_string(),
                        exit,
                    }));
                }
                Err(error) => return Err(failed(SessionError::Spawn(error))),
            }
        }
        Ok(log)
    }

    /// A command about to run in `venv` whose program is found outside it (nox's external
    /// programs): a warning, or the session's failure. A program not found at all is left to
    /// fail as it starts.
    fn check_external(&self, spec: &CommandSpec<'_>, venv: &Env) -> Result<(), SessionError> {
        let Some(found) = process::resolve(spec) else {
            return Ok(());
        };
        if found.starts_with(venv.dir.join("bin")) {
            return Ok(());
        }
        let program = &spec.argv[0];
        match self.context.planner.python.external_run {
            ExternalRun::Warn => {
                self.context.reporter.warning(&Warning::ExternalProgram {
                    session: &self.session.name,
                    program,
                    found: &found,
                });
                Ok(())
            }
            ExternalRun::Fail => Err(SessionError::ExternalProgram {
                program: program.clone(),
                found,
            }),
        }
    }

    /// After a successful run: check the outputs, store the result when it is cacheable and
    /// nothing it was keyed on changed while it ran, and say what the sessions that require
    /// this one key on.
    fn finish(
        &self,
        run: Running<'_>,
        own: &outputs::Snapshot,
        shared: Shared,
        log: Capture,
    ) -> Result<Finished, SessionError> {
        let (context, session) = (self.context, self.session);
        let planner = context.planner;
        let root = &planner.project.root;
        let mut found = outputs::collect(root, &session.outputs, planner.protected.dirs())?;
        // What a glob matched before the run and the run left untouched is not its output
        // (another variant's `.coverage.*`, a leftover of an older run): storing it would
        // restore, under this key, a file this run did not make. A session that is not part of
        // a matrix hears about it: a build that found its artifact up to date did not make it
        // either, and a restore will not bring it back.
        let dropped = outputs::drop_untouched(root, &mut found, &session.outputs, own);
        // What a restore wrote while it ran (another variant's entry, restored side by side)
        // is not its output either, unless a literal declaration names it.
        found.retain(|output| {
            let literal = session.outputs.iter().any(|pattern| {
                matches!(pattern, OutputPattern::Literal { .. }) && pattern.declares(&output.path)
            });
            literal || !context.sharing.restored_untouched(root, &output.path)
        });
        let matrix = planner
            .project
            .sessions
            .iter()
            .any(|other| other.base == session.base && other.name != session.name);
        let storing = run.keyed.is_some() && run.store.is_some();
        if !dropped.is_empty() && !matrix && storing {
            context.reporter.warning(&Warning::Untouched {
                session: &session.name,
                paths: &dropped,
            });
        }
        let stored = match (run.keyed, run.store, planner.store) {
            (Some(keyed), Some(writer), Some(store)) => {
                match self
                    .unchanged(&keyed, run.venv, shared)
                    .and_then(|()| log.finish().map_err(NotStored::write))
                {
                    Err(why) => Err(why),
                    Ok(log) => {
                        let Keyed {
                            key: _,
                            ingredients,
                            inputs,
                        } = keyed;
                        let environment = run.venv.map(|env| python::realised(root, session, env));
                        let took = self.clock.took();
                        let result = Run {
                            environment,
                            ingredients,
                            inputs: &inputs,
                            outputs: &found,
                            log,
                            duration: took.total,
                            commands: took.commands.unwrap_or_default(),
                            posargs: planner.posargs,
                        };
                        self.store(writer, store, result)
                    }
                }
            }
            _ => {
                // Not cacheable, or `--no-cache`: dependents key on what this run produced.
                let digests = outputs::digests(root, &found)?;
                return Ok(Finished {
                    upstream: Upstream {
                        key: None,
                        outputs: digests,
                    },
                    entry: None,
                });
            }
        };
        match stored {
            Ok(manifest) => Ok(Finished::of_entry(root, Arc::new(manifest))?),
            Err(why) => {
                context.reporter.warning(&Warning::NotStored {
                    session: &session.name,
                    why,
                });
                let digests = outputs::digests(root, &found)?;
                Ok(Finished {
                    upstream: Upstream {
                        key: None,
                        outputs: digests,
                    },
                    entry: None,
                })
            }
        }
    }

    /// Store a result, unless a restore would refuse it here (an output reached through a
    /// symlink that leads out of the project): an entry no restore can use would only ever be
    /// replaced.
    fn store(&self, writer: Writer, store: &Store, run: Run<'_>) -> Result<Manifest, NotStored> {
        let planner = self.context.planner;
        let manifest = writer
            .stage(store, &planner.project.root, run)
            .map_err(NotStored::write)?;
        restore::check(&planner.target(&self.session.outputs), &manifest.outputs)
            .map_err(NotStored::Unrestorable)?;
        writer.commit(store, &manifest).map_err(NotStored::write)?;
        if let Some(remote) = planner.remote {
            remote.upload(&manifest.session, &manifest.key);
        }
        Ok(manifest)
    }

    /// Whether what the session was keyed on is as it was: its inputs, the outputs of the
    /// sessions it requires (which it read), and the packages of its environment.
    fn unchanged(
        &self,
        keyed: &Keyed,
        venv: Option<&Env>,
        shared: Shared,
    ) -> Result<(), NotStored> {
        let planner = self.context.planner;
        // `--no-install`: a result made in an environment that is not what the session
        // declares is no result for its key.
        if venv.is_some()
            && planner.python.environments == EnvironmentUse::AsTheyStand
            && !matches!(
                planner.local_env(self.session, EnvPurpose::Verify),
                LocalEnv::Ready(_)
            )
        {
            return Err(NotStored::EnvironmentOutdated);
        }
        // A command that installed or removed packages (`pip install` in `run`) made a result
        // the environment recorded with it does not describe.
        if let Some(venv) = venv {
            let now = venv.now();
            if (&now.distributions, &now.copies) != (&venv.distributions, &venv.copies) {
                return Err(NotStored::PackagesChanged);
            }
        }
        // What the key read of the environment's declaration (requirement files, local
        // sources) must be as it was keyed: making the environment or a command may write there.
        if keyed.ingredients.python.is_some() {
            match python::declared(planner.project, self.session, planner.fingerprinter) {
                Ok(now) if now == keyed.ingredients.python => {}
                Ok(_) | Err(_) => return Err(NotStored::DeclaredEnvironmentChanged),
            }
        }
        let patterns = self
            .session
            .inputs
            .as_ref()
            .expect("only cacheable sessions are keyed");
        match planner.fingerprinter.inputs(patterns) {
            Ok(after) if after == keyed.inputs => {}
            Ok(_) => return Err(NotStored::InputsChanged),
            Err(error) => return Err(NotStored::Inputs(error)),
        }
        let after = self
            .required_outputs()
            .map_err(|error| NotStored::RequiredOutputsUnreadable(error.to_string()))?;
        for dep in &self.session.requires {
            let Some(Finished {
                upstream: Upstream {
                    outputs: expected, ..
                },
                ..
            }) = self.upstream.get(dep)
            else {
                continue;
            };
            // What the key says the commands found: what the requirement left, and the
            // leftovers its globs matched.
            let declared = &planner.project.sessions[*dep].outputs;
            let strays = keyed.ingredients.strays.iter().filter(|(path, _)| {
                RelPath::parse(path)
                    .is_ok_and(|path| declared.iter().any(|pattern| pattern.declares(&path)))
            });
            let expected: BTreeMap<&String, &Digest> = expected.iter().chain(strays).collect();
            let now = after.get(dep);
            // Nothing added or changed; something removed only when no other session was at
            // work meanwhile (then this one removed it, having read it).
            let added_or_changed = now.is_some_and(|now| {
                now.iter()
                    .any(|(path, digest)| expected.get(path) != Some(&digest))
            });
            let removed = expected
                .keys()
                .any(|path| now.is_none_or(|now| !now.contains_key(*path)));
            if added_or_changed || (removed && shared == Shared::WithOthers) {
                let name = planner.project.sessions[*dep].name.clone();
                return Err(NotStored::RequiredOutputsChanged { name });
            }
        }
        Ok(())
    }

    /// What the output declarations of each required session match now, with digests.
    fn required_outputs(&self) -> Result<RequiredOutputs, OutputError> {
        let planner = self.context.planner;
        self.session
            .requires
            .iter()
            .map(|dep| {
                let declared = &planner.project.sessions[*dep].outputs;
                let found =
                    outputs::present(&planner.project.root, declared, planner.protected.dirs())?;
                Ok((*dep, found))
            })
            .collect()
    }
}

/// What the output declarations of each required session match, path to digest.
type RequiredOutputs = BTreeMap<SessionId, BTreeMap<String, Digest>>;

/// A session whose commands run: what they need, and what storing the result needs.
struct Running<'a> {
    commands: &'a [Vec<String>],
    venv: Option<&'a Env>,
    keyed: Option<Keyed>,
    store: Option<Writer>,
}

/// Why an entry the plan chose could not be restored.
enum Replay {
    Restore(RestoreError),
    Log(BlobFlaw),
}

/// How long a session has taken so far, the making of its environment and its commands timed
/// apart.
struct Stopwatch {
    started: Instant,
    environment: Cell<Option<Duration>>,
    commands_started: Cell<Option<Instant>>,
    commands: Cell<Option<Duration>>,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch {
            started: Instant::now(),
            environment: Cell::new(None),
            commands_started: Cell::new(None),
            commands: Cell::new(None),
        }
    }

    /// Make (or update) the environment, timed.
    fn environment<T>(&self, make: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let made = make();
        let before = self.environment.get().unwrap_or_default();
        self.environment.set(Some(before + started.elapsed()));
        made
    }

    /// Run the commands, timed.
    fn commands<T>(&self, run: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        self.commands_started.set(Some(started));
        let ran = run();
        self.commands.set(Some(started.elapsed()));
        ran
    }

    /// What it took so far (commands still running count until now).
    fn took(&self) -> Took {
        let commands = self
            .commands
            .get()
            .or_else(|| self.commands_started.get().map(|started| started.elapsed()));
        Took {
            total: self.started.elapsed(),
            environment: self.environment.get(),
            commands,
        }
    }
}

//! Running one session: restore what it requires, compute its key, then restore it from the
//! cache or run its commands and store the result.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::interrupts::Interrupts;
use super::process::{self, CommandSpec, Exit};
use crate::cache::explain;
use crate::cache::manifest::Manifest;
use crate::cache::outputs;
use crate::cache::restore::{self, RestoreError, Restored, Target};
use crate::cache::store::{Lookup, Miss, Run, Store, Writer};
use crate::command;
use crate::digest::Digest;
use crate::environment::Environment;
use crate::fingerprint::{Fingerprinter, InputFile};
use crate::key::{Ingredients, InputSet, KEY_SCHEMA, Platform, Upstream};
use crate::patterns::OutputPattern;
use crate::project::{Project, Session, SessionId};
use crate::python::venv::{self, Env};
use crate::python::{self, NotReady, PythonKey};
use crate::reporter::{Outcome, Reporter, RunReason};

/// What the sessions of one invocation share, whether they run or only say what they would do
/// (`--dry-run`).
pub struct Workspace<'a> {
    pub project: &'a Project,
    pub environment: &'a Environment,
    /// `None` with `--no-cache`.
    pub store: Option<&'a Store>,
    pub force: bool,
    pub posargs: &'a [String],
    pub fingerprinter: &'a Fingerprinter,
    /// Directories never searched for outputs nor restored into: `.git` and rtask's own.
    pub skipped: &'a [PathBuf],
    pub python: &'a python::Tools,
}

impl Workspace<'_> {
    /// Restore an entry's outputs into the project; memoised hashes are forgotten when that
    /// wrote anything.
    fn restore(
        &self,
        store: &Store,
        declared: &[OutputPattern],
        manifest: &Manifest,
    ) -> Result<Restored, RestoreError> {
        let target = Target {
            root: &self.project.root,
            declared,
            protected: self.skipped,
        };
        let restored = restore::restore(&target, store, manifest)?;
        if restored.changed_anything() {
            self.fingerprinter.invalidate();
        }
        Ok(restored)
    }
}

/// Everything a session needs from the run it is part of.
pub struct Context<'a> {
    pub workspace: &'a Workspace<'a>,
    pub interrupts: &'a Interrupts,
    pub reporter: &'a dyn Reporter,
}

/// What the sessions that require a finished session need of it.
#[derive(Debug, Clone)]
pub struct Finished {
    /// What it contributes to their keys.
    pub upstream: Upstream,
    /// Its cache entry, to restore its outputs before they start.
    pub entry: Option<Arc<Manifest>>,
}

/// The argv of each command, after `{posargs}` expansion.
pub fn expand_commands(session: &Session, posargs: &[String]) -> Result<Vec<Vec<String>>, String> {
    session
        .commands
        .iter()
        .enumerate()
        .map(|(index, template)| {
            let argv = template.expand(posargs);
            if argv.is_empty() {
                Err(format!(
                    "command {} of `{}` is empty once `{{posargs}}` is expanded",
                    index + 1,
                    session.name
                ))
            } else {
                Ok(argv)
            }
        })
        .collect()
}

/// What a session resolves to before its inputs are hashed.
pub struct Resolved {
    /// Each command's argv, `{posargs}` expanded.
    pub commands: Vec<Vec<String>>,
    /// What each required session contributes.
    pub requires: BTreeMap<String, Upstream>,
    /// Its interpreter and installed distributions, when it has an environment.
    pub python: Option<PythonKey>,
}

/// The key's ingredients for a session whose inputs have been hashed.
pub fn ingredients(
    session: &Session,
    environment: &Environment,
    resolved: Resolved,
    inputs: &[InputFile],
) -> Ingredients {
    let Resolved {
        commands,
        requires,
        python,
    } = resolved;
    Ingredients {
        schema: KEY_SCHEMA,
        session: session.name.clone(),
        commands,
        shell: session.shell,
        cwd: session.cwd.to_string(),
        env: session
            .env
            .iter()
            .map(|(name, value)| (name.clone(), Digest::of_bytes(value.as_bytes())))
            .collect(),
        env_inputs: session
            .env_inputs
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    environment
                        .get(name)
                        .map(|value| Digest::of_bytes(value.as_bytes())),
                )
            })
            .collect(),
        outputs: session
            .outputs
            .iter()
            .map(|output| output.declaration())
            .collect(),
        success_codes: session.success_codes.clone(),
        inputs: InputSet::of(inputs),
        requires,
        python,
        platform: Platform::current(),
    }
}

/// How a session's cache lookup went.
enum Plan {
    Restored(Outcome, Finished),
    Run {
        reason: RunReason,
        cache: Option<Box<Pending>>,
    },
}

/// What storing a run's result needs: the right to write, and the key it was computed from.
struct Pending {
    writer: Writer,
    ingredients: Ingredients,
    inputs: Vec<InputFile>,
}

pub fn run(
    context: &Context<'_>,
    id: SessionId,
    upstream: &BTreeMap<SessionId, Finished>,
) -> (Outcome, Option<Finished>) {
    let session = &context.workspace.project.sessions[id];
    let started = Instant::now();
    let fail = |reason: String| {
        let outcome = Outcome::Failed {
            duration: started.elapsed(),
            reason,
        };
        context.reporter.finished(&session.name, &outcome);
        (outcome, None)
    };
    if let Err(reason) = restore_required(context, session, upstream) {
        return fail(reason);
    }
    let commands = match expand_commands(session, context.workspace.posargs) {
        Ok(commands) => commands,
        Err(reason) => return fail(reason),
    };
    let mut requires = BTreeMap::new();
    for dep in &session.requires {
        let name = &context.workspace.project.sessions[*dep].name;
        // The scheduler starts a session only after everything it requires succeeded.
        let Some(finished) = upstream.get(dep) else {
            return fail(format!("required session `{name}` has no result"));
        };
        requires.insert(name.clone(), finished.upstream.clone());
    }
    let venv = match prepare_python(context, session, started) {
        Ok(venv) => venv,
        Err(outcome) => return (outcome, None),
    };
    let resolved = Resolved {
        commands: commands.clone(),
        requires,
        python: venv.as_ref().map(PythonKey::of),
    };
    let plan = match lookup(context, session, resolved) {
        Ok(plan) => plan,
        Err(reason) => return fail(reason),
    };
    match plan {
        Plan::Restored(outcome, finished) => (outcome, Some(finished)),
        Plan::Run { reason, cache } => {
            let root = &context.workspace.project.root;
            let prepared = Prepared {
                commands: &commands,
                venv: venv.as_ref(),
                before: outputs::glob_matches(root, &session.outputs, context.workspace.skipped),
            };
            execute(context, session, &prepared, reason, cache, started)
        }
    }
}

/// A session ready to run: its commands, its environment, and what its glob outputs matched
/// before it ran.
struct Prepared<'a> {
    commands: &'a [Vec<String>],
    venv: Option<&'a Env>,
    before: outputs::Snapshot,
}

/// The session's virtual environment, reused or (re)created; the outcome when there is none
/// to be had (a missing interpreter skips the session, or fails it under `CI`).
fn prepare_python(
    context: &Context<'_>,
    session: &Session,
    started: Instant,
) -> Result<Option<Env>, Outcome> {
    let tools = context.workspace.python;
    let root = &context.workspace.project.root;
    let finished = |outcome: Outcome| {
        context.reporter.finished(&session.name, &outcome);
        outcome
    };
    let failed = |reason: String| Outcome::Failed {
        duration: started.elapsed(),
        reason,
    };
    let plan = match tools.plan(root, session, context.workspace.fingerprinter) {
        Ok(None) => return Ok(None),
        Ok(Some(plan)) => plan,
        Err(NotReady::MissingInterpreter(version)) => {
            let reason = format!("Python interpreter {version} not found");
            return Err(finished(if tools.error_on_missing {
                failed(reason)
            } else {
                Outcome::Skipped { reason }
            }));
        }
        Err(NotReady::Unavailable(reason)) => return Err(finished(failed(reason))),
    };
    if let Some(env) = tools.ready(&plan) {
        return Ok(Some(env));
    }
    let commands = tools.creation(&plan).map_err(|error| {
        finished(failed(format!(
            "cannot prepare `{}`: {error}",
            plan.dir.display()
        )))
    })?;
    // The session's `env` applies to making its environment too, as nox's `session.install`.
    let mut env = child_env(context.workspace.environment, session, None);
    env.remove(&OsString::from("PYTHONHOME"));
    env.entry("UV_PYTHON_DOWNLOADS".into())
        .or_insert_with(|| "never".into());
    let mut log = Vec::new();
    for argv in &commands {
        log.extend_from_slice(format!("$ {}\n", command::display(argv)).as_bytes());
        let spec = CommandSpec {
            argv,
            cwd: root,
            env: &env,
        };
        let result = process::run(&spec, context.interrupts, &mut |bytes| {
            log.extend_from_slice(bytes)
        });
        if context.interrupts.interrupted() {
            return Err(finished(Outcome::Interrupted {
                duration: started.elapsed(),
            }));
        }
        let why = match result {
            Ok(Exit::Code(0)) => continue,
            Ok(Exit::Code(code)) => format!("exited with code {code}"),
            Ok(Exit::Signal(signal)) => format!("was killed by signal {signal}"),
            Err(error) => error.to_string(),
        };
        context
            .reporter
            .started(&session.name, &RunReason::Environment);
        context.reporter.output(&session.name, &log);
        let program = argv.first().map_or("", String::as_str);
        return Err(finished(failed(format!(
            "creating its environment failed: `{program}` {why}"
        ))));
    }
    // Installing may write into the project (`*.egg-info`, generated version files).
    context.workspace.fingerprinter.invalidate();
    let (env, took) = python::finish(&plan, started).map_err(|error| {
        finished(failed(format!(
            "cannot record `{}`: {error}",
            plan.dir.display()
        )))
    })?;
    let where_ = plan
        .dir
        .strip_prefix(root)
        .unwrap_or(&plan.dir)
        .display()
        .to_string();
    context.reporter.environment(
        &session.name,
        &format!(
            "created `{where_}` with {} (Python {}) in {}",
            venv::backend_name(plan.backend),
            env.interpreter.version,
            crate::ui::style::duration(took)
        ),
    );
    Ok(Some(env))
}

/// Outputs of required sessions may have been deleted since they were restored or stored (a
/// later command may delete them: `coverage combine` does); put them back before starting.
fn restore_required(
    context: &Context<'_>,
    session: &Session,
    upstream: &BTreeMap<SessionId, Finished>,
) -> Result<(), String> {
    let Some(store) = context.workspace.store else {
        return Ok(());
    };
    for dep in &session.requires {
        let Some(entry) = upstream
            .get(dep)
            .and_then(|finished| finished.entry.as_ref())
        else {
            continue;
        };
        let declared = &context.workspace.project.sessions[*dep].outputs;
        context
            .workspace
            .restore(store, declared, entry)
            .map_err(|error| {
                format!("cannot restore the outputs of `{}`: {error}", entry.session)
            })?;
    }
    Ok(())
}

fn lookup(context: &Context<'_>, session: &Session, resolved: Resolved) -> Result<Plan, String> {
    let (Some(patterns), Some(store)) = (&session.inputs, context.workspace.store) else {
        let reason = if session.cacheable() {
            RunReason::CacheDisabled
        } else {
            RunReason::NotCacheable
        };
        return Ok(Plan::Run {
            reason,
            cache: None,
        });
    };
    let inputs = context
        .workspace
        .fingerprinter
        .inputs(patterns)
        .map_err(|error| error.to_string())?;
    let ingredients = ingredients(session, context.workspace.environment, resolved, &inputs);
    let key = ingredients.key();
    let (writer, reason) = match store.lookup(&session.name, &key) {
        Lookup::Hit(manifest) if context.workspace.force => {
            (store.overwrite(&manifest), RunReason::Forced)
        }
        Lookup::Hit(manifest) => match replay(context, session, store, &manifest) {
            Ok(outcome) => {
                let finished = Finished {
                    upstream: Upstream::Key(key),
                    entry: Some(Arc::new(*manifest)),
                };
                return Ok(Plan::Restored(outcome, finished));
            }
            Err(why) => {
                context.reporter.warning(&format!(
                    "cannot use the cache entry of `{}`: {why}",
                    session.name
                ));
                (store.overwrite(&manifest), RunReason::Unusable(why))
            }
        },
        Lookup::Miss(writer, Miss::NoEntry) => {
            let reasons = explain::against_newest(store, &ingredients, &inputs).unwrap_or_default();
            (writer, RunReason::Miss(reasons))
        }
        Lookup::Miss(writer, Miss::Unusable(why)) => {
            context.reporter.warning(&format!(
                "cannot use the cache entry of `{}`: {why}",
                session.name
            ));
            (writer, RunReason::Unusable(why))
        }
    };
    Ok(Plan::Run {
        reason,
        cache: Some(Box::new(Pending {
            writer,
            ingredients,
            inputs,
        })),
    })
}

fn replay(
    context: &Context<'_>,
    session: &Session,
    store: &Store,
    manifest: &Manifest,
) -> Result<Outcome, String> {
    let log = store
        .read_blob(&manifest.log)
        .map_err(|why| format!("stored log: {why}"))?;
    let restored = context
        .workspace
        .restore(store, &session.outputs, manifest)
        .map_err(|error| error.to_string())?;
    context
        .reporter
        .restored(&session.name, manifest, &log, &restored);
    Ok(Outcome::Cached {
        saved: Duration::from_millis(manifest.duration_ms),
    })
}

fn execute(
    context: &Context<'_>,
    session: &Session,
    prepared: &Prepared<'_>,
    reason: RunReason,
    cache: Option<Box<Pending>>,
    started: Instant,
) -> (Outcome, Option<Finished>) {
    context.reporter.started(&session.name, &reason);
    let run = run_commands(context, session, prepared, started);
    // A command that installed or removed packages (`pip install` in `run`) made a result the
    // key's list of distributions does not describe: keep it out of the cache.
    let cache = match (cache, prepared.venv) {
        (Some(pending), Some(venv))
            if run.is_ok()
                && pending
                    .ingredients
                    .python
                    .as_ref()
                    .map(|python| &python.distributions)
                    != Some(&venv::distributions(&venv.dir)) =>
        {
            context.reporter.warning(&format!(
                "the packages installed in `{}`'s environment changed while it ran; its result is not cached",
                session.name
            ));
            None
        }
        (cache, _) => cache,
    };
    let (outcome, finished) = match run {
        Ok(log) => match finish_run(context, session, prepared, cache, (&log, started.elapsed())) {
            Ok(finished) => (
                Outcome::Ran {
                    duration: started.elapsed(),
                },
                Some(finished),
            ),
            Err(reason) => (
                Outcome::Failed {
                    duration: started.elapsed(),
                    reason,
                },
                None,
            ),
        },
        Err(outcome) => (outcome, None),
    };
    context.reporter.finished(&session.name, &outcome);
    (outcome, finished)
}

/// Run the commands in order; the captured log, or how the session ended early.
fn run_commands(
    context: &Context<'_>,
    session: &Session,
    prepared: &Prepared<'_>,
    started: Instant,
) -> Result<Vec<u8>, Outcome> {
    let failed = |reason: String| Outcome::Failed {
        duration: started.elapsed(),
        reason,
    };
    let interrupted = || Outcome::Interrupted {
        duration: started.elapsed(),
    };
    let cwd = session.cwd.to_path(&context.workspace.project.root);
    if !cwd.is_dir() {
        return Err(failed(format!(
            "`cwd` `{}` is not a directory",
            session.cwd
        )));
    }
    let env = child_env(context.workspace.environment, session, prepared.venv);
    let mut log = Vec::new();
    for argv in prepared.commands {
        if context.interrupts.interrupted() {
            return Err(interrupted());
        }
        let shown = if session.shell {
            argv[2].clone()
        } else {
            command::display(argv)
        };
        let echo = format!("$ {shown}\n");
        log.extend_from_slice(echo.as_bytes());
        context.reporter.output(&session.name, echo.as_bytes());
        let spec = CommandSpec {
            argv,
            cwd: &cwd,
            env: &env,
        };
        let result = process::run(&spec, context.interrupts, &mut |bytes| {
            log.extend_from_slice(bytes);
            context.reporter.output(&session.name, bytes);
        });
        context.workspace.fingerprinter.invalidate();
        if context.interrupts.interrupted() {
            return Err(interrupted());
        }
        let program = if session.shell {
            "sh"
        } else {
            argv[0].as_str()
        };
        match result {
            Ok(Exit::Code(code)) if session.success_codes.contains(&code) => {}
            Ok(Exit::Code(code)) => {
                return Err(failed(format!("`{program}` exited with code {code}")));
            }
            Ok(Exit::Signal(signal)) => {
                return Err(failed(format!("`{program}` was killed by signal {signal}")));
            }
            Err(error) => return Err(failed(error.to_string())),
        }
    }
    Ok(log)
}

/// After a successful run: check the outputs, store the result when it is cacheable, and say
/// what the sessions that require this one key on.
fn finish_run(
    context: &Context<'_>,
    session: &Session,
    prepared: &Prepared<'_>,
    cache: Option<Box<Pending>>,
    (log, duration): (&[u8], Duration),
) -> Result<Finished, String> {
    let root = &context.workspace.project.root;
    let mut found = outputs::collect(root, &session.outputs, context.workspace.skipped)
        .map_err(|error| error.to_string())?;
    // What a glob matched before the run and the run left untouched is not its output (another
    // variant's `.coverage.*`, a stale file from an older run).
    outputs::drop_untouched(root, &mut found, &session.outputs, &prepared.before);
    // Without a stored entry, dependents key on what this run actually produced.
    let unstored = |message: Option<String>| -> Result<Finished, String> {
        if let Some(message) = message {
            context.reporter.warning(&message);
        }
        let digests = outputs::digests(root, &found).map_err(|error| error.to_string())?;
        Ok(Finished {
            upstream: Upstream::Outputs(digests),
            entry: None,
        })
    };
    let (Some(pending), Some(store), Some(patterns)) =
        (cache, context.workspace.store, &session.inputs)
    else {
        return unstored(None);
    };
    match context.workspace.fingerprinter.inputs(patterns) {
        Ok(after) if after == pending.inputs => {}
        Ok(_) => {
            return unstored(Some(format!(
                "inputs of `{}` changed while it ran; its result is not cached",
                session.name
            )));
        }
        Err(error) => return unstored(Some(format!("`{}` is not cached: {error}", session.name))),
    }
    let Pending {
        writer,
        ingredients,
        inputs,
    } = *pending;
    let key = ingredients.key();
    let run = Run {
        ingredients,
        inputs: &inputs,
        outputs: &found,
        log,
        duration,
    };
    match writer.save(store, root, run) {
        Ok(manifest) => Ok(Finished {
            upstream: Upstream::Key(key),
            entry: Some(Arc::new(manifest)),
        }),
        Err(error) => unstored(Some(format!(
            "cannot store the result of `{}` in the cache: {error}",
            session.name
        ))),
    }
}

/// The environment of a session's commands: rtask's own, with `[env]` and the session's `env`,
/// and for a session with a virtual environment its `bin/` first on `PATH` and `VIRTUAL_ENV`.
fn child_env(
    environment: &Environment,
    session: &Session,
    venv: Option<&Env>,
) -> BTreeMap<OsString, OsString> {
    let mut env = environment.vars().clone();
    if let Some(venv) = venv {
        let mut path = venv.dir.join("bin").into_os_string();
        if let Some(rest) = env.get(&OsString::from("PATH")) {
            path.push(":");
            path.push(rest);
        }
        env.insert("PATH".into(), path);
        env.insert("VIRTUAL_ENV".into(), venv.dir.clone().into_os_string());
        env.remove(&OsString::from("PYTHONHOME"));
    }
    for (name, value) in &session.env {
        env.insert(OsString::from(name), OsString::from(value));
    }
    env
}

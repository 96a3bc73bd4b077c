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
use crate::cache::restore::{self, Target};
use crate::cache::store::{Lookup, Miss, Run, Store, Writer};
use crate::command;
use crate::digest::Digest;
use crate::environment::Environment;
use crate::fingerprint::{Fingerprinter, InputFile};
use crate::key::{Ingredients, KEY_SCHEMA, Platform, Upstream};
use crate::project::{Project, Session, SessionId};
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

/// The key's ingredients for a session whose inputs have been hashed.
pub fn ingredients(
    session: &Session,
    environment: &Environment,
    commands: Vec<Vec<String>>,
    inputs: Vec<InputFile>,
    requires: BTreeMap<String, Upstream>,
) -> Ingredients {
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
        inputs,
        requires,
        platform: Platform::current(),
    }
}

/// How a session's cache lookup went.
enum Plan {
    Restored(Outcome, Finished),
    Run {
        reason: RunReason,
        cache: Option<(Writer, Box<Ingredients>)>,
    },
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
    let plan = match lookup(context, session, commands.clone(), requires) {
        Ok(plan) => plan,
        Err(reason) => return fail(reason),
    };
    match plan {
        Plan::Restored(outcome, finished) => (outcome, Some(finished)),
        Plan::Run { reason, cache } => execute(context, session, &commands, reason, cache, started),
    }
}

/// Outputs of required sessions may have been deleted since they were restored or stored (a
/// later command may delete them: `coverage combine` does); put them back before starting.
fn restore_required(
    context: &Context<'_>,
    session: &Session,
    upstream: &BTreeMap<SessionId, Finished>,
) -> Result<(), String> {
    let (Some(store), root) = (context.workspace.store, &context.workspace.project.root) else {
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
        let target = Target {
            root,
            declared,
            protected: context.workspace.skipped,
        };
        let restored = restore::restore(&target, store, entry).map_err(|error| {
            format!("cannot restore the outputs of `{}`: {error}", entry.session)
        })?;
        if restored.changed_anything() {
            context.workspace.fingerprinter.invalidate();
        }
    }
    Ok(())
}

fn lookup(
    context: &Context<'_>,
    session: &Session,
    commands: Vec<Vec<String>>,
    requires: BTreeMap<String, Upstream>,
) -> Result<Plan, String> {
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
    let ingredients = ingredients(
        session,
        context.workspace.environment,
        commands,
        inputs,
        requires,
    );
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
            let reasons = store
                .newest(&session.name)
                .map(|newest| explain::differences(&newest.ingredients, &ingredients))
                .unwrap_or_default();
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
        cache: Some((writer, Box::new(ingredients))),
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
    let target = Target {
        root: &context.workspace.project.root,
        declared: &session.outputs,
        protected: context.workspace.skipped,
    };
    let restored = restore::restore(&target, store, manifest).map_err(|error| error.to_string())?;
    if restored.changed_anything() {
        context.workspace.fingerprinter.invalidate();
    }
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
    commands: &[Vec<String>],
    reason: RunReason,
    cache: Option<(Writer, Box<Ingredients>)>,
    started: Instant,
) -> (Outcome, Option<Finished>) {
    context.reporter.started(&session.name, &reason);
    let (outcome, finished) = match run_commands(context, session, commands, started) {
        Ok(log) => match finish_run(context, session, cache, &log, started.elapsed()) {
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
    commands: &[Vec<String>],
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
    let env = child_env(context.workspace.environment, session);
    let mut log = Vec::new();
    for argv in commands {
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
    cache: Option<(Writer, Box<Ingredients>)>,
    log: &[u8],
    duration: Duration,
) -> Result<Finished, String> {
    let root = &context.workspace.project.root;
    let found = outputs::collect(root, &session.outputs, context.workspace.skipped)
        .map_err(|error| error.to_string())?;
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
    let (Some((writer, ingredients)), Some(store), Some(patterns)) =
        (cache, context.workspace.store, &session.inputs)
    else {
        return unstored(None);
    };
    match context.workspace.fingerprinter.inputs(patterns) {
        Ok(after) if after == ingredients.inputs => {}
        Ok(_) => {
            return unstored(Some(format!(
                "inputs of `{}` changed while it ran; its result is not cached",
                session.name
            )));
        }
        Err(error) => return unstored(Some(format!("`{}` is not cached: {error}", session.name))),
    }
    let key = ingredients.key();
    let run = Run {
        ingredients: *ingredients,
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

/// The environment of a session's commands: rtask's own, with `[env]` and the session's `env`.
fn child_env(environment: &Environment, session: &Session) -> BTreeMap<OsString, OsString> {
    let mut env = environment.vars().clone();
    for (name, value) in &session.env {
        env.insert(OsString::from(name), OsString::from(value));
    }
    env
}

//! One invocation of rtask: load the project, select, then list, explain or run.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::cache::prune;
use crate::cache::store::Store;
use crate::cli::{Args, ColorChoice};
use crate::command::ExternalRun;
use crate::dry_run::CacheState;
use crate::environment::Environment;
use crate::error::{Error, Uncacheable};
use crate::exec::interrupts::Interrupts;
use crate::exec::scheduler::{self, Options, SessionResult};
use crate::exec::session::{self, Context};
use crate::exec::sharing::Sharing;
use crate::exit::Exit;
use crate::failure::SessionError;
use crate::fingerprint::Fingerprinter;
use crate::lock::Acquired;
use crate::plan::reason::AbortReason;
use crate::plan::{Decision, Planner};
use crate::project::{Backend, Project, SessionId};
use crate::protected::{INTERPRETERS, Protected, STAT_CACHE, STATE_DIR};
use crate::python::interpreter::{Finder, Surroundings};
use crate::remote::Remote;
use crate::remote::config::RemoteConfig;
use crate::reporter::Outcome;
use crate::reporter::{Reporter, Warning};
use crate::select::Request;
use crate::ui::style::Painter;
use crate::ui::{Timestamps, Ui, UiOptions, Verbosity, Warnings, summary};
use crate::{dry_run, graph, list, lock, python, remote, report, select, taskfile};

/// Whether rtask's own output (stderr) is coloured.
pub fn use_color(choice: ColorChoice, environment: &Environment) -> bool {
    color_on(choice, environment, std::io::stderr().is_terminal())
}

/// Whether what rtask writes to a stream (a terminal or not) is coloured.
fn color_on(choice: ColorChoice, environment: &Environment, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            !environment.no_color() && environment.get("TERM") != Some("dumb") && terminal
        }
    }
}

pub fn run(args: Args, environment: Environment) -> Result<Exit, Error> {
    let path = taskfile::locate(args.file.as_deref(), &environment.current_dir)?;
    let mut project = taskfile::load(&path, &environment, args.force_python.as_deref())?;
    if let Some(dir) = &args.envdir {
        taskfile::override_envdir(&mut project, dir)?;
    }
    let mut names = args.sessions.clone();
    names.extend(args.session.iter().cloned());
    names.extend(args.restore_only.iter().cloned());
    let restore_only: BTreeSet<SessionId> = if args.restore_only.is_empty() {
        BTreeSet::new()
    } else {
        let request = Request {
            names: &args.restore_only,
            tags: &[],
            keywords: None,
            pythons: &[],
        };
        select::select(&project, &request)?
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    // `--force-python VERSION` selects VERSION's variants, in place of `-p`'s (as nox).
    let pythons = match &args.force_python {
        Some(version) => vec![version.clone()],
        None => args.python.clone(),
    };
    let request = Request {
        names: &names,
        tags: &args.tags,
        keywords: args.keywords.as_deref(),
        pythons: &pythons,
    };
    let selected = select::select(&project, &request)?;
    let stdout = |text: &str| crate::error::print_stdout(text.as_bytes());
    let store = (!args.no_cache).then(|| Store::new(&project.cache_dir));
    let requested = remote::config::Requested {
        flag: args.remote_cache.as_deref(),
        read_only: args.remote_read_only,
        file: project.remote_cache.as_ref(),
    };
    let mut remote_config = match args.no_cache {
        true => None,
        false => RemoteConfig::resolve(&requested, &environment).map_err(Error::Remote)?,
    };
    let protected = Protected::of(&project);
    let state_dir = project.root.join(STATE_DIR);
    let fingerprinter = fingerprinter(&project, &protected);
    let mut python = python_tools(
        &environment,
        &state_dir,
        args.reuse(),
        args.error_on_missing_interpreters || environment.ci(),
        if args.error_on_external_run {
            ExternalRun::Fail
        } else {
            project.external_run
        },
    );
    python.environments = if args.no_venv {
        python::EnvironmentUse::Without
    } else if args.no_install || args.reuse_no_install {
        python::EnvironmentUse::AsTheyStand
    } else {
        python::EnvironmentUse::UpToDate
    };
    let mut planner = Planner {
        project: &project,
        environment: &environment,
        store: store.as_ref(),
        force: args.force,
        posargs: &args.posargs,
        fingerprinter: &fingerprinter,
        protected: &protected,
        python: &python,
        restore_only: &restore_only,
        remote: None,
    };
    if args.dry_run && selected.is_none() && !args.list {
        // Nothing selected (no session named, no default): a plan of nothing.
        stdout(&if args.json {
            dry_run::json(&project, &[], &args.posargs)
        } else {
            dry_run::text(&project, &[])
        })?;
        return Ok(Exit::Success);
    }
    if args.list || selected.is_none() {
        let every: Vec<usize> = (0..project.sessions.len()).collect();
        let states = planner
            .preview(&graph::run_order(&project.sessions, &every))
            .iter()
            .map(|plan| (plan.id, CacheState::of(plan)))
            .collect();
        stdout(&if args.json {
            list::json(&project, selected.as_deref(), &states)
        } else {
            list::text(&project, selected.as_deref(), &states)
        })?;
        return Ok(Exit::Success);
    }
    let Some(selected) = selected else {
        return Ok(Exit::Success);
    };
    let order = graph::run_order(&project.sessions, &selected);
    if args.dry_run {
        // A dry run may download the entries it finds remotely; it uploads nothing.
        let warnings = Arc::new(Warnings {
            painter: Painter {
                color: use_color(args.color, &environment),
            },
        });
        let dry_remote = remote_config
            .take()
            .map(|config| Remote::new(config, &project.cache_dir, warnings));
        planner.remote = dry_remote.as_ref();
        let plans = planner.preview(&order);
        stdout(&if args.json {
            dry_run::json(&project, &plans, &args.posargs)
        } else {
            dry_run::text(&project, &plans)
        })?;
        let not_cached = plans.iter().any(|plan| {
            matches!(
                plan.decision,
                Decision::Fail(SessionError::NotCached { .. })
            )
        });
        return Ok(if not_cached {
            Exit::NotCached
        } else {
            Exit::Success
        });
    }

    // `--report`'s file is checked before anything runs: a run never ends without it.
    let report_to = args
        .report
        .as_ref()
        .map(|path| {
            let path = environment.current_dir.join(path);
            match report::check_writable(&path, protected.dirs()) {
                Ok(destination) => Ok((path, destination)),
                Err(problem) => Err(Error::ReportPath { path, problem }),
            }
        })
        .transpose()?;
    let painter = Painter {
        color: use_color(args.color, &environment),
    };
    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let ui = Arc::new(Ui::new(UiOptions {
        painter,
        verbosity,
        progress: std::io::stderr().is_terminal()
            && !environment.ci()
            && verbosity != Verbosity::Quiet,
        github: environment.github_actions(),
        timestamps: if args.add_timestamp {
            Timestamps::Utc
        } else {
            Timestamps::Off
        },
        replay: args.replay.unwrap_or(project.replay),
        output_painter: Painter {
            color: color_on(args.color, &environment, std::io::stdout().is_terminal()),
        },
    }));
    let run_remote = remote_config
        .take()
        .map(|config| Remote::new(config, &project.cache_dir, ui.clone()));
    planner.remote = run_remote.as_ref();
    let interrupts = Interrupts::install().map_err(Error::Signals)?;
    // uv is checked before the lock is taken, when a session may make its environment with it:
    // whatever a hanging `uv --version` leaves behind then cannot hold the lock, which the
    // commands a run starts inherit.
    if !args.no_venv && any_backend(&project, &order, Backend::may_use_uv) {
        python.finder.uv_state();
    }
    // One run at a time in a project; a run started by a session of this one (`rtask other`
    // in its commands) takes the lock of the next level instead of waiting for its parent.
    let level = lock::level(environment.get_os(lock::HELD_VAR), &project.root);
    let acquired = lock::acquire(
        &state_dir,
        level,
        |holder| ui.waiting_for_lock(holder),
        &|| interrupts.interrupted(),
    )
    .map_err(|source| Error::RunLock {
        path: lock::path(&state_dir, level),
        source,
    })?;
    let _lock = match acquired {
        Acquired::Held(lock) => lock,
        Acquired::Interrupted(holder) => {
            ui.interrupted_waiting_for_lock(&holder);
            return Ok(Exit::Interrupted);
        }
    };
    if let Some(store) = &store {
        // What runs killed while storing or restoring left (never a live run's).
        store.reclaim_temps();
    }
    if run_remote.is_none()
        && let Some(store) = &store
    {
        // A `--restore-only` session no entry could restore fails before its requirements run.
        let never: Vec<(String, Uncacheable)> = restore_only
            .iter()
            .map(|&id| &project.sessions[id])
            .filter_map(|session| {
                let why = if session.inputs.is_none() {
                    Uncacheable::NotCacheable
                } else if !store.has_entries(&session.name) {
                    Uncacheable::NeverStored
                } else {
                    return None;
                };
                Some((session.name.clone(), why))
            })
            .collect();
        if !never.is_empty() {
            return Err(Error::NeverCached { sessions: never });
        }
    }
    let sessions_environment =
        environment.with_var(lock::HELD_VAR, lock::held_value(level, &project.root));
    planner.environment = &sessions_environment;
    let sharing = Sharing::default();
    let context = Context {
        planner: &planner,
        interrupts: &interrupts,
        reporter: &*ui,
        sharing: &sharing,
    };
    let options = Options {
        jobs: args
            .jobs
            .map(usize::from)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        stop_on_first_error: args.stop_on_first_error,
    };
    let started = Instant::now();
    let results = if args.install_only {
        install_only(&context, &order)
    } else {
        scheduler::run(&context, &order, &options)
    };
    interrupts.finish();
    fingerprinter.save();
    // A session pinned to uv failed saying so; one that may fall back says it here.
    if any_backend(&project, &order, |backend| backend == Backend::Auto)
        && let Some(hung) = python.finder.timed_out_uv_unsaid()
    {
        ui.uv_fallback(hung);
    }
    if let Some(remote) = &run_remote {
        remote.finish(&|| interrupts.interrupted());
    }
    if let (Some(store), Some(max_size)) = (&store, project.cache_max_size)
        && !interrupts.interrupted()
        && let Err(error) = prune::auto(store.layout_dir(), max_size)
    {
        ui.warning(&Warning::NotPruned(error));
    }
    let named: Vec<(&str, &Outcome)> = results
        .iter()
        .map(|result| (project.sessions[result.id].name.as_str(), &result.outcome))
        .collect();
    let all_good = results.iter().all(|result| !result.outcome.is_failure());
    if verbosity != Verbosity::Quiet || !all_good {
        ui.line(summary::render(&named, started.elapsed(), painter).trim_end());
    }
    if let Some((path, destination)) = report_to {
        let entries: Vec<report::Entry<'_>> = results
            .iter()
            .map(|result| report::Entry {
                session: &project.sessions[result.id],
                outcome: &result.outcome,
                key: result.key.as_ref(),
                elapsed: result.elapsed,
            })
            .collect();
        report::write(&destination, &report::render(&entries))
            .map_err(|source| Error::Report { path, source })?;
    }
    let not_cached = results.iter().any(|result| {
        matches!(&result.outcome, Outcome::Failed { error, .. }
            if matches!(**error, SessionError::NotCached { .. }))
    });
    Ok(if interrupts.interrupted() {
        Exit::Interrupted
    } else if not_cached {
        Exit::NotCached
    } else if all_good {
        Exit::Success
    } else {
        Exit::SessionFailed
    })
}

/// Whether a session of `order` has an environment made by a backend `choice` accepts.
fn any_backend(project: &Project, order: &[SessionId], choice: impl Fn(Backend) -> bool) -> bool {
    order.iter().any(|&id| {
        project.sessions[id]
            .venv
            .as_ref()
            .is_some_and(|spec| choice(spec.backend))
    })
}

/// `--install-only`: each session's environment made or updated, in order, until interrupted.
fn install_only(context: &Context<'_>, order: &[SessionId]) -> Vec<SessionResult> {
    let mut results = Vec::with_capacity(order.len());
    for &id in order {
        let started = Instant::now();
        let outcome = if context.interrupts.interrupted() {
            Outcome::Aborted {
                reason: AbortReason::Interrupted,
            }
        } else {
            session::install_only(context, id)
        };
        results.push(SessionResult {
            id,
            outcome,
            key: None,
            elapsed: started.elapsed(),
        });
    }
    results
}

/// What hashes the project's inputs, with the stat cache of its state directory.
pub(crate) fn fingerprinter(project: &Project, protected: &Protected) -> Fingerprinter {
    Fingerprinter::new(
        &project.root,
        protected.dirs().to_vec(),
        Some(project.root.join(STATE_DIR).join(STAT_CACHE)),
    )
}

/// What finds interpreters and makes environments, as this machine has them.
pub(crate) fn python_tools(
    environment: &Environment,
    state_dir: &Path,
    reuse: python::ReuseVenv,
    error_on_missing: bool,
    external_run: ExternalRun,
) -> python::Tools {
    let path_var = environment.get("PATH").map(std::ffi::OsString::from);
    let uv = which::which_in("uv", path_var, &environment.current_dir).ok();
    let surroundings = Surroundings::of(environment.vars(), &environment.current_dir);
    python::Tools {
        finder: Finder::new(surroundings, uv, Some(state_dir.join(INTERPRETERS))),
        reuse,
        error_on_missing,
        made: Default::default(),
        external_run,
        environments: python::EnvironmentUse::default(),
    }
}

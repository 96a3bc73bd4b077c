//! One invocation of rtask: load the project, select, then list, explain or run.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use crate::cache::bundle;
use crate::cache::bundle::export::Wanted;
use crate::cache::bundle::import::{Fate, Importer};
use crate::cache::signing::SigningKey;
use crate::cache::store::Store;
use crate::cli::{Args, CacheArgs, CacheCommand, ColorChoice, ExportArgs, ImportArgs};
use crate::dry_run::CacheState;
use crate::environment::Environment;
use crate::error::Error;
use crate::exec::interrupts::Interrupts;
use crate::exec::scheduler::{self, Options};
use crate::exec::session::Context;
use crate::exec::sharing::Sharing;
use crate::exit::Exit;
use crate::fingerprint::Fingerprinter;
use crate::plan::{Decision, Planner};
use crate::project::Project;
use crate::protected::{INTERPRETERS, Protected, STAT_CACHE, STATE_DIR};
use crate::python::interpreter::{Finder, Surroundings};
use crate::reporter::Outcome;
use crate::reporter::Reporter;
use crate::select::Request;
use crate::ui::style::{Painter, Style};
use crate::ui::{Ui, UiOptions, Verbosity, summary, words};
use crate::{dry_run, graph, list, lock, python, report, select, taskfile};

/// Whether rtask's own output (stderr) is coloured.
pub fn use_color(choice: ColorChoice, environment: &Environment) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            !environment.no_color()
                && environment.get("TERM") != Some("dumb")
                && std::io::stderr().is_terminal()
        }
    }
}

pub fn run(args: Args, environment: Environment) -> Result<Exit, Error> {
    let path = taskfile::locate(args.file.as_deref(), &environment.current_dir)?;
    let project = taskfile::load(&path, &environment)?;
    let mut names = args.sessions.clone();
    names.extend(args.session.iter().cloned());
    let request = Request {
        names: &names,
        tags: &args.tags,
        keywords: args.keywords.as_deref(),
        pythons: &args.python,
    };
    let selected = select::select(&project, &request)?;
    let stdout = |text: &str| {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Error::Output)
    };
    let store = (!args.no_cache).then(|| Store::new(&project.cache_dir));
    let protected = Protected::of(&project);
    let state_dir = project.root.join(STATE_DIR);
    let fingerprinter = fingerprinter(&project, &protected);
    let python = python_tools(
        &environment,
        &state_dir,
        args.reinstall,
        args.error_on_missing_interpreters || environment.ci(),
    );
    let mut planner = Planner {
        project: &project,
        environment: &environment,
        store: store.as_ref(),
        force: args.force,
        posargs: &args.posargs,
        fingerprinter: &fingerprinter,
        protected: &protected,
        python: &python,
    };
    if args.dry_run && selected.is_none() && !args.list {
        // Nothing selected (no session named, no default): a plan of nothing.
        stdout(&if args.json {
            dry_run::json(&project, &[])
        } else {
            dry_run::text(&project, &[])
        })?;
        return Ok(Exit::Success);
    }
    if args.list || selected.is_none() {
        let every: Vec<usize> = (0..project.sessions.len()).collect();
        let states = planner
            .preview(&graph::closure(&project.sessions, &every))
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
    let order = graph::closure(&project.sessions, &selected);
    if args.dry_run {
        let plans = planner.preview(&order);
        stdout(&if args.json {
            dry_run::json(&project, &plans)
        } else {
            dry_run::text(&project, &plans)
        })?;
        return Ok(Exit::Success);
    }

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
    let ui = Ui::new(UiOptions {
        painter,
        verbosity,
        progress: std::io::stderr().is_terminal()
            && !environment.ci()
            && verbosity != Verbosity::Quiet,
        github: environment.github_actions(),
    });
    let interrupts = Interrupts::install().map_err(Error::Signals)?;
    // One run at a time in a project; a run started by a session of this one (`rtask other`
    // in its commands) takes the lock of the next level instead of waiting for its parent.
    let level = lock::level(environment.get_os(lock::HELD_VAR), &project.root);
    let _lock = lock::acquire(&state_dir, level, |holder| ui.waiting_for_lock(holder)).map_err(
        |source| Error::RunLock {
            path: lock::path(&state_dir, level),
            source,
        },
    )?;
    let sessions_environment =
        environment.with_var(lock::HELD_VAR, lock::held_value(level, &project.root));
    planner.environment = &sessions_environment;
    let sharing = Sharing::default();
    let context = Context {
        planner: &planner,
        interrupts: &interrupts,
        reporter: &ui,
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
    let results = scheduler::run(&context, &order, &options);
    fingerprinter.save();
    let named: Vec<(&str, &Outcome)> = results
        .iter()
        .map(|result| (project.sessions[result.id].name.as_str(), &result.outcome))
        .collect();
    let all_good = results.iter().all(|result| !result.outcome.is_failure());
    if verbosity != Verbosity::Quiet || !all_good {
        ui.line(summary::render(&named, started.elapsed(), painter).trim_end());
    }
    if let Some(path) = &args.report {
        let entries: Vec<report::Entry<'_>> = results
            .iter()
            .map(|result| report::Entry {
                session: &project.sessions[result.id],
                outcome: &result.outcome,
                key: result.key.as_ref(),
                elapsed: result.elapsed,
            })
            .collect();
        let path = environment.current_dir.join(path);
        std::fs::write(&path, report::render(&entries))
            .map_err(|source| Error::Report { path, source })?;
    }
    Ok(if interrupts.interrupted() {
        Exit::Interrupted
    } else if all_good {
        Exit::Success
    } else {
        Exit::SessionFailed
    })
}

/// What hashes the project's inputs, with the stat cache of its state directory.
fn fingerprinter(project: &Project, protected: &Protected) -> Fingerprinter {
    Fingerprinter::new(
        &project.root,
        protected.dirs().to_vec(),
        Some(project.root.join(STATE_DIR).join(STAT_CACHE)),
    )
}

/// What finds interpreters and makes environments, as this machine has them.
fn python_tools(
    environment: &Environment,
    state_dir: &Path,
    reinstall: bool,
    error_on_missing: bool,
) -> python::Tools {
    let path_var = environment.get("PATH").map(std::ffi::OsString::from);
    let uv = which::which_in("uv", path_var.clone(), &environment.current_dir).ok();
    let surroundings = Surroundings {
        path: path_var,
        current_dir: environment.current_dir.clone(),
        shim_vars: environment
            .vars()
            .iter()
            .filter(|(name, _)| name.to_str().is_some_and(Surroundings::is_shim_var))
            .map(|(name, value)| Some((name.to_str()?.to_string(), value.to_str()?.to_string())))
            .collect(),
    };
    python::Tools {
        finder: Finder::new(surroundings, uv, Some(state_dir.join(INTERPRETERS))),
        reinstall,
        error_on_missing,
        made: Default::default(),
    }
}

/// `rtask cache export|import`.
pub fn cache(args: CacheArgs, environment: Environment) -> Result<Exit, Error> {
    let path = taskfile::locate(args.file.as_deref(), &environment.current_dir)?;
    let project = taskfile::load(&path, &environment)?;
    let setting = CacheSetting {
        store: Store::new(&project.cache_dir),
        protected: Protected::of(&project),
        signing: environment.signing_key(),
        lines: Lines {
            painter: Painter {
                color: use_color(args.color, &environment),
            },
        },
        project,
        environment,
    };
    match args.command {
        CacheCommand::Export(export) => export_bundle(&setting, export),
        CacheCommand::Import(import) => import_bundle(&setting, import),
    }
}

/// What the cache commands work with.
struct CacheSetting {
    project: Project,
    environment: Environment,
    store: Store,
    protected: Protected,
    signing: Option<SigningKey>,
    lines: Lines,
}

/// `rtask cache export`: the entries a run of the sessions would restore now, or why not.
fn export_bundle(setting: &CacheSetting, export: ExportArgs) -> Result<Exit, Error> {
    let CacheSetting {
        project,
        environment,
        store,
        protected,
        ..
    } = setting;
    let request = Request {
        names: &export.sessions,
        tags: &[],
        keywords: None,
        pythons: &[],
    };
    let selected = select::select(project, &request)?.unwrap_or_default();
    let fingerprinter = fingerprinter(project, protected);
    let state_dir = project.root.join(STATE_DIR);
    let python = python_tools(environment, &state_dir, false, environment.ci());
    let planner = Planner {
        project,
        environment,
        store: Some(store),
        force: false,
        posargs: &[],
        fingerprinter: &fingerprinter,
        protected,
        python: &python,
    };
    let plans = planner.preview(&graph::closure(&project.sessions, &selected));
    let mut wanted = Vec::new();
    let mut missing = Vec::new();
    for plan in &plans {
        let session = project.sessions[plan.id].name.as_str();
        match &plan.decision {
            Decision::Restore(manifest) => wanted.push(Wanted {
                session,
                key: manifest.key,
            }),
            decision => missing.push((session.to_string(), words::not_exported(decision))),
        }
    }
    if !missing.is_empty() && !export.allow_missing {
        return Err(Error::NotExported { missing });
    }
    for (session, why) in &missing {
        setting.lines.warning(&words::left_out(session, why));
    }
    let exported =
        bundle::export::export(store, &wanted, setting.signing.as_ref(), &export.output)?;
    setting
        .lines
        .line(&words::exported(&exported, &export.output));
    Ok(Exit::Success)
}

/// `rtask cache import`: every entry imported, already there or skipped, or some refused.
fn import_bundle(setting: &CacheSetting, import: ImportArgs) -> Result<Exit, Error> {
    let importer = Importer {
        store: &setting.store,
        project: &setting.project,
        protected: &setting.protected,
        signing: setting.signing.as_ref(),
    };
    let imported = importer.import(&import.bundle)?;
    let lines = &setting.lines;
    if let Some(error) = &imported.cut {
        lines.warning(&words::cut(error));
    }
    for (name, fate) in &imported.entries {
        match fate {
            Fate::Refused(refusal) => lines.warning(&words::refused(name, refusal)),
            Fate::Skipped(skip) => lines.note(&words::skipped(name, *skip)),
            Fate::Imported | Fate::Present => {}
        }
    }
    if imported.ignored > 0 {
        lines.note(&words::ignored(imported.ignored));
    }
    lines.line(&words::imported(&imported, &import.bundle));
    let refused = imported
        .entries
        .iter()
        .any(|(_, fate)| matches!(fate, Fate::Refused(_)));
    // The refused entries are not in the cache: the run that needs them runs them. The
    // import failed at what it was asked to do, as a session fails.
    Ok(if refused {
        Exit::SessionFailed
    } else {
        Exit::Success
    })
}

/// rtask's own lines on stderr, outside a run.
struct Lines {
    painter: Painter,
}

impl Lines {
    fn line(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{text}");
    }

    fn warning(&self, text: &str) {
        self.line(&format!(
            "{} {text}",
            self.painter.paint(Style::Yellow, "warning:")
        ));
    }

    fn note(&self, text: &str) {
        self.line(&format!(
            "{} {text}",
            self.painter.paint(Style::Bold, "note:")
        ));
    }
}

//! `rtask cache export|import|stats|prune`: load the project, export the entries a run would
//! restore or import a bundle's (see `cache::bundle` for the bundle itself), count the cache or
//! prune it (see `cache::prune`), and word the outcome.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::app::{fingerprinter, python_tools, use_color};
use crate::cache::bundle;
use crate::cache::bundle::export::Wanted;
use crate::cache::bundle::import::{Fate, Importer};
use crate::cache::limits::{Age, ByteSize, LimitKind};
use crate::cache::prune::{self, Limits, Stats};
use crate::cache::signing::Signing;
use crate::cache::store::Store;
use crate::cli::{CacheArgs, CacheCommand, ExportArgs, ImportArgs, PruneArgs, StatsArgs};
use crate::environment::Environment;
use crate::error::Error;
use crate::exit::Exit;
use crate::plan::{Decision, Planner};
use crate::project::Project;
use crate::protected::{Protected, STATE_DIR};
use crate::select::Request;
use crate::ui::style::{Painter, Style};
use crate::ui::words;
use crate::{graph, select, taskfile};

/// `rtask cache export|import|stats|prune`.
pub fn run(args: CacheArgs, environment: Environment) -> Result<Exit, Error> {
    let lines = Lines {
        painter: Painter {
            color: use_color(args.color, &environment),
        },
    };
    let file = args.file.as_deref();
    match args.command {
        CacheCommand::Export(export) => {
            export_bundle(&CacheSetting::load(file, environment, lines)?, export)
        }
        CacheCommand::Import(import) => {
            import_bundle(&CacheSetting::load(file, environment, lines)?, import)
        }
        CacheCommand::Stats(stats) => show_stats(&Maintained::find(file, &environment)?, stats),
        CacheCommand::Prune(prune) => {
            prune_cache(&Maintained::find(file, &environment)?, &lines, prune)
        }
    }
}

/// The cache `stats` and `prune` look after: the project's, or the one `RTASK_CACHE_DIR` names
/// when no `tasks.toml` is found (a cache that checkouts share is looked after from anywhere).
struct Maintained {
    store: Store,
    max_size: Option<u64>,
    /// The cache directory as messages show it: relative to the current directory when below.
    shown: String,
}

impl Maintained {
    fn find(file: Option<&Path>, environment: &Environment) -> Result<Maintained, Error> {
        let located = taskfile::locate(file, &environment.current_dir);
        let (dir, max_size) = match (located, environment.cache_dir_override()) {
            (Ok(path), _) => {
                let project = taskfile::load(&path, environment, None)?;
                (project.cache_dir, project.cache_max_size)
            }
            (
                Err(Error::TaskFileNotFound {
                    explicit: false, ..
                }),
                Some(dir),
            ) => (dir, taskfile::cache_max_size_override(environment)?),
            (Err(error), _) => return Err(error),
        };
        Ok(Maintained {
            store: Store::new(&dir),
            max_size,
            shown: dir
                .strip_prefix(&environment.current_dir)
                .unwrap_or(&dir)
                .display()
                .to_string(),
        })
    }
}

/// `rtask cache stats`: what the cache holds, on standard output.
fn show_stats(cache: &Maintained, args: StatsArgs) -> Result<Exit, Error> {
    let dir = cache.store.layout_dir();
    let stats = prune::stats(dir).map_err(|source| Error::CacheCount {
        path: dir.to_path_buf(),
        source,
    })?;
    let shown = &cache.shown;
    let text = if args.json {
        stats_json(shown, stats.as_ref())
    } else {
        words::cache_stats(shown, stats.as_ref(), SystemTime::now())
    };
    crate::error::print_stdout(text.as_bytes())?;
    Ok(Exit::Success)
}

fn stats_json(shown: &str, stats: Option<&Stats>) -> String {
    let millis = |time: SystemTime| {
        time.duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64)
    };
    let value = match stats {
        None => serde_json::json!({ "cache_dir": shown, "exists": false }),
        Some(stats) => serde_json::json!({
            "cache_dir": shown,
            "exists": true,
            "entries": stats.entries,
            "bytes": stats.bytes,
            "unreferenced_bytes": stats.unreferenced,
            "sessions": stats.sessions.iter().map(|session| serde_json::json!({
                "name": session.session,
                "entries": session.entries,
                "bytes": session.bytes,
                "last_used_unix_ms": millis(session.last_use),
            })).collect::<Vec<_>>(),
        }),
    };
    format!("{value:#}\n")
}

/// `rtask cache prune`: to the limits given, else to `cache_max_size`.
fn prune_cache(cache: &Maintained, lines: &Lines, args: PruneArgs) -> Result<Exit, Error> {
    let max_size = match &args.max_size {
        Some(value) => Some(
            value
                .parse::<ByteSize>()
                .map_err(|problem| Error::BadLimit {
                    flag: "--max-size",
                    value: value.clone(),
                    kind: LimitKind::Size,
                    problem,
                })?
                .0,
        ),
        None => None,
    };
    let older_than = match &args.older_than {
        Some(value) => Some(
            value
                .parse::<Age>()
                .map_err(|problem| Error::BadLimit {
                    flag: "--older-than",
                    value: value.clone(),
                    kind: LimitKind::Age,
                    problem,
                })?
                .0,
        ),
        None => None,
    };
    let limits = match (max_size, older_than) {
        (None, None) => Limits {
            max_size: Some(cache.max_size.ok_or(Error::NoPruneLimit)?),
            older_than: None,
        },
        (max_size, older_than) => Limits {
            max_size,
            older_than,
        },
    };
    let pruned = prune::prune(cache.store.layout_dir(), limits).map_err(Error::CacheWrite)?;
    lines.line(&words::pruned(&cache.shown, pruned.as_ref()));
    Ok(Exit::Success)
}

/// What export and import work with.
struct CacheSetting {
    project: Project,
    environment: Environment,
    store: Store,
    protected: Protected,
    signing: Signing,
    lines: Lines,
}

impl CacheSetting {
    fn load(
        file: Option<&Path>,
        environment: Environment,
        lines: Lines,
    ) -> Result<CacheSetting, Error> {
        let path = taskfile::locate(file, &environment.current_dir)?;
        let project = taskfile::load(&path, &environment, None)?;
        let setting = CacheSetting {
            store: Store::new(&project.cache_dir),
            protected: Protected::of(&project),
            signing: environment.signing(),
            lines,
            project,
            environment,
        };
        if matches!(setting.signing, Signing::Empty) {
            setting.lines.warning(&words::empty_signing_key());
        }
        Ok(setting)
    }
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
    let python = python_tools(
        environment,
        &state_dir,
        crate::python::ReuseVenv::Yes,
        environment.ci(),
        project.external_run,
    );
    let restore_only = BTreeSet::new();
    let planner = Planner {
        project,
        environment,
        store: Some(store),
        force: false,
        posargs: &[],
        fingerprinter: &fingerprinter,
        protected,
        python: &python,
        // What is exported is what the local cache holds.
        remote: None,
        restore_only: &restore_only,
    };
    let plans = planner.preview(&graph::run_order(&project.sessions, &selected));
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
    let exported = bundle::export::export(store, &wanted, setting.signing.key(), &export.output)?;
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
        signing: setting.signing.key(),
    };
    // Every bundle is there before any is imported: a missing one leaves nothing half done.
    for bundle in &import.bundles {
        std::fs::File::open(bundle).map_err(|source| Error::BundleRead {
            path: bundle.clone(),
            source,
        })?;
    }
    let mut refused = false;
    for bundle in &import.bundles {
        let imported = importer.import(bundle)?;
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
        lines.line(&words::imported(&imported, bundle));
        refused |= imported
            .entries
            .iter()
            .any(|(_, fate)| matches!(fate, Fate::Refused(_)));
    }
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

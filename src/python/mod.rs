//! Python sessions: finding interpreters and making their virtual environments.

pub mod installed;
pub mod interpreter;
pub mod marker;
pub mod prepare;
pub mod references;
pub mod sources;
pub mod uv;
pub mod venv;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use self::interpreter::{Finder, Interpreter};
use self::references::References;
use self::sources::{Results, SourceReader, Sources};
use self::uv::{BrokenUv, UvState};
use self::venv::{BackendMatch, Dependency, Env, Fingerprint, Found};
use crate::digest::Digest;
use crate::fingerprint::Fingerprinter;
use crate::plan::reason::{EnvironmentDifference, Recreate};
use crate::project::{Backend, EnvDir, EnvNaming, Project, Session, SessionReuse, VenvSpec};

/// What the Python side of a run shares.
pub struct Tools {
    pub finder: Finder,
    /// `--reuse-venv` and its spellings: whether up-to-date environments are kept.
    pub reuse: ReuseVenv,
    /// A missing interpreter fails the session instead of skipping it (`CI` set, or
    /// `--error-on-missing-interpreters`).
    pub error_on_missing: bool,
    /// The environments made in this run: an environment to be remade is remade once.
    pub made: std::sync::Mutex<std::collections::BTreeSet<PathBuf>>,
    /// What becomes of a command whose program is found outside its session's environment
    /// (`--error-on-external-run`, `[settings] error_on_external_run`).
    pub external_run: crate::command::ExternalRun,
    /// How sessions use their environments (`--no-install`, `--no-venv`).
    pub environments: EnvironmentUse,
}

/// How sessions use their virtual environments in this run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnvironmentUse {
    /// Made, and kept up to date with their declarations.
    #[default]
    UpToDate,
    /// `--no-install`: one that exists is used as it stands, even when it is not up to date
    /// (then its result is not stored); a missing one is made.
    AsTheyStand,
    /// `--no-venv`: none; sessions run on the host, neither restored nor stored.
    Without,
}

/// `--reuse-venv`: whether an up-to-date environment is kept or remade. A stale one is always
/// remade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReuseVenv {
    /// Kept, except for sessions with `reuse_venv = false` (the default; `-r`).
    Yes,
    /// Remade, except for sessions with `reuse_venv = true`.
    No,
    /// Kept, even for sessions with `reuse_venv = false`.
    Always,
    /// Remade, whatever the sessions say (`--reinstall`).
    Never,
}

/// What becomes of one session's up-to-date environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    Keep,
    /// Remade (once in a run) before the session's commands run; one that is up to date still
    /// serves to check a cache entry.
    RemakeToRun,
    /// Remade (once in a run) before it is used at all.
    Remake,
}

/// What an environment is wanted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvPurpose {
    /// The session's commands run in it.
    Run,
    /// A cache entry is checked against it.
    Verify,
}

/// What a session's Python adds to its cache key: what it declares, and the content of what
/// that names on disk. Nothing of an interpreter or an environment enters it (neither is needed
/// to compute it, so a result can be restored where neither exists), nor the backend that makes
/// the environment: environments made by uv and by venv from one declaration share entries.
/// What an environment really held is recorded beside each entry ([`Realised`]) and checked
/// against a local environment, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonKey {
    /// The interpreter asked for (`python = "3.11"`).
    pub request: String,
    /// The `install` arguments, as written.
    pub install: Vec<Vec<String>>,
    /// `venv_params` (`--system-site-packages` changes what a command imports).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub venv_params: Vec<String>,
    /// The requirement-format files `install` reads (and those they include), dependency
    /// groups' `pyproject.toml`, and the metadata files of projects installed editable: path
    /// to digest (`None`: missing).
    pub files: BTreeMap<String, Option<Digest>>,
    /// Local projects installed without `-e`, local archives, and the local dependencies
    /// their `pyproject.toml` files declare: path to the digest of the files git keeps of them
    /// (`None`: missing). What git ignores (a `_version.py` the build writes, what a test
    /// leaves) is left out: what it made the build pack shows in the entry's [`Realised`],
    /// checked against a local environment.
    pub local_sources: BTreeMap<String, Option<Digest>>,
}

/// What a session's environment held when its result was made: recorded in the entry, never
/// part of the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Realised {
    /// `3.11.7`.
    pub version: String,
    /// `cpython`.
    pub implementation: String,
    /// `linux-x86_64`.
    pub platform: String,
    /// A free-threaded build (`3.13t`): an entry made on one never verifies against a default
    /// build's environment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub free_threaded: bool,
    /// Installed distributions, normalised name to version; without the installers' seeds
    /// (pip, setuptools, wheel) unless the install arguments or their requirement files name
    /// them: venv puts them in, uv does not.
    pub distributions: BTreeMap<String, String>,
    /// The installers' seeds installed but not named, by name only: their versions follow the
    /// interpreter's bundled pip and do not count, but their presence does, as a command may
    /// use them (`python -m pip`): an entry made where venv put pip in is never served where
    /// uv left it out. Absent in entries made before it was recorded: those differ from an
    /// environment with seeds, a miss.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub seeds: BTreeSet<String>,
    /// The distributions copied from local directories and archives: name to a digest of the
    /// files they installed (their `RECORD`).
    pub local_installs: BTreeMap<String, Digest>,
    /// The local dependencies found in the environment that nothing declared (through their
    /// `direct_url.json`): path (relative to the project when inside it) to the digest of the
    /// files git keeps of them (`None`: missing).
    pub dependencies: BTreeMap<String, Option<Digest>>,
}

/// What an installer puts in an environment of its own accord.
const SEEDS: &[&str] = &["pip", "setuptools", "wheel"];

impl Realised {
    /// The first difference between what is installed `here` and what the `entry` was made in.
    pub(crate) fn first_difference(&self, entry: &Realised) -> Option<EnvironmentDifference> {
        let interpreter = |realised: &Realised| {
            let build = if realised.free_threaded {
                " free-threaded"
            } else {
                ""
            };
            format!(
                "{} {}{build} ({})",
                realised.implementation, realised.version, realised.platform
            )
        };
        if interpreter(self) != interpreter(entry) {
            return Some(EnvironmentDifference::Interpreter {
                here: interpreter(self),
                entry: interpreter(entry),
            });
        }
        if let Some(name) = venv::first_change(&entry.distributions, &self.distributions) {
            return Some(EnvironmentDifference::Distribution {
                here: self.distributions.get(&name).cloned(),
                entry: entry.distributions.get(&name).cloned(),
                name,
            });
        }
        if let Some(name) = self.seeds.symmetric_difference(&entry.seeds).next() {
            return Some(EnvironmentDifference::Seed {
                name: name.clone(),
                here: self.seeds.contains(name),
            });
        }
        if let Some(name) = venv::first_change(&entry.local_installs, &self.local_installs) {
            return Some(EnvironmentDifference::LocalInstall { name });
        }
        venv::first_change(&entry.dependencies, &self.dependencies)
            .map(|path| EnvironmentDifference::LocalDependency { path })
    }

    /// The distributions counted, as `-v` and `--dry-run` say it.
    pub fn count(&self) -> usize {
        self.distributions.len()
    }
}

/// The key's Python part of `session`, read from disk without an interpreter or an
/// environment; `None` when it has no environment. Fails when a local project it installs
/// cannot be read.
pub fn declared(
    project: &Project,
    session: &Session,
    fingerprinter: &Fingerprinter,
) -> Result<Option<PythonKey>, String> {
    let (Some(request), Some(spec)) = (&session.python, &session.venv) else {
        return Ok(None);
    };
    let root = &project.root;
    // Every entry, whatever its marker: the key is known without an interpreter.
    let references = References::of(root, &spec.requirements());
    let declared = references.declared_local_dependencies();
    let projects = projects(&references, &declared, std::iter::empty());
    let results = Results::of(project.sessions.iter().flat_map(|session| &session.outputs));
    let reader = SourceReader::new(root, fingerprinter, projects, &results);
    let watched = references.watched(root, &reader)?;
    let mut local_sources: BTreeMap<String, Option<Digest>> = watched
        .sources
        .iter()
        .map(|(path, sources)| (path.clone(), tracked(sources)))
        .collect();
    for path in declared.keys() {
        let sources = reader.read(path)?;
        local_sources.insert(sources::display(root, path), tracked(&sources));
    }
    Ok(Some(PythonKey {
        request: request.clone(),
        install: spec.written(),
        venv_params: spec.params.clone(),
        files: watched.files,
        local_sources,
    }))
}

/// What `session`'s environment `env` holds, as an entry records it.
pub fn realised(root: &Path, session: &Session, env: &Env) -> Realised {
    let install = session
        .venv
        .as_ref()
        .map(VenvSpec::requirements)
        .unwrap_or_default();
    let named = References::of(root, &install).named(&install);
    realised_naming(env, &named)
}

/// What `env` holds, keeping the installers' seeds that `named` holds.
fn realised_naming(env: &Env, named: &BTreeSet<String>) -> Realised {
    Realised {
        version: env.interpreter.version.clone(),
        implementation: env.interpreter.implementation.clone(),
        platform: env.interpreter.platform.clone(),
        free_threaded: env.interpreter.free_threaded,
        distributions: env
            .distributions
            .iter()
            .filter(|(name, _)| !SEEDS.contains(&name.as_str()) || named.contains(*name))
            .map(|(name, version)| (name.clone(), version.clone()))
            .collect(),
        seeds: env
            .distributions
            .keys()
            .filter(|name| SEEDS.contains(&name.as_str()) && !named.contains(*name))
            .cloned()
            .collect(),
        local_installs: env
            .copies
            .iter()
            .map(|(name, files)| (name.to_lowercase().replace(['_', '.'], "-"), *files))
            .collect(),
        dependencies: env
            .dependencies
            .iter()
            .map(|(path, sources)| (path.clone(), tracked(sources)))
            .collect(),
    }
}

/// The digest of the files git keeps of a local project's sources.
fn tracked(sources: &Option<Sources>) -> Option<Digest> {
    sources.as_ref().map(|sources| sources.tracked)
}

/// Whether `session` has a local environment: one rtask completed in its directory, stale or
/// not.
pub fn has_local_environment(session: &Session) -> bool {
    session
        .venv
        .as_ref()
        .is_some_and(|spec| venv::recorded(&spec.dir).is_some())
}

/// The first local dependency an entry's environment held (found there, not declared) whose
/// sources in this checkout differ from those it was made from: its path, and whether it is
/// still there. Needs no environment.
pub fn changed_dependency(
    project: &Project,
    session: &Session,
    fingerprinter: &Fingerprinter,
    entry: &Realised,
) -> Result<Option<(String, bool)>, String> {
    if entry.dependencies.is_empty() {
        return Ok(None);
    }
    let root = &project.root;
    let install = session
        .venv
        .as_ref()
        .map(VenvSpec::requirements)
        .unwrap_or_default();
    let references = References::of(root, &install);
    let declared = references.declared_local_dependencies();
    let found = entry.dependencies.keys().map(|path| root.join(path));
    let projects = projects(&references, &declared, found);
    let results = Results::of(project.sessions.iter().flat_map(|session| &session.outputs));
    let reader = SourceReader::new(root, fingerprinter, projects, &results);
    for (path, recorded) in &entry.dependencies {
        let now = tracked(&reader.read(&root.join(path))?);
        if now != *recorded {
            return Ok(Some((path.clone(), now.is_some())));
        }
    }
    Ok(None)
}

/// Why a session's environment is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// No interpreter of the version asked for.
    MissingInterpreter(String),
    /// `venv_backend = "uv"`, and uv is not on `PATH`.
    UvMissing,
    /// `venv_backend = "uv"`, and the uv on `PATH` does not run.
    UvBroken(BrokenUv),
    /// A local project it installs cannot be read; what went wrong.
    LocalProject(String),
}

/// A session's environment, planned: where it lives, what it is made from, how.
pub struct Plan {
    pub dir: PathBuf,
    pub fingerprint: Fingerprint,
    pub backend: Backend,
    /// Whether an environment made with another backend than `backend` serves.
    pub backends: BackendMatch,
    /// The `install` entries a marker left out for this interpreter, as written.
    pub left_out: Vec<String>,
    /// The local dependencies uv must build again rather than take from its cache: those the
    /// local projects declare, and those found in the environment before.
    pub rebuild: BTreeSet<String>,
    /// What the project's sessions declare as outputs: not the sources of a local project.
    pub results: Results,
    pub reuse: Reuse,
    /// Why the environment there would be made again; `None` when there is none, or it is up
    /// to date and kept.
    pub recreate: Option<Recreate>,
}

/// Give each session with an environment its directory in `envdir`. With rtask's naming a name
/// with characters unfit for a path (`unit_tests-3.11(db='sqlite')`) becomes a slug with a
/// digest of the name; with nox's (`tests-3.12` -> `tests-3-12`), names that two sessions would
/// share, or that normalise to nothing, get a digest of the name too: two sessions never share
/// an environment.
pub fn place_environments(sessions: &mut [Session], envdir: &EnvDir) {
    let names: Vec<String> = sessions
        .iter()
        .map(|session| match envdir.naming {
            EnvNaming::Rtask => rtask_dir_name(&session.name),
            EnvNaming::Nox => nox_dir_name(&session.name),
        })
        .collect();
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for (session, name) in sessions.iter().zip(&names) {
        if session.venv.is_some() {
            *uses.entry(name.as_str()).or_default() += 1;
        }
    }
    let shared: BTreeSet<String> = uses
        .into_iter()
        .filter(|(name, count)| *count > 1 || name.is_empty())
        .map(|(name, _)| name.to_string())
        .collect();
    for (session, name) in sessions.iter_mut().zip(&names) {
        let name = if shared.contains(name) {
            let digest = Digest::of_bytes(session.name.as_bytes()).to_hex();
            [name.as_str(), &digest[..8]]
                .iter()
                .filter(|part| !part.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("-")
        } else {
            name.clone()
        };
        if let Some(spec) = &mut session.venv {
            spec.dir = envdir.path.join(name);
        }
    }
}

/// `.rtask/venvs/<name>`: the name, or a slug of it with a digest when it has characters unfit
/// for a path.
fn rtask_dir_name(session: &str) -> String {
    let fits = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if session.chars().all(fits) {
        session.to_string()
    } else {
        let slug: Vec<&str> = session
            .split(|c: char| !fits(c))
            .filter(|part| !part.is_empty())
            .collect();
        let digest = Digest::of_bytes(session.as_bytes());
        format!("{}-{}", slug.join("-"), &digest.to_hex()[..8])
    }
}

/// A session's directory name as nox makes it: lower case, what is not a word character, a
/// space or `-` becomes `-`, runs of `-` and spaces become one `-`, none at either end. nox
/// first drops what has no ASCII form (an accent); other letters beyond ASCII are dropped here.
fn nox_dir_name(session: &str) -> String {
    let mut name = String::new();
    for c in session.to_lowercase().chars().filter(char::is_ascii) {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        if c == '-' && name.ends_with('-') {
            continue;
        }
        name.push(c);
    }
    name.trim_matches('-').to_string()
}

impl Tools {
    /// The environment a session of `project` needs, or `Ok(None)` when it runs without one.
    /// `fingerprinter` digests the sources of local projects installed without `-e`, and of the
    /// local dependencies the environment was found to hold when it was made; the outputs of
    /// the project's sessions are left out of them.
    pub fn plan(
        &self,
        project: &Project,
        session: &Session,
        fingerprinter: &Fingerprinter,
    ) -> Result<Option<Plan>, NotReady> {
        let root = &project.root;
        let (Some(version), Some(spec)) = (&session.python, &session.venv) else {
            return Ok(None);
        };
        if self.environments == EnvironmentUse::Without {
            return Ok(None);
        }
        let backend = concrete(spec.backend, &self.finder)?;
        let interpreter = match backend {
            // The tool brings the interpreter: what was asked stands for it until it is made.
            Backend::Conda(tool) => Interpreter {
                executable: self.finder.tool(tool.name()).ok_or_else(|| {
                    NotReady::MissingInterpreter(format!("{version} through `{}`", tool.name()))
                })?,
                version: version.clone(),
                implementation: tool.name().to_string(),
                platform: String::new(),
                markers: BTreeMap::new(),
                free_threaded: false,
            },
            _ => self
                .finder
                .find(version, backend == Backend::Uv)
                .ok_or_else(|| NotReady::MissingInterpreter(version.clone()))?,
        };
        let dir = spec.dir.clone();
        let evaluated = spec.evaluated(&interpreter.marker_values());
        let references = References::of(root, &evaluated.install);
        let declared = references.declared_local_dependencies();
        // The local dependencies found when the environment was made are watched until it is
        // made again.
        let made = venv::recorded(&dir);
        let known = made
            .as_ref()
            .map(|made| made.dependencies.clone())
            .unwrap_or_default();
        let found = known.keys().map(|path| root.join(path));
        let projects = projects(&references, &declared, found);
        let installed = made.map(|made| made.packages(root)).unwrap_or_default();
        let results = Results::of(project.sessions.iter().flat_map(|session| &session.outputs));
        let reader =
            SourceReader::new(root, fingerprinter, projects, &results).installed(installed);
        let watched = references
            .watched(root, &reader)
            .map_err(NotReady::LocalProject)?;
        let made_from = venv::MadeFrom {
            interpreter: &interpreter,
            backend,
            install: evaluated.install,
        };
        let mut fingerprint = Fingerprint::new(&dir, made_from, session, watched);
        for (path, dependency) in &known {
            let sources = reader
                .read(&root.join(path))
                .map_err(NotReady::LocalProject)?;
            let name = dependency.name.clone();
            let dependency = Dependency { name, sources };
            fingerprint.dependencies.insert(path.clone(), dependency);
        }
        let known_names = known.into_values().map(|dependency| dependency.name);
        let rebuild = declared.into_values().chain(known_names).collect();
        let backends = match spec.backend {
            Backend::Auto => BackendMatch::UvOrVenv,
            _ => BackendMatch::Exact,
        };
        let reuse = self.reuse_of(session);
        let recreate = self.why_recreated(&dir, &fingerprint, backends, (reuse, spec.reuse));
        Ok(Some(Plan {
            fingerprint,
            left_out: evaluated.left_out,
            dir,
            backend,
            backends,
            rebuild,
            results,
            reuse,
            recreate,
        }))
    }

    /// What becomes of `session`'s environment when it is up to date: `--reuse-venv` and the
    /// session's `reuse_venv`, as nox decides.
    pub fn reuse_of(&self, session: &Session) -> Reuse {
        let asked = session
            .venv
            .as_ref()
            .map_or(SessionReuse::Unset, |spec| spec.reuse);
        match (self.reuse, asked) {
            (ReuseVenv::Never, _) => Reuse::Remake,
            (ReuseVenv::Always, _)
            | (ReuseVenv::Yes, SessionReuse::Unset | SessionReuse::Keep)
            | (ReuseVenv::No, SessionReuse::Keep) => Reuse::Keep,
            (ReuseVenv::Yes | ReuseVenv::No, _) => Reuse::RemakeToRun,
        }
    }

    /// The environment as it stands, if it matches its plan, and, when it is to be remade for
    /// this use, was made in this run.
    pub fn ready(&self, plan: &Plan, wanted: EnvPurpose) -> Option<Env> {
        let remade = match (plan.reuse, wanted) {
            (Reuse::Keep, _) | (Reuse::RemakeToRun, EnvPurpose::Verify) => false,
            (Reuse::Remake, _) | (Reuse::RemakeToRun, EnvPurpose::Run) => true,
        };
        if remade && !self.made_now(&plan.dir) {
            return None;
        }
        venv::existing(&plan.dir, &plan.fingerprint, plan.backends)
    }

    /// Why the environment in `dir`, planned from `planned`, would be made again: the first
    /// difference from its record, else the reuse flags and setting that remake it (`reuse`:
    /// what they decided, and what the session asked); `None` when there is none yet, or it is
    /// kept.
    fn why_recreated(
        &self,
        dir: &Path,
        planned: &Fingerprint,
        backends: BackendMatch,
        reuse: (Reuse, SessionReuse),
    ) -> Option<Recreate> {
        let recorded = match venv::found(dir) {
            Found::Nothing => return None,
            Found::Unrecorded => return Some(Recreate::Unrecorded),
            Found::OtherSchema => return Some(Recreate::Schema),
            Found::Recorded(recorded) => recorded,
        };
        if let Some(why) = venv::difference(&recorded, planned, backends) {
            return Some(why);
        }
        match (reuse, self.reuse) {
            ((Reuse::Keep, _), _) => None,
            (_, ReuseVenv::Never) => Some(Recreate::Reinstall),
            ((_, SessionReuse::Remake), _) => Some(Recreate::SessionReuseFalse),
            _ => Some(Recreate::ReuseNo),
        }
    }

    /// With `--no-install`, the environment of a plan that is not [`Tools::ready`] as it
    /// stands, when one was completed there.
    pub fn as_it_stands(&self, plan: &Plan) -> Option<Env> {
        if self.environments != EnvironmentUse::AsTheyStand {
            return None;
        }
        venv::recorded(&plan.dir).map(|recorded| recorded.env(&plan.dir))
    }

    fn made_now(&self, dir: &Path) -> bool {
        self.made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(dir)
    }

    /// The commands that (re)create a planned environment, after its directory is removed.
    pub fn creation(&self, plan: &Plan) -> std::io::Result<Vec<Vec<String>>> {
        if plan.dir.exists() {
            std::fs::remove_dir_all(&plan.dir)?;
        }
        if let Some(parent) = plan.dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Ok(venv::creation_commands(
            &plan.fingerprint,
            plan.backend,
            self.finder.uv(),
            &plan.dir,
            &plan.rebuild,
        ))
    }

    /// Record a freshly made environment, with the local dependencies found in it.
    pub fn record(
        &self,
        plan: &Plan,
        root: &Path,
        fingerprinter: &Fingerprinter,
        started: Instant,
    ) -> std::io::Result<(Env, Duration)> {
        let fingerprint = as_made(plan, root, fingerprinter).map_err(std::io::Error::other)?;
        let env = venv::record(&plan.dir, &fingerprint)?;
        self.made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(plan.dir.clone());
        Ok((env, started.elapsed()))
    }
}

/// The backend that makes an environment declared with `declared`: unset, uv when it is on
/// `PATH` and runs, else venv. uv is run only for a declaration that may use it.
fn concrete(declared: Backend, finder: &Finder) -> Result<Backend, NotReady> {
    if !declared.may_use_uv() {
        return Ok(declared);
    }
    match finder.uv_state() {
        UvState::Works(_) => Ok(Backend::Uv),
        UvState::Missing | UvState::Broken(_) if declared == Backend::Auto => Ok(Backend::Venv),
        UvState::Missing => Err(NotReady::UvMissing),
        UvState::Broken(broken) => Err(NotReady::UvBroken(broken.clone())),
    }
}

/// Every local project an environment holds: those `install` names, those their
/// `pyproject.toml` files declare, and those `found` in the environment. What building one
/// writes is not the sources of another holding it.
fn projects(
    references: &References,
    declared: &BTreeMap<PathBuf, String>,
    found: impl Iterator<Item = PathBuf>,
) -> Vec<PathBuf> {
    let named = references.locals().map(Path::to_path_buf);
    named.chain(declared.keys().cloned()).chain(found).collect()
}

/// The fingerprint of an environment just made from `plan`: with the distributions found in it
/// that were copied from local directories or archives `install` does not name, and the files
/// git ignores in local sources read again, as the build may have written some (a generated
/// `_version.py`) before packing them. The files git keeps count as read before the install,
/// so an edit made while it ran is seen next time.
fn as_made(plan: &Plan, root: &Path, fingerprinter: &Fingerprinter) -> Result<Fingerprint, String> {
    let references = References::of(root, &plan.fingerprint.install);
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let named: BTreeSet<PathBuf> = references.locals().map(canonical).collect();
    let installs = installed::local_installs(&plan.dir);
    let found: Vec<installed::LocalInstall> = installs
        .iter()
        .filter(|install| !named.contains(&canonical(&install.path)))
        .cloned()
        .collect();
    let declared = references.declared_local_dependencies();
    let paths = found.iter().map(|install| install.path.clone());
    let projects = projects(&references, &declared, paths);
    let installed = installs
        .into_iter()
        .map(|install| (install.path, install.packages))
        .collect();
    let reader =
        SourceReader::new(root, fingerprinter, projects, &plan.results).installed(installed);
    let now = references.watched(root, &reader)?;
    let mut fingerprint = plan.fingerprint.clone();
    if let Backend::Conda(tool) = plan.backend {
        let python = plan.dir.join("bin").join("python");
        let found = Finder::probe_environment(&python)
            .ok_or_else(|| format!("`{}` made no Python at `{}`", tool.name(), python.display()))?;
        fingerprint.made_with = Some(found);
    }
    for (path, sources) in &mut fingerprint.sources {
        if let (Some(before), Some(Some(after))) = (sources.as_mut(), now.sources.get(path)) {
            before.ignored = after.ignored;
            before.packages.clone_from(&after.packages);
        }
    }
    fingerprint.dependencies.clear();
    let canonical_root = canonical(root);
    for install in found {
        let path = sources::display(&canonical_root, &canonical(&install.path));
        let mut sources = reader.read(&install.path)?;
        let before = plan.fingerprint.dependencies.get(&path);
        if let (Some(sources), Some(Some(before))) = (&mut sources, before.map(|d| &d.sources)) {
            sources.tracked = before.tracked;
        }
        let name = install.name;
        fingerprint
            .dependencies
            .insert(path, Dependency { name, sources });
    }
    Ok(fingerprint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::interpreter::Interpreter;

    fn env(distributions: &[(&str, &str)]) -> Env {
        Env {
            dir: PathBuf::from("/p/.rtask/venvs/t"),
            interpreter: Interpreter {
                executable: PathBuf::from("/usr/bin/python3.11"),
                version: "3.11.7".into(),
                implementation: "cpython".into(),
                platform: "linux-x86_64".into(),
                markers: BTreeMap::new(),
                free_threaded: false,
            },
            distributions: distributions
                .iter()
                .map(|(name, version)| (name.to_string(), version.to_string()))
                .collect(),
            dependencies: BTreeMap::new(),
            copies: BTreeMap::new(),
        }
    }

    #[test]
    fn nox_names_environment_directories() {
        assert_eq!(nox_dir_name("tests-3.12"), "tests-3-12");
        assert_eq!(
            nox_dir_name("unit_tests-3.11(db='sqlite')"),
            "unit_tests-3-11-db-sqlite"
        );
        assert_eq!(nox_dir_name("Lint  --  All"), "lint-all");
        assert_eq!(nox_dir_name("(…)"), "");
    }

    /// venv seeds pip (and setuptools), uv seeds nothing: their versions do not count unless
    /// asked for, their presence does.
    #[test]
    fn installer_seeds_count_by_presence_unless_named() {
        let venv_made = env(&[
            ("pip", "24.0"),
            ("setuptools", "65.5.0"),
            ("pytest", "9.2.0"),
        ]);
        let uv_made = env(&[("pytest", "9.2.0")]);
        let none = BTreeSet::new();
        let (venv, uv) = (
            realised_naming(&venv_made, &none),
            realised_naming(&uv_made, &none),
        );
        // Their versions do not count, but whether they are there does.
        assert_eq!(venv.distributions, uv.distributions);
        assert_eq!(
            venv.first_difference(&uv),
            Some(EnvironmentDifference::Seed {
                name: "pip".into(),
                here: true
            })
        );
        let newer_pip = env(&[("pip", "25.0"), ("setuptools", "70.0"), ("pytest", "9.2.0")]);
        assert_eq!(
            venv.first_difference(&realised_naming(&newer_pip, &none)),
            None
        );
        let named = BTreeSet::from(["setuptools".to_string()]);
        let realised = realised_naming(&venv_made, &named);
        assert_eq!(
            realised.distributions.keys().collect::<Vec<_>>(),
            ["pytest", "setuptools"]
        );
    }

    #[test]
    fn the_first_difference_names_the_interpreter_then_a_distribution() {
        let none = BTreeSet::new();
        let entry = realised_naming(&env(&[("pytest", "9.2.0")]), &none);
        let mut here = entry.clone();
        assert_eq!(here.first_difference(&entry), None);
        here.distributions.insert("pytest".into(), "9.3.0".into());
        assert_eq!(
            here.first_difference(&entry),
            Some(EnvironmentDifference::Distribution {
                name: "pytest".into(),
                here: Some("9.3.0".into()),
                entry: Some("9.2.0".into()),
            })
        );
        let mut free_threaded = entry.clone();
        free_threaded.free_threaded = true;
        assert_eq!(
            free_threaded.first_difference(&entry),
            Some(EnvironmentDifference::Interpreter {
                here: "cpython 3.11.7 free-threaded (linux-x86_64)".into(),
                entry: "cpython 3.11.7 (linux-x86_64)".into(),
            })
        );
        here.version = "3.11.9".into();
        assert_eq!(
            here.first_difference(&entry),
            Some(EnvironmentDifference::Interpreter {
                here: "cpython 3.11.9 (linux-x86_64)".into(),
                entry: "cpython 3.11.7 (linux-x86_64)".into(),
            })
        );
    }
}

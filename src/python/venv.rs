//! Virtual environments under `.rtask/venvs/<session>`: created with uv, venv or virtualenv,
//! reused while their fingerprint (interpreter, backend, install arguments, the requirement
//! files those name, the metadata of projects installed editable, the sources of those
//! installed without `-e` and of the local dependencies found in the environment) is
//! unchanged, and made again with the first difference as the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::interpreter::Interpreter;
use super::references::Watched;
use super::sources::Sources;
use crate::digest::Digest;
use crate::plan::reason::{Edit, Recreate};
use crate::project::{Backend, CondaTool, Session};

/// Bumped when the fingerprint's layout changes: every environment is then recreated.
/// 2: uv installs compile bytecode, so environments made before are made again.
/// 3: the sources of local projects installed without `-e`, and more forms of pip's options.
/// 4: the ignored files below their package directories, and the local dependencies found in
/// the environment.
/// 5: the interpreter's marker variables, and `install` as its markers left it; whether the
/// interpreter is a free-threaded build, `venv_params`, a conda environment's own interpreter.
const FINGERPRINT_SCHEMA: u32 = 5;
const FINGERPRINT_FILE: &str = "rtask-venv.json";

/// Everything an environment was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub schema: u32,
    /// Where the environment lives: environments hold absolute paths, so a moved one is remade.
    pub location: PathBuf,
    pub interpreter: Interpreter,
    pub backend: String,
    /// `venv_params`, passed to the backend's create command.
    #[serde(default)]
    pub params: Vec<String>,
    /// The pip arguments of the `install` entries whose markers hold for the interpreter: a
    /// change of a marker's outcome remakes the environment.
    pub install: Vec<Vec<String>>,
    /// `[env]` and the session's `env`, which the install commands see: name to digest.
    pub env: BTreeMap<String, Digest>,
    /// Requirement-format files, dependency groups' `pyproject.toml` and editable projects'
    /// metadata files, by path.
    pub files: BTreeMap<String, Option<Digest>>,
    /// Local projects installed without `-e`, and local archives: path to their sources.
    pub sources: BTreeMap<String, Option<Sources>>,
    /// The distributions the install put in from local directories and archives `install` does
    /// not name (a local project's `NAME @ file:…` dependency), found once the environment was
    /// made: path to name and sources.
    pub dependencies: BTreeMap<String, Dependency>,
    /// A conda environment's own interpreter, as it answered once the environment was made
    /// (`interpreter` then names what was asked for): what the environment runs.
    #[serde(default)]
    pub made_with: Option<Interpreter>,
}

/// A distribution installed from a local directory or archive that `install` does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// Its name, as its `*.dist-info` directory spells it.
    pub name: String,
    /// Its sources (`None`: missing).
    pub sources: Option<Sources>,
}

/// A ready environment.
#[derive(Debug, Clone)]
pub struct Env {
    pub dir: PathBuf,
    pub interpreter: Interpreter,
    /// Installed distributions: normalised name to version.
    pub distributions: BTreeMap<String, String>,
    /// The local dependencies found in it when it was made (not named by `install`): path to
    /// their sources, as in its fingerprint.
    pub dependencies: BTreeMap<String, Option<Sources>>,
    /// The distributions copied from local directories and archives: name to a digest of the
    /// files they installed.
    pub copies: BTreeMap<String, Digest>,
}

pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Auto => "auto",
        Backend::Uv => "uv",
        Backend::Venv => "venv",
        Backend::Virtualenv => "virtualenv",
        Backend::Conda(tool) => tool.name(),
    }
}

/// What makes an environment, besides the session's `env` and what `install` reads.
pub struct MadeFrom<'a> {
    pub interpreter: &'a Interpreter,
    pub backend: Backend,
    /// The pip arguments of the `install` entries whose markers hold for `interpreter`.
    pub install: Vec<Vec<String>>,
}

impl Fingerprint {
    /// `watched`: what the install arguments read from disk, digested.
    pub fn new(
        dir: &Path,
        made_from: MadeFrom<'_>,
        session: &Session,
        watched: Watched,
    ) -> Fingerprint {
        Fingerprint {
            schema: FINGERPRINT_SCHEMA,
            location: dir.to_path_buf(),
            interpreter: made_from.interpreter.clone(),
            backend: backend_name(made_from.backend).to_string(),
            params: session
                .venv
                .as_ref()
                .map_or_else(Vec::new, |spec| spec.params.clone()),
            install: made_from.install,
            env: session
                .env
                .iter()
                .map(|(name, value)| (name.clone(), Digest::of_bytes(value.as_bytes())))
                .collect(),
            files: watched.files,
            sources: watched.sources,
            dependencies: BTreeMap::new(),
            made_with: None,
        }
    }

    /// The local dependencies found in the environment: path to their sources.
    fn dependency_sources(&self) -> BTreeMap<String, Option<Sources>> {
        self.dependencies
            .iter()
            .map(|(path, found)| (path.clone(), found.sources.clone()))
            .collect()
    }

    /// The top-level packages the environment got from each local project and dependency, by
    /// path.
    pub fn packages(&self, root: &Path) -> BTreeMap<PathBuf, BTreeSet<String>> {
        let projects = self.sources.iter();
        let dependencies = self.dependencies.iter();
        let dependencies = dependencies.map(|(path, found)| (path, &found.sources));
        projects
            .chain(dependencies)
            .filter_map(|(path, sources)| {
                let packages = sources.as_ref()?.packages.clone()?;
                Some((root.join(path), packages))
            })
            .collect()
    }

    pub(crate) fn env(&self, dir: &Path) -> Env {
        Env {
            dir: dir.to_path_buf(),
            interpreter: self.made_with.as_ref().unwrap_or(&self.interpreter).clone(),
            distributions: distributions(dir),
            dependencies: self.dependency_sources(),
            copies: copies(dir),
        }
    }
}

impl Env {
    /// The same environment as it stands now: what a command installed or removed while it
    /// ran shows.
    pub fn now(&self) -> Env {
        Env {
            distributions: distributions(&self.dir),
            copies: copies(&self.dir),
            ..self.clone()
        }
    }
}

/// The distributions of the environment in `dir` copied from local directories and archives:
/// name to a digest of the files they installed.
fn copies(dir: &Path) -> BTreeMap<String, Digest> {
    super::installed::local_installs(dir)
        .into_iter()
        .map(|install| (install.name, install.files))
        .collect()
}

/// The environment's own pip installing `packages`, for backends without an installer of
/// their own.
fn pip_install(venv_python: String, packages: Vec<String>) -> Vec<String> {
    let mut install = vec![
        venv_python,
        "-m".into(),
        "pip".into(),
        "install".into(),
        "--disable-pip-version-check".into(),
    ];
    install.extend(packages);
    install
}

/// Whether `dir` may be deleted to make an environment there: it is missing, empty, or an
/// environment (a venv's `pyvenv.cfg`, a conda environment's `conda-meta/`, or rtask's record).
/// Anything else, a source directory that an `envdir` reaches, is never deleted.
pub fn replaceable(dir: &Path) -> bool {
    let Ok(mut entries) = std::fs::read_dir(dir) else {
        return !dir.exists();
    };
    entries.next().is_none()
        || ["pyvenv.cfg", "conda-meta", FINGERPRINT_FILE]
            .iter()
            .any(|marker| dir.join(marker).exists())
}

/// The fingerprint recorded in `dir`, if any.
pub fn recorded(dir: &Path) -> Option<Fingerprint> {
    serde_json::from_slice(&fs::read(dir.join(FINGERPRINT_FILE)).ok()?).ok()
}

/// What lies where an environment goes.
pub enum Found {
    /// Nothing: no directory, or an empty one.
    Nothing,
    /// Something rtask has no record of completing.
    Unrecorded,
    /// rtask's record, in the format of another version.
    OtherSchema,
    Recorded(Box<Fingerprint>),
}

/// What lies in `dir`.
pub fn found(dir: &Path) -> Found {
    let Ok(mut entries) = fs::read_dir(dir) else {
        return Found::Nothing;
    };
    if entries.next().is_none() {
        return Found::Nothing;
    }
    let Ok(bytes) = fs::read(dir.join(FINGERPRINT_FILE)) else {
        return Found::Unrecorded;
    };
    if let Ok(fingerprint) = serde_json::from_slice::<Fingerprint>(&bytes)
        && fingerprint.schema == FINGERPRINT_SCHEMA
    {
        return Found::Recorded(Box::new(fingerprint));
    }
    #[derive(Deserialize)]
    struct Schema {
        schema: u32,
    }
    match serde_json::from_slice::<Schema>(&bytes) {
        Ok(Schema { schema }) if schema != FINGERPRINT_SCHEMA => Found::OtherSchema,
        _ => Found::Unrecorded,
    }
}

/// Whether the backend an environment was made with must be the one planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendMatch {
    Exact,
    /// `venv_backend` is unset: an environment made by uv serves where venv would make it,
    /// and one made by venv where uv would. Neither backend enters the cache key, and an entry
    /// is served only when the distributions of the environment here match its own.
    UvOrVenv,
}

/// The first difference between what the environment `recorded` was made from and what it
/// is `planned` from; `None`: it is up to date (the interpreter a conda environment was found
/// to hold is what it was made with, not part of what it was made from).
pub fn difference(
    recorded: &Fingerprint,
    planned: &Fingerprint,
    backends: BackendMatch,
) -> Option<Recreate> {
    let Fingerprint {
        schema,
        location,
        interpreter,
        backend,
        params,
        install,
        env,
        files,
        sources,
        dependencies,
        made_with: _,
    } = planned;
    let interchangeable = |name: &str| ["uv", "venv"].contains(&name);
    let same_backend = recorded.backend == *backend
        || (backends == BackendMatch::UvOrVenv
            && interchangeable(&recorded.backend)
            && interchangeable(backend));
    if recorded.schema != *schema {
        Some(Recreate::Schema)
    } else if recorded.location != *location {
        Some(Recreate::Moved {
            old: recorded.location.display().to_string(),
        })
    } else if recorded.interpreter != *interpreter {
        Some(Recreate::Interpreter {
            old: describe(&recorded.interpreter),
            new: describe(interpreter),
        })
    } else if !same_backend {
        Some(Recreate::Backend {
            old: recorded.backend.clone(),
            new: backend.clone(),
        })
    } else if recorded.params != *params {
        Some(Recreate::Params)
    } else if recorded.install != *install {
        Some(Recreate::Install)
    } else if let Some(name) = first_change(&recorded.env, env) {
        Some(Recreate::Env { name })
    } else if let Some(path) = first_change(&recorded.files, files) {
        let old = recorded.files.get(&path).copied().flatten();
        let edit = match (old, files.get(&path).copied().flatten()) {
            (None, Some(_)) => Edit::Added,
            (Some(_), None) => Edit::Removed,
            _ => Edit::Changed,
        };
        Some(Recreate::File { path, edit })
    } else if let Some(path) = first_change(&recorded.sources, sources) {
        Some(Recreate::LocalProject { path })
    } else {
        first_change(&recorded.dependencies, dependencies)
            .map(|path| Recreate::LocalDependency { path })
    }
}

/// The first name whose value differs between `old` and `new` (or is in one only).
pub(super) fn first_change<T: PartialEq>(
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
) -> Option<String> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .find(|name| old.get(*name) != new.get(*name))
        .cloned()
}

/// `cpython 3.11.7 at /usr/bin/python3.11`.
fn describe(interpreter: &Interpreter) -> String {
    let build = if interpreter.free_threaded {
        " free-threaded"
    } else {
        ""
    };
    format!(
        "{} {}{build} at {}",
        interpreter.implementation,
        interpreter.version,
        interpreter.executable.display()
    )
}

/// The environment in `dir`, if it was completed from this fingerprint.
pub fn existing(dir: &Path, fingerprint: &Fingerprint, backends: BackendMatch) -> Option<Env> {
    let recorded = recorded(dir)?;
    difference(&recorded, fingerprint, backends)
        .is_none()
        .then(|| recorded.env(dir))
}

/// Mark an environment complete: written last, so a failed install is never reused.
pub fn record(dir: &Path, fingerprint: &Fingerprint) -> io::Result<Env> {
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(temp.as_file_mut(), fingerprint)?;
    temp.persist(dir.join(FINGERPRINT_FILE))
        .map_err(|error| error.error)?;
    Ok(fingerprint.env(dir))
}

/// The commands that make the environment in `dir`, in order. `rebuild`: the local
/// dependencies uv must build again rather than take from its cache.
pub fn creation_commands(
    fingerprint: &Fingerprint,
    backend: Backend,
    uv: Option<&Path>,
    dir: &Path,
    rebuild: &BTreeSet<String>,
) -> Vec<Vec<String>> {
    let text = |path: &Path| path.display().to_string();
    let python = text(&fingerprint.interpreter.executable);
    let venv_python = text(&dir.join("bin").join("python"));
    let packages: Vec<String> = fingerprint.install.iter().flatten().cloned().collect();
    let params = fingerprint.params.iter().cloned();
    let mut commands = Vec::new();
    match (backend, uv) {
        (Backend::Conda(tool), _) => {
            // As nox: `TOOL create --yes --prefix DIR [params] pip python=VERSION`; micromamba
            // has no default channel.
            let mut create = vec![
                python,
                "create".into(),
                "--yes".into(),
                "--prefix".into(),
                text(dir),
            ];
            let channel = fingerprint.params.iter().any(|param| {
                param.starts_with("--channel=") || param.starts_with("-c") || param == "--channel"
            });
            if tool == CondaTool::Micromamba && !channel {
                create.push("--channel=conda-forge".into());
            }
            create.extend(params);
            create.push("pip".into());
            create.push(format!("python={}", fingerprint.interpreter.version));
            commands.push(create);
            if !packages.is_empty() {
                commands.push(pip_install(venv_python, packages));
            }
        }
        (Backend::Uv, Some(uv)) => {
            commands.push(vec![
                text(uv),
                "venv".into(),
                "--quiet".into(),
                "--python".into(),
                python,
            ]);
            commands[0].extend(params);
            commands[0].push(text(dir));
            if !packages.is_empty() {
                // As pip does by default: without `.pyc` files every run of a command compiles
                // what it imports (each time, where PYTHONDONTWRITEBYTECODE is set).
                let mut install = vec![
                    text(uv),
                    "pip".into(),
                    "install".into(),
                    "--compile-bytecode".into(),
                    "--python".into(),
                    venv_python,
                ];
                // uv reuses its build of a local dependency while the dependency's metadata
                // files are unchanged, its sources edited or not (those named are always built).
                for name in rebuild {
                    install.extend(["--reinstall-package".to_string(), name.clone()]);
                }
                install.extend(packages);
                commands.push(install);
            }
        }
        _ => {
            let module = if backend == Backend::Virtualenv {
                "virtualenv"
            } else {
                "venv"
            };
            let mut create = vec![python, "-m".into(), module.into()];
            create.extend(params);
            create.push(text(dir));
            commands.push(create);
            if !packages.is_empty() {
                commands.push(pip_install(venv_python, packages));
            }
        }
    }
    commands
}

/// The `*.dist-info` directories of an environment: path, distribution name as spelt there,
/// and version.
pub(super) fn dist_infos(dir: &Path) -> Vec<(PathBuf, String, String)> {
    let mut found = Vec::new();
    let Ok(libs) = fs::read_dir(dir.join("lib")) else {
        return found;
    };
    for lib in libs.filter_map(Result::ok) {
        let Ok(entries) = fs::read_dir(lib.path().join("site-packages")) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((distribution, version)) = name
                .strip_suffix(".dist-info")
                .and_then(|stem| stem.split_once('-'))
            {
                found.push((entry.path(), distribution.to_string(), version.to_string()));
            }
        }
    }
    found
}

/// The distributions installed in an environment, from its `*.dist-info` directories.
pub fn distributions(dir: &Path) -> BTreeMap<String, String> {
    dist_infos(dir)
        .into_iter()
        .map(|(_, name, version)| (name.to_lowercase().replace(['_', '.'], "-"), version))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_come_from_dist_info_directories() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("lib/python3.11/site-packages");
        fs::create_dir_all(site.join("pytest-8.3.1.dist-info")).unwrap();
        fs::create_dir_all(site.join("typing_extensions-4.12.2.dist-info")).unwrap();
        fs::create_dir_all(site.join("pytest")).unwrap();
        let found = distributions(dir.path());
        assert_eq!(found.len(), 2);
        assert_eq!(found["pytest"], "8.3.1");
        assert_eq!(found["typing-extensions"], "4.12.2");
    }

    fn fingerprint() -> Fingerprint {
        Fingerprint {
            schema: FINGERPRINT_SCHEMA,
            location: PathBuf::from("/p/.rtask/venvs/t"),
            interpreter: Interpreter {
                executable: PathBuf::from("/usr/bin/python3.11"),
                version: "3.11.7".into(),
                implementation: "cpython".into(),
                platform: "linux-x86_64".into(),
                markers: BTreeMap::new(),
                free_threaded: false,
            },
            backend: "uv".into(),
            params: Vec::new(),
            install: vec![vec![".".into()]],
            env: BTreeMap::new(),
            files: BTreeMap::new(),
            sources: BTreeMap::new(),
            dependencies: BTreeMap::new(),
            made_with: None,
        }
    }

    /// Without `venv_backend`, uv and venv serve each other; pinned, the backend counts, and
    /// anything else that differs is named before it.
    #[test]
    fn the_first_difference_allows_either_default_backend() {
        let uv = fingerprint();
        let venv = Fingerprint {
            backend: "venv".into(),
            ..fingerprint()
        };
        assert_eq!(difference(&venv, &uv, BackendMatch::UvOrVenv), None);
        assert_eq!(
            difference(&venv, &uv, BackendMatch::Exact),
            Some(Recreate::Backend {
                old: "venv".into(),
                new: "uv".into()
            })
        );
        let edited = Fingerprint {
            install: vec![vec!["pytest".into()]],
            ..fingerprint()
        };
        assert_eq!(
            difference(&venv, &edited, BackendMatch::UvOrVenv),
            Some(Recreate::Install)
        );
        let virtualenv = Fingerprint {
            backend: "virtualenv".into(),
            ..fingerprint()
        };
        assert!(difference(&virtualenv, &uv, BackendMatch::UvOrVenv).is_some());
    }

    /// uv is told to build the local dependencies again; pip builds them every time.
    #[test]
    fn uv_rebuilds_local_dependencies() {
        let fingerprint = fingerprint();
        let rebuild = BTreeSet::from(["deppkg".to_string()]);
        let dir = Path::new("/p/.rtask/venvs/t");
        let uv = Path::new("/bin/uv");
        let commands = creation_commands(&fingerprint, Backend::Uv, Some(uv), dir, &rebuild);
        assert_eq!(
            commands[1][4..],
            [
                "--python",
                "/p/.rtask/venvs/t/bin/python",
                "--reinstall-package",
                "deppkg",
                "."
            ]
        );
        let commands = creation_commands(&fingerprint, Backend::Venv, None, dir, &rebuild);
        assert!(!commands[1].contains(&"--reinstall-package".to_string()));
    }
}

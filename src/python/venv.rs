//! Virtual environments under `.rtask/venvs/<session>`: created with uv, venv or virtualenv,
//! reused while their fingerprint (interpreter, backend, install arguments, the requirement
//! files those name, the metadata of projects installed editable and the sources of those
//! installed without `-e`) is unchanged.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::interpreter::Interpreter;
use super::references::Watched;
use crate::digest::Digest;
use crate::project::{Backend, Session};

/// Bumped when the fingerprint's layout changes: every environment is then recreated.
/// 2: uv installs compile bytecode, so environments made before are made again.
/// 3: the sources of local projects installed without `-e`, and more forms of pip's options.
const FINGERPRINT_SCHEMA: u32 = 3;
const FINGERPRINT_FILE: &str = "rtask-venv.json";

/// Everything an environment was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub schema: u32,
    /// Where the environment lives: environments hold absolute paths, so a moved one is remade.
    pub location: PathBuf,
    pub interpreter: Interpreter,
    pub backend: String,
    pub install: Vec<Vec<String>>,
    /// `[env]` and the session's `env`, which the install commands see: name to digest.
    pub env: BTreeMap<String, Digest>,
    /// Requirement-format files, dependency groups' `pyproject.toml` and editable projects'
    /// metadata files, by path.
    pub files: BTreeMap<String, Option<Digest>>,
    /// Local projects installed without `-e`, and local archives: path to the digest of their
    /// sources.
    pub sources: BTreeMap<String, Option<Digest>>,
}

/// A ready environment.
#[derive(Debug, Clone)]
pub struct Env {
    pub dir: PathBuf,
    pub interpreter: Interpreter,
    /// Installed distributions: normalised name to version.
    pub distributions: BTreeMap<String, String>,
    /// The sources its local projects were copied from, as in its fingerprint.
    pub sources: BTreeMap<String, Option<Digest>>,
}

/// The backend that will make the environment: `Auto` picks uv when it is on `PATH`.
pub fn concrete(backend: Backend, uv_found: bool) -> Backend {
    match backend {
        Backend::Auto if uv_found => Backend::Uv,
        Backend::Auto => Backend::Venv,
        other => other,
    }
}

pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Auto => "auto",
        Backend::Uv => "uv",
        Backend::Venv => "venv",
        Backend::Virtualenv => "virtualenv",
    }
}

impl Fingerprint {
    /// `watched`: what the install arguments read from disk, digested.
    pub fn new(
        dir: &Path,
        interpreter: &Interpreter,
        backend: Backend,
        session: &Session,
        watched: Watched,
    ) -> Fingerprint {
        let install = session
            .venv
            .as_ref()
            .map_or(&[][..], |spec| &spec.install[..]);
        Fingerprint {
            schema: FINGERPRINT_SCHEMA,
            location: dir.to_path_buf(),
            interpreter: interpreter.clone(),
            backend: backend_name(backend).to_string(),
            install: install.to_vec(),
            env: session
                .env
                .iter()
                .map(|(name, value)| (name.clone(), Digest::of_bytes(value.as_bytes())))
                .collect(),
            files: watched.files,
            sources: watched.sources,
        }
    }
}

/// The environment in `dir`, if it was completed from exactly this fingerprint.
pub fn existing(dir: &Path, fingerprint: &Fingerprint) -> Option<Env> {
    let recorded: Fingerprint =
        serde_json::from_slice(&fs::read(dir.join(FINGERPRINT_FILE)).ok()?).ok()?;
    (&recorded == fingerprint).then(|| Env {
        dir: dir.to_path_buf(),
        interpreter: fingerprint.interpreter.clone(),
        distributions: distributions(dir),
        sources: fingerprint.sources.clone(),
    })
}

/// Mark an environment complete: written last, so a failed install is never reused.
pub fn record(dir: &Path, fingerprint: &Fingerprint) -> io::Result<Env> {
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(temp.as_file_mut(), fingerprint)?;
    temp.persist(dir.join(FINGERPRINT_FILE))
        .map_err(|error| error.error)?;
    Ok(Env {
        dir: dir.to_path_buf(),
        interpreter: fingerprint.interpreter.clone(),
        distributions: distributions(dir),
        sources: fingerprint.sources.clone(),
    })
}

/// The commands that make the environment in `dir`, in order.
pub fn creation_commands(
    fingerprint: &Fingerprint,
    backend: Backend,
    uv: Option<&Path>,
    dir: &Path,
) -> Vec<Vec<String>> {
    let text = |path: &Path| path.display().to_string();
    let python = text(&fingerprint.interpreter.executable);
    let venv_python = text(&dir.join("bin").join("python"));
    let packages: Vec<String> = fingerprint.install.iter().flatten().cloned().collect();
    let mut commands = Vec::new();
    match (backend, uv) {
        (Backend::Uv, Some(uv)) => {
            commands.push(vec![
                text(uv),
                "venv".into(),
                "--quiet".into(),
                "--python".into(),
                python,
                text(dir),
            ]);
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
            commands.push(vec![python, "-m".into(), module.into(), text(dir)]);
            if !packages.is_empty() {
                let mut install = vec![
                    venv_python,
                    "-m".into(),
                    "pip".into(),
                    "install".into(),
                    "--disable-pip-version-check".into(),
                ];
                install.extend(packages);
                commands.push(install);
            }
        }
    }
    commands
}

/// The distributions installed in an environment, from its `*.dist-info` directories.
pub fn distributions(dir: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
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
                found.insert(
                    distribution.to_lowercase().replace(['_', '.'], "-"),
                    version.to_string(),
                );
            }
        }
    }
    found
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
}

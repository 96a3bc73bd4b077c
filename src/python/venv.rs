//! Virtual environments under `.rtask/venvs/<session>`: created with uv, venv or virtualenv,
//! reused while their fingerprint (interpreter, backend, install arguments, the requirement
//! files those name and the project's own metadata when it is installed) is unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::interpreter::Interpreter;
use crate::digest::Digest;
use crate::project::{Backend, Session};

/// Bumped when the fingerprint's layout changes: every environment is then recreated.
/// 2: uv installs compile bytecode, so environments made before are made again.
const FINGERPRINT_SCHEMA: u32 = 2;
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
    /// Requirement and constraint files, and the project's metadata files, by path.
    pub files: BTreeMap<String, Option<Digest>>,
}

/// A ready environment.
#[derive(Debug, Clone)]
pub struct Env {
    pub dir: PathBuf,
    pub interpreter: Interpreter,
    /// Installed distributions: normalised name to version.
    pub distributions: BTreeMap<String, String>,
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
    pub fn new(
        dir: &Path,
        root: &Path,
        interpreter: &Interpreter,
        backend: Backend,
        session: &Session,
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
            files: referenced_files(root, install),
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

/// Requirement and constraint files the install arguments name (and those they include), and
/// the metadata of local projects they install, each with its digest (`None`: missing).
fn referenced_files(root: &Path, install: &[Vec<String>]) -> BTreeMap<String, Option<Digest>> {
    let mut files = BTreeMap::new();
    let mut pending: Vec<PathBuf> = Vec::new();
    let mut projects: BTreeSet<PathBuf> = BTreeSet::new();
    // The entries become one pip command, so a flag in one entry may take its value from the next.
    let mut args = install.iter().flatten();
    {
        while let Some(arg) = args.next() {
            if OPTIONS_WITH_VALUES.contains(&arg.as_str()) {
                args.next();
                continue;
            }
            let attached = ["--requirement=", "--constraint=", "-r", "-c"]
                .iter()
                .find_map(|flag| arg.strip_prefix(flag).filter(|rest| !rest.is_empty()));
            if matches!(arg.as_str(), "-r" | "-c" | "--requirement" | "--constraint") {
                if let Some(file) = args.next() {
                    pending.push(root.join(file));
                }
            } else if let Some(file) = attached {
                pending.push(root.join(file.trim_start_matches('=')));
            } else if matches!(arg.as_str(), "-e" | "--editable") {
                if let Some(target) = args.next() {
                    projects.insert(root.join(without_extras(target)));
                }
            } else if let Some(target) = arg.strip_prefix("--editable=") {
                projects.insert(root.join(without_extras(target)));
            } else if arg.starts_with('.') || arg.starts_with('/') {
                projects.insert(root.join(without_extras(arg)));
            }
        }
    }
    while let Some(file) = pending.pop() {
        let key = display(root, &file);
        if files.contains_key(&key) {
            continue;
        }
        let contents = fs::read_to_string(&file).ok();
        files.insert(
            key,
            contents
                .as_ref()
                .map(|text| Digest::of_bytes(text.as_bytes())),
        );
        let base = file
            .parent()
            .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
        for line in contents.iter().flat_map(|text| text.lines()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [flag, target, ..] = words.as_slice()
                && matches!(*flag, "-r" | "-c" | "--requirement" | "--constraint")
            {
                pending.push(base.join(target));
            }
        }
    }
    for project in projects {
        for name in ["pyproject.toml", "setup.cfg", "setup.py"] {
            let file = project.join(name);
            files.insert(display(root, &file), Digest::of_file(&file).ok());
        }
    }
    files
}

/// pip options whose value is not a requirement, a requirement file or a local project.
const OPTIONS_WITH_VALUES: &[&str] = &[
    "-f",
    "--find-links",
    "-i",
    "--index-url",
    "--extra-index-url",
    "--trusted-host",
    "--python",
    "--target",
    "--prefix",
    "--root",
    "--src",
];

/// A local project's path without its extras: `./pkg[test]` is `./pkg`.
fn without_extras(target: &str) -> &str {
    match target.rfind('[') {
        Some(start) if target.ends_with(']') => &target[..start],
        _ => target,
    }
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
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
    fn requirement_files_and_projects_are_fingerprinted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("requirements-test.txt"), "-r base.txt\npytest\n").unwrap();
        fs::write(root.join("base.txt"), "attrs\n").unwrap();
        fs::write(root.join("pyproject.toml"), "[project]\n").unwrap();
        let install = vec![
            vec!["-r".to_string(), "requirements-test.txt".to_string()],
            vec!["-e".to_string(), ".".to_string()],
            vec!["--constraint=missing.txt".to_string()],
            vec!["--editable=./pkg[test]".to_string()],
        ];
        let files = referenced_files(root, &install);
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "base.txt",
                "missing.txt",
                "pkg/pyproject.toml",
                "pkg/setup.cfg",
                "pkg/setup.py",
                "pyproject.toml",
                "requirements-test.txt",
                "setup.cfg",
                "setup.py"
            ]
        );
        assert!(files["base.txt"].is_some());
        assert!(files["missing.txt"].is_none());
    }

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

//! Python sessions: finding interpreters and making their virtual environments.

pub mod interpreter;
pub mod prepare;
pub mod references;
pub mod venv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use self::interpreter::Finder;
use self::references::References;
use self::venv::{Env, Fingerprint};
use crate::digest::Digest;
use crate::fingerprint::Fingerprinter;
use crate::project::{Backend, Session};
use crate::protected::{STATE_DIR, VENVS};

/// What the Python side of a run shares.
pub struct Tools {
    pub finder: Finder,
    /// `--reinstall`: recreate every environment.
    pub reinstall: bool,
    /// A missing interpreter fails the session instead of skipping it (`CI` set, or
    /// `--error-on-missing-interpreters`).
    pub error_on_missing: bool,
    /// The environments made in this run: `--reinstall` remakes each once.
    pub made: std::sync::Mutex<std::collections::BTreeSet<PathBuf>>,
}

/// What a session's Python adds to its cache key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonKey {
    pub version: String,
    pub implementation: String,
    pub platform: String,
    /// Installed distributions: normalised name to version.
    pub distributions: BTreeMap<String, String>,
    /// Local projects installed without `-e`, and local archives: path to the digest of their
    /// sources. Their versions alone would not tell an edited copy from the one cached.
    pub local_sources: BTreeMap<String, Option<Digest>>,
}

impl PythonKey {
    pub fn of(env: &Env) -> PythonKey {
        PythonKey {
            version: env.interpreter.version.clone(),
            implementation: env.interpreter.implementation.clone(),
            platform: env.interpreter.platform.clone(),
            distributions: env.distributions.clone(),
            local_sources: env.sources.clone(),
        }
    }
}

/// Why a session's environment is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// No interpreter of the version asked for.
    MissingInterpreter(String),
    /// `venv_backend = "uv"`, and uv is not on `PATH`.
    UvMissing,
    /// A local project it installs cannot be read; what went wrong.
    LocalProject(String),
}

/// A session's environment, planned: where it lives, what it is made from, how.
pub struct Plan {
    pub dir: PathBuf,
    pub fingerprint: Fingerprint,
    pub backend: Backend,
}

/// Where a session's environment lives: `.rtask/venvs/<name>`. A name with characters unfit
/// for a path (`unit_tests-3.11(db='sqlite')`) becomes a slug with a digest of the name, so
/// two sessions never share an environment.
pub fn venv_dir(root: &Path, session: &str) -> PathBuf {
    let fits = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    let dir = if session.chars().all(fits) {
        session.to_string()
    } else {
        let slug: Vec<&str> = session
            .split(|c: char| !fits(c))
            .filter(|part| !part.is_empty())
            .collect();
        let digest = crate::digest::Digest::of_bytes(session.as_bytes());
        format!("{}-{}", slug.join("-"), &digest.to_hex()[..8])
    };
    root.join(STATE_DIR).join(VENVS).join(dir)
}

impl Tools {
    /// The environment a session needs, or `Ok(None)` when it runs without one.
    /// `fingerprinter` digests the sources of local projects installed without `-e`.
    pub fn plan(
        &self,
        root: &Path,
        session: &Session,
        fingerprinter: &Fingerprinter,
    ) -> Result<Option<Plan>, NotReady> {
        let (Some(version), Some(spec)) = (&session.python, &session.venv) else {
            return Ok(None);
        };
        let backend = venv::concrete(spec.backend, self.finder.uv().is_some());
        if backend == Backend::Uv && self.finder.uv().is_none() {
            return Err(NotReady::UvMissing);
        }
        let interpreter = self
            .finder
            .find(version, backend == Backend::Uv)
            .ok_or_else(|| NotReady::MissingInterpreter(version.clone()))?;
        let watched = References::of(root, &spec.install)
            .watched(root, fingerprinter)
            .map_err(NotReady::LocalProject)?;
        let dir = venv_dir(root, &session.name);
        Ok(Some(Plan {
            fingerprint: Fingerprint::new(&dir, &interpreter, backend, session, watched),
            dir,
            backend,
        }))
    }

    /// The environment as it stands, if it matches its plan (and, with `--reinstall`, was
    /// made in this run).
    pub fn ready(&self, plan: &Plan) -> Option<Env> {
        if self.reinstall && !self.made_now(&plan.dir) {
            return None;
        }
        venv::existing(&plan.dir, &plan.fingerprint)
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
        ))
    }

    /// Record a freshly made environment.
    pub fn record(&self, plan: &Plan, started: Instant) -> std::io::Result<(Env, Duration)> {
        let env = venv::record(&plan.dir, &plan.fingerprint)?;
        self.made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(plan.dir.clone());
        Ok((env, started.elapsed()))
    }
}

//! The validated project: sessions as the rest of rtask sees them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::command::Command;
use crate::patterns::{InputPatterns, OutputPattern};
use crate::python::marker::{Marker, Values};
use crate::relpath::RelPath;
use crate::variant::ParamValue;

/// Index of a session in [`Project::sessions`].
pub type SessionId = usize;

#[derive(Debug)]
pub struct Project {
    /// The directory holding the task file; every relative path starts here.
    pub root: PathBuf,
    /// The task file as messages show it: relative to the current directory when below it.
    pub display_path: String,
    pub cache_dir: PathBuf,
    /// Where the sessions' environments live (`[settings] envdir`, `--envdir`).
    pub envdir: EnvDir,
    /// `[settings] remote_cache`, when given.
    pub remote_cache: Option<crate::remote::config::RemoteUrl>,
    /// `[settings] cache_max_size`, in bytes: the cache is pruned to it after a run.
    pub cache_max_size: Option<u64>,
    /// `[settings] default`, when given.
    pub default: Option<Vec<SessionId>>,
    /// `[settings] error_on_external_run`: what becomes of a command whose program lives
    /// outside its session's environment.
    pub external_run: crate::command::ExternalRun,
    /// `[settings] replay`: how much of a cache hit's log is shown (`--replay` overrides it).
    pub replay: crate::replay::ReplayMode,
    /// In the order the task file defines them.
    pub sessions: Vec<Session>,
}

#[derive(Debug)]
pub struct Session {
    /// The full name: `unit_tests`, `unit_tests-3.11`, `unit_tests-3.11(db='sqlite')`.
    pub name: String,
    /// The `[sessions.NAME]` it comes from.
    pub base: String,
    /// The Python version asked for, when the session has one.
    pub python: Option<String>,
    /// Written `python = false` (nox lists it as `false`, an absent `python` as `null`).
    pub python_disabled: bool,
    /// Its parameters, in the order the file writes them.
    pub call_spec: Vec<(String, ParamValue)>,
    /// The names nox would report for it.
    pub signatures: Vec<String>,
    /// Its virtual environment, when it has one.
    pub venv: Option<VenvSpec>,
    /// Whether a bare run selects it (when `[settings] default` does not decide).
    pub default: bool,
    pub description: Option<String>,
    pub commands: Vec<Command>,
    pub shell: bool,
    pub requires: Vec<SessionId>,
    /// The sessions it starts after when they are part of the run (`after`), never pulled in.
    pub after: Vec<SessionId>,
    /// `None` when the session is not cacheable (no `inputs`, or `cache = false`).
    pub inputs: Option<InputPatterns>,
    pub outputs: Vec<OutputPattern>,
    /// `[env]` overlaid with the session's own `env`.
    pub env: BTreeMap<String, String>,
    /// Sorted and without duplicates.
    pub env_inputs: Vec<String>,
    pub cwd: RelPath,
    pub tags: Vec<String>,
    pub success_codes: Vec<i32>,
}

/// How a session's virtual environment is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// uv when it is on `PATH`, else venv.
    Auto,
    Uv,
    Venv,
    Virtualenv,
    /// `TOOL create --prefix DIR python=VERSION`, as nox's conda backends.
    Conda(CondaTool),
}

impl Backend {
    /// Whether an environment declared with this backend may be made by uv: unset (uv when
    /// it is on `PATH` and runs) or `"uv"`.
    pub fn may_use_uv(self) -> bool {
        matches!(self, Backend::Auto | Backend::Uv)
    }
}

/// The conda-like tool a conda environment is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CondaTool {
    Conda,
    Mamba,
    Micromamba,
}

impl CondaTool {
    /// The executable's name, as `venv_backend` spells it.
    pub fn name(self) -> &'static str {
        match self {
            CondaTool::Conda => "conda",
            CondaTool::Mamba => "mamba",
            CondaTool::Micromamba => "micromamba",
        }
    }
}

/// Where environments live, and how their directories are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvDir {
    /// Absolute.
    pub path: PathBuf,
    pub naming: EnvNaming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvNaming {
    /// `.rtask/venvs/<name>`: the name as it is when it fits a path, else a slug and a digest.
    Rtask,
    /// `<envdir>/<name>` normalised as nox does (`tests-3.12` -> `tests-3-12`).
    Nox,
}

/// A session's `reuse_venv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionReuse {
    /// Not written: the command line decides.
    Unset,
    /// `true`: kept while up to date, unless `--reuse-venv never`.
    Keep,
    /// `false`: remade each time it runs, unless `--reuse-venv always`.
    Remake,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenvSpec {
    pub backend: Backend,
    /// The `install` entries, in order.
    pub install: Vec<InstallEntry>,
    /// `venv_params`: extra arguments to the backend's create command.
    pub params: Vec<String>,
    pub reuse: SessionReuse,
    /// Where it lives (absolute): given once every session is known ([`EnvDir`]).
    pub dir: PathBuf,
}

/// One `install` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallEntry {
    /// Its pip arguments: the entry split as a shell would, or the requirement of an entry with
    /// a marker.
    pub args: Vec<String>,
    /// `pytest-xdist; python_version >= '3.10'`: installed only where the marker holds.
    pub marker: Option<Marker>,
}

/// The `install` entries whose markers hold for one interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluated {
    /// The pip arguments of the entries installed.
    pub install: Vec<Vec<String>>,
    /// The entries a marker left out, as written.
    pub left_out: Vec<String>,
}

impl InstallEntry {
    /// The entry as written (a marker entry as `REQUIREMENT; MARKER`), split into arguments.
    fn written(&self) -> Vec<String> {
        match &self.marker {
            Some(marker) => vec![format!("{}; {marker}", self.args.join(" "))],
            None => self.args.clone(),
        }
    }
}

impl VenvSpec {
    /// The entries as written: what the cache key holds, known without an interpreter.
    pub fn written(&self) -> Vec<Vec<String>> {
        self.install.iter().map(InstallEntry::written).collect()
    }

    /// The pip arguments of every entry, whatever its marker.
    pub fn requirements(&self) -> Vec<Vec<String>> {
        self.install
            .iter()
            .map(|entry| entry.args.clone())
            .collect()
    }

    /// The entries installed where the marker variables have `values`.
    pub fn evaluated(&self, values: &Values) -> Evaluated {
        let mut evaluated = Evaluated {
            install: Vec::new(),
            left_out: Vec::new(),
        };
        for entry in &self.install {
            match &entry.marker {
                Some(marker) if !marker.evaluate(values) => {
                    evaluated.left_out.extend(entry.written());
                }
                _ => evaluated.install.push(entry.args.clone()),
            }
        }
        evaluated
    }
}

impl Session {
    pub fn cacheable(&self) -> bool {
        self.inputs.is_some()
    }

    /// Whether `name` selects this session: its own name, its `[sessions.NAME]`, or
    /// `NAME-VERSION` (as in nox).
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name
            || self.base == name
            || self.signatures.iter().any(|signature| signature == name)
    }
}

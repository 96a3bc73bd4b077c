//! What the stand-in nox recorded of a noxfile: the JSON `rtask_record.py` writes, typed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::InitError;

/// The stand-in `nox` package and its driver, written to a temporary directory that goes first
/// on `PYTHONPATH`.
const STUB: [(&str, &str); 9] = [
    ("rtask_record.py", include_str!("nox_stub/rtask_record.py")),
    ("nox/__init__.py", include_str!("nox_stub/nox/__init__.py")),
    (
        "nox/_registry.py",
        include_str!("nox_stub/nox/_registry.py"),
    ),
    ("nox/_session.py", include_str!("nox_stub/nox/_session.py")),
    ("nox/project.py", include_str!("nox_stub/nox/project.py")),
    // What noxfiles import from nox beside `nox` itself: type hints, exceptions, loggers.
    ("nox/sessions.py", include_str!("nox_stub/nox/sessions.py")),
    ("nox/command.py", include_str!("nox_stub/nox/command.py")),
    (
        "nox/virtualenv.py",
        include_str!("nox_stub/nox/virtualenv.py"),
    ),
    ("nox/logger.py", include_str!("nox_stub/nox/logger.py")),
];

/// How many lines of Python's traceback an import failure shows.
const TRACEBACK_TAIL: usize = 12;

#[derive(Debug, Deserialize)]
pub(crate) struct Recording {
    /// `MAJOR.MINOR` of the interpreter that ran the noxfile.
    pub python: String,
    /// `nox.options.*` as the noxfile set them.
    pub options: BTreeMap<String, serde_json::Value>,
    pub sessions: Vec<Declared>,
}

/// `python=` of a session decorator.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum PythonSpec {
    /// `python=False` (no environment) or `python=True` (nox's own interpreter).
    Flag(bool),
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub(crate) struct Declared {
    pub name: String,
    pub line: u32,
    pub description: Option<String>,
    pub python: Option<PythonSpec>,
    pub venv_backend: Option<String>,
    pub reuse_venv: Option<bool>,
    pub venv_params: Option<Vec<String>>,
    pub tags: Vec<String>,
    pub default: bool,
    pub requires: Vec<String>,
    pub unknown_keywords: Vec<String>,
    /// Each `@nox.parametrize`, nearest the function first.
    pub param_groups: Vec<ParamGroup>,
    pub notes: Vec<Note>,
    pub variants: Vec<Recorded>,
}

/// One `@nox.parametrize(arg_names, rows)`.
#[derive(Debug, Deserialize)]
pub(crate) struct ParamGroup {
    pub names: Vec<String>,
    pub rows: Vec<ParamRow>,
}

/// One row of a `@nox.parametrize`.
#[derive(Debug, Deserialize)]
pub(crate) struct ParamRow {
    /// The values, as JSON when they are strings, numbers or booleans (else their `repr`).
    pub values: Vec<serde_json::Value>,
    /// An id the noxfile gave (`ids=`, `nox.param(id=)`), which names the variant in nox.
    pub id: Option<String>,
    /// Whether every value is a string, number or boolean (what `parametrize` can hold).
    pub plain: bool,
    /// Python's `str` of each value (what a placeholder becomes).
    pub texts: Vec<String>,
    /// What nox names the row without an id: `name=repr, ...`.
    pub label: String,
}

/// Something the converter says about a line of the noxfile (0: no particular line).
#[derive(Debug, Deserialize, Clone, PartialEq)]
pub(crate) struct Note {
    pub line: u32,
    pub text: String,
    #[serde(default)]
    pub kind: NoteKind,
}

/// What a note is about: where the writer puts it.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NoteKind {
    /// Said once, above the session's keys.
    #[default]
    General,
    /// A value the machine that converted gave: said on the entry written from its line.
    Machine,
}

/// `sys.exit(...)` while the noxfile was imported (what `rtask_record.py` writes, exit 4).
#[derive(Debug, Deserialize)]
struct Exited {
    status: i64,
    line: u32,
    message: Option<String>,
}

/// `rtask_record.py`'s exit code when the noxfile called `sys.exit` while imported.
const EXITED: i32 = 4;

/// What one call of a session function (one variant) asked for.
#[derive(Debug, Deserialize)]
pub(crate) struct Recorded {
    pub python: Option<String>,
    pub call_spec: serde_json::Map<String, serde_json::Value>,
    pub install: Vec<Install>,
    pub steps: Vec<Step>,
    pub cwd: Option<Cwd>,
    pub env: BTreeMap<String, String>,
    /// The lines that set `session.env` variables.
    #[serde(default)]
    pub env_lines: Vec<u32>,
    pub notify: Vec<Notify>,
    pub notes: Vec<Note>,
    /// The exception that stopped the session function, if one did.
    pub raised: Option<Raised>,
}

/// An exception a session function raised while it was recorded.
#[derive(Debug, Deserialize, Clone)]
pub(crate) struct Raised {
    /// The exception's class name (`AssertionError`).
    pub error: String,
    pub line: u32,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Install {
    pub args: Vec<String>,
    pub line: u32,
    /// Keyword arguments given to `session.install` (none of them is converted).
    pub options: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepKind {
    Run,
    RunInstall,
    RunAlways,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Step {
    pub kind: StepKind,
    pub args: Vec<String>,
    pub external: bool,
    pub env: BTreeMap<String, String>,
    pub success_codes: Option<Vec<i64>>,
    pub silent: bool,
    pub line: u32,
    /// Where `*session.posargs` went, and the words used when there are none.
    pub posargs: Option<Posargs>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
pub(crate) struct Posargs {
    pub at: usize,
    pub default: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Cwd {
    pub path: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Notify {
    pub target: String,
}

/// Run `noxfile` under `python` with the stand-in nox, and read what it recorded.
pub(crate) fn record(python: &Path, noxfile: &Path) -> Result<Recording, InitError> {
    let stub = tempfile::tempdir().map_err(InitError::Scratch)?;
    for (name, text) in STUB {
        let path = stub.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(InitError::Scratch)?;
        }
        std::fs::write(&path, text).map_err(InitError::Scratch)?;
    }
    let output = stub.path().join("recording.json");
    let ran = std::process::Command::new(python)
        .arg("-B")
        .arg(stub.path().join("rtask_record.py"))
        .arg(noxfile)
        .arg(&output)
        .env("PYTHONPATH", stub.path())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| InitError::PythonFailed {
            python: python.to_path_buf(),
            source,
        })?;
    if ran.status.code() == Some(EXITED) {
        let text = std::fs::read_to_string(&output).map_err(InitError::Scratch)?;
        let exited: Exited =
            serde_json::from_str(&text).map_err(|error| InitError::Recording(error.to_string()))?;
        return Err(InitError::NoxfileExited {
            noxfile: noxfile.to_path_buf(),
            status: exited.status,
            line: exited.line,
            message: exited.message,
        });
    }
    if !ran.status.success() {
        let stderr = String::from_utf8_lossy(&ran.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(TRACEBACK_TAIL)..].join("\n");
        return Err(InitError::NoxfileFailed {
            noxfile: noxfile.to_path_buf(),
            traceback: tail,
        });
    }
    let text = std::fs::read_to_string(&output).map_err(InitError::Scratch)?;
    serde_json::from_str(&text).map_err(|error| InitError::Recording(error.to_string()))
}

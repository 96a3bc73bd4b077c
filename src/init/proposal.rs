//! `inputs`/`outputs` proposed for converted sessions that look cacheable, from the project's
//! layout and the commands they run.

use std::path::Path;

/// What a session's commands say it is, for proposing its inputs and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Runs tests (pytest, `coverage run`).
    Tests,
    /// Runs a linter or type checker over the sources.
    Lint,
    /// Builds documentation with sphinx into a directory of the project.
    Docs,
    /// Combines or reports coverage data only.
    Coverage,
}

/// The files of the project root that sessions commonly read.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// `src`, package directories, `tests`, and the root's configuration files that exist.
    pub sources: Vec<String>,
    pub coveragerc: bool,
    pub docs_dir: bool,
}

const LINTERS: [&str; 8] = [
    "ruff", "flake8", "mypy", "pylint", "black", "isort", "pyright", "pyflakes",
];
const SKIP_DIRS: [&str; 6] = ["docs", "build", "dist", "tests", "test", "examples"];

impl Layout {
    pub(crate) fn of(root: &Path) -> Layout {
        let mut sources = Vec::new();
        if root.join("src").is_dir() {
            sources.push("src".to_string());
        }
        if let Ok(entries) = std::fs::read_dir(root) {
            let mut packages: Vec<String> = entries
                .flatten()
                .filter(|entry| entry.path().join("__init__.py").is_file())
                .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
                .filter(|name| !name.starts_with('.') && !SKIP_DIRS.contains(&name.as_str()))
                .collect();
            packages.sort();
            sources.extend(packages);
        }
        for name in ["tests", "test"] {
            if root.join(name).is_dir() {
                sources.push(name.to_string());
            }
        }
        // Configuration the tools read at the root: pytest's among them (`conftest.py`,
        // `pytest.ini`, `tox.ini`), which can change which tests run and how.
        for name in [
            "pyproject.toml",
            "setup.cfg",
            "setup.py",
            "conftest.py",
            "pytest.ini",
            "tox.ini",
        ] {
            if root.join(name).is_file() {
                sources.push(name.to_string());
            }
        }
        Layout {
            sources,
            coveragerc: root.join(".coveragerc").is_file(),
            docs_dir: root.join("docs").is_dir(),
        }
    }
}

/// What a session's commands (argv lists) make it look like; `None`: not cacheable-looking.
pub(crate) fn kind(commands: &[Vec<String>]) -> Option<Kind> {
    let mut found = None;
    for argv in commands {
        let program = program(argv);
        let this = match program.as_deref() {
            Some("pytest") => Kind::Tests,
            Some("coverage") if argv.iter().any(|a| a == "run") => Kind::Tests,
            Some("coverage") => Kind::Coverage,
            Some("sphinx-build") => Kind::Docs,
            Some(name) if LINTERS.contains(&name) => Kind::Lint,
            _ => continue,
        };
        found = match (found, this) {
            (Some(Kind::Tests), _) | (_, Kind::Tests) => Some(Kind::Tests),
            (Some(previous), _) if previous != Kind::Coverage => Some(previous),
            _ => Some(this),
        };
    }
    found
}

/// The program a command runs, seeing through `python -m X`.
fn program(argv: &[String]) -> Option<String> {
    let first = argv.first()?;
    let name = first.rsplit('/').next().unwrap_or(first);
    if name.starts_with("python") && argv.get(1).is_some_and(|flag| flag == "-m") {
        return argv.get(2).cloned();
    }
    Some(name.to_string())
}

/// The proposed inputs and outputs of a session of `kind`.
pub(crate) fn propose(
    kind: Kind,
    layout: &Layout,
    requirement_files: &[String],
    commands: &[Vec<String>],
    cwd: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let mut inputs: Vec<String> = match kind {
        Kind::Coverage => Vec::new(),
        _ => layout.sources.clone(),
    };
    inputs.extend(requirement_files.iter().cloned());
    let coverage = commands
        .iter()
        .any(|argv| program(argv).as_deref() == Some("coverage"));
    let mut outputs = Vec::new();
    if coverage {
        let says = |word: &str| {
            commands.iter().any(|argv| {
                program(argv).as_deref() == Some("coverage") && argv.iter().any(|a| a == word)
            })
        };
        // A session that combines or erases the data it reads would change its own inputs:
        // no proposal is better than a key that moves under it.
        if kind == Kind::Coverage && (says("combine") || says("erase")) {
            return (Vec::new(), Vec::new());
        }
        if layout.coveragerc {
            inputs.push(".coveragerc".to_string());
        }
        // `.coverage*` would take in `.coveragerc`; `[e]` keeps `.coverage` a glob, so a run
        // that writes only parallel files (`.coverage.HOST.PID...`) still succeeds.
        let data = [".coverag[e]".to_string(), ".coverage.*".to_string()];
        if kind == Kind::Coverage {
            inputs.extend(data);
        } else {
            outputs.extend(data);
        }
        if says("xml") {
            outputs.push("coverage.xml".to_string());
        }
        if says("html") {
            outputs.push("htmlcov".to_string());
        }
    }
    if kind == Kind::Docs {
        let base = cwd.unwrap_or(".");
        if base != "." {
            inputs.push(base.to_string());
        } else if layout.docs_dir {
            inputs.push("docs".to_string());
        }
        if let Some(out) = commands
            .iter()
            .find(|argv| program(argv).as_deref() == Some("sphinx-build"))
            .and_then(|argv| argv.last())
        {
            outputs.push(match base {
                "." => out.clone(),
                base => format!("{base}/{out}"),
            });
        }
    }
    inputs.dedup();
    (inputs, outputs)
}

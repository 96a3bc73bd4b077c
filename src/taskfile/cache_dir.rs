//! Where the cache may live: a directory apart from the project root, `.git`, rtask's
//! machine-local state and every session's inputs.

use std::fmt;
use std::path::Path;

use super::resolve;
use crate::project::Session;
use crate::protected::{self, STATE_DIR};
use crate::relpath::RelPath;

/// What rtask keeps in its state directory for this machine only (virtual environments, the
/// interpreters it found, the stat cache, the run lock): never part of a cache, which may be
/// shared.
use crate::protected::MACHINE_STATE;

/// Why a cache directory is refused.
#[derive(Debug)]
pub enum Clash {
    /// It is the project root.
    ProjectRoot,
    /// The project lies inside it.
    HoldsProject,
    /// It lies in a `.git` directory.
    InGit,
    /// It exists and is not a directory (a file, a symlink to one).
    NotADirectory,
    /// A path it lies below exists and is not a directory: it can never be made.
    BelowNonDirectory { path: String },
    /// It is rtask's state directory, next to the machine-local state.
    StateDir,
    /// It is a part of rtask's machine-local state.
    IsMachineState,
    /// It lies in a part of rtask's machine-local state.
    InMachineState { entry: String },
    /// An input lies at or below it; walks skip the cache directory, so the key would not.
    HoldsInput { input: String, session: String },
    /// It is inside the project and holds something rtask did not put there: walks skip it,
    /// so a glob over the project (`**/*.py`) would silently leave those files out.
    HoldsOtherFiles { name: String },
}

/// A refused cache directory, with where symlinks took it when only they reveal the clash.
#[derive(Debug)]
pub struct CacheDirClash {
    pub clash: Clash,
    pub through_symlink: Option<String>,
}

/// Why `dir` (absolute) cannot be the cache of the project at `root` (canonical), if it cannot:
/// compared as written, then with the symlinks of its existing part followed.
pub(crate) fn check(root: &Path, dir: &Path, sessions: &[Session]) -> Option<CacheDirClash> {
    if let Some(clash) = not_a_directory(root, &resolve::normalise(dir)) {
        return Some(CacheDirClash {
            clash,
            through_symlink: None,
        });
    }
    if let Some(clash) = clash(root, &resolve::normalise(dir), sessions) {
        return Some(CacheDirClash {
            clash,
            through_symlink: None,
        });
    }
    let real = resolve::resolve(dir);
    if let Some(clash) = clash(root, &real, sessions) {
        let shown = RelPath::from_path(root, &real)
            .map_or_else(|| real.display().to_string(), |inside| inside.to_string());
        return Some(CacheDirClash {
            clash,
            through_symlink: Some(shown),
        });
    }
    // Outside the project, nothing walks the cache directory: it may hold anything.
    let inside = RelPath::from_path(root, &real).is_some();
    let name = foreign(dir).filter(|_| inside)?;
    Some(CacheDirClash {
        clash: Clash::HoldsOtherFiles { name },
        through_symlink: None,
    })
}

fn clash(root: &Path, dir: &Path, sessions: &[Session]) -> Option<Clash> {
    if dir == root {
        return Some(Clash::ProjectRoot);
    }
    if root.starts_with(dir) {
        return Some(Clash::HoldsProject);
    }
    let inside = RelPath::from_path(root, dir);
    let in_git = match &inside {
        Some(inside) => protected::in_git(inside),
        None => protected::in_git_dir(dir),
    };
    if in_git {
        return Some(Clash::InGit);
    }
    let inside = inside?;
    if let Some(clash) = machine_state(&inside) {
        return Some(clash);
    }
    sessions.iter().find_map(|session| {
        let input = session.inputs.as_ref()?.first_within(&inside)?;
        Some(Clash::HoldsInput {
            input: input.to_string(),
            session: session.name.clone(),
        })
    })
}

/// Whether `dir` (normalised), or the nearest path above it that exists, is not a directory.
fn not_a_directory(root: &Path, dir: &Path) -> Option<Clash> {
    let existing = dir.ancestors().find(|path| path.metadata().is_ok())?;
    if existing.is_dir() {
        return None;
    }
    if existing == dir {
        return Some(Clash::NotADirectory);
    }
    let path = RelPath::from_path(root, existing).map_or_else(
        || existing.display().to_string(),
        |inside| inside.to_string(),
    );
    Some(Clash::BelowNonDirectory { path })
}

/// Whether `dir`, inside the project, is rtask's state directory or lies in its machine-local
/// state.
fn machine_state(dir: &RelPath) -> Option<Clash> {
    // `.rtask`, a constant: one plain relative component, which always parses.
    let state = RelPath::parse(STATE_DIR).expect("the state directory is a relative path");
    if *dir == state {
        return Some(Clash::StateDir);
    }
    let entry = MACHINE_STATE
        .iter()
        .map(|entry| state.join(entry))
        .find(|entry| dir.starts_with(entry))?;
    Some(if *dir == entry {
        Clash::IsMachineState
    } else {
        Clash::InMachineState {
            entry: entry.to_string(),
        }
    })
}

/// The first entry of an existing cache directory that rtask does not write there (its tag,
/// its `.gitignore` and its layout directories `v1`, `v2`, …), if any.
fn foreign(dir: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            let layout = name.strip_prefix('v').is_some_and(|number| {
                !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
            });
            !(layout || name == "CACHEDIR.TAG" || name == ".gitignore")
        })
        .collect();
    names.sort();
    names.into_iter().next()
}

impl CacheDirClash {
    /// The problem, for the cache directory `written` as the setting `name` gives it.
    pub fn message(&self, name: &str, written: &str) -> String {
        let through = self
            .through_symlink
            .as_ref()
            .map(|real| format!(" (`{real}` through a symlink)"))
            .unwrap_or_default();
        format!("`{name}` `{written}`{through} {}", self.clash)
    }

    pub fn label(&self) -> &'static str {
        match self.clash {
            Clash::ProjectRoot => "the project root",
            Clash::HoldsProject => "holds the project",
            Clash::InGit => "in `.git`",
            Clash::NotADirectory | Clash::BelowNonDirectory { .. } => "not a directory",
            Clash::StateDir | Clash::IsMachineState | Clash::InMachineState { .. } => {
                "rtask's state"
            }
            Clash::HoldsInput { .. } => "holds an input",
            Clash::HoldsOtherFiles { .. } => "holds other files",
        }
    }

    pub fn hint(&self) -> &'static str {
        match self.clash {
            Clash::ProjectRoot | Clash::HoldsProject => {
                "the cache needs a directory of its own, such as `.rtask/cache` (the default)"
            }
            Clash::InGit => {
                "git keeps its own state there; choose a directory outside `.git`, such as `.rtask/cache` (the default)"
            }
            Clash::NotADirectory | Clash::BelowNonDirectory { .. } => {
                "the cache is a directory; name a directory, or a path that does not exist yet, such as `.rtask/cache` (the default)"
            }
            Clash::StateDir | Clash::IsMachineState | Clash::InMachineState { .. } => {
                "the cache may be shared (a CI job may upload it), rtask's machine-local state may not; choose a directory of its own, such as `.rtask/cache` (the default)"
            }
            Clash::HoldsInput { .. } | Clash::HoldsOtherFiles { .. } => {
                "input walks skip the cache directory, so the key would leave those inputs out; choose a directory apart from the inputs, such as `.rtask/cache` (the default)"
            }
        }
    }
}

impl fmt::Display for Clash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clash::ProjectRoot => f.write_str("is the project root"),
            Clash::HoldsProject => f.write_str("holds the project"),
            Clash::InGit => f.write_str("lies in a `.git` directory"),
            Clash::NotADirectory => f.write_str("is not a directory"),
            Clash::BelowNonDirectory { path } => {
                write!(f, "lies below `{path}`, which is not a directory")
            }
            Clash::StateDir => f.write_str("is rtask's state directory"),
            Clash::IsMachineState => f.write_str("is part of rtask's machine-local state"),
            Clash::InMachineState { entry } => {
                write!(f, "lies in `{entry}`, rtask's machine-local state")
            }
            Clash::HoldsInput { input, session } => {
                write!(f, "holds `{input}`, an input of `{session}`")
            }
            Clash::HoldsOtherFiles { name } => {
                write!(f, "holds `{name}`, which is not rtask's")
            }
        }
    }
}

/// Why a directory cannot hold the sessions' environments.
#[derive(Debug)]
pub enum EnvDirClash {
    /// It is the project root: every environment would sit among the sources.
    ProjectRoot,
    /// The project lies inside it.
    HoldsProject,
    /// It lies in a `.git` directory.
    InGit,
    /// It is rtask's state directory, or lies in it elsewhere than `.rtask/venvs`.
    StateDir,
    /// It is, holds or lies in the cache directory.
    Cache,
    /// An input lies at or below it; walks skip the environments, so the key would not.
    HoldsInput { input: String, session: String },
    /// Inside the project, it holds something that is not an environment: input walks skip
    /// the directory, so that file would drop out of every key.
    HoldsOther { entry: String },
    /// An output of a session reaches into it (`--envdir`; the file's `envdir` is checked with
    /// the outputs, where their spans are).
    HoldsOutput { output: String, session: String },
}

/// Why `dir` (absolute, normalised) cannot hold the environments of the project at `root`
/// whose cache is `cache_dir`, if it cannot.
pub(crate) fn check_envdir(
    root: &Path,
    dir: &Path,
    cache_dir: &Path,
    sessions: &[Session],
) -> Option<EnvDirClash> {
    // Through symlinks: `envs -> .` is the project root, whatever its name says.
    let (root, dir) = (&resolve::resolve(root), resolve::resolve(dir));
    if dir == *root {
        return Some(EnvDirClash::ProjectRoot);
    }
    if root.starts_with(&dir) {
        return Some(EnvDirClash::HoldsProject);
    }
    let cache_dir = resolve::resolve(cache_dir);
    if dir.starts_with(&cache_dir) || cache_dir.starts_with(&dir) {
        return Some(EnvDirClash::Cache);
    }
    let Some(inside) = RelPath::from_path(root, &dir) else {
        return protected::in_git_dir(&dir).then_some(EnvDirClash::InGit);
    };
    if protected::in_git(&inside) {
        return Some(EnvDirClash::InGit);
    }
    // `.rtask`, a constant: one plain relative component, which always parses.
    let state = RelPath::parse(STATE_DIR).expect("the state directory is a relative path");
    let venvs = state.join(crate::protected::VENVS);
    if inside.starts_with(&state) && !inside.starts_with(&venvs) {
        return Some(EnvDirClash::StateDir);
    }
    let holds_input = sessions.iter().find_map(|session| {
        let input = session.inputs.as_ref()?.first_within(&inside)?;
        Some(EnvDirClash::HoldsInput {
            input: input.to_string(),
            session: session.name.clone(),
        })
    });
    holds_input.or_else(|| {
        // A directory that cannot be read may hold anything: it is refused as well.
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(_) => {
                return Some(EnvDirClash::HoldsOther {
                    entry: inside.to_string(),
                });
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            let Ok(entry) = entry else {
                return Some(EnvDirClash::HoldsOther {
                    entry: inside.to_string(),
                });
            };
            if !crate::python::venv::replaceable(&entry.path()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        let entry = names.into_iter().next()?;
        Some(EnvDirClash::HoldsOther {
            entry: inside.join(&entry).to_string(),
        })
    })
}

impl EnvDirClash {
    pub fn label(&self) -> &'static str {
        match self {
            EnvDirClash::ProjectRoot => "the project root",
            EnvDirClash::HoldsProject => "holds the project",
            EnvDirClash::InGit => "in `.git`",
            EnvDirClash::StateDir => "rtask's state",
            EnvDirClash::Cache => "the cache",
            EnvDirClash::HoldsInput { .. } => "holds an input",
            EnvDirClash::HoldsOther { .. } => "holds other files",
            EnvDirClash::HoldsOutput { .. } => "overlaps an output",
        }
    }

    pub fn hint(&self) -> &'static str {
        match self {
            EnvDirClash::HoldsInput { .. } | EnvDirClash::HoldsOther { .. } => {
                "input walks skip the environments, so the key would leave those inputs out; choose a directory apart from the inputs, such as `.nox`"
            }
            _ => {
                "environments need a directory of their own, such as `.nox`, or leave `envdir` out for `.rtask/venvs`"
            }
        }
    }
}

impl fmt::Display for EnvDirClash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvDirClash::ProjectRoot => f.write_str("is the project root"),
            EnvDirClash::HoldsProject => f.write_str("holds the project"),
            EnvDirClash::InGit => f.write_str("lies in a `.git` directory"),
            EnvDirClash::StateDir => f.write_str("lies in rtask's state directory"),
            EnvDirClash::Cache => f.write_str("overlaps the cache directory"),
            EnvDirClash::HoldsInput { input, session } => {
                write!(f, "holds `{input}`, an input of `{session}`")
            }
            EnvDirClash::HoldsOther { entry } => {
                write!(f, "holds `{entry}`, which is not an environment")
            }
            EnvDirClash::HoldsOutput { output, session } => {
                write!(f, "overlaps `{output}`, an output of `{session}`")
            }
        }
    }
}

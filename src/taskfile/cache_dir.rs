//! Where the cache may live: apart from the project root, `.git` and every session's inputs.

use std::fmt;
use std::path::{Component, Path};

use super::resolve;
use crate::project::Session;
use crate::relpath::RelPath;

/// Why a cache directory is refused.
#[derive(Debug)]
pub enum Clash {
    /// It is the project root.
    ProjectRoot,
    /// The project lies inside it.
    HoldsProject,
    /// It lies in a `.git` directory.
    InGit,
    /// An input lies at or below it; walks skip the cache directory, so the key would not.
    HoldsInput { input: String, session: String },
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
    if let Some(clash) = clash(root, &resolve::normalise(dir), sessions) {
        return Some(CacheDirClash {
            clash,
            through_symlink: None,
        });
    }
    let real = resolve::resolve(dir);
    let clash = clash(root, &real, sessions)?;
    let shown = RelPath::from_path(root, &real)
        .map_or_else(|| real.display().to_string(), |inside| inside.to_string());
    Some(CacheDirClash {
        clash,
        through_symlink: Some(shown),
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
        Some(inside) => inside.as_str().split('/').any(|part| part == ".git"),
        None => dir
            .components()
            .any(|part| part == Component::Normal(".git".as_ref())),
    };
    if in_git {
        return Some(Clash::InGit);
    }
    let inside = inside?;
    sessions.iter().find_map(|session| {
        let input = session.inputs.as_ref()?.first_within(&inside)?;
        Some(Clash::HoldsInput {
            input: input.to_string(),
            session: session.name.clone(),
        })
    })
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
            Clash::HoldsInput { .. } => "holds an input",
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
            Clash::HoldsInput { .. } => {
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
            Clash::HoldsInput { input, session } => {
                write!(f, "holds `{input}`, an input of `{session}`")
            }
        }
    }
}

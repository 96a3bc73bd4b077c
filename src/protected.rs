//! The places rtask keeps to itself: any `.git` directory, its state directory `.rtask/` and
//! the cache directory. Input walks skip them, output globs never match in them, and restores
//! never write or clean there.

use std::path::PathBuf;

use crate::project::Project;

/// rtask's state directory, at the project root.
pub(crate) const STATE_DIR: &str = ".rtask";

#[derive(Debug, Clone)]
pub(crate) struct Protected {
    /// Absolute: the state directory and the cache directory (as written and resolved).
    dirs: Vec<PathBuf>,
}

impl Protected {
    pub(crate) fn of(project: &Project) -> Protected {
        let mut dirs = vec![project.root.join(STATE_DIR), project.cache_dir.clone()];
        if let Ok(canonical) = project.cache_dir.canonicalize() {
            dirs.push(canonical);
        }
        dirs.dedup();
        Protected { dirs }
    }

    /// The protected directories, absolute (`.git` directories are recognised by name).
    pub(crate) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}

//! The validated project: sessions as the rest of rtask sees them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::command::CommandTemplate;
use crate::patterns::{InputPatterns, OutputPattern};
use crate::relpath::RelPath;

/// Index of a session in [`Project::sessions`].
pub type SessionId = usize;

#[derive(Debug)]
pub struct Project {
    /// The directory holding the task file; every relative path starts here.
    pub root: PathBuf,
    /// The task file as messages show it: relative to the current directory when below it.
    pub display_path: String,
    pub cache_dir: PathBuf,
    /// `[settings] default`, when given.
    pub default: Option<Vec<SessionId>>,
    /// In the order the task file defines them.
    pub sessions: Vec<Session>,
}

#[derive(Debug)]
pub struct Session {
    pub name: String,
    pub description: Option<String>,
    pub commands: Vec<CommandTemplate>,
    pub shell: bool,
    pub requires: Vec<SessionId>,
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

impl Session {
    pub fn cacheable(&self) -> bool {
        self.inputs.is_some()
    }
}

impl Project {
    pub fn find(&self, name: &str) -> Option<SessionId> {
        self.sessions
            .iter()
            .position(|session| session.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sessions.iter().map(|session| session.name.as_str())
    }
}

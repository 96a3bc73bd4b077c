//! Project-relative paths: `/`-separated, normalised, never absolute, never escaping the root.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A normalised path relative to the project root; `.` is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelPathError {
    Absolute,
    ParentDir,
    Empty,
}

impl fmt::Display for RelPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RelPathError::Absolute => "is an absolute path",
            RelPathError::ParentDir => "contains `..`",
            RelPathError::Empty => "is empty",
        })
    }
}

impl RelPath {
    pub fn root() -> RelPath {
        RelPath(".".to_string())
    }

    /// Parse a path written in `tasks.toml` (or read from a manifest): `/`-separated, relative,
    /// without `..`; `.` components and repeated or trailing slashes are dropped.
    pub fn parse(text: &str) -> Result<RelPath, RelPathError> {
        if text.is_empty() {
            return Err(RelPathError::Empty);
        }
        if text.starts_with('/') || Path::new(text).is_absolute() {
            return Err(RelPathError::Absolute);
        }
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(RelPathError::ParentDir),
                part => parts.push(part),
            }
        }
        if parts.is_empty() {
            return Ok(RelPath::root());
        }
        Ok(RelPath(parts.join("/")))
    }

    /// The path of `path` below `root`, if it is below it.
    pub fn from_path(root: &Path, path: &Path) -> Option<RelPath> {
        let relative = path.strip_prefix(root).ok()?;
        let mut parts = Vec::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_str()?),
                Component::CurDir => {}
                _ => return None,
            }
        }
        Some(if parts.is_empty() {
            RelPath::root()
        } else {
            RelPath(parts.join("/"))
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "."
    }

    /// `self` joined with a child name or relative `/` path.
    pub fn join(&self, child: &str) -> RelPath {
        if self.is_root() {
            return RelPath(child.to_string());
        }
        let mut path = String::with_capacity(self.0.len() + 1 + child.len());
        path.push_str(&self.0);
        path.push('/');
        path.push_str(child);
        RelPath(path)
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// The path on disk under `root`.
    pub fn to_path(&self, root: &Path) -> PathBuf {
        if self.is_root() {
            root.to_path_buf()
        } else {
            root.join(&self.0)
        }
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RelPath {
    type Error = String;

    fn try_from(text: String) -> Result<RelPath, String> {
        RelPath::parse(&text).map_err(|error| format!("path `{text}` {error}"))
    }
}

impl From<RelPath> for String {
    fn from(path: RelPath) -> String {
        path.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_rejects_escapes() {
        assert_eq!(RelPath::parse("./a//b/").unwrap().as_str(), "a/b");
        assert_eq!(RelPath::parse(".").unwrap(), RelPath::root());
        assert_eq!(RelPath::parse("/etc"), Err(RelPathError::Absolute));
        assert_eq!(RelPath::parse("a/../../b"), Err(RelPathError::ParentDir));
        assert_eq!(RelPath::parse(""), Err(RelPathError::Empty));
    }

    #[test]
    fn prefixes_respect_components() {
        let htmlcov = RelPath::parse("htmlcov").unwrap();
        assert!(
            RelPath::parse("htmlcov/index.html")
                .unwrap()
                .starts_with(&htmlcov)
        );
        assert!(!RelPath::parse("htmlcov2/x").unwrap().starts_with(&htmlcov));
        assert!(htmlcov.starts_with(&RelPath::root()));
    }
}

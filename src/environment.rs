//! The one place that reads the process environment.
//!
//! Everything else receives an [`Environment`], so the rest of the crate is
//! deterministic and tests can state exactly which variables a behaviour uses.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// A snapshot of the process environment, taken once at start-up.
#[derive(Debug, Clone)]
pub struct Environment {
    vars: BTreeMap<OsString, OsString>,
    pub current_dir: PathBuf,
}

impl Environment {
    #[allow(clippy::disallowed_methods)]
    pub fn capture() -> std::io::Result<Environment> {
        Ok(Environment {
            vars: std::env::vars_os().collect(),
            current_dir: std::env::current_dir()?,
        })
    }

    /// A variable's value, if it is set and valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(std::ffi::OsStr::new(name))?.to_str()
    }

    /// A variable's value as the process received it, UTF-8 or not.
    pub fn get_os(&self, name: &str) -> Option<&std::ffi::OsStr> {
        self.vars
            .get(std::ffi::OsStr::new(name))
            .map(OsString::as_os_str)
    }

    /// Whether a variable is set to a non-empty value.
    pub fn is_set(&self, name: &str) -> bool {
        self.vars
            .get(std::ffi::OsStr::new(name))
            .is_some_and(|value| !value.is_empty())
    }

    /// All variables, for passing on to child processes.
    pub fn vars(&self) -> &BTreeMap<OsString, OsString> {
        &self.vars
    }

    /// The same, with `name` set to `value` (for the commands rtask starts).
    pub fn with_var(&self, name: &str, value: impl Into<OsString>) -> Environment {
        let mut environment = self.clone();
        environment.vars.insert(name.into(), value.into());
        environment
    }

    /// `RTASK_CACHE_SIGNING_KEY`: entries from remote caches and bundles must be signed with it
    /// (and this run signs what it shares).
    pub fn signing_key(&self) -> Option<crate::cache::signing::SigningKey> {
        use std::os::unix::ffi::OsStrExt;
        crate::cache::signing::SigningKey::new(self.get_os("RTASK_CACHE_SIGNING_KEY")?.as_bytes())
    }

    /// `RTASK_CACHE_DIR`, relative to the current directory when not absolute.
    pub fn cache_dir_override(&self) -> Option<PathBuf> {
        let value = self.vars.get(std::ffi::OsStr::new("RTASK_CACHE_DIR"))?;
        (!value.is_empty()).then(|| self.current_dir.join(value))
    }

    /// Running under a CI service (`CI` set to anything but `false`/`0`).
    pub fn ci(&self) -> bool {
        self.get("CI")
            .is_some_and(|value| !value.is_empty() && value != "false" && value != "0")
    }

    /// GitHub Actions, and Forgejo Actions which sets the same variables.
    pub fn github_actions(&self) -> bool {
        self.get("GITHUB_ACTIONS") == Some("true") || self.get("FORGEJO_ACTIONS") == Some("true")
    }

    pub fn no_color(&self) -> bool {
        self.is_set("NO_COLOR")
    }
}

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
    pub fn signing(&self) -> crate::cache::signing::Signing {
        use std::os::unix::ffi::OsStrExt;
        let value = self.get_os("RTASK_CACHE_SIGNING_KEY");
        crate::cache::signing::Signing::of(value.map(|value| value.as_bytes()))
    }

    /// `RTASK_REMOTE_CACHE`: the remote cache's URL, unless `--remote-cache` gives one.
    pub fn remote_cache(&self) -> Option<&str> {
        self.get("RTASK_REMOTE_CACHE")
            .filter(|value| !value.is_empty())
    }

    /// `RTASK_REMOTE_TIMEOUT`: seconds a remote request may go without progress.
    pub fn remote_timeout(&self) -> Option<&str> {
        self.get("RTASK_REMOTE_TIMEOUT")
            .filter(|value| !value.is_empty())
    }

    /// `RTASK_REMOTE_HEADER`: `Name: value`, sent with every request to an HTTP remote cache.
    pub fn remote_header(&self) -> Option<&str> {
        self.get("RTASK_REMOTE_HEADER")
            .filter(|value| !value.is_empty())
    }

    /// `RTASK_REMOTE_READ_ONLY` set to anything but `0`/`false`: never upload.
    pub fn remote_read_only(&self) -> bool {
        self.get("RTASK_REMOTE_READ_ONLY")
            .is_some_and(|value| !value.is_empty() && value != "0" && value != "false")
    }

    /// S3's endpoint, region and credentials: `AWS_ENDPOINT_URL`, `AWS_REGION` (default
    /// `us-east-1`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub(crate) fn aws(&self) -> crate::remote::config::Aws {
        let set = |name| self.get(name).filter(|value| !value.is_empty());
        let credentials = match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
            (Some(key), Some(secret)) => Some((
                key.to_string(),
                secret.to_string(),
                set("AWS_SESSION_TOKEN").map(str::to_string),
            )),
            _ => None,
        };
        crate::remote::config::Aws {
            endpoint: set("AWS_ENDPOINT_URL").map(str::to_string),
            region: set("AWS_REGION").unwrap_or("us-east-1").to_string(),
            credentials,
        }
    }

    /// `RTASK_CACHE_DIR`, relative to the current directory when not absolute.
    pub fn cache_dir_override(&self) -> Option<PathBuf> {
        let value = self.vars.get(std::ffi::OsStr::new("RTASK_CACHE_DIR"))?;
        (!value.is_empty()).then(|| self.current_dir.join(value))
    }

    /// `RTASK_CACHE_MAX_SIZE`, when set and not empty: overrides `[settings] cache_max_size`.
    pub fn cache_max_size_override(&self) -> Option<&str> {
        self.get("RTASK_CACHE_MAX_SIZE")
            .filter(|value| !value.is_empty())
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

//! The raw shape of `tasks.toml`, as serde reads it: spans kept, nothing checked beyond types.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) type SpannedString = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireFile {
    pub settings: Option<WireSettings>,
    #[serde(default)]
    pub env: BTreeMap<SpannedString, SpannedString>,
    #[serde(default)]
    pub sessions: BTreeMap<SpannedString, Spanned<WireSession>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireSettings {
    pub default: Option<Vec<SpannedString>>,
    pub cache_dir: Option<SpannedString>,
    pub remote_cache: Option<SpannedString>,
    pub cache_max_size: Option<SpannedString>,
    pub envdir: Option<SpannedString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireSession {
    pub description: Option<String>,
    pub run: Spanned<Vec<Spanned<WireCommand>>>,
    #[serde(default)]
    pub requires: Vec<SpannedString>,
    pub inputs: Option<Vec<SpannedString>>,
    #[serde(default)]
    pub outputs: Vec<SpannedString>,
    #[serde(default)]
    pub env: BTreeMap<SpannedString, SpannedString>,
    #[serde(default)]
    pub env_inputs: Vec<SpannedString>,
    pub cwd: Option<SpannedString>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Any integer here, so a value out of range is reported at its place.
    pub success_codes: Option<Spanned<Vec<Spanned<i64>>>>,
    pub shell: Option<Spanned<bool>>,
    pub cache: Option<bool>,
    /// `false`, a version, or a list of versions.
    pub python: Option<Spanned<toml::Value>>,
    pub venv_backend: Option<SpannedString>,
    #[serde(default)]
    pub install: Vec<SpannedString>,
    /// Parameter name to a list of values.
    #[serde(default)]
    pub parametrize: BTreeMap<SpannedString, Spanned<toml::Value>>,
    pub default: Option<bool>,
    #[serde(default)]
    pub venv_params: Vec<SpannedString>,
    pub reuse_venv: Option<bool>,
}

/// One entry of `run`: a command line split like a POSIX shell, or an argv array.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a command line string or an array of strings")]
pub(crate) enum WireCommand {
    Line(String),
    Argv(Vec<String>),
}

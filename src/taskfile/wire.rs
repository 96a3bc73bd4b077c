//! The raw shape of `tasks.toml`, as serde reads it: spans kept, nothing checked beyond types.
//! The doc comments of the keys are the descriptions of `rtask schema` ([`crate::schema`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::schema;

pub(crate) type SpannedString = Spanned<String>;

/// The task file of rtask: settings, environment variables and sessions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tasks.toml")]
pub(crate) struct WireFile {
    /// Settings for the whole project.
    pub settings: Option<WireSettings>,
    /// Environment variables (strings) for the commands of every session; a session's `env`
    /// overrides them name by name.
    #[serde(default)]
    #[schemars(with = "schema::Env")]
    pub env: BTreeMap<SpannedString, SpannedString>,
    /// One table per session, named with ASCII letters, digits, `_`, `-`, `.` and `:`.
    #[serde(default)]
    #[schemars(with = "schema::Sessions")]
    pub sessions: BTreeMap<SpannedString, Spanned<WireSession>>,
}

/// `[settings]`: settings for the whole project.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Settings")]
pub(crate) struct WireSettings {
    /// Sessions a bare `rtask` runs (with what they require); `tests` means every variant.
    #[schemars(with = "Option<Vec<String>>")]
    pub default: Option<Vec<SpannedString>>,
    /// Where the cache lives, relative to the project root (default `.rtask/cache`).
    #[schemars(with = "Option<String>", length(min = 1))]
    pub cache_dir: Option<SpannedString>,
    /// A remote cache backing the local one: `http(s)://HOST[:PORT]/PREFIX` or
    /// `s3://BUCKET/PREFIX`.
    #[schemars(with = "Option<String>")]
    pub remote_cache: Option<SpannedString>,
    /// Keep the local cache bounded after each run: a size such as `500MB` or `5GiB`, or `0`.
    #[schemars(with = "Option<String>")]
    pub cache_max_size: Option<SpannedString>,
    /// `true`: a program found outside the session's environment fails the session;
    /// `false` (default): a warning.
    pub error_on_external_run: Option<bool>,
    /// Where the sessions' environments live, relative to the project root (default
    /// `.rtask/venvs`).
    #[schemars(with = "Option<String>")]
    pub envdir: Option<SpannedString>,
    /// How much of a cache hit's stored log is shown: `"full"` (default: the whole log,
    /// marked as a replay), `"errors"` (only the logs of failures: for a hit, its header line)
    /// or `"none"` (nothing; the summary still counts it). `--replay` overrides it.
    #[schemars(with = "Option<schema::Replay>")]
    pub replay: Option<SpannedString>,
}

/// `[sessions.NAME]`: one session. Only `run` is required.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Session")]
pub(crate) struct WireSession {
    /// Shown by `rtask -l`; not part of the cache key.
    pub description: Option<String>,
    /// The commands, run one after another: command lines, argv arrays or command tables.
    #[schemars(with = "Vec<WireCommand>", length(min = 1))]
    pub run: Spanned<Vec<Spanned<WireCommand>>>,
    /// Sessions that run (or are restored) first; `tests` means every variant of `tests`.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub requires: Vec<SpannedString>,
    /// Sessions this one starts after when they are part of the run, without pulling them in.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub after: Vec<SpannedString>,
    /// Path patterns of the files the result depends on; a session without `inputs` is not
    /// cached.
    #[schemars(with = "Option<Vec<String>>")]
    pub inputs: Option<Vec<SpannedString>>,
    /// Path patterns of the files and directories the session produces, stored in the cache.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub outputs: Vec<SpannedString>,
    /// Environment variables for the commands, over `[env]`; values may use placeholders.
    #[serde(default)]
    #[schemars(with = "schema::Env")]
    pub env: BTreeMap<SpannedString, SpannedString>,
    /// Variables from rtask's environment whose values enter the cache key.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub env_inputs: Vec<SpannedString>,
    /// Directory the commands run in, relative to the project root (default: the root).
    #[schemars(with = "Option<String>", length(min = 1))]
    pub cwd: Option<SpannedString>,
    /// For selecting sessions with `rtask -t TAG`; not part of the cache key.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Exit codes that count as success, for every command (default `[0]`).
    // Any integer is read, so that a value out of range is reported at its place.
    #[schemars(with = "Option<schema::ExitCodes>")]
    pub success_codes: Option<Spanned<Vec<Spanned<i64>>>>,
    /// `true`: run each `run` entry with `sh -c` (default `false`).
    #[schemars(with = "Option<bool>")]
    pub shell: Option<Spanned<bool>>,
    /// `false`: never cache this session, even with `inputs` (default `true`).
    pub cache: Option<bool>,
    /// A virtual environment with this Python (`"3.12"`, `"pypy3.10"`), one session per
    /// version of a list, or `false` for none.
    #[schemars(with = "Option<schema::Python>")]
    pub python: Option<Spanned<toml::Value>>,
    /// How the environment is made (default: uv if on `PATH`, else venv); `"none"`: no
    /// environment.
    #[schemars(with = "Option<schema::VenvBackend>")]
    pub venv_backend: Option<SpannedString>,
    /// pip arguments installed into the environment (`"pytest==8.3.2"`, `"-r req.txt"`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub install: Vec<SpannedString>,
    /// One session per combination of values, which fill `{NAME}` placeholders; a key names
    /// a parameter, or several as `"a, b"` with rows of values.
    #[serde(default)]
    #[schemars(with = "schema::Parametrize")]
    pub parametrize: BTreeMap<SpannedString, Spanned<WireParamList>>,
    /// `false`: a bare `rtask` leaves the session out (default `true`).
    pub default: Option<bool>,
    /// Per Python version as `python` lists it: what its variants use in place of `install`
    /// and `run`, and over `env`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, WireOverride>")]
    pub overrides: BTreeMap<SpannedString, Spanned<WireOverride>>,
    /// Extra arguments to the backend's create command (`["--system-site-packages"]`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub venv_params: Vec<SpannedString>,
    /// `false`: remake the environment at each run of the session; `true`: keep it while it
    /// is up to date.
    pub reuse_venv: Option<bool>,
}

/// `[sessions.NAME.overrides."VERSION"]`: what the variants of one Python version use in place
/// of the session's `install` and `run`, and over its `env`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Override")]
pub(crate) struct WireOverride {
    /// Replaces the session's `install` for this version.
    #[schemars(with = "Option<Vec<String>>")]
    pub install: Option<Vec<SpannedString>>,
    /// Merged over the session's `env` for this version.
    #[serde(default)]
    #[schemars(with = "schema::Env")]
    pub env: BTreeMap<SpannedString, SpannedString>,
    /// Replaces the session's `run` for this version.
    #[schemars(with = "Option<Vec<WireCommand>>")]
    pub run: Option<Spanned<Vec<Spanned<WireCommand>>>>,
}

/// One entry of `run`: a command line, an argv array, or a table with `cmd` and options.
// Read by hand rather than `untagged`, so that a mistake inside a table (an unknown key, `cmd`
// missing) is reported as itself, at its place; the schema reads it as `untagged`.
#[derive(Debug, JsonSchema)]
#[schemars(untagged, rename = "Command")]
pub(crate) enum WireCommand {
    Plain(WireCmd),
    Table(WireCommandTable),
}

/// A command with options of its own: `{ cmd = ..., external = true, env = {..}, ... }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CommandTable")]
pub(crate) struct WireCommandTable {
    /// The command: a command line or an argv array.
    #[schemars(with = "WireCmd")]
    pub cmd: Spanned<WireCmd>,
    /// `true`: the program may live outside the session's virtual environment.
    pub external: Option<bool>,
    /// Variables for this command only, over the session's `env` and `[env]`.
    #[serde(default)]
    #[schemars(with = "schema::Env")]
    pub env: BTreeMap<SpannedString, SpannedString>,
    /// Exit codes that count as success for this command, in place of the session's.
    // Any integer is read, so that a value out of range is reported at its place.
    #[schemars(with = "Option<schema::ExitCodes>")]
    pub success_codes: Option<Spanned<Vec<Spanned<i64>>>>,
}

/// A command: a line or an argv array.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged, rename = "Cmd")]
pub(crate) enum WireCmd {
    /// A command line, split into words like a POSIX shell does, but run without a shell.
    Line(String),
    /// An argv array: each element is one argument, as written.
    Argv(Vec<String>),
}

impl<'de> Deserialize<'de> for WireCommand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CommandVisitor)
    }
}

impl<'de> Deserialize<'de> for WireCmd {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CmdVisitor)
    }
}

/// Reads a string or an array of strings.
struct CmdVisitor;

impl<'de> serde::de::Visitor<'de> for CmdVisitor {
    type Value = WireCmd;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a command line string or an array of strings")
    }

    fn visit_str<E: serde::de::Error>(self, line: &str) -> Result<WireCmd, E> {
        Ok(WireCmd::Line(line.to_string()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<WireCmd, A::Error> {
        let deserializer = serde::de::value::SeqAccessDeserializer::new(seq);
        Vec::<String>::deserialize(deserializer).map(WireCmd::Argv)
    }
}

/// Reads what [`CmdVisitor`] reads, or a command table.
struct CommandVisitor;

impl<'de> serde::de::Visitor<'de> for CommandVisitor {
    type Value = WireCommand;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a command line string, an array of strings, or a table with `cmd`")
    }

    fn visit_str<E: serde::de::Error>(self, line: &str) -> Result<WireCommand, E> {
        CmdVisitor.visit_str(line).map(WireCommand::Plain)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<WireCommand, A::Error> {
        CmdVisitor.visit_seq(seq).map(WireCommand::Plain)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<WireCommand, A::Error> {
        let deserializer = serde::de::value::MapAccessDeserializer::new(map);
        WireCommandTable::deserialize(deserializer).map(WireCommand::Table)
    }
}

/// The value of a `parametrize` key: a list of values, or something else (reported as such).
#[derive(Debug)]
pub(crate) enum WireParamList {
    List(Vec<Spanned<WireParam>>),
    NotList,
}

/// One entry of a `parametrize` list: a value (a scalar, or an array for several names), or
/// `{ value = ..., id = "..." }`.
#[derive(Debug)]
pub(crate) enum WireParam {
    Bare(toml::Value),
    Table(WireParamTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireParamTable {
    pub value: Spanned<toml::Value>,
    /// Any value here, so an id that is not a string is reported at its place.
    pub id: Option<Spanned<toml::Value>>,
}

impl<'de> Deserialize<'de> for WireParamList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamListVisitor)
    }
}

impl<'de> Deserialize<'de> for WireParam {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamVisitor)
    }
}

/// Reads an array of [`WireParam`]; anything else becomes [`WireParamList::NotList`].
struct ParamListVisitor;

impl<'de> serde::de::Visitor<'de> for ParamListVisitor {
    type Value = WireParamList;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a list of parameter values")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<WireParamList, E> {
        Ok(WireParamList::NotList)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<WireParamList, E> {
        Ok(WireParamList::NotList)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<WireParamList, E> {
        Ok(WireParamList::NotList)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<WireParamList, E> {
        Ok(WireParamList::NotList)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<WireParamList, A::Error> {
        let deserializer = serde::de::value::MapAccessDeserializer::new(map);
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| WireParamList::NotList)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<WireParamList, A::Error> {
        let deserializer = serde::de::value::SeqAccessDeserializer::new(seq);
        Vec::<Spanned<WireParam>>::deserialize(deserializer).map(WireParamList::List)
    }
}

/// Reads a value or array as it is, and a table as [`WireParamTable`].
struct ParamVisitor;

impl<'de> serde::de::Visitor<'de> for ParamVisitor {
    type Value = WireParam;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a value, an array of values, or a table with `value` and `id`")
    }

    fn visit_bool<E: serde::de::Error>(self, flag: bool) -> Result<WireParam, E> {
        Ok(WireParam::Bare(toml::Value::Boolean(flag)))
    }

    fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<WireParam, E> {
        Ok(WireParam::Bare(toml::Value::Integer(number)))
    }

    fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<WireParam, E> {
        Ok(WireParam::Bare(toml::Value::Float(number)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<WireParam, E> {
        Ok(WireParam::Bare(toml::Value::String(text.to_string())))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<WireParam, A::Error> {
        let deserializer = serde::de::value::SeqAccessDeserializer::new(seq);
        toml::Value::deserialize(deserializer).map(WireParam::Bare)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<WireParam, A::Error> {
        let deserializer = serde::de::value::MapAccessDeserializer::new(map);
        WireParamTable::deserialize(deserializer).map(WireParam::Table)
    }
}

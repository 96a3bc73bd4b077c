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
    pub error_on_external_run: Option<bool>,
    pub envdir: Option<SpannedString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireSession {
    pub description: Option<String>,
    pub run: Spanned<Vec<Spanned<WireCommand>>>,
    #[serde(default)]
    pub requires: Vec<SpannedString>,
    /// Sessions this one starts after when they are in the run, without requiring them.
    #[serde(default)]
    pub after: Vec<SpannedString>,
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
    /// Parameter name, or several as `"a, b"`, to a list of values (or rows).
    #[serde(default)]
    pub parametrize: BTreeMap<SpannedString, Spanned<WireParamList>>,
    pub default: Option<bool>,
    /// Python version (as `python` lists it) to what its variants use instead.
    #[serde(default)]
    pub overrides: BTreeMap<SpannedString, Spanned<WireOverride>>,
    #[serde(default)]
    pub venv_params: Vec<SpannedString>,
    pub reuse_venv: Option<bool>,
}

/// `[sessions.NAME.overrides."VERSION"]`: what the variants of one Python version use in place
/// of the session's `install` and `run`, and over its `env`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireOverride {
    pub install: Option<Vec<SpannedString>>,
    #[serde(default)]
    pub env: BTreeMap<SpannedString, SpannedString>,
    pub run: Option<Spanned<Vec<Spanned<WireCommand>>>>,
}

/// One entry of `run`: a command line split like a POSIX shell or an argv array, or a table
/// with `cmd` and options. Read by hand rather than `untagged`, so that a mistake inside a
/// table (an unknown key, `cmd` missing) is reported as itself, at its place.
#[derive(Debug)]
pub(crate) enum WireCommand {
    Plain(WireCmd),
    Table(WireCommandTable),
}

/// `{ cmd = ..., external = true, env = {..}, success_codes = [..] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WireCommandTable {
    pub cmd: Spanned<WireCmd>,
    pub external: Option<bool>,
    #[serde(default)]
    pub env: BTreeMap<SpannedString, SpannedString>,
    /// Any integer here, so a value out of range is reported at its place.
    pub success_codes: Option<Spanned<Vec<Spanned<i64>>>>,
}

/// A command: a line or an argv array.
#[derive(Debug, Clone)]
pub(crate) enum WireCmd {
    Line(String),
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

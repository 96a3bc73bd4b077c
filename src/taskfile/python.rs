//! The Python keys of a session: `python`, `venv_backend`, `parametrize`.

use toml::Spanned;

use super::diagnostic::Problem;
use super::wire::WireSession;
use crate::project::{Backend, CondaTool, SessionReuse};
use crate::variant::{ParamValue, Pythons, valid_version};

pub(super) fn pythons(wire: &WireSession, problems: &mut Vec<Problem>) -> Pythons {
    let Some(python) = &wire.python else {
        return Pythons::None;
    };
    let mut version = |value: &toml::Value| match value {
        toml::Value::String(text) if valid_version(text) => Some(text.clone()),
        other => {
            problems.push(
                Problem::new(format!("cannot read `{other}` as a Python version"), python.span(), "here")
                    .hint("write versions such as \"3.12\" or \"3.11.7\", or `python = false` for no environment"),
            );
            None
        }
    };
    match python.get_ref() {
        toml::Value::Boolean(false) => Pythons::None,
        toml::Value::Array(values) => {
            let versions: Vec<String> = values.iter().filter_map(&mut version).collect();
            if values.is_empty() {
                problems.push(
                    Problem::new("`python` lists no version", python.span(), "empty")
                        .hint("list at least one version, or write `python = false`"),
                );
            }
            Pythons::Matrix(versions)
        }
        value => version(value).map_or(Pythons::None, Pythons::Single),
    }
}

/// `None` when the session runs without an environment of its own.
pub(super) fn backend(
    wire: &WireSession,
    pythons: &Pythons,
    problems: &mut Vec<Problem>,
) -> Option<Backend> {
    let backend = match wire.venv_backend.as_ref() {
        None => Backend::Auto,
        Some(name) => match name.get_ref().as_str() {
            "uv" => Backend::Uv,
            "venv" => Backend::Venv,
            "virtualenv" => Backend::Virtualenv,
            "conda" => Backend::Conda(CondaTool::Conda),
            "mamba" => Backend::Conda(CondaTool::Mamba),
            "micromamba" => Backend::Conda(CondaTool::Micromamba),
            "none" => return None,
            other => {
                problems.push(
                    Problem::new(
                        format!("unknown `venv_backend` `{other}`"),
                        name.span(),
                        "here",
                    )
                    .hint("use \"uv\", \"venv\", \"virtualenv\", \"conda\", \"mamba\", \"micromamba\" or \"none\""),
                );
                return None;
            }
        },
    };
    if *pythons == Pythons::None {
        if let Some(name) = &wire.venv_backend {
            problems.push(
                Problem::new("`venv_backend` without `python`", name.span(), "here")
                    .hint("set `python = \"3.12\"` (or a list) to give the session an environment"),
            );
        }
        return None;
    }
    Some(backend)
}

/// `reuse_venv`, as written.
pub(super) fn reuse(wire: &WireSession) -> SessionReuse {
    match wire.reuse_venv {
        None => SessionReuse::Unset,
        Some(true) => SessionReuse::Keep,
        Some(false) => SessionReuse::Remake,
    }
}

/// `parametrize` in the order the file writes it.
pub(super) fn params(
    wire: &WireSession,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Vec<ParamValue>)> {
    let mut entries: Vec<(&Spanned<String>, &Spanned<toml::Value>)> =
        wire.parametrize.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    let mut params = Vec::new();
    for (name, values) in entries {
        let valid_name = name
            .get_ref()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name || name.get_ref() == "python" || name.get_ref() == "posargs" {
            problems.push(
                Problem::new(format!("invalid parameter name `{}`", name.get_ref()), name.span(), "here")
                    .hint("parameter names are identifiers (letters, digits, `_`), and not `python` or `posargs`"),
            );
            continue;
        }
        let toml::Value::Array(list) = values.get_ref() else {
            problems.push(
                Problem::new(
                    format!("parameter `{}` is not a list", name.get_ref()),
                    values.span(),
                    "here",
                )
                .hint(format!("write `{} = [\"a\", \"b\"]`", name.get_ref())),
            );
            continue;
        };
        let converted: Option<Vec<ParamValue>> = list.iter().map(ParamValue::from_toml).collect();
        match converted {
            Some(converted) if !converted.is_empty() => {
                params.push((name.get_ref().clone(), converted))
            }
            Some(_) => problems.push(
                Problem::new(
                    format!("parameter `{}` has no values", name.get_ref()),
                    values.span(),
                    "empty",
                )
                .hint("list at least one value"),
            ),
            None => problems.push(
                Problem::new(
                    format!(
                        "values of parameter `{}` must be strings, numbers or booleans",
                        name.get_ref()
                    ),
                    values.span(),
                    "here",
                )
                .hint("tables and nested lists cannot be parameters"),
            ),
        }
    }
    params
}

/// `overrides` keys are versions `python` lists.
pub(super) fn check_overrides(wire: &WireSession, pythons: &Pythons, problems: &mut Vec<Problem>) {
    let listed: Vec<&String> = match pythons {
        Pythons::None => Vec::new(),
        Pythons::Single(version) => vec![version],
        Pythons::Matrix(versions) => versions.iter().collect(),
    };
    for key in wire.overrides.keys() {
        if listed.is_empty() {
            problems.push(
                Problem::new("`overrides` without `python`", key.span(), "here").hint(
                    "overrides are per Python version: set `python = [\"3.11\", \"3.12\"]` and name one of them",
                ),
            );
            return;
        }
        if !listed.contains(&key.get_ref()) {
            let versions: Vec<String> = listed
                .iter()
                .map(|version| format!("\"{version}\""))
                .collect();
            problems.push(
                Problem::new(
                    format!(
                        "`overrides.\"{}\"` names a version `python` does not list",
                        key.get_ref()
                    ),
                    key.span(),
                    "not in `python`",
                )
                .hint(format!("`python` lists {}", versions.join(", "))),
            );
        }
    }
}

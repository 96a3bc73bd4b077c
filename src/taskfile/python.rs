//! The Python keys of a session: `python`, `venv_backend`, `parametrize`.

use std::ops::Range;

use toml::Spanned;

use super::diagnostic::Problem;
use super::wire::{WireParam, WireParamList, WireSession};
use crate::project::{Backend, CondaTool, SessionReuse};
use crate::variant::{ParamGroup, ParamRow, ParamValue, Pythons, valid_version};

pub(super) fn pythons(wire: &WireSession, source: &str, problems: &mut Vec<Problem>) -> Pythons {
    let Some(python) = &wire.python else {
        return Pythons::None;
    };
    let span = python.span();
    match python.get_ref() {
        toml::Value::Boolean(false) => Pythons::None,
        toml::Value::Array(values) => {
            if values.is_empty() {
                problems.push(
                    Problem::new("`python` lists no version", span.clone(), "empty")
                        .hint("list at least one version, or write `python = false`"),
                );
            }
            let elements = element_spans(&source[span.clone()], span.start);
            let mut versions = Vec::with_capacity(values.len());
            for (at, value) in values.iter().enumerate() {
                let element = elements.get(at).cloned().unwrap_or_else(|| span.clone());
                versions.push(version(value, element, source, problems, || {
                    quoted_list(values, &elements, source)
                }));
            }
            Pythons::Matrix(versions)
        }
        value => Pythons::Single(version(value, span.clone(), source, problems, || {
            format!("\"{}\"", &source[span.clone()])
        })),
    }
}

/// One version of `python`, read from `value` (at `span` of `source`). A number is the version
/// its text spells (`3.10`, not the float 3.1), reported once with `quoted` as the fix; it and
/// any other unreadable value are read on as a version so that nothing else (`install` needs
/// an environment, say) is reported because of them.
fn version(
    value: &toml::Value,
    span: Range<usize>,
    source: &str,
    problems: &mut Vec<Problem>,
    quoted: impl FnOnce() -> String,
) -> String {
    match value {
        toml::Value::String(text) if valid_version(text) => text.clone(),
        toml::Value::Float(_) | toml::Value::Integer(_) if valid_version(&source[span.clone()]) => {
            let text = source[span.clone()].to_string();
            problems.push(
                Problem::new(
                    format!("`{text}` is a number, not a version"),
                    span,
                    "a number",
                )
                .hint(format!("quote it: `python = {}`", quoted())),
            );
            text
        }
        other => {
            problems.push(
                Problem::new(format!("cannot read `{other}` as a Python version"), span.clone(), "here")
                    .hint("write versions such as \"3.12\" or \"3.11.7\", or `python = false` for no environment"),
            );
            source[span].to_string()
        }
    }
}

/// Where each element of the TOML array `text` (found at `offset` of the file) lies.
fn element_spans(text: &str, offset: usize) -> Vec<Range<usize>> {
    #[derive(serde::Deserialize)]
    struct One {
        v: Vec<Spanned<toml::Value>>,
    }
    const PREFIX: &str = "v = ";
    toml::from_str::<One>(&format!("{PREFIX}{text}")).map_or_else(
        |_| Vec::new(),
        |one| {
            // Every element lies after the prefix: back to where the array lies in the file.
            let at = |position: usize| offset + position.saturating_sub(PREFIX.len());
            one.v
                .iter()
                .map(|element| at(element.span().start)..at(element.span().end))
                .collect()
        },
    )
}

/// The list `values` written back with every number quoted: `["3.10", "3.12"]`.
fn quoted_list(values: &[toml::Value], elements: &[Range<usize>], source: &str) -> String {
    let items: Vec<String> = values
        .iter()
        .zip(elements)
        .map(|(value, span)| match value {
            toml::Value::Float(_) | toml::Value::Integer(_) => {
                format!("\"{}\"", &source[span.clone()])
            }
            _ => source[span.clone()].to_string(),
        })
        .collect();
    format!("[{}]", items.join(", "))
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

/// `parametrize` in the order the file writes it: one group per key, a key naming one
/// parameter or several (`"db, version"`, as nox's `arg_names`).
pub(super) fn params(wire: &WireSession, problems: &mut Vec<Problem>) -> Vec<ParamGroup> {
    let mut entries: Vec<(&Spanned<String>, &Spanned<WireParamList>)> =
        wire.parametrize.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let mut seen: Vec<String> = Vec::new();
    let mut groups = Vec::new();
    for (key, list) in entries {
        let Some(names) = param_names(key, &mut seen, problems) else {
            continue;
        };
        let WireParamList::List(values) = list.get_ref() else {
            let example = if names.len() == 1 {
                format!("`{} = [\"a\", \"b\"]`", names[0])
            } else {
                format!(
                    "`\"{}\" = [[...], [...]]`, one array per row",
                    key.get_ref()
                )
            };
            problems.push(
                Problem::new(
                    format!("parameter `{}` is not a list", key.get_ref()),
                    list.span(),
                    "here",
                )
                .hint(format!("write {example}")),
            );
            continue;
        };
        if values.is_empty() {
            problems.push(
                Problem::new(
                    format!("parameter `{}` has no values", key.get_ref()),
                    list.span(),
                    "empty",
                )
                .hint("list at least one value"),
            );
            continue;
        }
        let rows: Vec<Option<ParamRow>> = values
            .iter()
            .map(|value| param_row(key.get_ref(), &names, value, problems))
            .collect();
        if let Some(rows) = rows.into_iter().collect() {
            groups.push(ParamGroup { names, rows });
        }
    }
    groups
}

/// The names a `parametrize` key gives, split at commas as nox splits `arg_names`; `None`
/// (with a problem) when one is not an identifier or was named before.
fn param_names(
    key: &Spanned<String>,
    seen: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Option<Vec<String>> {
    let names: Vec<String> = key
        .get_ref()
        .split(',')
        .map(|name| name.trim().to_string())
        .collect();
    for name in &names {
        let identifier = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier || name == "python" || name == "posargs" {
            let message = if name.is_empty() {
                format!("`{}` has an empty parameter name", key.get_ref())
            } else {
                format!("invalid parameter name `{name}`")
            };
            problems.push(Problem::new(message, key.span(), "here").hint(
                "names are identifiers, not `python` or `posargs`; write several as `\"a, b\"`",
            ));
            return None;
        }
        if seen.contains(name) {
            problems.push(
                Problem::new(
                    format!("parameter `{name}` is named twice"),
                    key.span(),
                    "named again here",
                )
                .hint("each parameter is named by one key of `parametrize`, once"),
            );
            return None;
        }
        seen.push(name.clone());
    }
    Some(names)
}

/// One entry of a `parametrize` list: a value (an array of them for several names), or a
/// table giving it an `id`.
fn param_row(
    key: &str,
    names: &[String],
    entry: &Spanned<WireParam>,
    problems: &mut Vec<Problem>,
) -> Option<ParamRow> {
    let (value, span, id) = match entry.get_ref() {
        WireParam::Bare(value) => (value, entry.span(), None),
        WireParam::Table(table) => (table.value.get_ref(), table.value.span(), table.id.as_ref()),
    };
    let id = match id {
        None => None,
        Some(id) => match id.get_ref() {
            toml::Value::String(text) if !text.is_empty() => Some(text.clone()),
            other => {
                problems.push(
                    Problem::new(
                        format!("the id `{other}` is not a name"),
                        id.span(),
                        "here",
                    )
                    .hint("write `id = \"NAME\"`, a non-empty string that names the session in place of its values"),
                );
                return None;
            }
        },
    };
    let scalars: Vec<&toml::Value> = match (names.len(), value) {
        (1, value) => vec![value],
        (count, toml::Value::Array(row)) if row.len() == count => row.iter().collect(),
        (count, toml::Value::Array(row)) => {
            problems.push(
                Problem::new(
                    format!(
                        "this row has {} values for the {count} names of `{key}`",
                        row.len()
                    ),
                    span,
                    "here",
                )
                .hint(format!(
                    "write one value per name, in the order `{key}` names them"
                )),
            );
            return None;
        }
        (count, _) => {
            problems.push(
                Problem::new(
                    format!("a row of `{key}` must be an array of {count} values"),
                    span,
                    "here",
                )
                .hint(format!(
                    "write one value per name, in the order `{key}` names them: `[\"a\", 1]`"
                )),
            );
            return None;
        }
    };
    let values: Option<Vec<ParamValue>> = scalars.into_iter().map(ParamValue::from_toml).collect();
    let Some(values) = values else {
        problems.push(
            Problem::new(
                format!("values of parameter `{key}` must be strings, numbers or booleans"),
                span,
                "here",
            )
            .hint("to name a value, write `{ value = ..., id = \"NAME\" }`; other tables and nested lists cannot be parameters"),
        );
        return None;
    };
    Some(ParamRow { values, id })
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

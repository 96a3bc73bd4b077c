//! `--list`: the sessions as nox prints them, with their cache state; or JSON in nox's shape
//! (for CI matrices) with a `cached` field.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dry_run::CacheState;
use crate::project::{Project, SessionId};

/// One session in `--list --json`: nox's fields, then rtask's.
#[derive(Serialize)]
struct Listed<'a> {
    session: &'a str,
    name: &'a str,
    description: &'a str,
    /// The version, `false` when the file says `python = false`, else `null`, as nox.
    python: serde_json::Value,
    tags: &'a [String],
    call_spec: serde_json::Map<String, serde_json::Value>,
    /// `true` when the cache holds the result, `null` when the session is not cached.
    cached: Option<bool>,
    /// The sessions it starts after when they are in the run (`after`), by full name.
    after: Vec<&'a str>,
}

/// The selected sessions (all of them when nothing selects any), as nox prints them.
pub fn json(
    project: &Project,
    selected: Option<&[SessionId]>,
    states: &BTreeMap<SessionId, CacheState>,
) -> String {
    let all: Vec<SessionId> = (0..project.sessions.len()).collect();
    let listed: Vec<Listed<'_>> = selected
        .unwrap_or(&all)
        .iter()
        .map(|&id| {
            let session = &project.sessions[id];
            Listed {
                session: &session.name,
                name: &session.base,
                description: session.description.as_deref().unwrap_or(""),
                python: match (&session.python, session.python_disabled) {
                    (Some(version), _) => serde_json::Value::from(version.as_str()),
                    (None, true) => serde_json::Value::Bool(false),
                    (None, false) => serde_json::Value::Null,
                },
                tags: &session.tags,
                call_spec: session
                    .call_spec
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect(),
                cached: match states.get(&id) {
                    Some(CacheState::Fresh) => Some(true),
                    Some(CacheState::Stale) => Some(false),
                    Some(CacheState::NotCached) | None => None,
                },
                after: session
                    .after
                    .iter()
                    .map(|&earlier| project.sessions[earlier].name.as_str())
                    .collect(),
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&listed).expect("plain data serialises");
    text.push('\n');
    text
}

/// The listing, with `*` before the sessions a run with the same arguments would select, the
/// tags in brackets, and the cache state of each cacheable session.
pub fn text(
    project: &Project,
    selected: Option<&[SessionId]>,
    states: &BTreeMap<SessionId, CacheState>,
) -> String {
    let mut marked = vec![false; project.sessions.len()];
    for &id in selected.unwrap_or_default() {
        marked[id] = true;
    }
    let mut out = format!("Sessions defined in {}:\n\n", project.display_path);
    for (id, session) in project.sessions.iter().enumerate() {
        let mark = if marked[id] { '*' } else { '-' };
        out.push_str(&format!("{mark} {}", session.name));
        if !session.tags.is_empty() {
            out.push_str(&format!(" [{}]", session.tags.join(",")));
        }
        if let Some(description) = &session.description {
            out.push_str(&format!(" -> {description}"));
        }
        match states.get(&id) {
            Some(CacheState::Fresh) => out.push_str(" (fresh)"),
            Some(CacheState::Stale) => out.push_str(" (stale)"),
            Some(CacheState::NotCached) | None => {}
        }
        out.push('\n');
    }
    if project.sessions.is_empty() {
        out.push_str("(none)\n");
    }
    out.push('\n');
    if selected.is_some() {
        out.push_str("sessions marked with * are selected, sessions marked with - are skipped.\n");
    } else {
        out.push_str(
            "no default sessions: run `rtask SESSION`, or set `default` in `[settings]`.\n",
        );
    }
    out
}

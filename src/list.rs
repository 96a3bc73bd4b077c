//! `--list`: the sessions, as nox prints them, or as JSON for CI matrices.

use serde::Serialize;

use crate::project::{Project, SessionId};

/// One session in `--list --json`: nox's fields, then rtask's.
#[derive(Serialize)]
struct Listed<'a> {
    session: &'a str,
    name: &'a str,
    description: Option<&'a str>,
    python: Option<&'a str>,
    tags: &'a [String],
    call_spec: serde_json::Map<String, serde_json::Value>,
    requires: Vec<&'a str>,
    cacheable: bool,
}

pub fn json(project: &Project) -> String {
    let listed: Vec<Listed<'_>> = project
        .sessions
        .iter()
        .map(|session| Listed {
            session: &session.name,
            name: &session.name,
            description: session.description.as_deref(),
            python: None,
            tags: &session.tags,
            call_spec: serde_json::Map::new(),
            requires: session
                .requires
                .iter()
                .map(|&id| project.sessions[id].name.as_str())
                .collect(),
            cacheable: session.cacheable(),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&listed).expect("plain data serialises");
    text.push('\n');
    text
}

/// The listing, with `*` before the sessions a run with the same arguments would select.
pub fn text(project: &Project, display_path: &str, selected: Option<&[SessionId]>) -> String {
    let mut out = format!("Sessions defined in {display_path}:\n\n");
    for (id, session) in project.sessions.iter().enumerate() {
        let mark = if selected.is_some_and(|selected| selected.contains(&id)) {
            '*'
        } else {
            '-'
        };
        match &session.description {
            Some(description) => {
                out.push_str(&format!("{mark} {} -> {description}\n", session.name))
            }
            None => out.push_str(&format!("{mark} {}\n", session.name)),
        }
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

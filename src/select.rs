//! Which sessions a command line selects, as nox does: names (a session's own, its
//! `[sessions.NAME]` for every variant, or `NAME-VERSION`), tags, then `-k` and `-p` filters.

use crate::error::Error;
use crate::keywords::Keywords;
use crate::project::{Project, SessionId};
use crate::suggest;

/// What the command line asks for.
pub struct Request<'a> {
    pub names: &'a [String],
    pub tags: &'a [String],
    pub keywords: Option<&'a str>,
    pub pythons: &'a [String],
}

/// The selected sessions in the order given; `None` when nothing selects anything (no
/// names, tags or filters, and no default sessions).
pub fn select(project: &Project, request: &Request<'_>) -> Result<Option<Vec<SessionId>>, Error> {
    let filtered = request.keywords.is_some() || !request.pythons.is_empty();
    let mut selected = if !request.names.is_empty() || !request.tags.is_empty() {
        named(project, request)?
    } else if filtered {
        project
            .default
            .clone()
            .unwrap_or_else(|| (0..project.sessions.len()).collect())
    } else {
        return Ok(project.default.clone());
    };
    if let Some(expression) = request.keywords {
        let keywords = Keywords::parse(expression).map_err(|message| Error::Keywords {
            expression: expression.to_string(),
            message,
        })?;
        selected.retain(|&id| {
            let session = &project.sessions[id];
            let mut names = vec![session.name.as_str(), session.base.as_str()];
            names.extend(session.signatures.iter().map(String::as_str));
            names.extend(session.tags.iter().map(String::as_str));
            keywords.matches(&names)
        });
    }
    if !request.pythons.is_empty() {
        selected.retain(|&id| {
            project.sessions[id]
                .python
                .as_ref()
                .is_some_and(|python| request.pythons.contains(python))
        });
    }
    if filtered && selected.is_empty() {
        return Err(Error::NothingSelected);
    }
    Ok(Some(selected))
}

fn named(project: &Project, request: &Request<'_>) -> Result<Vec<SessionId>, Error> {
    let mut selected = Vec::new();
    let mut added = vec![false; project.sessions.len()];
    let mut add = |ids: Vec<SessionId>| {
        for id in ids {
            if !std::mem::replace(&mut added[id], true) {
                selected.push(id);
            }
        }
    };
    for name in request.names {
        let ids: Vec<SessionId> = (0..project.sessions.len())
            .filter(|&id| project.sessions[id].answers_to(name))
            .collect();
        if ids.is_empty() {
            let mut known: Vec<String> = project.sessions.iter().map(|s| s.base.clone()).collect();
            known.dedup();
            let candidates = project
                .sessions
                .iter()
                .flat_map(|s| [s.name.as_str(), s.base.as_str()]);
            return Err(Error::UnknownSession {
                name: name.clone(),
                suggestion: suggest::closest(name, candidates).map(str::to_string),
                known,
            });
        }
        add(ids);
    }
    for tag in request.tags {
        let tagged: Vec<SessionId> = (0..project.sessions.len())
            .filter(|&id| project.sessions[id].tags.contains(tag))
            .collect();
        if tagged.is_empty() {
            let mut known: Vec<String> = project
                .sessions
                .iter()
                .flat_map(|s| s.tags.iter().cloned())
                .collect();
            known.sort();
            known.dedup();
            return Err(Error::UnknownTag {
                tag: tag.clone(),
                known,
            });
        }
        add(tagged);
    }
    Ok(selected)
}

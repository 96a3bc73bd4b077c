//! Which sessions a command line selects, as nox does: names (a session's own, its
//! `[sessions.NAME]` for every variant, or `NAME-VERSION`) or the defaults, unless tags or
//! keywords choose among every session; then the `-p`, `-t` and `-k` filters.

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

/// The selected sessions; `None` when nothing selects anything (no names, tags or filters,
/// and no default sessions).
///
/// As nox: tags or a keyword expression choose among every session (`default = false` ones
/// included) and replace the names given; otherwise the names, else the defaults. Then `-p`,
/// `-t` and `-k` filter, in that order.
pub fn select(project: &Project, request: &Request<'_>) -> Result<Option<Vec<SessionId>>, Error> {
    // Names are checked even where tags or keywords replace them: a typo is an error.
    let named = named(project, request.names)?;
    let filtered = request.keywords.is_some() || !request.pythons.is_empty();
    let mut selected = if request.keywords.is_some() || !request.tags.is_empty() {
        (0..project.sessions.len()).collect()
    } else if !named.is_empty() {
        named
    } else if filtered {
        project
            .default
            .clone()
            .unwrap_or_else(|| (0..project.sessions.len()).collect())
    } else {
        return Ok(project.default.clone());
    };
    if !request.pythons.is_empty() {
        selected.retain(|&id| {
            project.sessions[id]
                .python
                .as_ref()
                .is_some_and(|python| request.pythons.contains(python))
        });
    }
    if !request.tags.is_empty() {
        check_tags(project, request.tags)?;
        selected.retain(|&id| {
            let tags = &project.sessions[id].tags;
            request.tags.iter().any(|tag| tags.contains(tag))
        });
    }
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
    if (filtered || !request.tags.is_empty()) && selected.is_empty() {
        return Err(Error::NothingSelected);
    }
    Ok(Some(selected))
}

/// Every tag of `tags` must be carried by some session.
fn check_tags(project: &Project, tags: &[String]) -> Result<(), Error> {
    let carried = |tag: &String| project.sessions.iter().any(|s| s.tags.contains(tag));
    let Some(tag) = tags.iter().find(|tag| !carried(tag)) else {
        return Ok(());
    };
    let mut known: Vec<String> = project
        .sessions
        .iter()
        .flat_map(|s| s.tags.iter().cloned())
        .collect();
    known.sort();
    known.dedup();
    Err(Error::UnknownTag {
        tag: tag.clone(),
        known,
    })
}

/// The sessions `names` select, each once, in the order given.
fn named(project: &Project, names: &[String]) -> Result<Vec<SessionId>, Error> {
    let mut selected = Vec::new();
    let mut added = vec![false; project.sessions.len()];
    for name in names {
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
        for id in ids {
            if !std::mem::replace(&mut added[id], true) {
                selected.push(id);
            }
        }
    }
    Ok(selected)
}

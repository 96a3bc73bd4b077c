//! Which sessions a command line selects.

use crate::error::Error;
use crate::project::{Project, SessionId};
use crate::suggest;

/// The sessions named (positionally or with `-s`) and those carrying any of `tags`, in the
/// order given; with neither, `[settings] default`. `None` when nothing selects anything.
pub fn select(
    project: &Project,
    names: &[String],
    tags: &[String],
) -> Result<Option<Vec<SessionId>>, Error> {
    if names.is_empty() && tags.is_empty() {
        return Ok(project.default.clone());
    }
    let mut selected = Vec::new();
    for name in names {
        let id = project.find(name).ok_or_else(|| Error::UnknownSession {
            name: name.clone(),
            suggestion: suggest::closest(name, project.names()).map(str::to_string),
            known: project.names().map(str::to_string).collect(),
        })?;
        if !selected.contains(&id) {
            selected.push(id);
        }
    }
    for tag in tags {
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
        for id in tagged {
            if !selected.contains(&id) {
                selected.push(id);
            }
        }
    }
    Ok(Some(selected))
}

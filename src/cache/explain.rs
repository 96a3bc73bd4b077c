//! Why a key differs from the newest entry of the same session, in people's words.

use std::collections::BTreeMap;

use super::store::Store;
use crate::command;
use crate::fingerprint::InputFile;
use crate::key::Ingredients;
use crate::python::PythonKey;

/// At most this many reasons are listed; the rest are counted.
const MAX_REASONS: usize = 6;

/// Why `ingredients` miss: their differences from the newest entry stored for the session, or
/// `None` when it has no entry at all.
pub fn against_newest(
    store: &Store,
    ingredients: &Ingredients,
    inputs: &[InputFile],
) -> Option<Vec<String>> {
    let newest = store.newest(&ingredients.session)?;
    let stored = store.inputs_of(&newest);
    Some(differences(
        &newest.ingredients,
        ingredients,
        stored.as_deref().map(|stored| (stored, inputs)),
    ))
}

/// The differences between an entry's ingredients (`old`) and the current ones (`new`); the
/// input lists, when both are known, name the files that differ.
pub fn differences(
    old: &Ingredients,
    new: &Ingredients,
    inputs: Option<(&[InputFile], &[InputFile])>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if old.schema != new.schema {
        reasons.push("rtask's key format changed".to_string());
    }
    if old.commands != new.commands {
        let changed = old
            .commands
            .iter()
            .zip(&new.commands)
            .find(|(a, b)| a != b)
            .map(|(a, b)| {
                format!(
                    "command changed: `{}` -> `{}`",
                    command::display(a),
                    command::display(b)
                )
            });
        reasons.push(changed.unwrap_or_else(|| {
            format!(
                "number of commands changed: {} -> {}",
                old.commands.len(),
                new.commands.len()
            )
        }));
    }
    if old.shell != new.shell {
        reasons.push("`shell` changed".to_string());
    }
    if old.cwd != new.cwd {
        reasons.push(format!("`cwd` changed: `{}` -> `{}`", old.cwd, new.cwd));
    }
    map_changes(&mut reasons, "env", &old.env, &new.env);
    let opt = |value: &Option<_>| if value.is_some() { "set" } else { "unset" };
    for (name, change) in changes(&old.env_inputs, &new.env_inputs) {
        reasons.push(match change {
            Change::Changed(before, after) => {
                format!("env `{name}` changed ({} -> {})", opt(before), opt(after))
            }
            Change::Added(_) => format!("env `{name}` became an input"),
            Change::Removed(_) => format!("env `{name}` is no longer an input"),
        });
    }
    if old.outputs != new.outputs {
        reasons.push("`outputs` changed".to_string());
    }
    if old.success_codes != new.success_codes {
        reasons.push("`success_codes` changed".to_string());
    }
    match inputs {
        _ if old.inputs == new.inputs => {}
        Some((before, after)) => file_changes(&mut reasons, before, after),
        None => reasons.push(format!(
            "input files changed ({} -> {} files)",
            old.inputs.count, new.inputs.count
        )),
    }
    for (name, change) in changes(&old.requires, &new.requires) {
        reasons.push(match change {
            Change::Changed(..) => format!("required session `{name}` changed"),
            Change::Added(_) => format!("now requires `{name}`"),
            Change::Removed(_) => format!("no longer requires `{name}`"),
        });
    }
    python_changes(&mut reasons, old.python.as_ref(), new.python.as_ref());
    if old.platform != new.platform {
        reasons.push(format!(
            "platform changed: {}-{} -> {}-{}",
            old.platform.os, old.platform.arch, new.platform.os, new.platform.arch
        ));
    }
    if reasons.len() > MAX_REASONS {
        let more = reasons.len() - (MAX_REASONS - 1);
        reasons.truncate(MAX_REASONS - 1);
        reasons.push(format!("and {more} more differences"));
    }
    reasons
}

/// How a key's value differs between two maps.
enum Change<'a, V> {
    Added(&'a V),
    Changed(&'a V, &'a V),
    Removed(&'a V),
}

/// The keys whose values differ between `old` and `new`: those of `new` in order, then those
/// only `old` has.
fn changes<'a, K: Ord, V: PartialEq>(
    old: &'a BTreeMap<K, V>,
    new: &'a BTreeMap<K, V>,
) -> Vec<(&'a K, Change<'a, V>)> {
    let mut changes: Vec<_> = new
        .iter()
        .filter_map(|(key, value)| match old.get(key) {
            Some(before) if before == value => None,
            Some(before) => Some((key, Change::Changed(before, value))),
            None => Some((key, Change::Added(value))),
        })
        .collect();
    changes.extend(
        old.iter()
            .filter(|(key, _)| !new.contains_key(*key))
            .map(|(key, before)| (key, Change::Removed(before))),
    );
    changes
}

fn map_changes<V: PartialEq>(
    reasons: &mut Vec<String>,
    what: &str,
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
) {
    for (name, change) in changes(old, new) {
        reasons.push(match change {
            Change::Changed(..) => format!("{what} `{name}` changed"),
            Change::Added(_) => format!("{what} `{name}` added"),
            Change::Removed(_) => format!("{what} `{name}` removed"),
        });
    }
}

fn python_changes(reasons: &mut Vec<String>, old: Option<&PythonKey>, new: Option<&PythonKey>) {
    let (old, new) = match (old, new) {
        (Some(old), Some(new)) => (old, new),
        (None, Some(_)) => return reasons.push("it now runs in a virtual environment".to_string()),
        (Some(_), None) => {
            return reasons.push("it no longer runs in a virtual environment".to_string());
        }
        (None, None) => return,
    };
    if (&old.implementation, &old.version, &old.platform)
        != (&new.implementation, &new.version, &new.platform)
    {
        reasons.push(format!(
            "Python changed: {} {} ({}) -> {} {} ({})",
            old.implementation,
            old.version,
            old.platform,
            new.implementation,
            new.version,
            new.platform
        ));
    }
    for (name, change) in changes(&old.distributions, &new.distributions) {
        reasons.push(match change {
            Change::Changed(before, after) => {
                format!("installed `{name}` changed: {before} -> {after}")
            }
            Change::Added(version) => format!("`{name}` {version} is now installed"),
            Change::Removed(version) => format!("`{name}` {version} is no longer installed"),
        });
    }
}

fn file_changes(reasons: &mut Vec<String>, before: &[InputFile], after: &[InputFile]) {
    let before: BTreeMap<_, _> = before.iter().map(|file| (&file.path, file)).collect();
    let after: BTreeMap<_, _> = after.iter().map(|file| (&file.path, file)).collect();
    for (path, change) in changes(&before, &after) {
        reasons.push(match change {
            Change::Added(_) => format!("input `{path}` added"),
            Change::Changed(old, new) if old.hash != new.hash => {
                format!("input `{path}` changed")
            }
            Change::Changed(..) => format!("input `{path}` changed mode"),
            Change::Removed(_) => format!("input `{path}` removed"),
        });
    }
}

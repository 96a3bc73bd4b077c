//! Why a key differs from the newest entry of the same session: typed [`Change`]s, which the
//! UI words.

use std::collections::BTreeMap;

use super::input_list::{InputLists, Listed};
use super::manifest::Manifest;
use super::store::Store;
use crate::fingerprint::InputFile;
use crate::key::Ingredients;
use crate::plan::reason::{Change, Edit};
use crate::python::PythonKey;

/// What a run would be keyed on, to compare with a stored entry.
pub struct Current<'a> {
    pub ingredients: &'a Ingredients,
    pub inputs: &'a [InputFile],
    pub posargs: &'a [String],
}

/// Why `current` misses: its differences from the newest entry stored for the session, or
/// `None` when it has no entry at all.
pub fn against_newest(store: &Store, current: &Current<'_>) -> Option<Vec<Change>> {
    let newest = store.newest(&current.ingredients.session)?;
    Some(differences(&newest, current, &mut InputLists::new(store)))
}

/// Why `current` misses: its differences from the entry of the session that differs least
/// (the newest of those), or `None` when it has no entry at all.
pub fn against_nearest(store: &Store, current: &Current<'_>) -> Option<Vec<Change>> {
    let mut lists = InputLists::new(store);
    store
        .entries(&current.ingredients.session)
        .into_iter()
        .map(|entry| (differences(&entry, current, &mut lists), entry))
        .min_by(|(a, first), (b, second)| {
            a.len()
                .cmp(&b.len())
                .then(second.created_unix_ms.cmp(&first.created_unix_ms))
        })
        .map(|(changes, _)| changes)
}

/// The differences between an entry (`old`) and what a run would be keyed on now; the entry's
/// list of input files, read from `lists` when its input files differ and it can be read,
/// names the files that differ.
fn differences(old: &Manifest, current: &Current<'_>, lists: &mut InputLists<'_>) -> Vec<Change> {
    let (old_key, new) = (&old.ingredients, current.ingredients);
    let mut reasons = Vec::new();
    if old_key.schema != new.schema {
        reasons.push(Change::Schema);
    }
    if old_key.commands != new.commands {
        if old.posargs != current.posargs {
            reasons.push(Change::Posargs {
                old: old.posargs.clone(),
                new: current.posargs.to_vec(),
            });
        } else {
            reasons.push(
                old_key
                    .commands
                    .iter()
                    .zip(&new.commands)
                    .find(|(a, b)| a != b)
                    .map_or(
                        Change::CommandCount {
                            old: old_key.commands.len(),
                            new: new.commands.len(),
                        },
                        |(a, b)| Change::Command {
                            old: a.clone(),
                            new: b.clone(),
                        },
                    ),
            );
        }
    }
    if old_key.shell != new.shell {
        reasons.push(Change::Shell);
    }
    if (&old_key.cwd, &old_key.cwd_real) != (&new.cwd, &new.cwd_real) {
        let shown = |cwd: &str, real: &Option<String>| match real {
            Some(real) => format!("{cwd} -> {real}"),
            None => cwd.to_string(),
        };
        reasons.push(Change::Cwd {
            old: shown(&old_key.cwd, &old_key.cwd_real),
            new: shown(&new.cwd, &new.cwd_real),
        });
    }
    edits(&mut reasons, &old_key.env, &new.env, |name, edit| {
        Change::Env { name, edit }
    });
    for (name, edit, (before, after)) in changes(&old_key.env_inputs, &new.env_inputs) {
        reasons.push(Change::EnvInput {
            name: name.clone(),
            edit,
            set: (
                before.is_some_and(Option::is_some),
                after.is_some_and(Option::is_some),
            ),
        });
    }
    if old_key.outputs != new.outputs {
        reasons.push(Change::Outputs);
    }
    if old_key.success_codes != new.success_codes {
        reasons.push(Change::SuccessCodes);
    }
    if old_key.inputs != new.inputs {
        let named = lists.of(old).map_or(0, |before| {
            file_changes(&mut reasons, before.iter(), current.inputs)
        });
        if named == 0 {
            // The list cannot be read, or cannot tell (digests that agree on their prefix).
            reasons.push(Change::InputFiles {
                old: old_key.inputs.count,
                new: new.inputs.count,
            });
        }
    }
    edits(
        &mut reasons,
        &old_key.requires,
        &new.requires,
        |name, edit| Change::Required { name, edit },
    );
    edits(&mut reasons, &old_key.strays, &new.strays, |path, edit| {
        Change::Stray { path, edit }
    });
    python_changes(&mut reasons, old_key.python.as_ref(), new.python.as_ref());
    if old_key.platform != new.platform {
        let text = |platform: &crate::key::Platform| format!("{}-{}", platform.os, platform.arch);
        reasons.push(Change::Platform {
            old: text(&old_key.platform),
            new: text(&new.platform),
        });
    }
    reasons
}

/// A key whose value differs between two maps, with its values before and after.
type Difference<'a, K, V> = (&'a K, Edit, (Option<&'a V>, Option<&'a V>));

/// The keys whose values differ between `old` and `new`: those of `new` in order, then those
/// only `old` has.
fn changes<'a, K: Ord, V: PartialEq>(
    old: &'a BTreeMap<K, V>,
    new: &'a BTreeMap<K, V>,
) -> Vec<Difference<'a, K, V>> {
    let mut changes: Vec<_> = new
        .iter()
        .filter_map(|(key, value)| match old.get(key) {
            Some(before) if before == value => None,
            Some(before) => Some((key, Edit::Changed, (Some(before), Some(value)))),
            None => Some((key, Edit::Added, (None, Some(value)))),
        })
        .collect();
    changes.extend(
        old.iter()
            .filter(|(key, _)| !new.contains_key(*key))
            .map(|(key, before)| (key, Edit::Removed, (Some(before), None))),
    );
    changes
}

/// One change made by `change` for each name whose value differs between `old` and `new`.
fn edits<V: PartialEq>(
    reasons: &mut Vec<Change>,
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    change: impl Fn(String, Edit) -> Change,
) {
    reasons.extend(
        changes(old, new)
            .into_iter()
            .map(|(name, edit, _)| change(name.clone(), edit)),
    );
}

fn python_changes(reasons: &mut Vec<Change>, old: Option<&PythonKey>, new: Option<&PythonKey>) {
    let (old, new) = match (old, new) {
        (Some(old), Some(new)) => (old, new),
        (None, Some(_)) => return reasons.push(Change::Venv { now: true }),
        (Some(_), None) => return reasons.push(Change::Venv { now: false }),
        (None, None) => return,
    };
    if old.request != new.request {
        reasons.push(Change::PythonRequest {
            old: old.request.clone(),
            new: new.request.clone(),
        });
    }
    if old.install != new.install {
        reasons.push(Change::Install);
    }
    edits(reasons, &old.files, &new.files, |path, edit| {
        Change::ReferencedFile { path, edit }
    });
    edits(
        reasons,
        &old.local_sources,
        &new.local_sources,
        |path, edit| Change::LocalProject { path, edit },
    );
}

/// One change for each file that differs between the stored list `before` and `after`: those
/// of `after` in path order, then those removed. Returns how many.
fn file_changes<'a>(
    reasons: &mut Vec<Change>,
    before: impl Iterator<Item = &'a Listed>,
    after: &[InputFile],
) -> usize {
    let mut after: Vec<&InputFile> = after.iter().collect();
    if !after.is_sorted_by(|a, b| a.path < b.path) {
        after.sort_by(|a, b| a.path.cmp(&b.path));
    }
    let found = reasons.len();
    let mut removed = Vec::new();
    let (mut old, mut new) = (before.peekable(), after.into_iter().peekable());
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(stored), Some(file)) if stored.path == file.path => {
                if !stored.same_content(file) {
                    reasons.push(Change::InputChanged(file.path.clone()));
                } else if stored.executable != file.executable {
                    reasons.push(Change::InputMode(file.path.clone()));
                }
                old.next();
                new.next();
            }
            (Some(stored), Some(file)) if stored.path < file.path => {
                removed.push(Change::InputRemoved(stored.path.clone()));
                old.next();
            }
            (Some(stored), None) => {
                removed.push(Change::InputRemoved(stored.path.clone()));
                old.next();
            }
            (_, Some(file)) => {
                reasons.push(Change::InputAdded(file.path.clone()));
                new.next();
            }
        }
    }
    reasons.extend(removed);
    reasons.len() - found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::input_list::prefix;
    use crate::digest::Digest;
    use crate::relpath::RelPath;

    fn file(path: &str, content: &[u8], executable: bool) -> InputFile {
        InputFile {
            path: RelPath::parse(path).unwrap(),
            hash: Digest::of_bytes(content),
            executable,
        }
    }

    fn listed(file: &InputFile) -> Listed {
        Listed {
            path: file.path.clone(),
            prefix: prefix(&file.hash),
            executable: file.executable,
        }
    }

    #[test]
    fn files_are_named_in_path_order_then_those_removed() {
        let before = [
            file("a", b"a", false),
            file("b", b"b", false),
            file("c", b"c", false),
            file("e", b"e", false),
        ];
        let after = [
            file("a", b"a", true),
            file("b", b"B", false),
            file("d", b"d", false),
            file("e", b"e", false),
        ];
        let stored: Vec<Listed> = before.iter().map(listed).collect();
        let mut reasons = Vec::new();
        assert_eq!(file_changes(&mut reasons, stored.iter(), &after), 4);
        let path = |text: &str| RelPath::parse(text).unwrap();
        assert_eq!(
            reasons,
            [
                Change::InputMode(path("a")),
                Change::InputChanged(path("b")),
                Change::InputAdded(path("d")),
                Change::InputRemoved(path("c")),
            ]
        );
    }

    #[test]
    fn digests_that_agree_on_their_prefix_name_nothing() {
        let before = file("a", b"a", false);
        let mut after = file("a", b"other", false);
        let mut bytes = *after.hash.as_bytes();
        bytes[..8].copy_from_slice(&before.hash.as_bytes()[..8]);
        after.hash = Digest::from_bytes(bytes);
        let mut reasons = Vec::new();
        assert_eq!(
            file_changes(&mut reasons, [listed(&before)].iter(), &[after]),
            0
        );
        assert!(reasons.is_empty());
    }
}

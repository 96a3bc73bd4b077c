//! Checks of the outputs, as written and with symlinks followed: none may reach into `.git`,
//! `.rtask` or the cache, hold an input of its session, be a symlinked directory declared with
//! `/`, or name a path that another output of its session or another session names too.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use super::diagnostic::Problem;
use super::resolve::{self, Aliased, LinkedDir};
use crate::patterns::OutputPattern;
use crate::project::Session;
use crate::protected::{Protected, in_git};
use crate::relpath::RelPath;

/// Report every output that reaches into a protected place or is claimed twice. `spans` holds,
/// by session, where each of its outputs is declared.
pub(super) fn check(
    sessions: &[Session],
    spans: &[Vec<Range<usize>>],
    root: &Path,
    cache_dir: &Path,
    envdir: &Path,
    problems: &mut Vec<Problem>,
) {
    let outputs = SpannedOutputs::new(root, sessions, spans);
    check_protected_outputs(sessions, &outputs, root, cache_dir, envdir, problems);
    check_outputs_hold_no_inputs(sessions, &outputs, root, problems);
    check_symlinked_directories(sessions, &outputs, root, problems);
    check_outputs_named_twice(sessions, &outputs, problems);
    check_overlapping_outputs(sessions, &outputs, problems);
}

/// Each session's outputs with where they are declared and where symlinks take them, by
/// session, then by output.
struct SpannedOutputs<'a> {
    spans: &'a [Vec<Range<usize>>],
    aliases: Vec<Vec<Option<Aliased>>>,
}

impl SpannedOutputs<'_> {
    fn new<'a>(
        root: &Path,
        sessions: &[Session],
        spans: &'a [Vec<Range<usize>>],
    ) -> SpannedOutputs<'a> {
        let mut resolver = resolve::Aliases::new(root);
        let aliases = sessions
            .iter()
            .map(|session| {
                session
                    .outputs
                    .iter()
                    .map(|output| resolver.of(output))
                    .collect()
            })
            .collect();
        SpannedOutputs { spans, aliases }
    }

    fn span(&self, session: usize, output: usize) -> &Range<usize> {
        &self.spans[session][output]
    }

    fn alias(&self, session: usize, output: usize) -> Option<&Aliased> {
        self.aliases[session][output].as_ref()
    }
}

/// Outputs may not reach into `.git`, rtask's own directory, the environments or the cache: restores rewrite
/// outputs, and would rewrite those. Outputs are taken as written and where symlinks lead.
fn check_protected_outputs(
    sessions: &[Session],
    outputs: &SpannedOutputs,
    root: &Path,
    cache_dir: &Path,
    envdir: &Path,
    problems: &mut Vec<Problem>,
) {
    let mut protected = Protected::new(root, cache_dir, envdir).inside();
    protected.extend(
        RelPath::from_path(root, &resolve::resolve(cache_dir)).filter(|dir| !dir.is_root()),
    );
    for (id, session) in sessions.iter().enumerate() {
        for (index, output) in session.outputs.iter().enumerate() {
            let through = |alias: &Aliased| {
                let what = reaches_into(&alias.real, &protected)?;
                Some(format!("{what} through the symlink `{}`", alias.link))
            };
            let clash = reaches_into(output, &protected)
                .or_else(|| outputs.alias(id, index).and_then(through));
            if let Some(what) = clash {
                problems.push(
                    Problem::new(
                        format!("output `{}` of `{}` reaches into {what}", output.declaration(), session.base),
                        outputs.span(id, index).clone(),
                        "here",
                    )
                    .hint("rtask keeps its state and cache there; declare the files the session writes instead"),
                );
            }
        }
    }
}

/// What protected place `output` reaches into, if it does.
pub(super) fn reaches_into(output: &OutputPattern, protected: &[RelPath]) -> Option<String> {
    let path = match output {
        OutputPattern::Literal { path, .. } => path,
        OutputPattern::Glob { base, .. } => base,
    };
    if let Some(dir) = protected
        .iter()
        .find(|dir| path.starts_with(dir) || (!path.is_root() && dir.starts_with(path)))
    {
        return Some(format!("`{dir}`"));
    }
    in_git(path).then(|| "a `.git` directory".to_string())
}

/// A hit restores the outputs over what is there: an output may not hold the session's own
/// inputs, or the restore would revert their edits. Both are compared as written, then with
/// symlinks followed (the outputs' leading directories, the inputs to the end, as walks go).
fn check_outputs_hold_no_inputs(
    sessions: &[Session],
    outputs: &SpannedOutputs,
    root: &Path,
    problems: &mut Vec<Problem>,
) {
    for (id, session) in sessions.iter().enumerate() {
        // An uncached session is never restored.
        let Some(inputs) = session
            .inputs
            .as_ref()
            .filter(|_| !session.outputs.is_empty())
        else {
            continue;
        };
        let real_inputs = resolve::real_inputs(root, inputs);
        for (index, output) in session.outputs.iter().enumerate() {
            let as_written = || {
                let place = inputs.places().find(|place| output.holds(place))?;
                Some((place.declared, None))
            };
            let alias = outputs.alias(id, index);
            let through = || {
                let real = alias.map_or(output, |alias| &alias.real);
                let input = real_inputs.iter().find(|input| real.holds(&input.place))?;
                let link = alias.map(|alias| &alias.link).or(input.link.as_ref());
                Some((input.place.declared, link))
            };
            let Some((input, link)) = as_written().or_else(through) else {
                continue;
            };
            let through = link
                .map(|link| format!(" through the symlink `{link}`"))
                .unwrap_or_default();
            problems.push(
                Problem::new(
                    format!(
                        "output `{}` of `{}` holds its input `{input}`{through}",
                        output.declaration(),
                        session.base
                    ),
                    outputs.span(id, index).clone(),
                    "holds an input",
                )
                .hint("a hit would restore the output over the input, reverting edits and removing added files; keep what the session writes apart from what it reads"),
            );
        }
    }
}

/// A directory declared with `/` is restored as a directory, never through a symlink: when its
/// path is a symlink to a directory, collecting it after a run fails.
fn check_symlinked_directories(
    sessions: &[Session],
    outputs: &SpannedOutputs,
    root: &Path,
    problems: &mut Vec<Problem>,
) {
    for (id, session) in sessions.iter().enumerate() {
        for (index, output) in session.outputs.iter().enumerate() {
            let Some(target) = resolve::linked_dir(root, output) else {
                continue;
            };
            let (shown, hint) = match target {
                LinkedDir::Inside(dir) => (
                    dir.to_string(),
                    format!("declare the directory the link leads to, `{dir}/`: restores write a declared directory itself, never through a symlink"),
                ),
                LinkedDir::Outside(dir) => (
                    dir.display().to_string(),
                    "restores write a declared directory itself, never through a symlink; declare a directory inside the project".to_string(),
                ),
            };
            problems.push(
                Problem::new(
                    format!(
                        "output `{}` of `{}` is a symlink to the directory `{shown}`",
                        output.declaration(),
                        session.base
                    ),
                    outputs.span(id, index).clone(),
                    "a symlink",
                )
                .hint(hint),
            );
        }
    }
}

/// Two outputs of one session may not name one path, as written (`x` and `./x`) or through a
/// symlink (`out/x` and `real/x`). A directory and a file in it, or a glob and a file it
/// matches, may both be declared: the file must then be produced.
fn check_outputs_named_twice(
    sessions: &[Session],
    outputs: &SpannedOutputs,
    problems: &mut Vec<Problem>,
) {
    for (id, session) in sessions.iter().enumerate() {
        for (later, output) in session.outputs.iter().enumerate() {
            let alias = outputs.alias(id, later);
            let earlier =
                session.outputs[..later]
                    .iter()
                    .enumerate()
                    .find_map(|(index, theirs)| {
                        let claim = same_path(output, alias, theirs, outputs.alias(id, index))?;
                        Some((theirs, claim))
                    });
            let Some((theirs, claim)) = earlier else {
                continue;
            };
            let (ours, theirs) = (output.declaration(), theirs.declaration());
            let name = &session.base;
            let (message, hint) = match claim {
                Claim::AsWritten if ours == theirs => (
                    format!("output `{ours}` of `{name}` is declared twice"),
                    "declare each path once",
                ),
                Claim::AsWritten => (
                    format!("outputs `{theirs}` and `{ours}` of `{name}` name one path"),
                    "declare each path once",
                ),
                Claim::ThroughSymlink(link) => (
                    format!(
                        "outputs `{theirs}` and `{ours}` of `{name}` name one path through the symlink `{link}`"
                    ),
                    "declare each path once, by its real path",
                ),
            };
            problems.push(
                Problem::new(message, outputs.span(id, later).clone(), "named twice").hint(hint),
            );
        }
    }
}

/// Whether `ours` and `theirs` name one path, and how.
fn same_path<'a>(
    ours: &OutputPattern,
    our_alias: Option<&'a Aliased>,
    theirs: &OutputPattern,
    their_alias: Option<&'a Aliased>,
) -> Option<Claim<'a>> {
    if ours.names() == theirs.names() {
        return Some(Claim::AsWritten);
    }
    let link = &our_alias.or(their_alias)?.link;
    let ours = our_alias.map_or(ours, |alias| &alias.real);
    let theirs = their_alias.map_or(theirs, |alias| &alias.real);
    (ours.names() == theirs.names()).then_some(Claim::ThroughSymlink(link))
}

/// Two sessions may not claim one path, whether their declarations overlap as written or once
/// symlinks in their leading directories are followed.
fn check_overlapping_outputs(
    sessions: &[Session],
    outputs: &SpannedOutputs,
    problems: &mut Vec<Problem>,
) {
    let places = Places::of(sessions, outputs);
    for (later, session) in sessions.iter().enumerate() {
        for (index, output) in session.outputs.iter().enumerate() {
            let alias = outputs.alias(later, index);
            // The first earlier output, in order, that claims a common path. Variants of one
            // session may write the same paths (`.coverage.*` in a matrix).
            let earlier = places
                .near(output, alias)
                .into_iter()
                .filter(|&(id, _)| id < later && sessions[id].base != session.base)
                .find_map(|(id, theirs_index)| {
                    let other = &sessions[id];
                    let theirs = &other.outputs[theirs_index];
                    let their_alias = outputs.alias(id, theirs_index);
                    claim(output, alias, theirs, their_alias).map(|claim| (other, theirs, claim))
                });
            if let Some((other, theirs, claim)) = earlier {
                let through = match claim {
                    Claim::AsWritten => String::new(),
                    Claim::ThroughSymlink(link) => format!(", through the symlink `{link}`"),
                };
                problems.push(
                    Problem::new(
                        format!(
                            "output `{}` of `{}` is also claimed by `{}` (as `{}`{through})",
                            output.declaration(),
                            session.base,
                            other.base,
                            theirs.declaration()
                        ),
                        outputs.span(later, index).clone(),
                        "claimed twice",
                    )
                    .hint("each path may be the output of one session only; a session that needs another's output should `require` it"),
                );
            }
        }
    }
}

/// Every output by the place it lies under (a literal's path, a glob's fixed base), as written
/// and where symlinks take it: two outputs can claim a common path only when one's place holds
/// the other's, so each output is compared with those few, not with every other.
struct Places {
    /// Place to the outputs under it, as (session, output) pairs.
    outputs: BTreeMap<String, Vec<(usize, usize)>>,
}

impl Places {
    fn of(sessions: &[Session], outputs: &SpannedOutputs) -> Places {
        let mut places: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
        for (id, session) in sessions.iter().enumerate() {
            for (index, output) in session.outputs.iter().enumerate() {
                let real = outputs.alias(id, index).map(|alias| &alias.real);
                for pattern in std::iter::once(output).chain(real) {
                    places
                        .entry(place(pattern).as_str().to_string())
                        .or_default()
                        .push((id, index));
                }
            }
        }
        Places { outputs: places }
    }

    /// The outputs whose place holds, or lies in, that of `output` as written or as `alias`
    /// takes it: in order of session, then of output.
    fn near(&self, output: &OutputPattern, alias: Option<&Aliased>) -> Vec<(usize, usize)> {
        let mut near = Vec::new();
        for pattern in std::iter::once(output).chain(alias.map(|alias| &alias.real)) {
            let place = place(pattern);
            if place.is_root() {
                near.extend(self.outputs.values().flatten());
                continue;
            }
            let text = place.as_str();
            // Those holding it: the root, then each leading directory, then itself.
            let mut end = 0;
            near.extend(self.outputs.get(".").into_iter().flatten());
            while let Some(slash) = text[end..].find('/') {
                end += slash;
                near.extend(self.outputs.get(&text[..end]).into_iter().flatten());
                end += 1;
            }
            // Itself, and those in it: from `a/` up to `a0` (`0` follows `/`).
            near.extend(self.outputs.get(text).into_iter().flatten());
            let inside = self.outputs.range(format!("{text}/")..format!("{text}0"));
            near.extend(inside.flat_map(|(_, outputs)| outputs));
        }
        near.sort_unstable();
        near.dedup();
        near
    }
}

/// Where an output lies: a literal's path, a glob's fixed leading directories.
fn place(output: &OutputPattern) -> &RelPath {
    match output {
        OutputPattern::Literal { path, .. } => path,
        OutputPattern::Glob { base, .. } => base,
    }
}

/// How two outputs claim a common path.
enum Claim<'a> {
    AsWritten,
    /// Only once this symlink is followed.
    ThroughSymlink(&'a RelPath),
}

/// Whether `ours` and `theirs` claim a common path, and how.
fn claim<'a>(
    ours: &OutputPattern,
    our_alias: Option<&'a Aliased>,
    theirs: &OutputPattern,
    their_alias: Option<&'a Aliased>,
) -> Option<Claim<'a>> {
    if ours.overlaps(theirs) {
        return Some(Claim::AsWritten);
    }
    let link = &our_alias.or(their_alias)?.link;
    let ours = our_alias.map_or(ours, |alias| &alias.real);
    let theirs = their_alias.map_or(theirs, |alias| &alias.real);
    ours.overlaps(theirs).then_some(Claim::ThroughSymlink(link))
}

//! Checks across the outputs of all sessions: none may reach into `.git`, `.rtask` or the
//! cache, and no path may be claimed by two sessions, as written or through symlinks.

use std::ops::Range;
use std::path::Path;

use super::diagnostic::Problem;
use super::resolve::{self, Aliased};
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
    problems: &mut Vec<Problem>,
) {
    let outputs = SpannedOutputs::new(root, sessions, spans);
    check_protected_outputs(sessions, &outputs, root, cache_dir, problems);
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
        let aliases = sessions
            .iter()
            .map(|session| {
                session
                    .outputs
                    .iter()
                    .map(|output| resolve::aliased(root, output))
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

/// Outputs may not reach into `.git`, rtask's own directory or the cache: restores rewrite
/// outputs, and would rewrite those. Outputs are taken as written and where symlinks lead.
fn check_protected_outputs(
    sessions: &[Session],
    outputs: &SpannedOutputs,
    root: &Path,
    cache_dir: &Path,
    problems: &mut Vec<Problem>,
) {
    let mut protected = Protected::new(root, cache_dir).inside();
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
                        format!("output `{}` of `{}` reaches into {what}", output.declaration(), session.name),
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
fn reaches_into(output: &OutputPattern, protected: &[RelPath]) -> Option<String> {
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

/// Two sessions may not claim one path, whether their declarations overlap as written or once
/// symlinks in their leading directories are followed.
fn check_overlapping_outputs(
    sessions: &[Session],
    outputs: &SpannedOutputs,
    problems: &mut Vec<Problem>,
) {
    for (later, session) in sessions.iter().enumerate() {
        for (index, output) in session.outputs.iter().enumerate() {
            let alias = outputs.alias(later, index);
            // Variants of one session may write the same paths (`.coverage.*` in a matrix).
            let earlier = sessions[..later]
                .iter()
                .enumerate()
                .filter(|(_, other)| other.base != session.base)
                .find_map(|(id, other)| {
                    other
                        .outputs
                        .iter()
                        .enumerate()
                        .find_map(|(theirs_index, theirs)| {
                            let their_alias = outputs.alias(id, theirs_index);
                            claim(output, alias, theirs, their_alias)
                                .map(|claim| (other, theirs, claim))
                        })
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
                            session.name,
                            other.name,
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

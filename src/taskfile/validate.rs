//! Turning the raw task file into a validated [`Project`], reporting every problem with its span.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostic::Problem;
use super::session::{PendingRequires, SessionChecker};
use super::wire::WireFile;
use super::{cache_dir, outputs, python};
use crate::cache::limits::{ByteSize, LimitKind};
use crate::project::{EnvDir, EnvNaming, Project, Session};
use crate::protected::{STATE_DIR, VENVS};
use crate::remote::config::RemoteUrl;
use crate::replay::ReplayMode;
use crate::{graph, suggest, variant};

pub const DEFAULT_CACHE_DIR: &str = ".rtask/cache";

/// Where the project lives and what the environment overrides.
pub struct Context<'a> {
    pub root: &'a Path,
    pub display_path: &'a Path,
    /// The file's text: where a problem inside a string stands.
    pub source: &'a str,
    pub cache_dir_override: Option<PathBuf>,
    /// `--force-python VERSION`.
    pub force_python: Option<&'a str>,
}

pub fn parse(source: &str) -> Result<WireFile, Problem> {
    toml::from_str(source).map_err(|error| {
        let span = error.span().unwrap_or(0..0);
        let message = error.message().trim().to_string();
        describe_parse_error(&message, span)
    })
}

fn describe_parse_error(message: &str, span: Range<usize>) -> Problem {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = match suggest::closest(name, candidates.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("valid keys here: {}", backticked(&candidates)),
        };
        return Problem::new(format!("unknown key `{name}`"), span, "unknown key").hint(hint);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let hint = match name {
            "run" => "every session needs `run = [\"command\", ...]`".to_string(),
            "cmd" => "a command table needs `cmd = \"LINE\"` or `cmd = [\"PROGRAM\", \"ARG\"]`"
                .to_string(),
            _ => format!("add `{name}`"),
        };
        return Problem::new(format!("missing key `{name}`"), span, "in this table").hint(hint);
    }
    let is_type_error = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|start| message.starts_with(start));
    let problem = Problem::new(message.to_string(), span, "here");
    if is_type_error {
        problem.hint("docs/tasks-toml.md lists every key with its type")
    } else {
        problem.hint("tasks.toml must be valid TOML (https://toml.io)")
    }
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn validate(wire: WireFile, context: Context<'_>) -> Result<Project, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut global_env = BTreeMap::new();
    for (name, value) in &wire.env {
        check_env_name(name, &mut problems);
        global_env.insert(name.get_ref().clone(), value.get_ref().clone());
    }
    // Sessions keep the order in which the file defines them.
    let mut defined: Vec<_> = wire.sessions.iter().collect();
    defined.sort_by_key(|(name, _)| name.span().start);
    for (name, _) in &defined {
        check_session_name(name, &mut problems);
    }

    let mut sessions = Vec::new();
    let mut pending = Vec::new();
    let mut pending_after = Vec::new();
    let mut output_spans = Vec::new();
    let mut name_spans = Vec::new();
    for (name, wire_session) in &defined {
        let wire_session = wire_session.get_ref();
        let pythons = python::pythons(wire_session, context.source, &mut problems);
        let backend = python::backend(wire_session, &pythons, &mut problems);
        let params = python::params(wire_session, &mut problems);
        python::check_overrides(wire_session, &pythons, &mut problems);
        let pythons = variant::force(pythons, context.force_python);
        let variants = variant::expand(name.get_ref(), &pythons, &params, context.force_python);
        for variant in variants {
            let mut vars: BTreeMap<String, String> = variant
                .call_spec
                .iter()
                .map(|(key, value)| (key.clone(), value.to_string()))
                .collect();
            if let Some(version) = &variant.python {
                vars.insert("python".to_string(), version.clone());
            }
            let mut checker = SessionChecker {
                variant: &variant,
                vars,
                source: context.source,
                problems: &mut problems,
            };
            let default = wire_session.default.unwrap_or(true);
            let checked = checker.session(wire_session, &global_env, backend, default);
            sessions.push(checked.session);
            name_spans.push(name.span());
            pending.push(checked.requires);
            pending_after.push(checked.after);
            output_spans.push(checked.output_spans);
        }
    }
    let mut first_named: HashMap<&str, usize> = HashMap::with_capacity(sessions.len());
    for (later, session) in sessions.iter().enumerate() {
        let first = *first_named.entry(session.name.as_str()).or_insert(later);
        if first != later {
            let earlier = &sessions[first];
            problems.push(
                Problem::new(
                    format!("two sessions are named `{}`", session.name),
                    name_spans[later].clone(),
                    "this session",
                )
                .hint(format!(
                    "`[sessions.{}]` already makes a session of that name; rename one",
                    earlier.base
                )),
            );
        }
    }
    let names = Names::of(&sessions);
    let mut edge_spans = Vec::new();
    let mut resolved = Vec::with_capacity(sessions.len());
    for (id, entries) in pending.into_iter().enumerate() {
        let (requires, spans) = resolve_edges(
            &names,
            &sessions,
            id,
            entries,
            Edge::Requires,
            &mut problems,
        );
        resolved.push(requires);
        edge_spans.push(spans);
    }
    for (session, requires) in sessions.iter_mut().zip(resolved) {
        session.requires = requires;
    }
    for (id, entries) in pending_after.into_iter().enumerate() {
        let (after, spans) =
            resolve_edges(&names, &sessions, id, entries, Edge::After, &mut problems);
        sessions[id].after = after;
        edge_spans[id].extend(spans);
    }

    if let Some(cycle) = graph::find_cycle(&sessions) {
        let (from, edge) = cycle.closing_edge;
        let path = cycle
            .sessions
            .iter()
            .map(|&id| format!("`{}`", sessions[id].name))
            .collect::<Vec<_>>()
            .join(" -> ");
        let ordering = cycle
            .sessions
            .windows(2)
            .any(|pair| !sessions[pair[0]].requires.contains(&pair[1]));
        let span = edge_spans[from].get(edge).cloned().unwrap_or(0..0);
        problems.push(if ordering {
            Problem::new(
                format!("ordering cycle: {path}"),
                span,
                "this entry closes the cycle",
            )
            .hint("`after` and `requires` together must not lead from a session back to itself")
        } else {
            Problem::new(
                format!("dependency cycle: {path}"),
                span,
                "this requirement closes the cycle",
            )
            .hint("a session cannot require itself, directly or through others")
        });
    }

    let settings = wire.settings.as_ref();
    let mut default = None;
    if let Some(list) = settings.and_then(|settings| settings.default.as_ref()) {
        let mut ids = Vec::new();
        let mut added = HashSet::new();
        for entry in list {
            let matched = names.matching(entry.get_ref());
            if matched.is_empty() {
                problems.push(unknown_session(
                    &sessions,
                    entry.get_ref(),
                    entry.span(),
                    "in `default`",
                ));
            }
            ids.extend(matched.iter().filter(|&&id| added.insert(id)));
        }
        default = Some(ids);
    } else if defined
        .iter()
        .any(|(_, session)| session.get_ref().default.is_some())
    {
        // nox's rule: every session but those marked `default = false`.
        default = Some(
            (0..sessions.len())
                .filter(|&id| sessions[id].default)
                .collect(),
        );
    }
    let cache_dir = match (
        &context.cache_dir_override,
        settings.and_then(|s| s.cache_dir.as_ref()),
    ) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) if dir.get_ref().is_empty() => {
            problems.push(
                Problem::new("`cache_dir` is empty", dir.span(), "here")
                    .hint(format!("leave it out to use `{DEFAULT_CACHE_DIR}`")),
            );
            PathBuf::new()
        }
        (None, Some(dir)) => {
            let path = context.root.join(dir.get_ref());
            if let Some(clash) = cache_dir::check(context.root, &path, &sessions) {
                problems.push(
                    Problem::new(
                        clash.message("cache_dir", dir.get_ref()),
                        dir.span(),
                        clash.label(),
                    )
                    .hint(clash.hint()),
                );
            }
            path
        }
        (None, None) => context.root.join(DEFAULT_CACHE_DIR),
    };
    let remote_cache = settings
        .and_then(|s| s.remote_cache.as_ref())
        .and_then(|url| match url.get_ref().parse::<RemoteUrl>() {
            Ok(parsed) => Some(parsed),
            Err(problem) => {
                problems.push(
                    Problem::new(
                        format!("`remote_cache` is not a usable remote cache URL: {problem}"),
                        url.span(),
                        "here",
                    )
                    .hint(problem.hint()),
                );
                None
            }
        });
    let cache_max_size =
        settings
            .and_then(|s| s.cache_max_size.as_ref())
            .and_then(|size| match size.get_ref().parse::<ByteSize>() {
                Ok(parsed) => Some(parsed.0),
                Err(problem) => {
                    problems.push(
                        Problem::new(
                            format!("`cache_max_size` is not a size: {problem}"),
                            size.span(),
                            "here",
                        )
                        .hint(LimitKind::Size.hint()),
                    );
                    None
                }
            });
    let replay = settings
        .and_then(|s| s.replay.as_ref())
        .map_or(ReplayMode::default(), |mode| {
            ReplayMode::parse(mode.get_ref()).unwrap_or_else(|| {
                problems.push(
                    Problem::new(
                        format!("unknown `replay` `{}`", mode.get_ref()),
                        mode.span(),
                        "here",
                    )
                    .hint("use \"full\" (the whole log), \"errors\" (a hit's header only) or \"none\""),
                );
                ReplayMode::default()
            })
        });
    let envdir = match settings.and_then(|s| s.envdir.as_ref()) {
        None => EnvDir {
            path: context.root.join(STATE_DIR).join(VENVS),
            naming: EnvNaming::Rtask,
        },
        Some(dir) => {
            let path = crate::protected::normalise(&context.root.join(dir.get_ref()));
            let clash = if dir.get_ref().is_empty() {
                Some(cache_dir::EnvDirClash::ProjectRoot)
            } else {
                cache_dir::check_envdir(context.root, &path, &cache_dir, &sessions)
            };
            if let Some(clash) = clash {
                problems.push(
                    Problem::new(
                        format!("`envdir` `{}` {clash}", dir.get_ref()),
                        dir.span(),
                        clash.label(),
                    )
                    .hint(clash.hint()),
                );
            }
            EnvDir {
                path,
                naming: EnvNaming::Nox,
            }
        }
    };
    outputs::check(
        &sessions,
        &output_spans,
        context.root,
        &cache_dir,
        &envdir.path,
        &mut problems,
    );

    if !problems.is_empty() {
        return Err(once_each(problems));
    }
    crate::python::place_environments(&mut sessions, &envdir);
    Ok(Project {
        root: context.root.to_path_buf(),
        display_path: context.display_path.display().to_string(),
        cache_dir,
        envdir,
        remote_cache,
        cache_max_size,
        default,
        external_run: match settings.and_then(|settings| settings.error_on_external_run) {
            Some(true) => crate::command::ExternalRun::Fail,
            Some(false) | None => crate::command::ExternalRun::Warn,
        },
        replay,
        sessions,
    })
}

/// The problems, each once: the same problem is found in every variant of a session.
fn once_each(problems: Vec<Problem>) -> Vec<Problem> {
    let mut seen = HashSet::new();
    problems
        .into_iter()
        .filter(|problem| seen.insert((problem.message.clone(), problem.span.clone())))
        .collect()
}

/// Every name that selects sessions, with the sessions it selects in order: a session's full
/// name, its `[sessions.NAME]` and `NAME-VERSION` ([`Session::answers_to`]), looked up in
/// constant time however many sessions there are.
struct Names {
    ids: HashMap<String, Vec<usize>>,
}

impl Names {
    fn of(sessions: &[Session]) -> Names {
        let mut ids: HashMap<String, Vec<usize>> = HashMap::with_capacity(sessions.len());
        for (id, session) in sessions.iter().enumerate() {
            let names = [&session.name, &session.base]
                .into_iter()
                .chain(&session.signatures);
            for name in names {
                let selected = ids.entry(name.clone()).or_default();
                if selected.last() != Some(&id) {
                    selected.push(id);
                }
            }
        }
        Names { ids }
    }

    /// The sessions `name` selects: by full name, by `[sessions.NAME]`, or `NAME-VERSION`.
    fn matching(&self, name: &str) -> &[usize] {
        self.ids.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The kind of a session's entries that name other sessions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Requires,
    After,
}

impl Edge {
    fn key(self) -> &'static str {
        match self {
            Edge::Requires => "requires",
            Edge::After => "after",
        }
    }
}

/// Session `id`'s `requires` or `after` entries as the sessions they name, each once, with
/// where each was named. An unknown name is a problem; so is a session naming itself in
/// `after` (in `requires` that is a cycle, reported as one).
fn resolve_edges(
    names: &Names,
    sessions: &[Session],
    id: usize,
    entries: PendingRequires,
    edge: Edge,
    problems: &mut Vec<Problem>,
) -> (Vec<usize>, Vec<Range<usize>>) {
    let (mut ids, mut spans) = (Vec::new(), Vec::new());
    let mut added = HashSet::new();
    for (entry, span) in entries {
        let matched = names.matching(&entry);
        if matched.is_empty() {
            let place = format!("in `{}`'s `{}`", sessions[id].base, edge.key());
            problems.push(unknown_session(sessions, &entry, span.clone(), &place));
        } else if edge == Edge::After && matched.contains(&id) {
            problems.push(
                Problem::new(
                    format!("session `{}` names itself in `after`", sessions[id].base),
                    span.clone(),
                    "itself",
                )
                .hint("remove it: a session cannot start after itself"),
            );
            continue;
        }
        for &named in matched {
            if added.insert(named) {
                ids.push(named);
                spans.push(span.clone());
            }
        }
    }
    (ids, spans)
}

fn unknown_session(sessions: &[Session], name: &str, span: Range<usize>, place: &str) -> Problem {
    let mut names: Vec<&str> = sessions
        .iter()
        .map(|session| session.base.as_str())
        .collect();
    names.dedup();
    let hint = match suggest::closest(
        name,
        sessions
            .iter()
            .flat_map(|s| [s.name.as_str(), s.base.as_str()]),
    ) {
        Some(near) => format!("did you mean `{near}`?"),
        None if names.is_empty() => "the file defines no sessions".to_string(),
        None => format!("sessions: {}", backticked(&names)),
    };
    Problem::new(
        format!("unknown session `{name}` {place}"),
        span,
        "no such session",
    )
    .hint(hint)
}

fn check_session_name(name: &Spanned<String>, problems: &mut Vec<Problem>) {
    let text = name.get_ref();
    let valid = text
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric() || first == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c));
    if !valid {
        problems.push(
            Problem::new(format!("invalid session name `{text}`"), name.span(), "here")
                .hint("session names use letters, digits, `_`, `-`, `.` and `:`, and start with a letter, digit or `_`"),
        );
    }
}

pub(super) fn check_env_name(name: &Spanned<String>, problems: &mut Vec<Problem>) {
    let text = name.get_ref();
    if text.is_empty() || text.contains(['=', '\0']) {
        problems.push(
            Problem::new(
                format!("invalid environment variable name `{text}`"),
                name.span(),
                "here",
            )
            .hint("names cannot be empty or contain `=`"),
        );
    }
}

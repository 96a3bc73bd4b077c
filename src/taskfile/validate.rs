//! Turning the raw task file into a validated [`Project`], reporting every problem with its span.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostic::Problem;
use super::wire::{WireCommand, WireFile, WireSession};
use crate::command::CommandTemplate;
use crate::graph;
use crate::patterns::{InputPatterns, OutputPattern};
use crate::project::{Project, Session};
use crate::relpath::RelPath;
use crate::suggest;

pub const DEFAULT_CACHE_DIR: &str = ".rtask/cache";

/// Where the project lives and what the environment overrides.
pub struct Context<'a> {
    pub root: &'a Path,
    pub display_path: &'a Path,
    pub cache_dir_override: Option<PathBuf>,
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
    let names: Vec<&str> = defined
        .iter()
        .map(|(name, _)| name.get_ref().as_str())
        .collect();
    for (name, _) in &defined {
        check_session_name(name, &mut problems);
    }

    let mut sessions = Vec::new();
    let mut requires_spans = Vec::new();
    let mut output_spans = Vec::new();
    for (name, wire_session) in defined {
        let wire_session = wire_session.get_ref();
        let mut checker = SessionChecker {
            name: name.get_ref(),
            names: &names,
            problems: &mut problems,
        };
        sessions.push(checker.session(wire_session, &global_env));
        requires_spans.push(
            wire_session
                .requires
                .iter()
                .map(Spanned::span)
                .collect::<Vec<_>>(),
        );
        output_spans.push(
            wire_session
                .outputs
                .iter()
                .map(Spanned::span)
                .collect::<Vec<_>>(),
        );
    }

    check_overlapping_outputs(&sessions, &output_spans, &mut problems);
    if let Some(cycle) = graph::find_cycle(&sessions) {
        let (from, edge) = cycle.closing_edge;
        let path = cycle
            .sessions
            .iter()
            .map(|&id| format!("`{}`", sessions[id].name))
            .collect::<Vec<_>>()
            .join(" -> ");
        problems.push(
            Problem::new(
                format!("dependency cycle: {path}"),
                requires_spans[from].get(edge).cloned().unwrap_or(0..0),
                "this requirement closes the cycle",
            )
            .hint("a session cannot require itself, directly or through others"),
        );
    }

    let settings = wire.settings.as_ref();
    let mut default = None;
    if let Some(list) = settings.and_then(|settings| settings.default.as_ref()) {
        let mut ids = Vec::new();
        for entry in list {
            match names.iter().position(|name| name == entry.get_ref()) {
                Some(id) => ids.push(id),
                None => problems.push(unknown_session(entry, &names, "in `default`")),
            }
        }
        default = Some(ids);
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
        (None, Some(dir)) => context.root.join(dir.get_ref()),
        (None, None) => context.root.join(DEFAULT_CACHE_DIR),
    };
    check_protected_outputs(
        &sessions,
        &output_spans,
        context.root,
        &cache_dir,
        &mut problems,
    );

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Project {
        root: context.root.to_path_buf(),
        display_path: context.display_path.display().to_string(),
        cache_dir,
        default,
        sessions,
    })
}

struct SessionChecker<'a> {
    name: &'a str,
    names: &'a [&'a str],
    problems: &'a mut Vec<Problem>,
}

impl SessionChecker<'_> {
    fn session(&mut self, wire: &WireSession, global_env: &BTreeMap<String, String>) -> Session {
        let shell = wire.shell.as_ref().is_some_and(|shell| *shell.get_ref());
        let commands = self.commands(wire, shell);
        let requires = wire
            .requires
            .iter()
            .filter_map(|entry| {
                let id = self.names.iter().position(|name| name == entry.get_ref());
                if id.is_none() {
                    let problem = unknown_session(
                        entry,
                        self.names,
                        &format!("in `{}`'s `requires`", self.name),
                    );
                    self.problems.push(problem);
                }
                id
            })
            .collect();
        let inputs = wire.inputs.as_ref().and_then(|inputs| {
            let compiled =
                InputPatterns::compile(inputs.iter().map(|entry| entry.get_ref().as_str()));
            match compiled {
                Ok(patterns) => Some(patterns),
                Err((index, error)) => {
                    let span = inputs.get(index).map_or(0..0, Spanned::span);
                    self.problems
                        .push(Problem::new(error.message, span, "this input").hint(error.hint));
                    None
                }
            }
        });
        let outputs = wire
            .outputs
            .iter()
            .filter_map(|entry| match OutputPattern::compile(entry.get_ref()) {
                Ok(output) => Some(output),
                Err(error) => {
                    self.problems.push(
                        Problem::new(error.message, entry.span(), "this output").hint(error.hint),
                    );
                    None
                }
            })
            .collect();
        let mut env = global_env.clone();
        for (name, value) in &wire.env {
            check_env_name(name, self.problems);
            env.insert(name.get_ref().clone(), value.get_ref().clone());
        }
        let mut env_inputs: Vec<String> = Vec::new();
        for name in &wire.env_inputs {
            check_env_name(name, self.problems);
            env_inputs.push(name.get_ref().clone());
        }
        env_inputs.sort();
        env_inputs.dedup();
        let cwd = match &wire.cwd {
            None => RelPath::root(),
            Some(cwd) => RelPath::parse(cwd.get_ref()).unwrap_or_else(|error| {
                self.problems.push(
                    Problem::new(format!("`cwd` {error}"), cwd.span(), "here")
                        .hint("`cwd` is relative to the project root and cannot leave it"),
                );
                RelPath::root()
            }),
        };
        let success_codes = match &wire.success_codes {
            None => vec![0],
            Some(codes) if codes.get_ref().is_empty() => {
                self.problems.push(
                    Problem::new(
                        "`success_codes` is empty",
                        codes.span(),
                        "no exit code would succeed",
                    )
                    .hint("leave it out to accept exit code 0 only"),
                );
                Vec::new()
            }
            Some(codes) => {
                let mut codes = codes.get_ref().clone();
                codes.sort_unstable();
                codes.dedup();
                codes
            }
        };
        Session {
            name: self.name.to_string(),
            description: wire.description.clone(),
            commands,
            shell,
            requires,
            inputs: if wire.cache == Some(false) {
                None
            } else {
                inputs
            },
            outputs,
            env,
            env_inputs,
            cwd,
            tags: wire.tags.clone(),
            success_codes,
        }
    }

    fn commands(&mut self, wire: &WireSession, shell: bool) -> Vec<CommandTemplate> {
        if wire.run.get_ref().is_empty() {
            self.problems.push(
                Problem::new(
                    format!("session `{}` has nothing to run", self.name),
                    wire.run.span(),
                    "empty",
                )
                .hint("add at least one command, such as `run = [\"pytest\"]`"),
            );
        }
        let mut commands = Vec::new();
        for entry in wire.run.get_ref() {
            let parsed = match (entry.get_ref(), shell) {
                (WireCommand::Line(line), _) if line.trim().is_empty() => {
                    self.problems.push(
                        Problem::new("empty command", entry.span(), "here")
                            .hint("remove the entry or write the command"),
                    );
                    continue;
                }
                (WireCommand::Argv(argv), _) if argv.is_empty() => {
                    self.problems.push(
                        Problem::new("empty command", entry.span(), "here")
                            .hint("an argv array needs at least the program"),
                    );
                    continue;
                }
                (WireCommand::Argv(_), true) => {
                    self.problems.push(
                        Problem::new(
                            "an argv array cannot run with `shell = true`",
                            entry.span(),
                            "argv array",
                        )
                        .hint(
                            "write the command as one string for `sh -c`, or drop `shell = true`",
                        ),
                    );
                    continue;
                }
                (WireCommand::Line(line), true) => CommandTemplate::parse_shell(line),
                (WireCommand::Line(line), false) => CommandTemplate::parse_line(line),
                (WireCommand::Argv(argv), false) => CommandTemplate::parse_argv(argv),
            };
            match parsed {
                Ok(command) => commands.push(command),
                Err(error) => {
                    let hint = match error {
                        crate::shell_words::SplitError::Operator(_) => {
                            "split it into separate entries of `run`, or set `shell = true`"
                        }
                        _ => "commands are split into words like a POSIX shell would",
                    };
                    self.problems.push(
                        Problem::new(
                            format!("cannot read this command: {error}"),
                            entry.span(),
                            "this command",
                        )
                        .hint(hint),
                    );
                }
            }
        }
        commands
    }
}

fn unknown_session(entry: &Spanned<String>, names: &[&str], place: &str) -> Problem {
    let name = entry.get_ref();
    let hint = match suggest::closest(name, names.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None if names.is_empty() => "the file defines no sessions".to_string(),
        None => format!("sessions: {}", backticked(names)),
    };
    Problem::new(
        format!("unknown session `{name}` {place}"),
        entry.span(),
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

fn check_env_name(name: &Spanned<String>, problems: &mut Vec<Problem>) {
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

/// Outputs may not reach into `.git`, rtask's own directory or the cache: restores rewrite
/// outputs, and would rewrite those.
fn check_protected_outputs(
    sessions: &[Session],
    spans: &[Vec<Range<usize>>],
    root: &Path,
    cache_dir: &Path,
    problems: &mut Vec<Problem>,
) {
    let mut protected = vec![RelPath::parse(".rtask").expect("a valid relative path")];
    protected.extend(RelPath::from_path(root, cache_dir).filter(|dir| !dir.is_root()));
    for (id, session) in sessions.iter().enumerate() {
        for (index, output) in session.outputs.iter().enumerate() {
            let path = match output {
                OutputPattern::Literal { path, .. } => path,
                OutputPattern::Glob { base, .. } => base,
            };
            let clash = protected
                .iter()
                .find(|dir| path.starts_with(dir) || (!path.is_root() && dir.starts_with(path)));
            let in_git = path.as_str().split('/').any(|part| part == ".git");
            if let (true, Some(span)) = (clash.is_some() || in_git, spans[id].get(index)) {
                let what = clash.map_or_else(
                    || "a `.git` directory".to_string(),
                    |dir| format!("`{dir}`"),
                );
                problems.push(
                    Problem::new(
                        format!("output `{}` of `{}` reaches into {what}", output.declaration(), session.name),
                        span.clone(),
                        "here",
                    )
                    .hint("rtask keeps its state and cache there; declare the files the session writes instead"),
                );
            }
        }
    }
}

fn check_overlapping_outputs(
    sessions: &[Session],
    spans: &[Vec<Range<usize>>],
    problems: &mut Vec<Problem>,
) {
    for (later, session) in sessions.iter().enumerate() {
        for (index, output) in session.outputs.iter().enumerate() {
            let earlier = sessions[..later].iter().find_map(|other| {
                other
                    .outputs
                    .iter()
                    .find(|theirs| theirs.overlaps(output))
                    .map(|theirs| (other, theirs))
            });
            if let (Some((other, theirs)), Some(span)) = (earlier, spans[later].get(index)) {
                problems.push(
                    Problem::new(
                        format!(
                            "output `{}` of `{}` is also claimed by `{}` (as `{}`)",
                            output.declaration(),
                            session.name,
                            other.name,
                            theirs.declaration()
                        ),
                        span.clone(),
                        "claimed twice",
                    )
                    .hint("each path may be the output of one session only; a session that needs another's output should `require` it"),
                );
            }
        }
    }
}

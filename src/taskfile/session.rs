//! Checking one variant of a `[sessions.NAME]` table and building its [`Session`].

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::diagnostic::Problem;
use super::validate::check_env_name;
use super::wire::{WireCommand, WireSession};
use crate::command::CommandTemplate;
use crate::patterns::{InputPatterns, OutputPattern};
use crate::project::{Backend, Session, VenvSpec};
use crate::relpath::RelPath;
use crate::shell_words::{self, SplitError};
use crate::variant::{Variant, substitute};

/// A session's `requires` entries after placeholders, with where each stands; resolved to
/// sessions once every session is known.
pub(super) type PendingRequires = Vec<(String, Range<usize>)>;

/// One checked variant, with what the checks across sessions need to know.
pub(super) struct Checked {
    pub session: Session,
    pub requires: PendingRequires,
    /// Where each of `session.outputs` is declared.
    pub output_spans: Vec<Range<usize>>,
}

pub(super) struct SessionChecker<'a> {
    pub variant: &'a Variant,
    /// `{python}` and the parameters, as placeholders see them.
    pub vars: BTreeMap<String, String>,
    pub problems: &'a mut Vec<Problem>,
}

impl SessionChecker<'_> {
    pub fn session(
        &mut self,
        wire: &WireSession,
        global_env: &BTreeMap<String, String>,
        backend: Option<Backend>,
        default: bool,
    ) -> Checked {
        let shell = wire.shell.as_ref().is_some_and(|shell| *shell.get_ref());
        let commands = self.commands(wire, shell);
        let requires = wire
            .requires
            .iter()
            .filter_map(|entry| Some((self.fill(entry, "requires")?, entry.span())))
            .collect();
        let venv = backend.map(|backend| VenvSpec {
            backend,
            install: self.install(wire),
            params: wire
                .venv_params
                .iter()
                .map(|p| p.get_ref().clone())
                .collect(),
            reuse: super::python::reuse(wire),
            dir: std::path::PathBuf::new(),
        });
        if venv.is_none()
            && let Some(first) = wire.venv_params.first()
        {
            self.problems.push(
                Problem::new(
                    "`venv_params` needs a virtual environment",
                    first.span(),
                    "here",
                )
                .hint("set `python = \"3.12\"` (and leave `venv_backend` unset or not \"none\")"),
            );
        }
        if venv.is_none()
            && let Some(first) = wire.install.first()
        {
            self.problems.push(
                Problem::new(
                    "`install` needs a virtual environment",
                    first.span(),
                    "here",
                )
                .hint("set `python = \"3.12\"` (and leave `venv_backend` unset or not \"none\")"),
            );
        }
        let inputs = wire.inputs.as_ref().and_then(|inputs| {
            let filled: Vec<String> = inputs
                .iter()
                .filter_map(|entry| self.fill(entry, "inputs"))
                .collect();
            if filled.len() != inputs.len() {
                return None;
            }
            let compiled = InputPatterns::compile(filled.iter().map(String::as_str));
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
        let inputs = if wire.cache == Some(false) {
            None
        } else {
            inputs
        };
        let outputs = self.outputs(wire);
        let mut env = global_env.clone();
        for (name, value) in &wire.env {
            check_env_name(name, self.problems);
            if let Some(value) = self.fill(value, "env") {
                env.insert(name.get_ref().clone(), value);
            }
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
            Some(cwd) => {
                RelPath::parse(&self.fill(cwd, "cwd").unwrap_or_default()).unwrap_or_else(|error| {
                    self.problems.push(
                        Problem::new(format!("`cwd` {error}"), cwd.span(), "here")
                            .hint("`cwd` is relative to the project root and cannot leave it"),
                    );
                    RelPath::root()
                })
            }
        };
        let success_codes = self.success_codes(wire);
        let session = Session {
            name: self.variant.name.clone(),
            base: self.variant.base.clone(),
            python: self.variant.python.clone(),
            python_disabled: matches!(
                wire.python.as_ref().map(Spanned::get_ref),
                Some(toml::Value::Boolean(false))
            ),
            call_spec: self.variant.call_spec.clone(),
            signatures: self.variant.signatures.clone(),
            venv,
            default,
            description: wire.description.clone(),
            commands,
            shell,
            requires: Vec::new(),
            inputs,
            outputs: outputs.iter().map(|(_, output)| output.clone()).collect(),
            env,
            env_inputs,
            cwd,
            tags: wire.tags.clone(),
            success_codes,
        };
        Checked {
            session,
            requires,
            output_spans: outputs.into_iter().map(|(span, _)| span).collect(),
        }
    }

    /// The outputs that compile, with where each is declared.
    fn outputs(&mut self, wire: &WireSession) -> Vec<(Range<usize>, OutputPattern)> {
        let mut outputs = Vec::new();
        for entry in &wire.outputs {
            let Some(filled) = self.fill(entry, "outputs") else {
                continue;
            };
            match OutputPattern::compile(&filled) {
                Ok(output) => outputs.push((entry.span(), output)),
                Err(error) => self.problems.push(
                    Problem::new(error.message, entry.span(), "this output").hint(error.hint),
                ),
            }
        }
        outputs
    }

    /// The sorted exit codes that count as success.
    fn success_codes(&mut self, wire: &WireSession) -> Vec<i32> {
        let Some(codes) = &wire.success_codes else {
            return vec![0];
        };
        if codes.get_ref().is_empty() {
            self.problems.push(
                Problem::new(
                    "`success_codes` is empty",
                    codes.span(),
                    "no exit code would succeed",
                )
                .hint("leave it out to accept exit code 0 only"),
            );
        }
        let mut valid = Vec::new();
        for code in codes.get_ref() {
            match u8::try_from(*code.get_ref()) {
                Ok(exit) => valid.push(i32::from(exit)),
                Err(_) => self.problems.push(
                    Problem::new(
                        format!(
                            "`{}` in `success_codes` is not an exit code",
                            code.get_ref()
                        ),
                        code.span(),
                        "outside 0–255",
                    )
                    .hint("exit codes run from 0 to 255"),
                ),
            }
        }
        valid.sort_unstable();
        valid.dedup();
        valid
    }

    /// `text` with its placeholders filled; `None` (and a problem) for an unknown one.
    fn fill(&mut self, text: &Spanned<String>, key: &str) -> Option<String> {
        match substitute(text.get_ref(), &self.vars) {
            Ok(filled) => Some(filled),
            Err(unknown) => {
                let known: Vec<String> = self
                    .vars
                    .keys()
                    .map(|name| format!("`{{{name}}}`"))
                    .collect();
                let defined = if known.is_empty() {
                    "this session defines no placeholders".to_string()
                } else {
                    format!("this session defines {}", known.join(", "))
                };
                self.problems.push(
                    Problem::new(
                        format!("unknown placeholder `{{{unknown}}}` in `{key}`"),
                        text.span(),
                        "here",
                    )
                    .hint(format!(
                        "{defined}; write `{{{{` and `}}}}` for literal braces"
                    )),
                );
                None
            }
        }
    }

    fn install(&mut self, wire: &WireSession) -> Vec<Vec<String>> {
        let mut install = Vec::new();
        for entry in &wire.install {
            let Some(filled) = self.fill(entry, "install") else {
                continue;
            };
            match shell_words::split(&filled) {
                Ok(args) if !args.is_empty() => install.push(args),
                Ok(_) => self.problems.push(
                    Problem::new("empty `install` entry", entry.span(), "here").hint(
                        "write requirements such as \"pytest>=8\" or \"-r requirements.txt\"",
                    ),
                ),
                Err(error) => self.problems.push(
                    Problem::new(
                        format!("cannot read this requirement: {error}"),
                        entry.span(),
                        "here",
                    )
                    .hint("entries are split into pip arguments like a POSIX shell would"),
                ),
            }
        }
        install
    }

    fn commands(&mut self, wire: &WireSession, shell: bool) -> Vec<CommandTemplate> {
        if wire.run.get_ref().is_empty() {
            self.problems.push(
                Problem::new(
                    format!("session `{}` has nothing to run", self.variant.base),
                    wire.run.span(),
                    "empty",
                )
                .hint("add at least one command, such as `run = [\"pytest\"]`"),
            );
        }
        let mut commands = Vec::new();
        for entry in wire.run.get_ref() {
            let filled = match entry.get_ref() {
                WireCommand::Line(line) => self
                    .fill(&Spanned::new(entry.span(), line.clone()), "run")
                    .map(WireCommand::Line),
                WireCommand::Argv(argv) => argv
                    .iter()
                    .map(|arg| self.fill(&Spanned::new(entry.span(), arg.clone()), "run"))
                    .collect::<Option<Vec<String>>>()
                    .map(WireCommand::Argv),
            };
            let Some(filled) = filled else {
                continue;
            };
            let parsed = match (&filled, shell) {
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
                        SplitError::Operator(_) => {
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

//! Checking one variant of a `[sessions.NAME]` table and building its [`Session`].

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::diagnostic::Problem;
use super::validate::check_env_name;
use super::wire::{WireCmd, WireCommand, WireSession};
use crate::command::{Command, CommandOptions, CommandTemplate, External};
use crate::patterns::{InputPatterns, OutputPattern};
use crate::project::{Backend, InstallEntry, Session, VenvSpec};
use crate::python::marker::Marker;
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
    /// Its `after` entries, resolved like `requires`.
    pub after: PendingRequires,
    /// Where each of `session.outputs` is declared.
    pub output_spans: Vec<Range<usize>>,
}

pub(super) struct SessionChecker<'a> {
    pub variant: &'a Variant,
    /// `{python}` and the parameters, as placeholders see them.
    pub vars: BTreeMap<String, String>,
    /// The task file's text: where a problem inside a string stands.
    pub source: &'a str,
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
        // `[sessions.NAME.overrides."VERSION"]` of this variant's Python version.
        let chosen = wire
            .overrides
            .iter()
            .find(|(version, _)| self.variant.python.as_ref() == Some(version.get_ref()))
            .map(|(_, chosen)| chosen.get_ref());
        let run = chosen
            .and_then(|chosen| chosen.run.as_ref())
            .unwrap_or(&wire.run);
        let commands = self.commands(run, shell);
        let install = chosen
            .and_then(|chosen| chosen.install.as_deref())
            .unwrap_or(&wire.install);
        let requires = wire
            .requires
            .iter()
            .filter_map(|entry| Some((self.fill(entry, "requires")?, entry.span())))
            .collect();
        let after = wire
            .after
            .iter()
            .filter_map(|entry| Some((self.fill(entry, "after")?, entry.span())))
            .collect();
        let venv = backend.map(|backend| VenvSpec {
            backend,
            install: self.install(install),
            params: wire
                .venv_params
                .iter()
                .map(|p| p.get_ref().clone())
                .collect(),
            reuse: super::python::reuse(wire),
            dir: std::path::PathBuf::new(),
        });
        if let Some(Backend::Conda(tool)) = backend
            && let Some(marked) = install
                .iter()
                .find(|entry| marker_start(entry.get_ref()).is_some())
        {
            // A conda environment brings its interpreter: there is none to evaluate the
            // marker against before the environment is made.
            self.problems.push(
                Problem::new(
                    format!(
                        "a marker cannot be evaluated in a `{}` environment",
                        tool.name()
                    ),
                    marked.span(),
                    "this marker",
                )
                .hint(format!(
                    "use `[sessions.{}.overrides.\"VERSION\"]` to install by Python version",
                    self.variant.base
                )),
            );
        }
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
            && let Some(first) = install.first()
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
        let overriding = chosen.into_iter().flat_map(|chosen| &chosen.env);
        for (name, value) in wire.env.iter().chain(overriding) {
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
        let success_codes = self
            .success_codes(wire.success_codes.as_ref())
            .unwrap_or(vec![0]);
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
            after: Vec::new(),
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
            after,
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

    /// The sorted exit codes that count as success, when they are given.
    fn success_codes(&mut self, codes: Option<&Spanned<Vec<Spanned<i64>>>>) -> Option<Vec<i32>> {
        let codes = codes?;
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
        Some(valid)
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

    fn install(&mut self, entries: &[Spanned<String>]) -> Vec<InstallEntry> {
        let mut install = Vec::new();
        for entry in entries {
            let Some(filled) = self.fill(entry, "install") else {
                continue;
            };
            if let Some(semicolon) = marker_start(&filled) {
                install.extend(self.marked(entry, &filled, semicolon));
                continue;
            }
            match shell_words::split(&filled) {
                Ok(args) if !args.is_empty() => install.push(InstallEntry { args, marker: None }),
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

    /// An entry with a marker: one requirement, installed where the marker holds.
    fn marked(
        &mut self,
        entry: &Spanned<String>,
        filled: &str,
        semicolon: usize,
    ) -> Option<InstallEntry> {
        let requirement = filled[..semicolon].trim();
        let text = &filled[semicolon + 1..];
        let problem = if requirement.is_empty() {
            Some(
                Problem::new("this marker has no requirement", entry.span(), "here").hint(
                    "write the requirement before `;`: \"pytest-xdist; python_version >= '3.10'\"",
                ),
            )
        } else if requirement.starts_with('-') {
            Some(
                Problem::new(
                    "a marker applies to one requirement, not to pip options",
                    self.inside(entry, filled, 0..semicolon),
                    "options",
                )
                .hint("put the options in an entry of their own, and the requirement alone before `;`"),
            )
        } else {
            None
        };
        if let Some(problem) = problem {
            self.problems.push(problem);
            return None;
        }
        match Marker::parse(text) {
            Ok(marker) => Some(InstallEntry {
                args: vec![requirement.to_string()],
                marker: Some(marker),
            }),
            Err(error) => {
                let start = semicolon + 1;
                let at = self.inside(entry, filled, start + error.at.start..start + error.at.end);
                self.problems.push(
                    Problem::new(
                        format!("cannot read this marker: {}", error.message),
                        at,
                        "here",
                    )
                    .hint(error.hint),
                );
                None
            }
        }
    }

    /// Where `within` (byte offsets in the entry's `filled` text) stands in the file: inside
    /// the string when the file writes it as is (no escapes, no placeholders), else the whole
    /// entry.
    fn inside(&self, entry: &Spanned<String>, filled: &str, within: Range<usize>) -> Range<usize> {
        let span = entry.span();
        let written = self.source.get(span.clone()).unwrap_or_default();
        let plain =
            written.len() == filled.len() + 2 && written.get(1..written.len() - 1) == Some(filled);
        if plain && entry.get_ref() == filled {
            let start = span.start + 1 + within.start;
            start..(span.start + 1 + within.end.max(within.start + 1)).min(span.end - 1)
        } else {
            span
        }
    }

    fn commands(&mut self, run: &Spanned<Vec<Spanned<WireCommand>>>, shell: bool) -> Vec<Command> {
        if run.get_ref().is_empty() {
            self.problems.push(
                Problem::new(
                    format!("session `{}` has nothing to run", self.variant.base),
                    run.span(),
                    "empty",
                )
                .hint("add at least one command, such as `run = [\"pytest\"]`"),
            );
        }
        let mut commands = Vec::new();
        for entry in run.get_ref() {
            let (cmd, span, options) = match entry.get_ref() {
                WireCommand::Plain(cmd) => {
                    (cmd.clone(), entry.span(), Some(CommandOptions::default()))
                }
                WireCommand::Table(table) => (
                    table.cmd.get_ref().clone(),
                    table.cmd.span(),
                    self.command_options(table),
                ),
            };
            let template = self.template(&cmd, span, shell);
            if let (Some(template), Some(options)) = (template, options) {
                commands.push(Command { template, options });
            }
        }
        commands
    }

    /// The options of a command written as a table; `None` (and problems) when one is wrong.
    fn command_options(&mut self, table: &super::wire::WireCommandTable) -> Option<CommandOptions> {
        let before = self.problems.len();
        let mut env = BTreeMap::new();
        for (name, value) in &table.env {
            check_env_name(name, self.problems);
            if let Some(value) = self.fill(value, "env") {
                env.insert(name.get_ref().clone(), value);
            }
        }
        let success_codes = self.success_codes(table.success_codes.as_ref());
        let external = match table.external {
            Some(true) => External::Allowed,
            Some(false) | None => External::Checked,
        };
        (self.problems.len() == before).then_some(CommandOptions {
            external,
            env,
            success_codes,
        })
    }

    /// One command's template, placeholders filled; `None` (and a problem) when it is wrong.
    fn template(
        &mut self,
        cmd: &WireCmd,
        span: Range<usize>,
        shell: bool,
    ) -> Option<CommandTemplate> {
        let filled = match cmd {
            WireCmd::Line(line) => self
                .fill(&Spanned::new(span.clone(), line.clone()), "run")
                .map(WireCmd::Line),
            WireCmd::Argv(argv) => argv
                .iter()
                .map(|arg| self.fill(&Spanned::new(span.clone(), arg.clone()), "run"))
                .collect::<Option<Vec<String>>>()
                .map(WireCmd::Argv),
        }?;
        let parsed = match (&filled, shell) {
            (WireCmd::Line(line), _) if line.trim().is_empty() => {
                self.problems.push(
                    Problem::new("empty command", span, "here")
                        .hint("remove the entry or write the command"),
                );
                return None;
            }
            (WireCmd::Argv(argv), _) if argv.is_empty() => {
                self.problems.push(
                    Problem::new("empty command", span, "here")
                        .hint("an argv array needs at least the program"),
                );
                return None;
            }
            (WireCmd::Argv(_), true) => {
                self.problems.push(
                    Problem::new(
                        "an argv array cannot run with `shell = true`",
                        span,
                        "argv array",
                    )
                    .hint("write the command as one string for `sh -c`, or drop `shell = true`"),
                );
                return None;
            }
            (WireCmd::Line(line), true) => CommandTemplate::parse_shell(line),
            (WireCmd::Line(line), false) => CommandTemplate::parse_line(line),
            (WireCmd::Argv(argv), false) => CommandTemplate::parse_argv(argv),
        };
        match parsed {
            Ok(template) => Some(template),
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
                        span,
                        "this command",
                    )
                    .hint(hint),
                );
                None
            }
        }
    }
}

/// Where an `install` entry's marker starts: its first `;` outside quotes. After a URL
/// (`name @ https://...`), as PEP 508 says, only a `;` after whitespace: a URL may hold `;`.
fn marker_start(entry: &str) -> Option<usize> {
    let url = entry.contains('@');
    let mut quote = None;
    let mut after_space = false;
    for (at, c) in entry.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, ';') if !url || after_space => return Some(at),
            _ => {}
        }
        after_space = c.is_whitespace();
    }
    None
}

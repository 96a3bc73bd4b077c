//! A session's commands: their templates, `{posargs}` expansion, and the options of the
//! table form of `run` entries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::shell_words::{self, SplitError};

/// One entry of a session's `run`: what to run, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub template: CommandTemplate,
    pub options: CommandOptions,
}

/// What the table form of a `run` entry adds to a command; the default for a plain entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOptions {
    pub external: External,
    /// Merged over the session's environment, for this command only.
    pub env: BTreeMap<String, String>,
    /// Replaces the session's `success_codes` for this command (sorted).
    pub success_codes: Option<Vec<i32>>,
}

/// Whether a command of a session with a virtual environment may run a program found outside
/// it (nox's `external=True`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum External {
    /// A program found outside the environment is warned about, or refused with
    /// `--error-on-external-run`.
    #[default]
    Checked,
    /// `external = true`: the program may live anywhere.
    Allowed,
}

/// What becomes of a command whose program is found outside its session's virtual environment
/// (and that is not `external = true`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalRun {
    /// A warning, and the command runs (nox's default).
    #[default]
    Warn,
    /// The session fails before the command starts (`--error-on-external-run`, or
    /// `error_on_external_run = true` in `[settings]`).
    Fail,
}

impl ExternalRun {
    /// Whether this is the default (left out of keys, so that they stay as they were).
    pub fn is_default(&self) -> bool {
        *self == ExternalRun::default()
    }
}

/// What a command's options contribute to the cache key: values as digests, like `env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionsKey {
    pub external: bool,
    pub env: BTreeMap<String, Digest>,
    pub success_codes: Option<Vec<i32>>,
}

impl CommandOptions {
    /// The key's part of these options, `None` when they are the default (so that the keys
    /// of task files without the table form stay as they were).
    pub fn key(&self) -> Option<OptionsKey> {
        (*self != CommandOptions::default()).then(|| OptionsKey {
            external: self.external == External::Allowed,
            env: self
                .env
                .iter()
                .map(|(name, value)| (name.clone(), Digest::of_bytes(value.as_bytes())))
                .collect(),
            success_codes: self.success_codes.clone(),
        })
    }

    /// Whether `code` is a success for this command, given the session's codes.
    pub fn succeeds(&self, code: i32, session_codes: &[i32]) -> bool {
        self.success_codes
            .as_deref()
            .unwrap_or(session_codes)
            .contains(&code)
    }
}

/// One part of an argument: plain text, or the `{posargs}` placeholder with its default words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Posargs { default: Vec<String> },
}

/// One argument of a command, before expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgTemplate(Vec<Piece>);

/// One entry of a session's `run`, ready to be expanded with the command line's posargs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandTemplate {
    /// Run directly: `argv[0]` looked up on `PATH`.
    Argv(Vec<ArgTemplate>),
    /// Run as `sh -c LINE`.
    Shell(Vec<Piece>),
}

const SENTINEL: char = '\u{1}';

impl CommandTemplate {
    /// A command line split into words like a POSIX shell would.
    pub fn parse_line(line: &str) -> Result<CommandTemplate, SplitError> {
        let (masked, defaults) = mask_placeholders(line)?;
        let words = shell_words::split(&masked)?;
        Ok(CommandTemplate::Argv(
            words
                .iter()
                .map(|word| ArgTemplate(unmask(word, &defaults)))
                .collect(),
        ))
    }

    /// An argv array: each element is one argument.
    pub fn parse_argv(argv: &[String]) -> Result<CommandTemplate, SplitError> {
        let mut args = Vec::with_capacity(argv.len());
        for arg in argv {
            let (masked, defaults) = mask_placeholders(arg)?;
            args.push(ArgTemplate(unmask(&masked, &defaults)));
        }
        Ok(CommandTemplate::Argv(args))
    }

    /// A line for `sh -c`.
    pub fn parse_shell(line: &str) -> Result<CommandTemplate, SplitError> {
        let (masked, defaults) = mask_placeholders(line)?;
        Ok(CommandTemplate::Shell(unmask(&masked, &defaults)))
    }

    /// The argv to run: `{posargs}` as separate arguments when it stands alone, joined by spaces
    /// inside a longer argument, and shell-quoted in a `sh -c` line.
    pub fn expand(&self, posargs: &[String]) -> Vec<String> {
        match self {
            CommandTemplate::Argv(args) => {
                let mut argv = Vec::new();
                for ArgTemplate(pieces) in args {
                    if let [Piece::Posargs { default }] = pieces.as_slice() {
                        argv.extend(choose(posargs, default).iter().cloned());
                    } else {
                        argv.push(concat(pieces, posargs, |words| words.join(" ")));
                    }
                }
                argv
            }
            CommandTemplate::Shell(pieces) => {
                let line = concat(pieces, posargs, |words| {
                    words
                        .iter()
                        .map(|word| shell_words::quote(word))
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                vec!["sh".to_string(), "-c".to_string(), line]
            }
        }
    }
}

fn choose<'a>(posargs: &'a [String], default: &'a [String]) -> &'a [String] {
    if posargs.is_empty() { default } else { posargs }
}

fn concat(pieces: &[Piece], posargs: &[String], join: impl Fn(&[String]) -> String) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Posargs { default } => out.push_str(&join(choose(posargs, default))),
        }
    }
    out
}

/// Replace each `{posargs}` / `{posargs:DEFAULT}` with a sentinel, so that splitting the line
/// cannot cut a default apart; returns the default words of each placeholder in order.
fn mask_placeholders(line: &str) -> Result<(String, Vec<Vec<String>>), SplitError> {
    if line.contains(SENTINEL) {
        return Err(SplitError::ControlCharacter);
    }
    let mut masked = String::with_capacity(line.len());
    let mut defaults = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("{posargs") {
        let after = &rest[start + "{posargs".len()..];
        let (default, consumed) = if let Some(tail) = after.strip_prefix('}') {
            (String::new(), after.len() - tail.len())
        } else if let Some(tail) = after.strip_prefix(':') {
            match tail.find('}') {
                Some(end) => (tail[..end].to_string(), 1 + end + 1),
                None => {
                    masked.push_str(&rest[..start + "{posargs".len()]);
                    rest = after;
                    continue;
                }
            }
        } else {
            masked.push_str(&rest[..start + "{posargs".len()]);
            rest = after;
            continue;
        };
        masked.push_str(&rest[..start]);
        masked.push(SENTINEL);
        masked.push_str(&defaults.len().to_string());
        masked.push(SENTINEL);
        defaults.push(shell_words::split(&default)?);
        rest = &after[consumed..];
    }
    masked.push_str(rest);
    Ok((masked, defaults))
}

fn unmask(word: &str, defaults: &[Vec<String>]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (i, part) in word.split(SENTINEL).enumerate() {
        if i % 2 == 1 {
            let index: usize = part
                .parse()
                .expect("sentinels hold the index written above");
            pieces.push(Piece::Posargs {
                default: defaults[index].clone(),
            });
        } else if !part.is_empty() {
            pieces.push(Piece::Text(part.to_string()));
        }
    }
    if pieces.is_empty() {
        pieces.push(Piece::Text(String::new()));
    }
    pieces
}

/// A command as a person would type it, for logs and messages.
pub fn display(argv: &[String]) -> String {
    argv.iter()
        .map(|word| shell_words::quote(word))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn posargs_expand_as_separate_arguments() {
        let command = CommandTemplate::parse_line("pytest {posargs} -q").unwrap();
        assert_eq!(command.expand(&[]), args(&["pytest", "-q"]));
        assert_eq!(
            command.expand(&args(&["-k", "a b"])),
            args(&["pytest", "-k", "a b", "-q"])
        );
    }

    #[test]
    fn posargs_defaults_apply_when_none_are_given() {
        let command = CommandTemplate::parse_line("pytest {posargs:-x 'tests/a b.py'}").unwrap();
        assert_eq!(command.expand(&[]), args(&["pytest", "-x", "tests/a b.py"]));
        assert_eq!(command.expand(&args(&["-v"])), args(&["pytest", "-v"]));
    }

    #[test]
    fn posargs_inside_a_word_are_joined() {
        let command = CommandTemplate::parse_line("echo --args={posargs}").unwrap();
        assert_eq!(
            command.expand(&args(&["a", "b"])),
            args(&["echo", "--args=a b"])
        );
        let argv =
            CommandTemplate::parse_argv(&args(&["echo", "{posargs}", "x{posargs}"])).unwrap();
        assert_eq!(
            argv.expand(&args(&["1", "2"])),
            args(&["echo", "1", "2", "x1 2"])
        );
    }

    #[test]
    fn shell_lines_quote_posargs() {
        let command = CommandTemplate::parse_shell("echo {posargs} | wc -c").unwrap();
        assert_eq!(
            command.expand(&args(&["it's"])),
            args(&["sh", "-c", r"echo 'it'\''s' | wc -c"])
        );
    }

    #[test]
    fn control_characters_are_refused_not_misread() {
        assert_eq!(
            CommandTemplate::parse_line("echo \u{1}0\u{1}"),
            Err(SplitError::ControlCharacter)
        );
        assert!(CommandTemplate::parse_argv(&args(&["x\u{1}y\u{1}"])).is_err());
    }

    #[test]
    fn other_braces_are_left_alone() {
        let command = CommandTemplate::parse_line("python -c 'print({})' {posargsx}").unwrap();
        assert_eq!(
            command.expand(&[]),
            args(&["python", "-c", "print({})", "{posargsx}"])
        );
    }
}

//! rtask: a task runner for Python projects and beyond, with a content-addressed output cache.
//!
//! The data flows through the modules in this order: `tasks.toml` is read ([`taskfile`]) into a
//! validated [`project`]; the command line picks sessions ([`select`]) and the [`graph`] pulls
//! in what they require; each session's inputs are hashed ([`fingerprint`]) into a [`key`];
//! the [`plan`] decides, once per session, whether to restore it from the [`cache`], run it
//! (and why), skip it or fail it; [`exec`] acts on that decision under the project's run
//! [`lock`], and `--dry-run` ([`dry_run`]) and `--list` render it; the [`ui`] words it all
//! through the [`reporter`] interface. A [`remote`] cache, when one is set, backs the local one. [`protected`] names the places rtask keeps to itself.
//! `rtask cache export|import` ([`cache_command`]) carries entries between machines as bundles;
//! `rtask cache stats|prune` counts the cache and keeps it bounded. `rtask schema` ([`schema`])
//! prints the JSON Schema of `tasks.toml`, generated from the [`taskfile`]'s wire types.
//! `rtask completions SHELL` ([`completions`]) prints a shell's completion script, which asks
//! rtask for the task file's session names and tags.

mod app;
mod cache;
mod cache_command;
mod cli;
mod command;
mod completions;
mod digest;
mod dry_run;
mod environment;
mod error;
mod exec;
mod exit;
mod failure;
mod file_stat;
mod fingerprint;
mod graph;
mod init;
mod key;
mod keywords;
mod list;
mod lock;
mod patterns;
mod plan;
mod project;
mod protected;
mod python;
mod relpath;
mod remote;
mod replay;
mod report;
mod reporter;
mod schema;
mod select;
mod shell_words;
mod spool;
mod suggest;
mod taskfile;
mod ui;
mod variant;

use std::io::Write;
use std::process::ExitCode;

use crate::environment::Environment;
use crate::error::Error;
use crate::exit::Exit;

/// Run rtask with the process's arguments and environment.
pub fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os()) {
        Ok(command) => command,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            }
            .into();
        }
    };
    let color = match &command {
        cli::Command::Run(args) => args.color,
        cli::Command::Cache(args) => args.color,
        cli::Command::Init(_) => cli::ColorChoice::Auto,
        cli::Command::Schema(_) => cli::ColorChoice::Never,
        cli::Command::Completions(_) | cli::Command::CompleteNames(_) => cli::ColorChoice::Never,
        cli::Command::Watchdog => cli::ColorChoice::Never,
    };
    let environment = match Environment::capture() {
        Ok(environment) => environment,
        Err(error) => return report(&Error::CurrentDir(error), false).into(),
    };
    let use_color = app::use_color(color, &environment);
    let result = match command {
        cli::Command::Run(args) => app::run(*args, environment),
        cli::Command::Cache(args) => cache_command::run(args, environment),
        cli::Command::Init(args) => init::run(&args, &environment).map_err(Error::Init),
        cli::Command::Schema(_) => schema::run(),
        cli::Command::Completions(args) => completions::run(&args),
        cli::Command::CompleteNames(args) => completions::names(&args, &environment),
        cli::Command::Watchdog => Ok(exec::watchdog::serve()),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(error) => report(&error, use_color).into(),
    }
}

fn report(error: &Error, color: bool) -> Exit {
    let text = match error {
        Error::TaskFile(task_file) => task_file.render(color),
        error => {
            let painter = ui::style::Painter { color };
            let mut text = format!(
                "{} {error}\n",
                painter.paint(ui::style::Style::Red, "error:")
            );
            if let Some(hint) = error.hint() {
                text.push_str(&format!(
                    "  {} {hint}\n",
                    painter.paint(ui::style::Style::Bold, "hint:")
                ));
            }
            text
        }
    };
    // A closed stderr (`2>&1 | head -1`) must not turn an error into a panic.
    let _ = std::io::stderr().write_all(text.as_bytes());
    error.exit()
}

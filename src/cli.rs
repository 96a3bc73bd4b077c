//! The command line, as clap parses it: running sessions, or `rtask cache ...`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// What an invocation of rtask does.
#[derive(Debug)]
pub enum Command {
    /// Run (or list, or explain) sessions.
    Run(Box<Args>),
    /// `rtask cache ...`: work on the cache itself.
    Cache(CacheArgs),
    /// `rtask init ...`: write a `tasks.toml`.
    Init(InitArgs),
    /// `rtask schema`: print the JSON Schema of `tasks.toml`.
    Schema(SchemaArgs),
    /// `rtask completions SHELL`: print a shell's completion script.
    Completions(CompletionsArgs),
    /// Internal: print the session names or tags of the task file, for the completion scripts.
    CompleteNames(CompleteNamesArgs),
    /// Internal: be the watchdog of the rtask that started this one (`exec::watchdog`).
    Watchdog,
}

/// The word that starts the cache commands when it is the first argument; a session named so
/// runs with `-s cache`.
const CACHE: &str = "cache";

/// The word that starts `rtask init`; a session named so runs with `-s init`.
const INIT: &str = "init";

/// The word that starts `rtask schema`; a session named so runs with `-s schema`.
const SCHEMA: &str = "schema";

/// The word that starts `rtask completions`; a session named so runs with `-s completions`.
const COMPLETIONS: &str = "completions";

/// The hidden first argument with which the completion scripts ask for names
/// (`crate::completions`).
const COMPLETE_NAMES: &str = "--complete-names";

/// nox's two-letter short flag for `--add-timestamp`, which clap cannot declare: before `--`
/// it means that, not `-t s` (write `-t s` or `--tag s` for a tag named `s`).
const ADD_TIMESTAMP_SHORT: &str = "-ts";

/// Parse the command line: `rtask cache ...`, `rtask init ...`, `rtask schema` or
/// `rtask completions ...` when the first argument is one of these words, otherwise a run
/// (with nox's `-ts` read as `--add-timestamp`, and `-s` names split at commas outside
/// parentheses).
pub fn parse(arguments: impl IntoIterator<Item = OsString>) -> Result<Command, clap::Error> {
    let mut arguments: Vec<OsString> = arguments.into_iter().collect();
    if arguments.len() == 2 && arguments[1] == crate::exec::watchdog::ARGUMENT {
        return Ok(Command::Watchdog);
    }
    if arguments.get(1).is_some_and(|first| first == CACHE) {
        arguments.remove(0);
        return CacheArgs::try_parse_from(arguments).map(Command::Cache);
    }
    if arguments.get(1).is_some_and(|first| first == INIT) {
        arguments.remove(0);
        return InitArgs::try_parse_from(arguments).map(Command::Init);
    }
    if arguments.get(1).is_some_and(|first| first == SCHEMA) {
        arguments.remove(0);
        return SchemaArgs::try_parse_from(arguments).map(Command::Schema);
    }
    if arguments.get(1).is_some_and(|first| first == COMPLETIONS) {
        arguments.remove(0);
        return CompletionsArgs::try_parse_from(arguments).map(Command::Completions);
    }
    if arguments
        .get(1)
        .is_some_and(|first| first == COMPLETE_NAMES)
    {
        arguments.remove(0);
        return CompleteNamesArgs::try_parse_from(arguments).map(Command::CompleteNames);
    }
    for argument in arguments.iter_mut().skip(1) {
        if argument == "--" {
            break;
        }
        if argument == ADD_TIMESTAMP_SHORT {
            *argument = OsString::from("--add-timestamp");
        }
    }
    let mut args = Args::try_parse_from(arguments)?;
    args.session = split_names(&args.session);
    args.restore_only = split_names(&args.restore_only);
    Ok(Command::Run(Box::new(args)))
}

// The help pages. Examples sit in the templates, after the options, because clap prints a
// template's own text as written: in `about` or `after_help` it would reflow them to the
// terminal's width. They show on `-h` and `--help` alike.

const RUN_HELP: &str = "\
{about-with-newline}
{usage-heading} {usage}

{all-args}

Examples:
  rtask                      run the default sessions
  rtask unit_tests           run `unit_tests` (and what it requires)
  rtask -t test -j 4         run every session tagged `test`, four at a time
  rtask unit_tests -- -k db  pass `-k db` to the session's `{posargs}`
  rtask --dry-run            say what would run or be restored, and why
  rtask init --from-nox      convert `noxfile.py` into a `tasks.toml` (`rtask init --help`)
  rtask completions bash     print the shell's completion script (`rtask completions --help`)

Cache bundles, to carry results between CI jobs without a server (`rtask cache --help`):
  rtask cache export -o FILE [SESSION]...  write their cached results to FILE
  rtask cache import FILE                  add a bundle's results to this cache

The first word `cache`, `init`, `schema` or `completions` starts that command; a session
named so runs with `-s NAME`.
";

const CACHE_HELP: &str = "\
{about-with-newline}
{usage-heading} {usage}

{all-args}

Examples:
  rtask cache export -o rtask-cache.tar.zst          the default sessions' results
  rtask cache export -o tests.tar.zst unit_tests     `unit_tests` and what it requires
  rtask cache import rtask-cache.tar.zst
  rtask cache stats                                  entries and sizes, by session
  rtask cache prune --max-size 5GiB                  least recently used entries first
  rtask cache prune --older-than 30d                 entries unused for 30 days

With `RTASK_CACHE_SIGNING_KEY` set, export signs each entry and import refuses entries not
signed with that key. A session named `cache` runs with `rtask -s cache`.
";

const INIT_HELP: &str = "\
{about-with-newline}
{usage-heading} {usage}

{all-args}

Examples:
  rtask init                       a starter `tasks.toml` in the current directory
  rtask init --from-nox            convert `noxfile.py` (nox need not be installed)
  rtask init --from-nox ci/nox.py  convert another noxfile; `tasks.toml` goes beside it

A session named `init` runs with `rtask -s init`.
";

const COMPLETIONS_HELP: &str = "\
{about-with-newline}
{usage-heading} {usage}

{all-args}

Examples:
  rtask completions bash > ~/.local/share/bash-completion/completions/rtask
  rtask completions zsh > ~/.zfunc/_rtask      (with `fpath+=~/.zfunc` before `compinit`)
  rtask completions fish > ~/.config/fish/completions/rtask.fish

powershell and elvish complete options and commands only. A session named `completions`
runs with `rtask -s completions`.
";

const SCHEMA_HELP: &str = "\
{about-with-newline}
{usage-heading} {usage}

{all-args}

Example:
  rtask schema > tasks-toml.schema.json

A session named `schema` runs with `rtask -s schema`.
";

/// `-s a,b` as two names, but `-s "tests(n=2, lite)"` as one: commas inside parentheses or
/// quotes belong to a parametrized session's name.
fn split_names(values: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for value in values {
        let (mut depth, mut quote, mut start) = (0_usize, None, 0);
        for (at, c) in value.char_indices() {
            match (quote, c) {
                (Some(open), _) if c == open => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => depth += 1,
                (None, ')') => depth = depth.saturating_sub(1),
                (None, ',') if depth == 0 => {
                    names.push(value[start..at].to_string());
                    start = at + 1;
                }
                _ => {}
            }
        }
        names.push(value[start..].to_string());
    }
    names.retain(|name| !name.is_empty());
    names
}

/// Run the sessions of a `tasks.toml`, reusing cached results when nothing they depend on changed.
#[derive(Debug, Parser)]
#[command(name = "rtask", version, about, long_about, max_term_width = 100)]
#[command(help_template = RUN_HELP)]
#[command(group(clap::ArgGroup::new("json_mode").args(["list", "dry_run"]).multiple(true)))]
pub struct Args {
    /// Sessions to run (with the sessions they require)
    #[arg(value_name = "SESSION")]
    pub sessions: Vec<String>,

    /// Arguments for `{posargs}` in the sessions' commands
    #[arg(last = true, value_name = "POSARGS")]
    pub posargs: Vec<String>,

    /// The task file to use instead of searching upward for `tasks.toml`
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// List the sessions and exit
    #[arg(short = 'l', long = "list")]
    pub list: bool,

    /// With `--list` or `--dry-run`: print JSON
    #[arg(long, requires = "json_mode")]
    pub json: bool,

    /// Sessions to run (may be repeated, or separated by commas)
    #[arg(
        short = 's',
        long = "session",
        visible_short_alias = 'e',
        value_name = "SESSION"
    )]
    pub session: Vec<String>,

    /// Run the sessions that carry any of these tags
    #[arg(
        short = 't',
        long = "tag",
        visible_alias = "tags",
        value_name = "TAG",
        value_delimiter = ','
    )]
    pub tags: Vec<String>,

    /// Only sessions whose names match a keyword expression, as in nox: substrings joined
    /// with `and`, `or`, `not` and parentheses (`-k "tests and not 3.11"`)
    #[arg(short = 'k', long = "keywords", value_name = "EXPR")]
    pub keywords: Option<String>,

    /// Only sessions for these Python versions
    #[arg(
        short = 'p',
        long = "python",
        visible_alias = "pythons",
        value_name = "VERSION",
        value_delimiter = ','
    )]
    pub python: Vec<String>,

    /// Run every session that has a Python version with VERSION instead (as nox: `-p VERSION`
    /// plus VERSION added to each session's versions; it replaces `-p`'s versions)
    #[arg(
        short = 'P',
        long = "force-python",
        visible_alias = "force-pythons",
        value_name = "VERSION",
        value_parser = python_version
    )]
    pub force_python: Option<String>,

    /// Recreate the sessions' virtual environments even when they are up to date (`--reuse-venv never`)
    #[arg(long, conflicts_with_all = ["reuse_venv", "reuse_existing", "no_reuse_existing"])]
    pub reinstall: bool,

    /// Keep (`yes`, the default; `always`, even for `reuse_venv = false`) or remake (`no`; `never`, even for `reuse_venv = true`) up-to-date environments; stale ones are always remade
    #[arg(long, value_name = "WHEN", conflicts_with_all = ["reuse_existing", "no_reuse_existing"])]
    pub reuse_venv: Option<crate::python::ReuseVenv>,

    /// `--reuse-venv yes`, as nox's flag (rtask's default)
    #[arg(
        short = 'r',
        long = "reuse-existing-virtualenvs",
        conflicts_with = "no_reuse_existing"
    )]
    pub reuse_existing: bool,

    /// `--reuse-venv no`, as nox's flag
    #[arg(short = 'N', long = "no-reuse-existing-virtualenvs")]
    pub no_reuse_existing: bool,

    /// Where the sessions' environments live, relative to the project root (as `[settings] envdir`)
    #[arg(long, value_name = "DIR")]
    pub envdir: Option<PathBuf>,

    /// Use the environments that exist as they are, without installing (a missing one is made);
    /// a session whose environment is not up to date runs, and its result is not stored
    #[arg(long, conflicts_with = "reinstall")]
    pub no_install: bool,

    /// `-r --no-install`: keep environments, install nothing into those that exist
    #[arg(short = 'R', conflicts_with_all = ["reinstall", "no_reuse_existing", "reuse_venv"])]
    pub reuse_no_install: bool,

    /// Make or update the environments of the selected sessions, and run no command (nothing
    /// is restored or stored)
    #[arg(long, conflicts_with_all = ["no_install", "reuse_no_install", "no_venv", "dry_run", "list", "restore_only"])]
    pub install_only: bool,

    /// Run sessions on the host, without their virtual environments (`install` is skipped);
    /// such sessions are neither restored nor stored
    #[arg(long, conflicts_with_all = ["no_install", "reuse_no_install", "reinstall"])]
    pub no_venv: bool,

    /// Prefix rtask's own lines (not the commands' output) with the time (UTC); `-ts` as in nox
    #[arg(long)]
    pub add_timestamp: bool,

    /// Fail, not skip, a session whose Python interpreter is missing (the default when `CI` is set)
    #[arg(long)]
    pub error_on_missing_interpreters: bool,

    /// Fail a session whose command runs a program found outside its virtual environment
    /// (unless the command is marked `external = true`); without it, a warning
    #[arg(long)]
    pub error_on_external_run: bool,

    /// Write a JSON report of the run, in nox's shape, to FILE
    #[arg(long, value_name = "FILE", conflicts_with_all = ["list", "dry_run"])]
    pub report: Option<PathBuf>,

    /// How many sessions may run at once [default: the number of CPUs]
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// Stop starting sessions after the first failure
    #[arg(short = 'x', long = "stop-on-first-error")]
    pub stop_on_first_error: bool,

    /// Run sessions even when the cache has their result (the result is still stored)
    #[arg(long, conflicts_with = "no_cache")]
    pub force: bool,

    /// Neither read nor write the cache
    #[arg(long)]
    pub no_cache: bool,

    /// Restore this session from the cache, never run it: exit 4 when it has no entry (may be
    /// repeated, or separated by commas; the session is selected too)
    #[arg(
        long,
        value_name = "SESSION",
        conflicts_with_all = ["force", "no_cache"]
    )]
    pub restore_only: Vec<String>,
    /// A remote cache to read (after the local one) and to upload results to:
    /// `http(s)://[user:pass@]HOST[:PORT]/PREFIX` (Bazel HTTP cache) or `s3://BUCKET/PREFIX`
    /// [env: RTASK_REMOTE_CACHE]
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,

    /// Read the remote cache, never upload to it [env: RTASK_REMOTE_READ_ONLY=1]
    #[arg(long)]
    pub remote_read_only: bool,

    /// Say, for each selected session, whether it would run or be restored, and why
    #[arg(long)]
    pub dry_run: bool,

    /// Print more: cache keys, what was restored, why a session missed
    #[arg(short = 'v', long, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print only failures and their output
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// How much of a cache hit's stored log to show [default: `replay` of `[settings]`, else
    /// full]
    #[arg(long, value_enum, value_name = "WHAT")]
    pub replay: Option<crate::replay::ReplayMode>,

    /// When to use colours
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// A Python version as `python` in tasks.toml takes it: `3.12`, `3.11.7`.
fn python_version(text: &str) -> Result<String, String> {
    if crate::variant::valid_version(text) {
        Ok(text.to_string())
    } else {
        Err("write a version such as `3.12` or `3.11.7`".to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Carry cached results between machines without a server, and keep the cache bounded
///
/// `export` writes the entries of sessions at their current keys to a bundle file; `import`
/// adds a bundle's entries to this project's cache, checking each. `stats` says what the
/// cache holds; `prune` removes the entries used least recently.
#[derive(Debug, Parser)]
#[command(name = "rtask cache", bin_name = "rtask cache", version)]
#[command(max_term_width = 100, help_template = CACHE_HELP)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,

    /// The task file to use instead of searching upward for `tasks.toml`
    #[arg(short = 'f', long = "file", value_name = "PATH", global = true)]
    pub file: Option<PathBuf>,

    /// When to use colours
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN", global = true)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Write the cached results of sessions (with those they require), at their current keys,
    /// to a bundle
    Export(ExportArgs),
    /// Add the entries of a bundle to this project's cache, checking each
    Import(ImportArgs),
    /// Say what the cache holds: entries, bytes, and by session their last use
    Stats(StatsArgs),
    /// Remove the entries used least recently until the cache fits a size, or those unused
    /// for a while, then the stored files no entry refers to any more
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove the least recently used entries until the cache holds at most SIZE: `500MB`,
    /// `5GiB`, `0` [default: `cache_max_size` of `[settings]`, or `RTASK_CACHE_MAX_SIZE`]
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub max_size: Option<String>,

    /// Remove the entries not used for longer than DURATION: `90m`, `12h`, `30d`
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub older_than: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Sessions whose results to export, with those they require [default: the default
    /// sessions]
    #[arg(value_name = "SESSION")]
    pub sessions: Vec<String>,

    /// The bundle to write (a zstd-compressed tar file)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,

    /// Export the results that are cached even when some session's is not
    #[arg(long)]
    pub allow_missing: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The bundles to read, as `rtask cache export` wrote them
    #[arg(value_name = "FILE", required = true)]
    pub bundles: Vec<PathBuf>,
}

/// Write a `tasks.toml`: a commented starter, or one converted from a noxfile
///
/// The noxfile runs under `python3` from `PATH` with a stand-in `nox` that records what each
/// session does; what cannot be translated is marked with a comment in the file written.
#[derive(Debug, Parser)]
#[command(
    name = "rtask init",
    bin_name = "rtask init",
    version,
    max_term_width = 100,
    help_template = INIT_HELP
)]
pub struct InitArgs {
    /// Convert this noxfile [default when given without a value: noxfile.py]
    #[arg(long, value_name = "NOXFILE", num_args = 0..=1, default_missing_value = "noxfile.py")]
    pub from_nox: Option<PathBuf>,

    /// Replace an existing `tasks.toml`
    #[arg(long)]
    pub force: bool,
}

/// Print the JSON Schema of `tasks.toml`, for editors that check and complete TOML files
///
/// The schema is generated from the types rtask reads `tasks.toml` into; it checks the shape
/// of the file (keys, types), not what only a run can see (unknown sessions, cycles, paths).
/// See "Editor support" in docs/tasks-toml.md.
#[derive(Debug, Parser)]
#[command(
    name = "rtask schema",
    bin_name = "rtask schema",
    version,
    max_term_width = 100,
    help_template = SCHEMA_HELP
)]
pub struct SchemaArgs {}

/// Print a shell's completion script, which completes options, commands and (bash, zsh, fish)
/// the sessions and tags of the task file found from the current directory
#[derive(Debug, Parser)]
#[command(
    name = "rtask completions",
    bin_name = "rtask completions",
    version,
    max_term_width = 100,
    help_template = COMPLETIONS_HELP
)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// What the completion scripts ask for: the session names or the tags of the task file.
#[derive(Debug, Parser)]
#[command(name = "rtask --complete-names", bin_name = "rtask --complete-names")]
pub struct CompleteNamesArgs {
    /// Which names to print
    pub kind: NameKind,

    /// The task file to read instead of searching upward for `tasks.toml`
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
}

/// Which names `--complete-names` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NameKind {
    /// Session names: each session's, and each parametrized session's base name.
    Sessions,
    /// The tags sessions carry.
    Tags,
}

/// The whole command line as one clap command, for the completion scripts: the run's options
/// and the first-word commands as subcommands.
pub(crate) fn completion_command() -> clap::Command {
    use clap::CommandFactory;
    Args::command()
        .disable_help_subcommand(true)
        .subcommand(CacheArgs::command().name(CACHE))
        .subcommand(InitArgs::command().name(INIT))
        .subcommand(SchemaArgs::command().name(SCHEMA))
        .subcommand(CompletionsArgs::command().name(COMPLETIONS))
}

impl Args {
    /// The one `--reuse-venv` decision the reuse flags make (clap refuses two of them).
    pub fn reuse(&self) -> crate::python::ReuseVenv {
        use crate::python::ReuseVenv;
        match self.reuse_venv {
            Some(reuse) => reuse,
            None if self.reinstall => ReuseVenv::Never,
            None if self.no_reuse_existing => ReuseVenv::No,
            None => ReuseVenv::Yes,
        }
    }
}

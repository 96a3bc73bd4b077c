//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Run the sessions of a `tasks.toml`, reusing cached results when nothing they depend on changed.
///
/// Examples:
///
///   rtask                      run the default sessions
///   rtask unit_tests           run `unit_tests` (and what it requires)
///   rtask -t test -j 4         run every session tagged `test`, four at a time
///   rtask unit_tests -- -k db  pass `-k db` to the session's `{posargs}`
///   rtask --dry-run            say what would run or be restored, and why
#[derive(Debug, Parser)]
#[command(name = "rtask", version, about, long_about, max_term_width = 100)]
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
        value_name = "SESSION",
        value_delimiter = ','
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

    /// Recreate the sessions' virtual environments even when they are up to date
    #[arg(long)]
    pub reinstall: bool,

    /// Fail, not skip, a session whose Python interpreter is missing (the default when `CI` is set)
    #[arg(long)]
    pub error_on_missing_interpreters: bool,

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
        value_delimiter = ',',
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

    /// When to use colours
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

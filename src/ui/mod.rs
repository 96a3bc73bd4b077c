//! What the user sees while sessions run: headers, live or grouped output, warnings.
//!
//! Session output goes to stdout, rtask's own lines to stderr. Output is written as it was
//! printed, byte for byte (a log replayed from the cache with a gutter before each line, see
//! [`replay`]): when it ends without a newline, the line is ended on stderr before
//! rtask's next line (under GitHub Actions on stdout, where the group markers go). Blocks are
//! streamed from a [`Spool`] or from the store, never held whole in memory. A session that starts while no
//! other runs streams live; sessions that run side by side are buffered and shown as one block
//! each when they finish (held back while a live session streams, so blocks never cut into it).
//! On a terminal an indicatif spinner shows each running session; under GitHub Actions (or
//! Forgejo) each session's output is folded into a `::group::`.

mod replay;
pub mod style;
pub mod summary;
pub mod words;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use self::replay::{Gutter, Shown};
use self::style::{Painter, Style};
use crate::cache::blob::BlobReader;
use crate::cache::manifest::Manifest;
use crate::cache::restore::Restored;
use crate::lock::Holder;
use crate::plan::reason::RunReason;
use crate::python::uv::BrokenUv;
use crate::python::venv;
use crate::replay::ReplayMode;
use crate::reporter::{EnvironmentMade, Outcome, RemoteEvent, RemoteReporter, Reporter, Warning};
use crate::spool::Spool;

/// The most of a live session's unfinished line held back while spinners are drawn: a longer
/// line is written as it comes.
const LONGEST_HELD_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct UiOptions {
    pub painter: Painter,
    pub verbosity: Verbosity,
    /// Spinners on a terminal.
    pub progress: bool,
    /// `::group::` folding for GitHub Actions and Forgejo.
    pub github: bool,
    /// Whether rtask's own lines start with the time (`--add-timestamp`).
    pub timestamps: Timestamps,
    /// How much of a cache hit's log is shown (`--replay`, `[settings] replay`).
    pub replay: ReplayMode,
    /// Colours on stdout, where session output goes: the replay gutter.
    pub output_painter: Painter,
}

/// Whether rtask's own lines (never the commands' output) start with the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamps {
    Off,
    /// `[2026-12-01T09:30:01Z]`: UTC, as the clock reads when the line is written.
    Utc,
}

pub struct Ui {
    options: UiOptions,
    progress: Option<MultiProgress>,
    state: Mutex<State>,
    /// Session output on stdout ends in the middle of a line.
    open_line: AtomicBool,
}

#[derive(Default)]
struct State {
    running: usize,
    live: Option<String>,
    /// The live session's unfinished last line, held back while spinners are drawn so that
    /// they never land in the middle of a line.
    partial: Vec<u8>,
    buffers: HashMap<String, Block>,
    bars: HashMap<String, ProgressBar>,
    /// What is held back while a live session streams.
    pending: Vec<Held>,
}

/// Something held back while a live session streams.
enum Held {
    Block(Block),
    Line(String),
}

/// Something to print in one go: a header line, output, a closing line.
struct Block {
    header: String,
    output: Body,
    footer: Option<String>,
    /// Whether its output is a replayed log, each line behind the gutter.
    replayed: Replayed,
}

/// Whether a block's output is live or replayed from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replayed {
    No,
    Yes,
}

/// Where a block's output is.
enum Body {
    Spool(Spool),
    /// A restored entry's log, read from the store as it is shown.
    Stored(BlobReader),
}

impl Ui {
    pub fn new(options: UiOptions) -> Ui {
        let progress = options
            .progress
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Ui {
            options,
            progress,
            state: Mutex::new(State::default()),
            open_line: AtomicBool::new(false),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Run `print` with the spinners out of the way.
    fn print(&self, print: impl FnOnce()) {
        match &self.progress {
            Some(progress) => progress.suspend(print),
            None => print(),
        }
    }

    /// End the line session output left open, before a line of rtask's own: on stderr, so
    /// that stdout holds exactly what the session printed; under GitHub Actions on stdout,
    /// where the group markers must start a line.
    fn end_open_line(&self) {
        if !self.open_line.swap(false, Ordering::SeqCst) {
            return;
        }
        if self.options.github {
            let mut stdout = io::stdout().lock();
            let _ = stdout.write_all(b"\n");
            let _ = stdout.flush();
        } else {
            let mut stderr = io::stderr().lock();
            let _ = stderr.write_all(b"\n");
            let _ = stderr.flush();
        }
    }

    /// A line of rtask's own, on stderr.
    pub fn line(&self, text: &str) {
        self.print(|| self.line_now(text));
    }

    // The `*_now` functions write with the spinners already out of the way: what must not be
    // cut by a redrawn spinner (output, the end of its line, a footer) is written in one go.

    /// `text` with the time before it, with `--add-timestamp`.
    fn stamped(&self, text: &str) -> String {
        match self.options.timestamps {
            Timestamps::Off => text.to_string(),
            Timestamps::Utc => format!("{} {text}", style::utc(std::time::SystemTime::now())),
        }
    }

    fn line_now(&self, text: &str) {
        self.end_open_line();
        let mut stderr = io::stderr().lock();
        let _ = writeln!(stderr, "{}", self.stamped(text));
        let _ = stderr.flush();
    }

    fn open(&self, header: &str) {
        self.print(|| self.open_now(header));
    }

    fn open_now(&self, header: &str) {
        self.end_open_line();
        if self.options.github {
            let mut stdout = io::stdout().lock();
            let _ = writeln!(stdout, "::group::{header}");
            let _ = stdout.flush();
        } else {
            let mut stderr = io::stderr().lock();
            let _ = writeln!(
                stderr,
                "{}",
                self.stamped(&self.options.painter.paint(Style::Bold, header))
            );
            let _ = stderr.flush();
        }
    }

    fn write_output(&self, bytes: &[u8]) {
        self.print(|| self.write_now(bytes));
    }

    fn write_now(&self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else {
            return;
        };
        let mut stdout = io::stdout().lock();
        let _ = stdout.write_all(bytes);
        let _ = stdout.flush();
        self.open_line.store(last != b'\n', Ordering::SeqCst);
    }

    /// Copy a block's output to stdout as it is read, a replayed log behind the gutter.
    fn stream_now(&self, output: &mut dyn Read, replayed: Replayed) {
        let mut stdout = io::stdout().lock();
        let mut buffer = vec![0; 256 * 1024];
        let mut gutter = Gutter::new(self.options.output_painter);
        loop {
            let read = match output.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let written = match replayed {
                Replayed::No => stdout.write_all(&buffer[..read]),
                Replayed::Yes => gutter.write(&mut stdout, &buffer[..read]),
            };
            if written.is_err() {
                break;
            }
            self.open_line
                .store(buffer[read - 1] != b'\n', Ordering::SeqCst);
        }
        if replayed == Replayed::Yes {
            let _ = gutter.finish(&mut stdout);
        }
        let _ = stdout.flush();
    }

    fn close_now(&self, footer: Option<&str>) {
        if self.options.github {
            self.end_open_line();
            let mut stdout = io::stdout().lock();
            let _ = writeln!(stdout, "::endgroup::");
            let _ = stdout.flush();
        }
        if let Some(footer) = footer {
            self.line_now(footer);
        }
    }

    fn show(&self, block: Block) {
        let Block {
            header,
            output,
            footer,
            replayed,
        } = block;
        self.print(|| {
            self.open_now(&header);
            match output {
                Body::Spool(mut spool) => {
                    if let Ok(mut reader) = spool.reader() {
                        self.stream_now(&mut reader, replayed);
                    }
                }
                Body::Stored(mut reader) => self.stream_now(&mut reader, replayed),
            }
            self.close_now(footer.as_deref());
        });
    }

    /// Show a block now, or after the live session when one streams.
    fn show_or_hold(&self, state: &mut State, mut block: Block) {
        if state.live.is_some() {
            // Many may wait: a stored log is copied, so that each does not keep a file open.
            if let Body::Stored(mut reader) = block.output {
                let mut spool = Spool::new();
                let _ = io::copy(&mut reader, &mut spool);
                block.output = Body::Spool(spool);
            }
            state.pending.push(Held::Block(block));
        } else {
            self.show(block);
        }
    }

    /// Print a line of rtask's own now, or after the live session when one streams.
    fn line_or_hold(&self, state: &mut State, line: String) {
        if state.live.is_some() {
            state.pending.push(Held::Line(line));
        } else {
            self.line(&line);
        }
    }

    fn run_header(&self, session: &str, reasons: &[RunReason]) -> String {
        let why = match reasons {
            [RunReason::NotCacheable] => String::new(),
            [RunReason::NoEntry] => " (no cache entry)".to_string(),
            [RunReason::EntryUnusable(_)] => " (cache entry unusable)".to_string(),
            [RunReason::RestoreBlocked { .. }] => {
                " (cache entry cannot be restored here)".to_string()
            }
            [only] => format!(" ({})", words::run_reason(only)),
            [first, rest @ ..] if self.options.verbosity < Verbosity::Verbose => {
                format!(" ({}, and {} more)", words::run_reason(first), rest.len())
            }
            all => {
                let all: Vec<String> = all.iter().map(words::run_reason).collect();
                format!(" ({})", words::listed(&all).join("; "))
            }
        };
        format!("{session}: running{why}")
    }

    fn footer(&self, session: &str, outcome: &Outcome) -> String {
        let painter = self.options.painter;
        match outcome {
            Outcome::Ran { took } => format!(
                "{session}: {} in {}",
                painter.paint(Style::Green, "ran"),
                style::took(took)
            ),
            Outcome::Installed { duration } => format!(
                "{session}: {} in {} (--install-only)",
                painter.paint(Style::Green, "installed"),
                style::duration(*duration)
            ),
            Outcome::Failed { took, error } => {
                let mut text = format!(
                    "{session}: {} in {}: {error}",
                    painter.paint(Style::Red, "failed"),
                    style::took(took)
                );
                for detail in words::failure_details(error) {
                    text.push_str(&format!("\n  - {detail}"));
                }
                if let Some(hint) = error.hint() {
                    text.push_str(&format!(
                        "\n  {} {hint}",
                        painter.paint(Style::Bold, "hint:")
                    ));
                }
                text
            }
            Outcome::Interrupted { took } => format!(
                "{session}: {} after {}",
                painter.paint(Style::Yellow, "interrupted"),
                style::took(took)
            ),
            Outcome::Skipped { reason } => format!(
                "{session}: {} ({})",
                painter.paint(Style::Yellow, "skipped"),
                words::skip(reason)
            ),
            Outcome::Cached { .. } | Outcome::Aborted { .. } => String::new(),
        }
    }

    fn spinner(&self, session: &str) -> Option<ProgressBar> {
        let progress = self.progress.as_ref()?;
        let bar = progress.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(session.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(bar)
    }
}

impl Reporter for Ui {
    fn waiting_for_lock(&self, holder: &Holder) {
        if self.options.verbosity != Verbosity::Quiet {
            self.line(&format!("rtask: {}", words::holder(holder)));
        }
    }

    fn interrupted_waiting_for_lock(&self, holder: &Holder) {
        self.line(&format!("rtask: {}", words::interrupted_waiting(holder)));
    }

    fn started(&self, session: &str, reasons: &[RunReason]) {
        let mut state = self.state();
        for reason in reasons {
            let (label, text) = match reason {
                RunReason::EntryUnusable(problem) => (
                    "warning:",
                    format!("cannot use the cache entry of `{session}`: {problem}"),
                ),
                RunReason::RestoreBlocked { path, why } => (
                    "warning:",
                    format!(
                        "cannot restore `{session}` here: `{path}`: {why}; it runs, and its result is not stored, so the entry is kept"
                    ),
                ),
                RunReason::NoVenv if self.options.verbosity != Verbosity::Quiet => {
                    ("note:", words::no_venv(session))
                }
                _ => continue,
            };
            let label = self.options.painter.paint(Style::Yellow, label);
            self.line_or_hold(&mut state, format!("{label} {text}"));
        }
        state.running += 1;
        if let Some(bar) = self.spinner(session) {
            state.bars.insert(session.to_string(), bar);
        }
        let quiet = self.options.verbosity == Verbosity::Quiet;
        let header = self.run_header(session, reasons);
        if state.live.is_none() && state.running == 1 && !quiet {
            state.live = Some(session.to_string());
            self.open(&header);
        } else {
            let block = Block {
                header,
                output: Body::Spool(Spool::new()),
                footer: None,
                replayed: Replayed::No,
            };
            state.buffers.insert(session.to_string(), block);
        }
    }

    fn output(&self, session: &str, bytes: &[u8]) {
        let mut state = self.state();
        if state.live.as_deref() == Some(session) {
            if self.progress.is_none() {
                drop(state);
                self.write_output(bytes);
                return;
            }
            state.partial.extend_from_slice(bytes);
            let end = if state.partial.len() > LONGEST_HELD_LINE {
                Some(state.partial.len() - 1)
            } else {
                state.partial.iter().rposition(|&byte| byte == b'\n')
            };
            if let Some(end) = end {
                let lines: Vec<u8> = state.partial.drain(..=end).collect();
                drop(state);
                self.write_output(&lines);
            }
        } else if let Some(Block {
            output: Body::Spool(spool),
            ..
        }) = state.buffers.get_mut(session)
        {
            spool.push(bytes);
        }
    }

    fn restored(&self, session: &str, manifest: &Manifest, log: BlobReader, restored: &Restored) {
        let Some(shown) = Shown::of(self.options.replay) else {
            return;
        };
        if self.options.verbosity == Verbosity::Quiet {
            return;
        }
        let mut header = replay::header(session, manifest, shown, self.options.painter);
        if self.options.verbosity == Verbosity::Verbose {
            header.push_str(&format!(" [key {}]", manifest.key.short()));
        }
        let footer = (self.options.verbosity == Verbosity::Verbose).then(|| {
            let mut text = format!("{session}: restored {} path(s)", restored.written.len());
            if let Some(realised) = &manifest.environment {
                text.push_str(&format!("\n  {}", words::made_with(realised)));
            }
            for path in &restored.written {
                text.push_str(&format!("\n  restored `{path}`"));
            }
            for path in &restored.removed {
                text.push_str(&format!("\n  removed `{path}`"));
            }
            text
        });
        let mut state = self.state();
        match shown {
            Shown::Log => {
                let block = Block {
                    header,
                    output: Body::Stored(log),
                    footer,
                    replayed: Replayed::Yes,
                };
                self.show_or_hold(&mut state, block);
            }
            Shown::Header => {
                let header = self.options.painter.paint(Style::Bold, &header);
                self.line_or_hold(&mut state, header);
                if let Some(footer) = footer {
                    self.line_or_hold(&mut state, footer);
                }
            }
        }
    }

    fn finished(&self, session: &str, outcome: &Outcome) {
        let mut state = self.state();
        let started = state.live.as_deref() == Some(session) || state.buffers.contains_key(session);
        if started {
            state.running = state.running.saturating_sub(1);
        }
        if let Some(bar) = state.bars.remove(session) {
            bar.finish_and_clear();
            if let Some(progress) = &self.progress {
                progress.remove(&bar);
            }
        }
        let footer = self.footer(session, outcome);
        if state.live.as_deref() == Some(session) {
            let rest = std::mem::take(&mut state.partial);
            self.print(|| {
                self.write_now(&rest);
                self.close_now(Some(&footer));
            });
            state.live = None;
            for held in std::mem::take(&mut state.pending) {
                match held {
                    Held::Block(block) => self.show(block),
                    Held::Line(line) => self.line(&line),
                }
            }
            return;
        }
        let Some(mut block) = state.buffers.remove(session) else {
            // It failed or was skipped before its commands started.
            let quiet_skip = self.options.verbosity == Verbosity::Quiet && !outcome.is_failure();
            if !outcome.succeeded() && !quiet_skip {
                self.line_or_hold(&mut state, footer);
            }
            return;
        };
        if self.options.verbosity == Verbosity::Quiet && outcome.succeeded() {
            return;
        }
        block.footer = Some(footer);
        self.show_or_hold(&mut state, block);
    }

    fn environment_made(&self, session: &str, made: &EnvironmentMade) {
        if self.options.verbosity == Verbosity::Quiet {
            return;
        }
        let (verb, why) = match &made.recreated {
            Some(why) => ("recreated", format!("; {}", words::recreated(why))),
            None => ("created", String::new()),
        };
        let line = format!(
            "{session}: {verb} `{}` with {} (Python {}) in {}{why}",
            made.dir.display(),
            venv::backend_name(made.backend),
            made.python_version,
            style::duration(made.took)
        );
        let mut state = self.state();
        self.line_or_hold(&mut state, line);
        if self.options.verbosity == Verbosity::Verbose {
            for entry in &made.left_out {
                let line = format!("{session}: {}", words::marker_left_out(entry));
                self.line_or_hold(&mut state, line);
            }
        }
    }

    fn uv_fallback(&self, broken: &BrokenUv) {
        let label = self.options.painter.paint(Style::Yellow, "note:");
        let mut state = self.state();
        self.line_or_hold(
            &mut state,
            format!("{label} {}", words::uv_fallback(broken)),
        );
    }

    fn environment_failed(&self, session: &str, log: Spool) {
        let block = Block {
            header: format!("{session}: creating its environment"),
            output: Body::Spool(log),
            footer: None,
            replayed: Replayed::No,
        };
        let mut state = self.state();
        self.show_or_hold(&mut state, block);
    }

    fn warning(&self, warning: &Warning<'_>) {
        let text = match warning {
            Warning::NotStored { session, why } => words::not_stored(session, why),
            Warning::Untouched { session, paths } => words::untouched(session, paths),
            Warning::NotPruned(error) => words::not_pruned(error),
            Warning::ExternalProgram {
                session,
                program,
                found,
            } => words::external_program(session, program, found),
        };
        let label = self.options.painter.paint(Style::Yellow, "warning:");
        let mut state = self.state();
        self.line_or_hold(&mut state, format!("{label} {text}"));
    }
}

impl RemoteReporter for Ui {
    fn remote(&self, event: &RemoteEvent<'_>) {
        let text = words::remote(event);
        let line = match event {
            RemoteEvent::Downloaded { .. } if self.options.verbosity >= Verbosity::Normal => text,
            RemoteEvent::Uploaded { .. } if self.options.verbosity == Verbosity::Verbose => text,
            RemoteEvent::Downloaded { .. } | RemoteEvent::Uploaded { .. } => return,
            _ => format!(
                "{} {text}",
                self.options.painter.paint(Style::Yellow, "warning:")
            ),
        };
        let mut state = self.state();
        self.line_or_hold(&mut state, line);
    }
}

/// Warnings only, on stderr: remote events while `--dry-run` plans.
pub struct Warnings {
    pub painter: Painter,
}

impl RemoteReporter for Warnings {
    fn remote(&self, event: &RemoteEvent<'_>) {
        if matches!(
            event,
            RemoteEvent::Downloaded { .. } | RemoteEvent::Uploaded { .. }
        ) {
            return;
        }
        let label = self.painter.paint(Style::Yellow, "warning:");
        eprintln!("{label} {}", words::remote(event));
    }
}

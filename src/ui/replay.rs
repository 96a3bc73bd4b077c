//! How a cache hit's stored log is shown: a header that says it is a replay, of a run from
//! when, whose commands took how long; and a gutter before each replayed line, so that no one
//! takes it for a live run.

use std::io::{self, Write};

use super::style::{self, Painter, Style};
use crate::cache::manifest::Manifest;
use crate::replay::ReplayMode;

/// What is shown of a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shown {
    /// The header, then the log behind the gutter.
    Log,
    /// The header alone.
    Header,
}

impl Shown {
    /// What a mode shows of a hit: nothing at all with `none`.
    pub(super) fn of(mode: ReplayMode) -> Option<Shown> {
        match mode {
            ReplayMode::Full => Some(Shown::Log),
            ReplayMode::Errors => Some(Shown::Header),
            ReplayMode::None => None,
        }
    }
}

/// What goes before each replayed line: `│ `, dim on a terminal.
const GUTTER: &str = "│ ";

/// The header of a hit: `NAME: cached: replaying the log of a run from 2026-11-30 14:02 UTC
/// (commands 0.1 s)`, or without the log (`--replay errors`) `...; log not replayed`.
pub(super) fn header(session: &str, manifest: &Manifest, shown: Shown, painter: Painter) -> String {
    let cached = painter.paint(Style::Green, "cached");
    let run = format!(
        "a run from {} (commands {})",
        style::utc_minute(manifest.created()),
        style::duration(manifest.commands())
    );
    match shown {
        Shown::Log => format!("{session}: {cached}: replaying the log of {run}"),
        Shown::Header => format!("{session}: {cached}: {run}; log not replayed"),
    }
}

/// Writes a replayed log with the gutter before each of its lines.
pub(super) struct Gutter {
    mark: String,
    at_line_start: bool,
}

impl Gutter {
    pub(super) fn new(painter: Painter) -> Gutter {
        Gutter {
            mark: painter.paint(Style::Dim, GUTTER),
            at_line_start: true,
        }
    }

    /// Write `bytes`, the next part of the log, marking each line that starts in it.
    pub(super) fn write(&mut self, out: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
        for line in bytes.split_inclusive(|&byte| byte == b'\n') {
            if self.at_line_start {
                out.write_all(self.mark.as_bytes())?;
            }
            out.write_all(line)?;
            self.at_line_start = line.ends_with(b"\n");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_marked_wherever_the_reads_cut_it() {
        let mut gutter = Gutter::new(Painter { color: false });
        let mut out = Vec::new();
        for part in [&b"$ pytest\n20 pa"[..], b"ssed\n", b"\nno newline"] {
            gutter.write(&mut out, part).unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "│ $ pytest\n│ 20 passed\n│ \n│ no newline"
        );
    }

    #[test]
    fn the_gutter_is_dim_in_colour() {
        let mut gutter = Gutter::new(Painter { color: true });
        let mut out = Vec::new();
        gutter.write(&mut out, b"ok\n").unwrap();
        assert_eq!(out, b"\x1b[2m\xe2\x94\x82 \x1b[0mok\n");
    }
}

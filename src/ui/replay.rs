//! How a cache hit's stored log is shown: a header that says it is a replay, of a run from
//! when, whose commands took how long; and a gutter before each replayed line, written again
//! where the log would write over it or erase it (progress bars), so that no one takes it for a
//! live run.

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

/// The escape byte that starts the sequences a terminal acts on.
const ESC: u8 = 0x1b;

/// Writes a replayed log with the gutter before each of its lines, and again wherever the log
/// would hide it on a terminal.
///
/// A terminal loses the gutter when the log goes back to the first column and writes over it,
/// as a progress bar redraws itself (`\r`, or `ESC[G`/`ESC[1G`), and when the log erases it
/// (`ESC[1K`, `ESC[2K`). A run of such returns and erase-in-line sequences (`ESC[K` included)
/// is held until what follows says where the gutter goes:
/// - text after a return or an erasure gets the gutter again, just before it: so
///   `\rprogress 100%` shows `│ progress 100%`, not a bare line that looks live;
/// - a line end after a return is a `\r\n` ending, not a redraw: it gains nothing;
/// - a line erased and then ended, or erased at the log's end, gets its gutter back, so no
///   line of the replay is shown without one.
///
/// The log's own bytes are all written, in order, whatever sizes the reads cut them in: only
/// gutters are added. A plain log (a file, a CI group) gets the same bytes as a terminal, so it
/// shows `│ ` wherever a terminal would. Other sequences (colours, cursor moves) pass as they
/// are; a line erased where the cursor is not at its start gets its gutter where the cursor is.
pub(super) struct Gutter {
    mark: String,
    line: Line,
    /// The run of returns and erase-in-line sequences held back, perhaps ending in a sequence
    /// not complete yet (from `escape_at` on).
    held: Vec<u8>,
    run: Run,
    escape: Escape,
    escape_at: usize,
}

/// Where the log is in its current line, as the gutter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Nothing of the line written yet.
    Start,
    /// The gutter, then some of the line's text.
    Marked,
}

/// What the held run does to the gutter.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    /// It goes back to the first column, where text would write over the gutter.
    returns: bool,
    /// It erases the gutter.
    erases: bool,
}

/// How far into an escape sequence the held bytes end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    Outside,
    /// `ESC`.
    Started,
    /// `ESC[` and `digits` digits worth `value`.
    Parameters {
        digits: u8,
        value: u16,
    },
}

/// What ends a held run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Text,
    LineEnd,
    LogEnd,
}

impl Gutter {
    pub(super) fn new(painter: Painter) -> Gutter {
        Gutter {
            mark: painter.paint(Style::Dim, GUTTER),
            line: Line::Start,
            held: Vec::new(),
            run: Run::default(),
            escape: Escape::Outside,
            escape_at: 0,
        }
    }

    /// Write `bytes`, the next part of the log, marking each line that starts in it and each
    /// place where it would hide the gutter.
    pub(super) fn write(&mut self, out: &mut dyn Write, mut bytes: &[u8]) -> io::Result<()> {
        while let Some((&byte, rest)) = bytes.split_first() {
            if self.held.is_empty() && self.line == Line::Marked {
                let text = bytes
                    .iter()
                    .position(|&byte| matches!(byte, b'\n' | b'\r' | ESC))
                    .unwrap_or(bytes.len());
                if text > 0 {
                    out.write_all(&bytes[..text])?;
                    bytes = &bytes[text..];
                    continue;
                }
            }
            self.byte(out, byte)?;
            bytes = rest;
        }
        Ok(())
    }

    /// Write what is still held at the end of the log.
    pub(super) fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.escape == Escape::Outside {
            self.resolve(out, Next::LogEnd)
        } else {
            self.give_up_escape(out)
        }
    }

    fn byte(&mut self, out: &mut dyn Write, byte: u8) -> io::Result<()> {
        match (self.escape, byte) {
            (Escape::Outside, b'\r') => {
                self.held.push(byte);
                self.run.returns = true;
            }
            (Escape::Outside, ESC) => {
                self.escape_at = self.held.len();
                self.held.push(byte);
                self.escape = Escape::Started;
            }
            (Escape::Outside, b'\n') => {
                self.resolve(out, Next::LineEnd)?;
                out.write_all(b"\n")?;
                self.line = Line::Start;
            }
            (Escape::Outside, _) => {
                self.resolve(out, Next::Text)?;
                out.write_all(&[byte])?;
                self.line = Line::Marked;
            }
            (Escape::Started, b'[') => {
                self.held.push(byte);
                self.escape = Escape::Parameters {
                    digits: 0,
                    value: 0,
                };
            }
            (Escape::Parameters { digits, value }, b'0'..=b'9') if digits < 3 => {
                self.held.push(byte);
                self.escape = Escape::Parameters {
                    digits: digits + 1,
                    value: value * 10 + u16::from(byte - b'0'),
                };
            }
            (Escape::Parameters { value, .. }, b'K') => {
                self.held.push(byte);
                self.escape = Escape::Outside;
                self.run.erases |= matches!(value, 1 | 2);
            }
            (Escape::Parameters { value, .. }, b'G') if value <= 1 => {
                self.held.push(byte);
                self.escape = Escape::Outside;
                self.run.returns = true;
            }
            (Escape::Started | Escape::Parameters { .. }, _) => {
                self.give_up_escape(out)?;
                self.byte(out, byte)?;
            }
        }
        Ok(())
    }

    /// The held escape is none that moves or erases the gutter: it is text.
    fn give_up_escape(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let escape = self.held.split_off(self.escape_at);
        self.escape = Escape::Outside;
        self.resolve(out, Next::Text)?;
        out.write_all(&escape)?;
        self.line = Line::Marked;
        Ok(())
    }

    /// Write the held run, with the gutter where `next` needs it.
    fn resolve(&mut self, out: &mut dyn Write, next: Next) -> io::Result<()> {
        let Run { returns, erases } = std::mem::take(&mut self.run);
        let after = erases || (returns && next == Next::Text);
        let before =
            self.line == Line::Start && !after && !(next == Next::LogEnd && self.held.is_empty());
        if before {
            out.write_all(self.mark.as_bytes())?;
        }
        out.write_all(&self.held)?;
        self.held.clear();
        if after {
            out.write_all(self.mark.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a replay writes of a log read in `parts`, without colour.
    fn replayed(parts: &[&[u8]]) -> String {
        let mut gutter = Gutter::new(Painter { color: false });
        let mut out = Vec::new();
        for part in parts {
            gutter.write(&mut out, part).unwrap();
        }
        gutter.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Logs that redraw, erase and end lines in every way the gutter handles.
    const LOGS: [&str; 9] = [
        "progress 10%\rprogress 100%\n",
        "one\r\ntwo\r\n\r\n",
        "a\r\x1b[2Kb\n",
        "a\x1b[2K\rb\n",
        "a\r\x1b[Kb\x1b[K\n",
        "a\x1b[1Gb\x1b[Gc\x1b[0Gd",
        "\x1b[31mred\x1b[0m\r\x1b[1mbold\x1b[0m\n\x1b\n\x1b[\r",
        "bar\r\x1b[2K\n\rdone\r",
        "cleared\r\x1b[1K",
    ];

    #[test]
    fn every_line_is_marked_wherever_the_reads_cut_it() {
        assert_eq!(
            replayed(&[&b"$ pytest\n20 pa"[..], b"ssed\n", b"\nno newline"]),
            "│ $ pytest\n│ 20 passed\n│ \n│ no newline"
        );
    }

    #[test]
    fn text_after_a_carriage_return_gets_the_gutter_again() {
        assert_eq!(
            replayed(&[LOGS[0].as_bytes()]),
            "│ progress 10%\r│ progress 100%\n"
        );
        assert_eq!(replayed(&[b"\r10%\r\r20%"]), "\r│ 10%\r\r│ 20%");
    }

    #[test]
    fn a_crlf_ending_gains_nothing() {
        assert_eq!(replayed(&[LOGS[1].as_bytes()]), "│ one\r\n│ two\r\n│ \r\n");
        assert_eq!(replayed(&[b"one\r\r\n\r"]), "│ one\r\r\n│ \r");
    }

    #[test]
    fn text_after_an_erased_line_gets_the_gutter_again() {
        let shown: Vec<String> = LOGS[2..6]
            .iter()
            .map(|log| replayed(&[log.as_bytes()]))
            .collect();
        assert_eq!(
            shown,
            [
                "│ a\r\x1b[2K│ b\n",
                "│ a\x1b[2K\r│ b\n",
                "│ a\r\x1b[K│ b\x1b[K\n",
                "│ a\x1b[1G│ b\x1b[G│ c\x1b[0G│ d",
            ]
        );
    }

    #[test]
    fn a_line_erased_then_ended_keeps_its_gutter() {
        assert_eq!(
            replayed(&[LOGS[7].as_bytes()]),
            "│ bar\r\x1b[2K│ \n\r│ done\r"
        );
        assert_eq!(replayed(&[LOGS[8].as_bytes()]), "│ cleared\r\x1b[1K│ ");
    }

    #[test]
    fn other_escape_sequences_are_text() {
        assert_eq!(
            replayed(&[LOGS[6].as_bytes()]),
            "│ \x1b[31mred\x1b[0m\r│ \x1b[1mbold\x1b[0m\n│ \x1b\n│ \x1b[\r"
        );
        assert_eq!(
            replayed(&[b"a\x1b[2Gb\x1b[3Kc\x1b[1234Kd\x1b[1;2K\n"]),
            "│ a\x1b[2Gb\x1b[3Kc\x1b[1234Kd\x1b[1;2K\n"
        );
    }

    #[test]
    fn the_log_is_kept_whole_and_read_the_same_however_it_is_cut() {
        for log in LOGS {
            let whole = replayed(&[log.as_bytes()]);
            assert_eq!(whole.replace(GUTTER, ""), log);
            for cut in 0..=log.len() {
                let (head, tail) = log.as_bytes().split_at(cut);
                assert_eq!(replayed(&[head, tail]), whole, "{log:?} cut at {cut}");
            }
            let bytes: Vec<&[u8]> = log.as_bytes().chunks(1).collect();
            assert_eq!(replayed(&bytes), whole, "{log:?} byte by byte");
        }
    }

    #[test]
    fn the_gutter_is_dim_in_colour() {
        let mut gutter = Gutter::new(Painter { color: true });
        let mut out = Vec::new();
        gutter.write(&mut out, b"ok\r\x1b[2Kdone\n").unwrap();
        gutter.finish(&mut out).unwrap();
        assert_eq!(
            out,
            b"\x1b[2m\xe2\x94\x82 \x1b[0mok\r\x1b[2K\x1b[2m\xe2\x94\x82 \x1b[0mdone\n"
        );
    }
}

//! The watchdog: the sessions' commands die with rtask, even when rtask is killed (SIGKILL,
//! the out-of-memory killer, a crash) and cannot end them itself.
//!
//! Before the first command starts, rtask starts a watchdog: itself again, with
//! [`ARGUMENT`], in a process group of its own, reading a pipe whose write end only rtask holds
//! (std's pipes are close-on-exec, so no command inherits it). rtask writes `+PGID` when a
//! command's process group starts and `-PGID` when its leader has exited, so a reused group id
//! is never signalled. When the pipe reaches its end, rtask has exited: the watchdog sends
//! SIGTERM to the groups still listed, SIGKILL to those still there after
//! [`GRACE`](super::interrupts::GRACE), and exits. After a normal run the list is empty and
//! it exits at once; rtask waits for it, so it never outlives rtask.
//!
//! It ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT: Ctrl-C is rtask's to handle (it ends the
//! groups itself), and a signal sent to rtask's group must not end the watchdog before rtask.
//!
//! Limits: a process that leaves its command's process group (`setsid`, a daemon) escapes;
//! a group started in the instant between its spawn and its `+PGID` line escapes too. This
//! works wherever a pipe signals its end when its writer dies (every Unix); on Linux,
//! `PR_SET_PDEATHSIG` would do it in the child, but it needs `unsafe` code rtask forbids.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

use super::interrupts::GRACE;
use crate::exit::Exit;

/// The first argument that makes rtask a watchdog (a flag, so that no session name is taken).
pub(crate) const ARGUMENT: &str = "--internal-watchdog";

/// rtask's side of the watchdog.
#[derive(Default)]
pub(crate) enum Watch {
    /// No command started yet (listing and no-op runs never start one).
    #[default]
    NotStarted,
    Watching {
        child: Child,
        pipe: ChildStdin,
    },
    /// It could not be started, or died: commands run unwatched.
    Unavailable,
    /// The run is over: rtask ended the watchdog.
    Ended,
}

impl Watch {
    /// A command is about to start: start the watchdog now if need be, so that announcing the
    /// command's group once it has started takes one write, not the start of a process.
    pub(crate) fn prepare(&mut self) {
        if matches!(self, Watch::NotStarted) {
            *self = start().map_or(Watch::Unavailable, |(child, pipe)| Watch::Watching {
                child,
                pipe,
            });
        }
    }

    /// A command's process group started.
    pub(crate) fn started(&mut self, group: i32) {
        self.prepare();
        self.send(&format!("+{group}\n"));
    }

    /// A command's process group leader exited: its group is no longer watched.
    pub(crate) fn ended(&mut self, group: i32) {
        self.send(&format!("-{group}\n"));
    }

    /// The run is over: close the pipe and wait for the watchdog to exit (it holds the run lock
    /// it inherited until then).
    pub(crate) fn end(&mut self) {
        if let Watch::Watching { mut child, pipe } = std::mem::replace(self, Watch::Ended) {
            drop(pipe);
            let _ = child.wait();
        }
    }

    fn send(&mut self, line: &str) {
        if let Watch::Watching { pipe, .. } = self
            && pipe
                .write_all(line.as_bytes())
                .and_then(|()| pipe.flush())
                .is_err()
        {
            *self = Watch::Unavailable;
        }
    }
}

fn start() -> io::Result<(Child, ChildStdin)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg(ARGUMENT)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let pipe = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("the watchdog has no pipe"))?;
    Ok((child, pipe))
}

/// One line rtask writes.
#[derive(Debug, PartialEq, Eq)]
enum Message {
    Started(i32),
    Ended(i32),
}

fn parse(line: &[u8]) -> Option<Message> {
    let (sign, group) = line.split_first()?;
    let group: i32 = std::str::from_utf8(group).ok()?.trim().parse().ok()?;
    // Group 0 and 1, or a negative one, would signal far more than a command.
    if group <= 1 {
        return None;
    }
    match sign {
        b'+' => Some(Message::Started(group)),
        b'-' => Some(Message::Ended(group)),
        _ => None,
    }
}

/// Be the watchdog: follow the groups rtask announces on stdin, and end those still listed
/// when it has gone.
pub(crate) fn serve() -> Exit {
    let ignored = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&ignored));
    }
    let mut groups = BTreeSet::new();
    for line in io::stdin().lock().split(b'\n') {
        let Ok(line) = line else {
            break;
        };
        match parse(&line) {
            Some(Message::Started(group)) => {
                groups.insert(group);
            }
            Some(Message::Ended(group)) => {
                groups.remove(&group);
            }
            None => {}
        }
    }
    end_groups(&groups);
    Exit::Success
}

/// SIGTERM, then SIGKILL to what is left after the grace period.
fn end_groups(groups: &BTreeSet<i32>) {
    if groups.is_empty() {
        return;
    }
    let signal = |signal| {
        for &group in groups {
            let _ = killpg(Pid::from_raw(group), signal);
        }
    };
    signal(Signal::SIGTERM);
    let deadline = Instant::now() + GRACE;
    let alive = || {
        groups
            .iter()
            .any(|&group| killpg(Pid::from_raw(group), None).is_ok())
    };
    while alive() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    signal(Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_groups_and_nothing_else() {
        assert_eq!(parse(b"+1234"), Some(Message::Started(1234)));
        assert_eq!(parse(b"-1234"), Some(Message::Ended(1234)));
        assert_eq!(parse(b"+0"), None);
        assert_eq!(parse(b"+1"), None);
        assert_eq!(parse(b"+-5"), None);
        assert_eq!(parse(b"x5"), None);
        assert_eq!(parse(b""), None);
    }
}

//! The run lock: one rtask at a time runs sessions in a project, so that no run reads files
//! another is writing (a dependent built from a half-written output, a result stored from
//! files a second run was replacing).
//!
//! The lock is an `flock` on `.rtask/run.lock`, released by the kernel when its holder exits,
//! however it exits. The holder writes its process id and command line into the file, so that
//! a run that waits can say whom it waits for. Listing and `--dry-run` never take it.
//! Commands started by a run see [`HELD_VAR`] naming the project, so an rtask they start in
//! the same project (a session that runs `rtask other`) does not wait for its own parent.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::protected::RUN_LOCK;

/// Set in the environment of sessions' commands to the root of the project whose lock is held.
pub(crate) const HELD_VAR: &str = "RTASK_RUN_LOCK_HELD";

/// The lock, held until dropped.
pub(crate) struct RunLock {
    _lock: Flock<File>,
}

/// Who holds the lock, as its holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    pub lock_file: PathBuf,
    /// `None` when the holder has not written it yet (or wrote something unreadable).
    pub pid: Option<u32>,
    pub command: String,
}

/// Take the lock of the project whose state lives in `state_dir`, waiting for it when another
/// run holds it; `waiting` hears about that first.
pub(crate) fn acquire(state_dir: &Path, waiting: impl FnOnce(&Holder)) -> io::Result<RunLock> {
    fs::create_dir_all(state_dir)?;
    let path = state_dir.join(RUN_LOCK);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            waiting(&read_holder(&path, &mut file));
            loop {
                match Flock::lock(file, FlockArg::LockExclusive) {
                    Ok(lock) => break lock,
                    Err((again, Errno::EINTR)) => file = again,
                    Err((_, errno)) => return Err(errno.into()),
                }
            }
        }
        Err((_, errno)) => return Err(errno.into()),
    };
    let args: Vec<String> = std::env::args().collect();
    lock.set_len(0)?;
    lock.rewind()?;
    writeln!(lock, "{}\n{}", std::process::id(), args.join(" "))?;
    Ok(RunLock { _lock: lock })
}

fn read_holder(path: &Path, file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let mut lines = text.lines();
    let pid = lines.next().and_then(|line| line.trim().parse().ok());
    Holder {
        lock_file: path.to_path_buf(),
        pid,
        command: lines.next().unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_waits_and_learns_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), |_| panic!("the lock is free")).unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        let state = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let lock = acquire(&state, |holder| sender.send(holder.clone()).unwrap());
            lock.map(|_| ())
        });
        let holder = receiver.recv().unwrap();
        assert_eq!(holder.pid, Some(std::process::id()));
        drop(first);
        second.join().unwrap().unwrap();
    }
}

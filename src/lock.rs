//! The run lock: one rtask at a time runs sessions in a project, so that no run reads files
//! another is writing (a dependent built from a half-written output, a result stored from
//! files a second run was replacing).
//!
//! The lock is an `flock` on `.rtask/run.lock`, released by the kernel when the last process
//! holding it exits, however it exits. The commands a run starts inherit it: when rtask is
//! killed (SIGKILL) while a command still runs and writes, the next run waits for that command
//! too, instead of reading and storing what it is still writing. Such a wait is short: rtask's
//! watchdog (`exec::watchdog`, which inherits the lock too) ends those commands' process groups
//! when rtask dies, and exits once they are gone; only a process that left its command's group
//! can hold the lock longer. The holder writes its process
//! id and command line into the file (readable by its owner only: the command line may hold
//! secrets passed as posargs), so that a run that waits can say whom it waits for. Listing
//! and `--dry-run` never take it.
//! Commands started by a run see [`HELD_VAR`] naming the project and how deep the run is
//! nested, so an rtask they start in the same project (a session that runs `rtask other`)
//! does not wait for its own parent: it takes the lock of the next level
//! (`.rtask/run.lock.1`, …), which keeps two such runs started by sessions running side by
//! side from running at once.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, Flock, FlockArg, fcntl};
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::protected::RUN_LOCK;

/// Set in the environment of sessions' commands to `LEVEL ROOT`: the level of lock a run they
/// start in the project at `ROOT` takes.
pub(crate) const HELD_VAR: &str = "RTASK_RUN_LOCK_HELD";

/// The level of lock a run of the project at `root` takes, given [`HELD_VAR`]: 0 for a run
/// started from outside, one more than its parent's for a run started by a session's command.
pub(crate) fn level(held: Option<&OsStr>, root: &Path) -> usize {
    let Some(bytes) = held.map(OsStr::as_bytes) else {
        return 0;
    };
    let Some(space) = bytes.iter().position(|&byte| byte == b' ') else {
        return 0;
    };
    if &bytes[space + 1..] != root.as_os_str().as_bytes() {
        return 0;
    }
    std::str::from_utf8(&bytes[..space])
        .ok()
        .and_then(|level| level.parse().ok())
        .unwrap_or(0)
}

/// The value of [`HELD_VAR`] for the commands of a run that holds the lock of `level`.
pub(crate) fn held_value(level: usize, root: &Path) -> OsString {
    let mut value = OsString::from(format!("{} ", level + 1));
    value.push(root.as_os_str());
    value
}

/// The lock, held until this process and every command it started that still holds the lock
/// file open have exited: it is never unlocked explicitly (an explicit unlock would free it
/// while a command left running in the background still writes).
pub(crate) struct RunLock {
    lock: Option<Flock<File>>,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Not unlocked: the descriptor stays open until the process exits, and the lock with
        // it, as long as a command it started holds it too.
        std::mem::forget(self.lock.take());
    }
}

#[cfg(test)]
impl RunLock {
    /// Unlock now (tests take the lock twice in one process).
    fn release(mut self) {
        drop(self.lock.take());
    }
}

/// Who holds the lock, as its holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    pub lock_file: PathBuf,
    /// `None` when the holder has not written it yet (or wrote something unreadable).
    pub pid: Option<u32>,
    pub command: String,
    /// Whether that process still runs: when it does not, a command it started holds the lock.
    pub alive: bool,
}

/// The lock file of a level.
pub(crate) fn path(state_dir: &Path, level: usize) -> PathBuf {
    match level {
        0 => state_dir.join(RUN_LOCK),
        level => state_dir.join(format!("{RUN_LOCK}.{level}")),
    }
}

/// How often a run waiting for the lock tries it again and looks whether it was interrupted.
const POLL: Duration = Duration::from_millis(50);

/// How a wait for the lock ended.
pub(crate) enum Acquired {
    /// The lock is this run's.
    Held(RunLock),
    /// Ctrl-C or SIGTERM came while waiting: the lock was not taken. Whom it waited for.
    Interrupted(Holder),
}

/// Take the lock of `level` of the project whose state lives in `state_dir`, waiting for it
/// when another run holds it, until `interrupted` says Ctrl-C or SIGTERM came; `waiting`
/// hears about the wait first.
///
/// The wait polls: a blocking `flock` is not ended by a signal whose handler restarts it.
pub(crate) fn acquire(
    state_dir: &Path,
    level: usize,
    waiting: impl FnOnce(&Holder),
    interrupted: &dyn Fn() -> bool,
) -> io::Result<Acquired> {
    fs::create_dir_all(state_dir)?;
    let path = path(state_dir, level);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            waiting(&read_holder(&path, &mut file));
            loop {
                thread::sleep(POLL);
                if interrupted() {
                    return Ok(Acquired::Interrupted(read_holder(&path, &mut file)));
                }
                match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                    Ok(lock) => break lock,
                    Err((again, Errno::EWOULDBLOCK | Errno::EINTR)) => file = again,
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
    // Inherited by the commands the run starts (see the module's documentation).
    fcntl(&*lock, FcntlArg::F_SETFD(FdFlag::empty()))?;
    Ok(Acquired::Held(RunLock { lock: Some(lock) }))
}

fn read_holder(path: &Path, file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    let mut lines = text.lines();
    let pid: Option<u32> = lines.next().and_then(|line| line.trim().parse().ok());
    let alive = pid
        .and_then(|pid| i32::try_from(pid).ok())
        .is_some_and(|pid| kill(Pid::from_raw(pid), None).is_ok());
    Holder {
        lock_file: path.to_path_buf(),
        pid,
        command: lines.next().unwrap_or("").to_string(),
        alive,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn nested_runs_take_the_next_level_of_their_own_project_only() {
        let root = Path::new("/p/with space");
        assert_eq!(level(None, root), 0);
        let held = held_value(0, root);
        assert_eq!(level(Some(&held), root), 1);
        assert_eq!(level(Some(&held_value(1, root)), root), 2);
        assert_eq!(level(Some(&held), Path::new("/other")), 0);
        assert_eq!(level(Some(OsStr::new("x /p/with space")), root), 0);
        assert_eq!(path(Path::new("/s"), 0), Path::new("/s/run.lock"));
        assert_eq!(path(Path::new("/s"), 2), Path::new("/s/run.lock.2"));
    }

    fn held(acquired: io::Result<Acquired>) -> RunLock {
        match acquired.unwrap() {
            Acquired::Held(lock) => lock,
            Acquired::Interrupted(holder) => panic!("interrupted waiting for {holder:?}"),
        }
    }

    #[test]
    fn a_second_taker_waits_and_learns_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = held(acquire(
            dir.path(),
            0,
            |_| panic!("the lock is free"),
            &|| false,
        ));
        let (sender, receiver) = std::sync::mpsc::channel();
        let state = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let waiting = |holder: &Holder| sender.send(holder.clone()).unwrap();
            held(acquire(&state, 0, waiting, &|| false));
        });
        let holder = receiver.recv().unwrap();
        assert_eq!(holder.pid, Some(std::process::id()));
        first.release();
        second.join().unwrap();
    }

    #[test]
    fn an_interrupt_ends_the_wait_and_leaves_the_lock_to_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = held(acquire(
            dir.path(),
            0,
            |_| panic!("the lock is free"),
            &|| false,
        ));
        let interrupted = Arc::new(AtomicBool::new(false));
        let state = dir.path().to_path_buf();
        let flag = Arc::clone(&interrupted);
        let second = std::thread::spawn(move || {
            let waiting = |_: &Holder| flag.store(true, Ordering::SeqCst);
            acquire(&state, 0, waiting, &|| flag.load(Ordering::SeqCst))
        });
        match second.join().unwrap().unwrap() {
            Acquired::Interrupted(holder) => assert_eq!(holder.pid, Some(std::process::id())),
            Acquired::Held(_) => panic!("took a lock that is held"),
        }
        assert!(interrupted.load(Ordering::SeqCst));
        let mut file = File::open(path(dir.path(), 0)).unwrap();
        assert!(Flock::lock(file.try_clone().unwrap(), FlockArg::LockExclusiveNonblock).is_err());
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert!(
            text.starts_with(&format!("{}\n", std::process::id())),
            "{text}"
        );
        first.release();
    }
}

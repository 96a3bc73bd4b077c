//! Who is using the cache, and how much it holds: what lets a prune run beside stores and
//! restores, and an automatic prune skip the scan of the whole cache on most runs.
//!
//! ```text
//! <cache_dir>/v1/use.lock   flock: shared while a store writes an entry (from its first blob
//!                           to its manifest) or a restore copies one; exclusive while a prune
//!                           deletes
//! <cache_dir>/v1/usage      `bytes N` and `checked UNIX_MS`: a running total, raised by each
//!                           store and set by each prune
//! ```
//!
//! Neither is needed for correctness of what is read: a store or restore that cannot take the
//! lock (a read-only cache) goes on, and a missing or damaged total only makes the next
//! automatic prune scan the cache.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

const USE_LOCK: &str = "use.lock";
const USAGE: &str = "usage";

/// A shared hold on the cache: no prune deletes anything while it lasts.
pub(crate) struct InUse {
    _lock: Option<Flock<File>>,
}

/// The cache held exclusively: nothing stores or restores while it lasts.
pub(crate) struct Exclusive {
    _lock: Flock<File>,
}

fn open_lock(dir: &Path) -> io::Result<File> {
    std::fs::create_dir_all(dir)?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(USE_LOCK))
}

fn lock(file: File, how: FlockArg) -> io::Result<Flock<File>> {
    let mut file = file;
    loop {
        match Flock::lock(file, how) {
            Ok(lock) => return Ok(lock),
            Err((again, Errno::EINTR)) => file = again,
            Err((_, errno)) => return Err(errno.into()),
        }
    }
}

/// Hold the cache at `dir` (its `v1`) shared, waiting for a prune that is deleting; without
/// the hold when the lock cannot be taken.
pub(crate) fn in_use(dir: &Path) -> InUse {
    InUse {
        _lock: open_lock(dir)
            .and_then(|file| lock(file, FlockArg::LockShared))
            .ok(),
    }
}

/// Hold the cache exclusively, waiting for the stores and restores under way.
pub(crate) fn exclusive(dir: &Path) -> io::Result<Exclusive> {
    Ok(Exclusive {
        _lock: lock(open_lock(dir)?, FlockArg::LockExclusive)?,
    })
}

/// The file system's clock now: the time a write at this moment would give a file, to compare
/// with the times files in the cache were written or used.
pub(crate) fn file_clock(dir: &Path) -> io::Result<SystemTime> {
    let mut file = open_lock(dir)?;
    file.write_all(b".")?;
    file.set_len(0)?;
    file.metadata()?.modified()
}

/// The running total, as last written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Total {
    pub bytes: u64,
    /// When a prune last counted the cache.
    pub checked: SystemTime,
}

fn parse(text: &str) -> Option<Total> {
    let mut bytes = None;
    let mut checked = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("bytes", value)) => bytes = value.parse::<u64>().ok(),
            Some(("checked", value)) => {
                checked = value
                    .parse::<u64>()
                    .ok()
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
            }
            _ => return None,
        }
    }
    Some(Total {
        bytes: bytes?,
        checked: checked?,
    })
}

fn render(total: Total) -> String {
    let ms = total
        .checked
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    format!("bytes {}\nchecked {ms}\n", total.bytes)
}

/// The running total of the cache at `dir`, if it is there and readable.
pub(crate) fn read(dir: &Path) -> Option<Total> {
    parse(&std::fs::read_to_string(dir.join(USAGE)).ok()?)
}

/// Change the running total under its own lock; nothing when there is none to change.
fn update(
    dir: &Path,
    create: bool,
    change: impl FnOnce(Option<Total>) -> Option<Total>,
) -> io::Result<()> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(dir.join(USAGE))
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound && !create => return Ok(()),
        Err(error) => return Err(error),
    };
    let mut file = lock(file, FlockArg::LockExclusive)?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    if let Some(total) = change(parse(&text)) {
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(render(total).as_bytes())?;
    }
    Ok(())
}

/// A store added about `bytes` (counted whole even when the cache had some of its blobs: the
/// total may only run ahead of the truth, which the next prune corrects).
pub(crate) fn add(dir: &Path, bytes: u64) {
    let _ = update(dir, false, |total| {
        total.map(|total| Total {
            bytes: total.bytes.saturating_add(bytes),
            ..total
        })
    });
}

/// A prune counted `remaining` bytes, starting from the total `before`: what stores added
/// since is kept on top.
pub(crate) fn settle(dir: &Path, remaining: u64, before: Option<Total>) -> io::Result<()> {
    let checked = SystemTime::now();
    update(dir, true, |now| {
        let added = match (before, now) {
            (Some(before), Some(now)) => now.bytes.saturating_sub(before.bytes),
            _ => 0,
        };
        Some(Total {
            bytes: remaining.saturating_add(added),
            checked,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_survives_a_round_trip_and_garbage_reads_as_none() {
        let total = Total {
            bytes: 42,
            checked: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        };
        assert_eq!(parse(&render(total)), Some(total));
        assert_eq!(parse("bytes 4"), None);
        assert_eq!(parse("bytes x\nchecked 1\n"), None);
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn stores_raise_the_total_and_a_prune_keeps_what_they_added_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        add(dir.path(), 10);
        assert_eq!(read(dir.path()), None, "no total is made by a store");
        settle(dir.path(), 100, None).unwrap();
        let before = read(dir.path());
        assert_eq!(before.map(|total| total.bytes), Some(100));
        add(dir.path(), 7);
        settle(dir.path(), 40, before).unwrap();
        assert_eq!(read(dir.path()).map(|total| total.bytes), Some(47));
    }
}

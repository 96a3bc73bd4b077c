//! Temporary files, and taking back those a killed run left.
//!
//! A store or a restore writes to a temporary file and renames it into place. When rtask is
//! killed meanwhile, the temporary file stays: this module makes sure the next run removes it,
//! and never removes one a live run (another checkout sharing the cache, a nested run) still
//! writes.
//!
//! ```text
//! <cache_dir>/v1/tmp/run-XXXXXXXX.lock       flocked by its process while it lives
//! <cache_dir>/v1/tmp/run-XXXXXXXX/restores   directories it made restore temps in
//! <cache_dir>/v1/tmp/run-XXXXXXXX/.tmpXXXXX  store temps (blobs, manifests)
//! <project>/out/.rtask-restore.run-XXXXXXXX.XXXXXX   restore temps, beside their destination
//! ```
//!
//! A process makes and locks its lock file, then its run directory, when it first needs a
//! temp (a no-op run never does), and removes both when its store is dropped. A restore temp must sit on the file
//! system of its destination, so it cannot live in the run directory: the directory it is
//! made in is written to the run's `restores` journal first, and its name carries the run's.
//! [`reclaim`] (at the start of a run) reads `tmp/` alone, never the project: a lock it can
//! take belongs to a dead process, whose run directory goes with the restore temps its journal
//! leads to; a run directory without a lock file (its maker died while removing it) goes too.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use tempfile::NamedTempFile;

use crate::protected::{RESTORE_TEMP, RUN_PREFIX, RUN_RANDOM, TEMP_RANDOM};

/// Beside each run directory, its lock file: `run-XXXXXXXX.lock`.
const LOCK_SUFFIX: &str = ".lock";
const JOURNAL: &str = "restores";
/// Files directly in `tmp/` come from an rtask older than run directories; any not written to
/// for this long is left over.
const LOOSE_GRACE: Duration = Duration::from_secs(60 * 60);

/// The temporary files of one store: made in this process's run directory, made on first use.
pub(crate) struct Temps {
    tmp: PathBuf,
    own: Mutex<Option<Arc<RunDir>>>,
}

/// This process's run directory, locked while it lives.
struct RunDir {
    dir: PathBuf,
    name: String,
    lock_path: PathBuf,
    /// Held, never read: the lock tells other runs this one is alive.
    _lock: Flock<File>,
    /// The directories written to the journal already.
    journaled: Mutex<BTreeSet<PathBuf>>,
}

impl Temps {
    pub(crate) fn new(tmp: PathBuf) -> Temps {
        Temps {
            tmp,
            own: Mutex::new(None),
        }
    }

    /// A temporary file in the store, removed when dropped unless persisted. `initialise`
    /// makes the store's directories when `tmp/` is missing.
    pub(crate) fn file(
        &self,
        initialise: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<NamedTempFile> {
        NamedTempFile::new_in(&self.run_dir(initialise)?.dir)
    }

    /// A temporary file in `dir` (a restore's destination directory), named so that it
    /// matches no output glob rtask collects and so that the next run takes it back if this
    /// one is killed.
    pub(crate) fn restore_file(
        &self,
        dir: &Path,
        initialise: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<NamedTempFile> {
        // Best effort: a cache disk too full for a run directory or a line of journal must not
        // fail a restore to another disk. Unjournaled, a killed restore's temp stays, still
        // never an output.
        let prefix = match self.run_dir(initialise) {
            Ok(run) => {
                let _ = run.journal(dir);
                format!("{RESTORE_TEMP}.{}.", run.name)
            }
            Err(_) => format!("{RESTORE_TEMP}."),
        };
        tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(TEMP_RANDOM)
            .tempfile_in(dir)
    }

    fn run_dir(&self, initialise: impl FnOnce() -> io::Result<()>) -> io::Result<Arc<RunDir>> {
        let mut own = self
            .own
            .lock()
            .expect("no thread panics holding the run directory");
        if let Some(run) = own.as_ref() {
            return Ok(Arc::clone(run));
        }
        let run = match RunDir::make(&self.tmp) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                initialise()?;
                RunDir::make(&self.tmp)?
            }
            result => result?,
        };
        let run = Arc::new(run);
        *own = Some(Arc::clone(&run));
        Ok(run)
    }
}

impl RunDir {
    fn make(tmp: &Path) -> io::Result<RunDir> {
        loop {
            let (file, lock_path) = tempfile::Builder::new()
                .prefix(RUN_PREFIX)
                .suffix(LOCK_SUFFIX)
                .rand_bytes(RUN_RANDOM)
                .tempfile_in(tmp)?
                .keep()
                .map_err(|error| error.error)?;
            let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => lock,
                Err((_, Errno::EWOULDBLOCK)) => continue,
                Err((_, errno)) => return Err(errno.into()),
            };
            // A reclaiming run took it for a dead one's before it was locked: make another.
            if !still_there(&lock, &lock_path) {
                continue;
            }
            let name = lock_path
                .file_name()
                .and_then(OsStr::to_str)
                .and_then(|name| name.strip_suffix(LOCK_SUFFIX))
                .expect("tempfile names are as asked")
                .to_string();
            let dir = tmp.join(&name);
            if let Err(error) = fs::create_dir(&dir) {
                let _ = fs::remove_file(&lock_path);
                return Err(error);
            }
            return Ok(RunDir {
                dir,
                name,
                lock_path,
                _lock: lock,
                journaled: Mutex::new(BTreeSet::new()),
            });
        }
    }

    /// Write `dir` to the journal, once.
    fn journal(&self, dir: &Path) -> io::Result<()> {
        let mut journaled = self
            .journaled
            .lock()
            .expect("no thread panics holding the journal");
        if journaled.contains(dir) {
            return Ok(());
        }
        let mut record = dir.as_os_str().as_bytes().to_vec();
        record.push(0);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(JOURNAL))?
            .write_all(&record)?;
        journaled.insert(dir.to_path_buf());
        Ok(())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // Every temp it held is persisted or removed by now. The lock file goes last, still
        // locked: a directory is never without it while its run lives.
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// Whether the locked file is still the one at `path` (a reclaiming run may have removed it
/// between its opening and its locking).
fn still_there(lock: &File, path: &Path) -> bool {
    match (lock.metadata(), fs::metadata(path)) {
        (Ok(held), Ok(there)) => held.dev() == there.dev() && held.ino() == there.ino(),
        _ => false,
    }
}

/// Take back what dead runs left in `tmp` and, through their journals, in the directories
/// they restored to. Live runs' temps are never touched. Reads `tmp/` and the journals of
/// dead runs only.
pub(crate) fn reclaim(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let now = SystemTime::now();
    let older_than = |metadata: &fs::Metadata, grace: Duration| {
        metadata
            .modified()
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > grace)
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        let Ok(metadata) = path.symlink_metadata() else {
            continue;
        };
        let run = name
            .to_str()
            .filter(|name| name.starts_with(RUN_PREFIX))
            .map(|name| name.strip_suffix(LOCK_SUFFIX).unwrap_or(name));
        match run {
            // Its maker creates the lock file first and removes it last: without one, it is
            // what a run that died while removing it left.
            Some(run) if metadata.is_dir() && !tmp.join(format!("{run}{LOCK_SUFFIX}")).exists() => {
                let _ = fs::remove_dir_all(&path);
            }
            Some(run) if name.len() > run.len() => {
                if let Some(lock) = take_dead(&path) {
                    let dir = tmp.join(run);
                    remove_restore_temps(&dir, OsStr::new(run));
                    let _ = fs::remove_dir_all(&dir);
                    let _ = fs::remove_file(&path);
                    drop(lock);
                }
            }
            _ if !metadata.is_dir() && older_than(&metadata, LOOSE_GRACE) => {
                let _ = fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

/// The lock at `path`, when its process is dead.
fn take_dead(path: &Path) -> Option<Flock<File>> {
    let file = File::open(path).ok()?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) if still_there(&lock, path) => Some(lock),
        _ => None,
    }
}

/// Remove the restore temps of the dead run `name` from the directories its journal names.
fn remove_restore_temps(run: &Path, name: &OsStr) {
    let Ok(journal) = fs::read(run.join(JOURNAL)) else {
        return;
    };
    let mut prefix = format!("{RESTORE_TEMP}.").into_bytes();
    prefix.extend_from_slice(name.as_bytes());
    prefix.push(b'.');
    for dir in journal
        .split(|&byte| byte == 0)
        .filter(|dir| !dir.is_empty())
    {
        let Ok(entries) = fs::read_dir(Path::new(OsStr::from_bytes(dir))) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            if entry.file_name().as_bytes().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(dir: &Path) -> usize {
        fs::read_dir(dir).map_or(0, |entries| entries.count())
    }

    #[test]
    fn a_live_runs_temps_stay_and_a_dead_runs_go() {
        let cache = tempfile::tempdir().unwrap();
        let tmp = cache.path().join("tmp");
        let out = cache.path().join("out");
        fs::create_dir_all(&out).unwrap();
        let initialise = || fs::create_dir_all(&tmp);
        let live = Temps::new(tmp.clone());
        let store_temp = live.file(initialise).unwrap();
        let restore_temp = live.restore_file(&out, || Ok(())).unwrap();
        reclaim(&tmp);
        assert!(store_temp.path().exists() && restore_temp.path().exists());

        // A dead run, as a kill leaves it: an unlocked lock file, a store temp, a journal,
        // and a restore temp in the directory the journal names.
        let dir = tmp.join("run-deadbeef");
        fs::create_dir(&dir).unwrap();
        fs::write(tmp.join("run-deadbeef.lock"), "").unwrap();
        fs::write(dir.join(".tmpXYZ"), "partial blob").unwrap();
        let mut journal = out.as_os_str().as_bytes().to_vec();
        journal.push(0);
        fs::write(dir.join(JOURNAL), journal).unwrap();
        let left_restore = out.join(format!("{RESTORE_TEMP}.run-deadbeef.Ab12Cd"));
        fs::write(&left_restore, "partial output").unwrap();

        reclaim(&tmp);
        assert!(!dir.exists() && !left_restore.exists());
        assert!(!tmp.join("run-deadbeef.lock").exists());
        assert!(store_temp.path().exists() && restore_temp.path().exists());
        assert_eq!(count(&out), 1);
        drop((store_temp, restore_temp));
        drop(live);
        assert_eq!(count(&tmp), 0, "a run removes its own directory");
    }

    #[test]
    fn restore_temps_match_no_usual_output_glob_rtask_collects() {
        let name = format!("{RESTORE_TEMP}.run-0123abcd.a1B2c3");
        assert!(crate::protected::is_restore_temp(OsStr::new(&name)));
        for glob in ["*.txt", "**/*.json", "out/*.bin", "out/**/*.txt"] {
            let matcher = globset::Glob::new(glob).unwrap().compile_matcher();
            assert!(!matcher.is_match(format!("out/{name}")), "{glob}");
        }
    }
}

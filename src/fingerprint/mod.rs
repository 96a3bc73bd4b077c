//! Finding a session's input files and hashing them.
//!
//! A stat cache ([`stat_cache`]) skips reading files whose metadata is unchanged since they
//! were last hashed on this machine.
//!
//! Hashes are memoised for one run, so sessions over the same files read each file once. Any
//! session that runs or restores may change files, so the executor calls
//! [`Fingerprinter::invalidate`] after each; a memoised hash never outlives a write.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::hash::BuildHasherDefault;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, fstatat};
use rayon::slice::ParallelSliceMut;
use serde::{Deserialize, Serialize};
use thiserror::Error;

mod gitignore;
mod stat_cache;

use self::gitignore::{Anchor, IgnoreFile, Rules};
use self::stat_cache::{Directory, Entry, FxHasher, StatCache, now_ns};
use crate::digest::Digest;
use crate::file_stat::FileStat;
use crate::patterns::InputPatterns;
use crate::protected;
use crate::relpath::RelPath;

/// One input file in a cache key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    pub path: RelPath,
    pub hash: Digest,
    pub executable: bool,
}

#[derive(Debug, Error)]
pub enum InputError {
    #[error("input `{0}` does not exist")]
    MissingLiteral(RelPath),
    #[error("cannot read input `{path}`: {source}")]
    Read { path: RelPath, source: io::Error },
    #[error("cannot list input files: {0}")]
    Walk(String),
    #[error("input `{0}` changed while rtask was reading it (run again)")]
    Changed(RelPath),
}

type Memo = HashMap<RelPath, (u64, InputFile), BuildHasherDefault<FxHasher>>;

pub struct Fingerprinter {
    root: PathBuf,
    /// Directories never searched for inputs (rtask's state, the cache), by their real paths: a
    /// walk may meet them through a symlink.
    skipped: Vec<PathBuf>,
    /// The root of the git repository holding the project, if any.
    repository: Option<PathBuf>,
    epoch: AtomicU64,
    /// Hashes read in this run, with the epoch they were read in; `memo_used` spares a run
    /// that read nothing the lock.
    memo: RwLock<Memo>,
    memo_used: AtomicBool,
    stat_cache: StatCache,
}

/// The file type bits of `st_mode` (POSIX values, the same on every Unix rtask runs on).
const TYPE_MASK: u32 = 0o170_000;
const REGULAR: u32 = 0o100_000;
const SYMLINK: u32 = 0o120_000;
const DIRECTORY: u32 = 0o040_000;

impl Fingerprinter {
    /// `skipped`: directories never searched; `stat_cache`: the file that remembers hashes
    /// across runs on this machine, if any.
    pub fn new(root: &Path, skipped: Vec<PathBuf>, stat_cache: Option<PathBuf>) -> Fingerprinter {
        Fingerprinter {
            root: root.to_path_buf(),
            repository: root
                .ancestors()
                .find(|dir| dir.join(".git").exists())
                .map(Path::to_path_buf),
            skipped: skipped.iter().map(|dir| real_path(dir)).collect(),
            epoch: AtomicU64::new(0),
            memo: RwLock::new(Memo::default()),
            memo_used: AtomicBool::new(false),
            stat_cache: StatCache::load(stat_cache),
        }
    }

    /// The directories never searched, symlinks resolved.
    pub fn skipped(&self) -> &[PathBuf] {
        &self.skipped
    }

    /// Keep what this run learnt for the next one. Best effort: the stat cache only saves time.
    pub fn save(&self) {
        drop(self.stat_cache.save());
    }

    /// Forget every memoised hash: files may have changed.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        // Every entry is stale now; a walk still running may add stale ones, which the epoch
        // keeps from being used.
        self.memo
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.memo_used.store(false, Ordering::Relaxed);
    }

    /// The input files of a session, sorted by path, with their hashes. Directories are listed,
    /// and their files stat'ed and hashed, in parallel.
    pub fn inputs(&self, patterns: &InputPatterns) -> Result<Vec<InputFile>, InputError> {
        let pass = Pass {
            epoch: self.epoch.load(Ordering::SeqCst),
            memo: self.memo_used.load(Ordering::Relaxed),
            fresh: self.stat_cache.any_fresh(),
        };
        let mut files = Vec::new();
        for base in &patterns.glob_bases {
            let keep = |path: &Path| patterns.globs.is_match(path) && !patterns.excluded(path);
            files.extend(self.walk(base, &keep, pass)?);
        }
        for literal in &patterns.literals {
            match self.literal(literal, pass)? {
                Some(file) => files.push(file),
                None => {
                    let keep = |path: &Path| !patterns.excluded(path);
                    files.extend(self.walk(literal, &keep, pass)?);
                }
            }
        }
        files.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        Ok(files)
    }

    fn memoised(&self, pass: Pass, path: &RelPath) -> Option<InputFile> {
        if !pass.memo {
            return None;
        }
        let memo = self.memo.read().unwrap_or_else(PoisonError::into_inner);
        memo.get(path)
            .filter(|(seen, _)| *seen == pass.epoch)
            .map(|(_, file)| file.clone())
    }

    /// Memoise files whose content had to be read in `epoch`: a stat cache hit costs no more than a
    /// memo lookup.
    fn remember(&self, epoch: u64, files: &[InputFile]) {
        if files.is_empty() {
            return;
        }
        let mut memo = self.memo.write().unwrap_or_else(PoisonError::into_inner);
        for file in files {
            memo.insert(file.path.clone(), (epoch, file.clone()));
        }
        self.memo_used.store(true, Ordering::Relaxed);
    }

    /// Every file and symlink below `base` that ignore rules do not exclude and `keep` keeps.
    ///
    /// The rules are those of the `.gitignore` files below `base`, and of those in the
    /// directories above it up to the root of the git repository holding the project (or the
    /// project root outside a repository). They apply to what lies below `base`, never to
    /// `base` itself: naming a directory, or the fixed start of a glob, makes it count.
    fn walk(
        &self,
        base: &RelPath,
        keep: &(dyn Fn(&Path) -> bool + Sync),
        pass: Pass,
    ) -> Result<Vec<InputFile>, InputError> {
        if !base.to_path(&self.root).is_dir() {
            return Ok(Vec::new());
        }
        let walk = Walk {
            fingerprinter: self,
            skipped: self.skipped_below(base),
            keep,
            pass,
            found: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
        };
        let rules = self.rules_above(base);
        rayon::scope(|scope| walk.directory(scope, base.clone(), rules, None));
        if let Some(error) = walk
            .failure
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
        {
            return Err(error);
        }
        Ok(walk
            .found
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// The skipped directories strictly below `base`, as a walk from it meets them: `base` may
    /// be, or lie below, a symlink leading anywhere (back into the project, or above it).
    fn skipped_below(&self, base: &RelPath) -> Vec<RelPath> {
        let Ok(real) = base.to_path(&self.root).canonicalize() else {
            return Vec::new();
        };
        self.skipped
            .iter()
            .filter_map(|dir| RelPath::from_path(&real, dir))
            .filter(|below| !below.is_root())
            .map(|below| base.join(below.as_str()))
            .collect()
    }

    /// The ignore rules of the directories above `base`, innermost first.
    fn rules_above(&self, base: &RelPath) -> Option<Arc<Rules>> {
        let start = base.to_path(&self.root);
        let top = self.repository.as_deref().unwrap_or(&self.root);
        let mut above: Vec<&Path> = start
            .ancestors()
            .skip(1)
            .take_while(|dir| dir.starts_with(top))
            .collect();
        above.reverse();
        let mut rules = None;
        for dir in above {
            let Some(file) = IgnoreFile::read_path(&dir.join(".gitignore")) else {
                continue;
            };
            let anchor = match RelPath::from_path(&self.root, dir) {
                Some(inside) => Anchor::inside(&inside),
                None => match self.root.strip_prefix(dir).ok().and_then(Path::to_str) {
                    Some(prefix) => Anchor::Prepend(format!("{prefix}/")),
                    None => continue,
                },
            };
            rules = Some(Arc::new(Rules {
                file,
                anchor,
                parent: rules,
            }));
        }
        rules
    }

    /// The entry of a path named as an input, found as a walk finds a file (stat'ed and opened
    /// in its directory); `None` when it is a directory or a symlink to one, to be walked.
    fn literal(&self, path: &RelPath, pass: Pass) -> Result<Option<InputFile>, InputError> {
        let unreadable = |source: nix::Error| {
            if source == nix::Error::ENOENT {
                InputError::MissingLiteral(path.clone())
            } else {
                InputError::Read {
                    path: path.clone(),
                    source: source.into(),
                }
            }
        };
        let (dir, name) = path
            .as_str()
            .rsplit_once('/')
            .unwrap_or((".", path.as_str()));
        let full = if dir == "." {
            self.root.clone()
        } else {
            self.root.join(dir)
        };
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let handle = Dir::open(&full, flags, Mode::empty()).map_err(unreadable)?;
        let raw = stat_at(&handle, name)
            .map_err(unreadable)?
            .ok_or_else(|| InputError::MissingLiteral(path.clone()))?;
        match kind_of(FileStat::of_raw(&raw).mode) {
            Some(Type::Directory) => return Ok(None),
            // Where a walk starts, a symlink to a directory is followed.
            Some(Type::Symlink) if leads_to_directory(&handle, name) => return Ok(None),
            Some(_) => {}
            None => {
                return Err(InputError::Read {
                    path: path.clone(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "it is neither a regular file, a directory nor a symlink",
                    ),
                });
            }
        }
        if let Some(file) = self.memoised(pass, path) {
            return Ok(Some(file));
        }
        let mut listing = Listing {
            handle,
            full,
            remembered: self.stat_cache.directory(dir, pass.fresh),
        };
        let fingerprinted = self
            .fingerprint(&mut listing, name, path, &raw)
            .map_err(|source| InputError::Read {
                path: path.clone(),
                source,
            })?;
        match fingerprinted {
            Fingerprinted::Gone => Err(InputError::MissingLiteral(path.clone())),
            Fingerprinted::Changed => Err(InputError::Changed(path.clone())),
            Fingerprinted::Input(file, source) => {
                if let Source::Read(entry) = &source {
                    self.stat_cache.put(dir, vec![(name.to_string(), *entry)]);
                }
                if !matches!(source, Source::StatCache) {
                    self.remember(pass.epoch, std::slice::from_ref(&file));
                }
                Ok(Some(file))
            }
        }
    }

    /// The input entry of the file `name` in the listed directory (stat'ed as `raw`), and where
    /// its hash came from.
    fn fingerprint(
        &self,
        listing: &mut Listing<'_>,
        name: &str,
        path: &RelPath,
        raw: &nix::sys::stat::FileStat,
    ) -> io::Result<Fingerprinted> {
        let stat = FileStat::of_raw(raw);
        let symlink = |listing: &Listing<'_>| {
            let file = symlink_input(path, &listing.full.join(name))?;
            Ok(Fingerprinted::Input(file, Source::Symlink))
        };
        match stat.mode & TYPE_MASK {
            SYMLINK => return symlink(listing),
            REGULAR => {}
            // Listed as a file or symlink, now something else.
            _ => return Ok(Fingerprinted::Changed),
        }
        if let Some(hash) = self.stat_cache.get(&mut listing.remembered, name, &stat) {
            let file = input_file(path, hash, &stat);
            return Ok(Fingerprinted::Input(file, Source::StatCache));
        }
        let started = now_ns();
        let (file, stat) = match open_input(&listing.handle, name)? {
            Opened::File(file, stat) => (file, stat),
            Opened::Symlink => return symlink(listing),
            Opened::Gone => return Ok(Fingerprinted::Gone),
            Opened::Directory | Opened::Special => return Ok(Fingerprinted::Changed),
        };
        let hash = Digest::of_open_file(file, stat.size)?;
        let entry = Entry::new(stat, hash, started);
        Ok(Fingerprinted::Input(
            input_file(path, hash, &stat),
            Source::Read(entry),
        ))
    }
}

/// `path` with its symlinks resolved, as far as it exists: a directory rtask has not made yet is
/// its nearest existing ancestor's real path joined with the rest.
fn real_path(path: &Path) -> PathBuf {
    path.ancestors()
        .find_map(|ancestor| {
            let real = ancestor.canonicalize().ok()?;
            let rest = path.strip_prefix(ancestor).ok()?;
            Some(if rest.as_os_str().is_empty() {
                real
            } else {
                real.join(rest)
            })
        })
        .unwrap_or_else(|| path.to_path_buf())
}

/// `fstatat` of `name` in `dir`, not following a symlink; `None` when it is gone.
fn stat_at<P: ?Sized + nix::NixPath>(
    dir: &Dir,
    name: &P,
) -> nix::Result<Option<nix::sys::stat::FileStat>> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(raw) => Ok(Some(raw)),
        Err(nix::Error::ENOENT) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// Whether the symlink `name` in `dir` leads to a directory. A dangling link, or a loop, does
/// not: it is an input of its own, keyed on its target path.
fn leads_to_directory(dir: &Dir, name: &str) -> bool {
    fstatat(dir, name, AtFlags::empty())
        .is_ok_and(|raw| FileStat::of_raw(&raw).mode & TYPE_MASK == DIRECTORY)
}

fn input_file(path: &RelPath, hash: Digest, stat: &FileStat) -> InputFile {
    InputFile {
        path: path.clone(),
        hash,
        executable: stat.mode & 0o111 != 0,
    }
}

/// What an input's name led to when it was opened for reading.
enum Opened {
    File(File, FileStat),
    Symlink,
    Directory,
    Gone,
    /// A FIFO, socket or device.
    Special,
}

/// Opens the input `name` in `dir` for reading without following a symlink and without
/// blocking: something else (a FIFO) may have taken the name since it was listed. The stat is
/// the open file's, so it describes what is read.
fn open_input(dir: &Dir, name: &str) -> io::Result<Opened> {
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
    let fd = match nix::fcntl::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::Error::ELOOP) => return Ok(Opened::Symlink),
        Err(nix::Error::ENOENT) => return Ok(Opened::Gone),
        // A socket cannot be opened.
        Err(nix::Error::ENXIO) => return Ok(Opened::Special),
        Err(errno) => return Err(errno.into()),
    };
    let file = File::from(fd);
    let metadata = file.metadata()?;
    Ok(if metadata.is_file() {
        Opened::File(file, FileStat::of(&metadata))
    } else if metadata.is_dir() {
        Opened::Directory
    } else {
        Opened::Special
    })
}

/// Where a walked file's hash came from.
enum Source {
    StatCache,
    /// A symlink's target (and its content) was read.
    Symlink,
    /// The content was read: what the stat cache should remember.
    Read(Entry),
}

/// What one call of [`Fingerprinter::inputs`] knew when it started.
#[derive(Clone, Copy)]
struct Pass {
    epoch: u64,
    /// Whether earlier calls memoised anything, and stored anything in the stat cache. What a
    /// call adds itself it need not look up: a walk finds each file once (a literal input inside
    /// a walked directory is found twice, and only costs a second stat then, or a second read
    /// on the first run).
    memo: bool,
    fresh: bool,
}

fn bytes_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// One walk below a base directory: a task per directory on rayon's pool.
struct Walk<'a> {
    fingerprinter: &'a Fingerprinter,
    /// rtask's directories below the walk's base, never searched.
    skipped: Vec<RelPath>,
    keep: &'a (dyn Fn(&Path) -> bool + Sync),
    pass: Pass,
    found: Mutex<Vec<InputFile>>,
    failure: Mutex<Option<InputError>>,
    failed: AtomicBool,
}

/// A directory being listed: open, with its path on disk and what the stat cache remembers.
struct Listing<'a> {
    handle: Dir,
    full: PathBuf,
    remembered: Directory<'a>,
}

/// The kind of an entry from its `st_mode`: `None` for FIFOs, sockets and devices, which are
/// never inputs (a FIFO would block the read forever).
fn kind_of(mode: u32) -> Option<Type> {
    match mode & TYPE_MASK {
        REGULAR => Some(Type::File),
        SYMLINK => Some(Type::Symlink),
        DIRECTORY => Some(Type::Directory),
        _ => None,
    }
}

impl<'w> Walk<'w> {
    /// Lists `dir` and walks below it. `parent`: the open directory holding it (none for the
    /// walk's base, which may be a symlink to a directory); below the base, directories are
    /// opened relative to their parent and never through a symlink.
    fn directory<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        dir: RelPath,
        rules: Option<Arc<Rules>>,
        parent: Option<Arc<OwnedFd>>,
    ) where
        'w: 's,
    {
        if self.failed.load(Ordering::Relaxed) {
            return;
        }
        match self.list(scope, &dir, rules, parent) {
            Ok(mut files) => self
                .found
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(&mut files),
            Err(error) => {
                self.failed.store(true, Ordering::Relaxed);
                self.failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(error);
            }
        }
    }

    /// The inputs directly in `dir`; its subdirectories become tasks of their own. Entries that
    /// vanish while the directory is listed are passed over; one that turns into something
    /// else is an error (the inputs are changing under the walk).
    fn list<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        dir: &RelPath,
        rules: Option<Arc<Rules>>,
        parent: Option<Arc<OwnedFd>>,
    ) -> Result<Vec<InputFile>, InputError>
    where
        'w: 's,
    {
        let fingerprinter = self.fingerprinter;
        let full = dir.to_path(&fingerprinter.root);
        let unreadable = |path: &RelPath, source: nix::Error| InputError::Read {
            path: path.clone(),
            source: source.into(),
        };
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let opened = match &parent {
            None => Dir::open(&full, flags, Mode::empty()),
            Some(parent) => {
                let name = dir.as_str().rsplit('/').next().unwrap_or(dir.as_str());
                Dir::openat(parent, name, flags | OFlag::O_NOFOLLOW, Mode::empty())
            }
        };
        let mut handle = match opened {
            Ok(handle) => handle,
            Err(nix::Error::ENOENT) if parent.is_some() => return Ok(Vec::new()),
            Err(nix::Error::ELOOP | nix::Error::ENOTDIR) if parent.is_some() => {
                return Err(InputError::Changed(dir.clone()));
            }
            Err(errno) => return Err(unreadable(dir, errno)),
        };
        let mut entries = Vec::new();
        let mut not_utf8 = Vec::new();
        for entry in handle.iter() {
            let entry = entry.map_err(|errno| unreadable(dir, errno))?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            match name.to_str() {
                Ok(name) => entries.push((name.to_string(), entry.file_type())),
                Err(_) => not_utf8.push((name.to_owned(), entry.file_type())),
            }
        }
        // In name order, as the stat cache keeps them.
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // Read only when it is a regular file, as git reads it (never through a symlink); a
        // FIFO would block.
        let own = entries
            .iter()
            .any(|(name, kind)| name == ".gitignore" && *kind != Some(Type::Directory))
            .then(|| IgnoreFile::read_in(&handle))
            .flatten();
        let rules = match own {
            Some(file) => Some(Arc::new(Rules {
                file,
                anchor: Anchor::inside(dir),
                parent: rules,
            })),
            None => rules,
        };
        // A name that is not UTF-8 cannot be a key's path: an error if it would count. Below
        // such a directory nothing can be named, so it is an error unless ignore rules skip it.
        for (name, kind) in not_utf8 {
            let mut path = if dir.is_root() {
                Vec::new()
            } else {
                [dir.as_str().as_bytes(), b"/"].concat()
            };
            path.extend_from_slice(name.to_bytes());
            let kind = match kind {
                Some(kind) => Some(kind),
                None => match stat_at(&handle, name.as_c_str()) {
                    Ok(Some(raw)) => kind_of(FileStat::of_raw(&raw).mode),
                    Ok(None) => continue,
                    Err(errno) => {
                        return Err(InputError::Walk(format!(
                            "cannot read `{}`: {}",
                            String::from_utf8_lossy(&path),
                            io::Error::from(errno)
                        )));
                    }
                },
            };
            let counts = match kind {
                Some(Type::Directory) => !Rules::ignores(rules.as_deref(), &path, true),
                Some(Type::File | Type::Symlink) => {
                    (self.keep)(bytes_path(&path))
                        && !Rules::ignores(rules.as_deref(), &path, false)
                }
                _ => false,
            };
            if counts {
                return Err(InputError::Walk(format!(
                    "`{}` is not a valid UTF-8 path: rtask keys inputs by their paths (rename it, \
                     or ignore it in a .gitignore)",
                    String::from_utf8_lossy(&path)
                )));
            }
        }
        let mut listing = Listing {
            handle,
            full,
            remembered: fingerprinter
                .stat_cache
                .directory(dir.as_str(), self.pass.fresh),
        };
        // Shared by the tasks of the subdirectories, which open them relative to it.
        let mut shared: Option<Arc<OwnedFd>> = None;
        let mut files = Vec::new();
        let mut read = Vec::new();
        let mut hashed = Vec::new();
        for (name, kind) in entries {
            let path = dir.join(&name);
            let stat = |handle: &Dir| {
                stat_at(handle, name.as_str()).map_err(|errno| unreadable(&path, errno))
            };
            // Some file systems do not say in the listing: then the stat taken to learn it serves
            // the fingerprint too.
            let (kind, mut raw) = match kind {
                Some(kind) => (kind, None),
                None => match stat(&listing.handle)? {
                    Some(raw) => match kind_of(FileStat::of_raw(&raw).mode) {
                        Some(kind) => (kind, Some(raw)),
                        None => continue,
                    },
                    None => continue,
                },
            };
            match kind {
                Type::Directory => {
                    if protected::is_git(OsStr::new(&name))
                        || self.skipped.contains(&path)
                        || Rules::ignores(rules.as_deref(), path.as_str().as_bytes(), true)
                    {
                        continue;
                    }
                    let holder =
                        match &shared {
                            Some(holder) => Arc::clone(holder),
                            None => {
                                let fd = listing.handle.as_fd().try_clone_to_owned().map_err(
                                    |source| InputError::Read {
                                        path: dir.clone(),
                                        source,
                                    },
                                )?;
                                Arc::clone(shared.insert(Arc::new(fd)))
                            }
                        };
                    let rules = rules.clone();
                    scope.spawn(move |scope| self.directory(scope, path, rules, Some(holder)));
                }
                Type::File | Type::Symlink => {
                    if !(self.keep)(Path::new(path.as_str()))
                        || Rules::ignores(rules.as_deref(), path.as_str().as_bytes(), false)
                    {
                        continue;
                    }
                    if let Some(file) = fingerprinter.memoised(self.pass, &path) {
                        files.push(file);
                        continue;
                    }
                    if raw.is_none() {
                        raw = stat(&listing.handle)?;
                    }
                    let Some(raw) = raw else {
                        continue;
                    };
                    let fingerprinted = fingerprinter
                        .fingerprint(&mut listing, &name, &path, &raw)
                        .map_err(|source| InputError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    match fingerprinted {
                        Fingerprinted::Gone => {}
                        Fingerprinted::Changed => return Err(InputError::Changed(path)),
                        Fingerprinted::Input(file, Source::StatCache) => files.push(file),
                        Fingerprinted::Input(file, source) => {
                            if let Source::Read(entry) = source {
                                hashed.push((name, entry));
                            }
                            read.push(file.clone());
                            files.push(file);
                        }
                    }
                }
                _ => {}
            }
        }
        fingerprinter.remember(self.pass.epoch, &read);
        fingerprinter.stat_cache.put(dir.as_str(), hashed);
        Ok(files)
    }
}

/// What became of a listed file when it was fingerprinted.
enum Fingerprinted {
    Input(InputFile, Source),
    /// It vanished since the listing.
    Gone,
    /// Something else took its name since the listing.
    Changed,
}

/// A symlink input: keyed on its target path and, when the target is a file, its content.
pub(crate) fn symlink_input(path: &RelPath, full: &Path) -> io::Result<InputFile> {
    let target = std::fs::read_link(full)?;
    // Only a regular file's content counts, and only a regular file is opened (opening a FIFO
    // or a device can have effects); the open file is checked again, without blocking.
    let content = match full.metadata() {
        Ok(resolved) if resolved.is_file() => {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(OFlag::O_NONBLOCK.bits())
                .open(full)?;
            let metadata = file.metadata()?;
            if !metadata.is_file() {
                return Err(io::Error::other(
                    "the file it leads to changed while rtask read it",
                ));
            }
            Some(Digest::of_open_file(file, metadata.len())?)
        }
        Ok(_) => None,
        // Dangling, or leading through something that is not a directory: its target path is
        // all there is to key on.
        Err(error)
            if error.kind() == io::ErrorKind::NotFound
                || error.raw_os_error() == Some(nix::libc::ELOOP)
                || error.raw_os_error() == Some(nix::libc::ENOTDIR) =>
        {
            None
        }
        Err(error) => return Err(error),
    };
    let mut hasher = blake3::Hasher::new_derive_key("rtask 1 symlink input");
    hasher.update(symlink_digest(&target).to_hex().as_bytes());
    hasher.update(content.map_or("-".to_string(), Digest::to_hex).as_bytes());
    Ok(InputFile {
        path: path.clone(),
        hash: Digest::from(hasher.finalize()),
        executable: false,
    })
}

/// A symlink's digest is its target's, in a hash domain of its own so no file content can equal it.
pub fn symlink_digest(target: &Path) -> Digest {
    Digest::from(
        blake3::Hasher::new_derive_key("rtask 1 symlink target")
            .update(target.as_os_str().as_encoded_bytes())
            .finalize(),
    )
}

#[cfg(test)]
mod tests;

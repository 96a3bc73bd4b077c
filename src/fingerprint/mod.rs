//! Finding a session's input files and hashing them.
//!
//! A stat cache ([`stat_cache`]) skips reading files whose metadata is unchanged since they
//! were last hashed on this machine.
//!
//! Hashes are memoised for one run, so sessions over the same files read each file once. Any
//! session that runs or restores may change files, so the executor calls
//! [`Fingerprinter::invalidate`] after each; a memoised hash never outlives a write.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ignore::gitignore::Gitignore;
use ignore::{WalkBuilder, WalkState};
use serde::{Deserialize, Serialize};
use thiserror::Error;

mod stat_cache;

use self::stat_cache::{StatCache, now_ns};
use crate::digest::Digest;
use crate::file_stat::FileStat;
use crate::patterns::InputPatterns;
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
}

pub struct Fingerprinter {
    root: PathBuf,
    /// Directories never searched for inputs: `.git`, rtask's own state, the cache.
    skipped: Vec<PathBuf>,
    /// The root of the git repository holding the project, if any.
    repository: Option<PathBuf>,
    epoch: AtomicU64,
    memo: Mutex<HashMap<RelPath, (u64, InputFile)>>,
    stat_cache: StatCache,
}

/// Directory names never searched for inputs.
const SKIPPED_NAMES: &[&str] = &[".git"];

impl Fingerprinter {
    /// `stat_cache`: the file that remembers hashes across runs on this machine, if any.
    pub fn new(root: &Path, skipped: Vec<PathBuf>, stat_cache: Option<PathBuf>) -> Fingerprinter {
        Fingerprinter {
            root: root.to_path_buf(),
            repository: root
                .ancestors()
                .find(|dir| dir.join(".git").exists())
                .map(Path::to_path_buf),
            skipped,
            epoch: AtomicU64::new(0),
            memo: Mutex::new(HashMap::new()),
            stat_cache: StatCache::load(stat_cache),
        }
    }

    /// Keep what this run learnt for the next one. Best effort: the stat cache only saves time.
    pub fn save(&self) {
        drop(self.stat_cache.save());
    }

    /// Forget every memoised hash: files may have changed.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The input files of a session, sorted by path, with their hashes. Files are stat'ed and
    /// hashed by the threads that find them.
    pub fn inputs(&self, patterns: &InputPatterns) -> Result<Vec<InputFile>, InputError> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        // Files hashed earlier in this run (and nothing has run since) are not read again.
        let known: HashMap<RelPath, InputFile> = {
            let memo = self
                .memo
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            memo.iter()
                .filter(|(_, (seen, _))| *seen == epoch)
                .map(|(path, (_, file))| (path.clone(), file.clone()))
                .collect()
        };
        let fingerprint = |path: RelPath| -> Result<(InputFile, bool), InputError> {
            if let Some(file) = known.get(&path) {
                return Ok((file.clone(), false));
            }
            self.hash_input(&path)
                .map_err(|source| InputError::Read { path, source })
        };
        let mut files = Vec::new();
        for base in &patterns.glob_bases {
            let keep = |path: &str| patterns.globs.is_match(path) && !patterns.excluded(path);
            files.extend(self.walk(base, &keep, &fingerprint)?);
        }
        for literal in &patterns.literals {
            let path = literal.to_path(&self.root);
            match path.symlink_metadata() {
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    return Err(InputError::MissingLiteral(literal.clone()));
                }
                Err(source) => {
                    return Err(InputError::Read {
                        path: literal.clone(),
                        source,
                    });
                }
                Ok(metadata) if metadata.is_dir() => {
                    let keep = |path: &str| !patterns.excluded(path);
                    files.extend(self.walk(literal, &keep, &fingerprint)?);
                }
                Ok(_) => files.push(fingerprint(literal.clone())?),
            }
        }
        files.sort_unstable_by(|a, b| a.0.path.cmp(&b.0.path));
        files.dedup_by(|a, b| a.0.path == b.0.path);
        // Only files whose content had to be read are memoised: a stat cache hit costs no more
        // than a memo lookup.
        let mut memo = self
            .memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (file, _) in files.iter().filter(|(_, read)| *read) {
            memo.insert(file.path.clone(), (epoch, file.clone()));
        }
        Ok(files.into_iter().map(|(file, _)| file).collect())
    }

    /// Every file and symlink below `base` that ignore rules do not exclude and `keep` keeps,
    /// found by a parallel walk and fingerprinted by the thread that finds it.
    ///
    /// The rules are those of the `.gitignore` files below `base`, and of those in the
    /// directories above it up to the root of the git repository holding the project (or the
    /// project root outside a repository). They apply to what lies below `base`, never to
    /// `base` itself: naming a directory, or the fixed start of a glob, makes it count.
    fn walk(
        &self,
        base: &RelPath,
        keep: &(dyn Fn(&str) -> bool + Sync),
        fingerprint: &(dyn Fn(RelPath) -> Result<(InputFile, bool), InputError> + Sync),
    ) -> Result<Vec<(InputFile, bool)>, InputError> {
        let start = base.to_path(&self.root);
        if !start.is_dir() {
            return Ok(Vec::new());
        }
        let above = self.ignores_above(&start);
        let skipped = self.skipped.clone();
        let walker = WalkBuilder::new(&start)
            .hidden(false)
            .ignore(false)
            .parents(false)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(false)
            .require_git(false)
            .follow_links(false)
            .filter_entry(move |entry| {
                let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
                if is_dir
                    && (SKIPPED_NAMES.iter().any(|name| entry.file_name() == *name)
                        || skipped.iter().any(|dir| entry.path() == dir))
                {
                    return false;
                }
                above
                    .iter()
                    .map(|rules| rules.matched(entry.path(), is_dir))
                    .find(|matched| !matched.is_none())
                    .is_none_or(|matched| !matched.is_ignore())
            })
            .build_parallel();
        let found = Mutex::new(Vec::new());
        let failure = Mutex::new(None);
        walker.run(|| {
            let mut collector = Collector {
                local: Vec::new(),
                shared: &found,
            };
            let root = &self.root;
            let failure = &failure;
            Box::new(move |entry| {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(error) => {
                        *failure
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(InputError::Walk(error.to_string()));
                        return WalkState::Quit;
                    }
                };
                // Only regular files and symlinks are inputs: a FIFO would block the read forever.
                if !entry
                    .file_type()
                    .is_some_and(|kind| kind.is_file() || kind.is_symlink())
                {
                    return WalkState::Continue;
                }
                let fingerprinted = match RelPath::from_path(root, entry.path()) {
                    Some(path) if keep(path.as_str()) => fingerprint(path),
                    Some(_) => return WalkState::Continue,
                    None => Err(InputError::Walk(format!(
                        "`{}` is not a valid UTF-8 path",
                        entry.path().display()
                    ))),
                };
                match fingerprinted {
                    Ok(file) => {
                        collector.local.push(file);
                        WalkState::Continue
                    }
                    Err(error) => {
                        *failure
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
                        WalkState::Quit
                    }
                }
            })
        });
        if let Some(error) = failure
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            return Err(error);
        }
        Ok(found
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The ignore rules of the directories above `start`, deepest first.
    fn ignores_above(&self, start: &Path) -> Vec<Gitignore> {
        let top = self.repository.as_deref().unwrap_or(&self.root);
        start
            .ancestors()
            .skip(1)
            .take_while(|dir| dir.starts_with(top))
            .map(|dir| dir.join(".gitignore"))
            .filter(|file| file.is_file())
            .map(|file| Gitignore::new(file).0)
            .collect()
    }

    /// The file's input entry, and whether its content had to be read.
    fn hash_input(&self, path: &RelPath) -> io::Result<(InputFile, bool)> {
        let full = path.to_path(&self.root);
        let metadata = full.symlink_metadata()?;
        if metadata.file_type().is_symlink() {
            return Ok((symlink_input(path, &full)?, true));
        }
        if !metadata.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is neither a regular file, a directory nor a symlink",
            ));
        }
        let executable = metadata.permissions().mode() & 0o111 != 0;
        let stat = FileStat::of(&metadata);
        if let Some(hash) = self.stat_cache.get(path.as_str(), &stat) {
            let file = InputFile {
                path: path.clone(),
                hash,
                executable,
            };
            return Ok((file, false));
        }
        let started = now_ns();
        let hash = Digest::of_file_sized(&full, metadata.len())?;
        self.stat_cache.put(path.as_str(), stat, &hash, started);
        let file = InputFile {
            path: path.clone(),
            hash,
            executable,
        };
        Ok((file, true))
    }
}

/// A walker thread's finds, handed over in one go when the thread is done with them.
struct Collector<'a> {
    local: Vec<(InputFile, bool)>,
    shared: &'a Mutex<Vec<(InputFile, bool)>>,
}

impl Drop for Collector<'_> {
    fn drop(&mut self) {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .append(&mut self.local);
    }
}

/// A symlink input: keyed on its target path and, when the target is a file, its content.
fn symlink_input(path: &RelPath, full: &Path) -> io::Result<InputFile> {
    let target = std::fs::read_link(full)?;
    let content = match full.metadata() {
        Ok(resolved) if resolved.is_file() => Some(Digest::of_file(full)?),
        _ => None,
    };
    let mut hasher = blake3::Hasher::new_derive_key("rtask 1 symlink input");
    hasher.update(symlink_digest(&target).as_str().as_bytes());
    hasher.update(content.as_ref().map_or("-", Digest::as_str).as_bytes());
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

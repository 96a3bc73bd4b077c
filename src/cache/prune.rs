//! Keeping the cache bounded: counting what it holds (`rtask cache stats`), and removing the
//! entries used least recently, or not for a while, then the blobs no entry refers to any
//! more (`rtask cache prune`, and after a run when `cache_max_size` is set).
//!
//! An entry's last use is its manifest's modification time: a lookup that finds it sets it,
//! without rewriting the manifest.
//!
//! A prune runs beside other rtask processes sharing the cache (see `usage` for the lock):
//! - it counts the cache and chooses what to remove without any lock;
//! - then, holding the cache exclusively (stores and restores wait, never long: it only
//!   deletes), it removes the chosen manifests first, sparing those used since it counted,
//!   lists the manifests again to learn what stores added meanwhile, and removes only the
//!   blobs that no manifest then refers to and that nobody wrote or reused since it counted;
//! - blobs that no entry referred to when it counted (a store or an import whose manifest is
//!   not written yet, or an interrupted one) are removed only once older than
//!   [`ORPHAN_GRACE`].
//!
//! A store holds the lock shared from its first blob to its manifest, and a restore while it
//! copies, so neither loses a blob to a prune. An entry pruned between a lookup and its
//! restore is a miss: the session runs, never a wrong result.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rayon::iter::{IntoParallelIterator, IntoParallelRefIterator, ParallelIterator};

use super::blob::Encoding;
use super::store::unchecked_marker;
use super::usage::{self, Total};
use crate::digest::Digest;

/// How old a blob no entry refers to must be before a prune removes it: long enough for a
/// store or an import under way to write its manifest.
pub(crate) const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// How often an automatic prune counts the cache even when the running total says it is under
/// its limit (the total misses what other tools or older rtask versions wrote).
const RECOUNT_EVERY: Duration = Duration::from_secs(24 * 3600);

/// An automatic prune leaves the cache at this share of its limit (in percent), so that it is
/// not due again after the next store.
const AUTO_TARGET_PERCENT: u64 = 80;

/// What a prune removes: entries unused for longer than `older_than`, then the least
/// recently used until the cache holds at most `max_size` bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_size: Option<u64>,
    pub older_than: Option<Duration>,
}

/// One entry as counted: its manifest, and the blobs it refers to.
struct Entry {
    path: PathBuf,
    session: String,
    /// The manifest's own bytes.
    bytes: u64,
    last_use: SystemTime,
    refs: BTreeSet<Digest>,
}

struct BlobFile {
    /// Its files: one per encoding it is stored in (almost always one).
    paths: Vec<PathBuf>,
    /// Their bytes on disk.
    size: u64,
    modified: SystemTime,
}

impl BlobFile {
    /// The same blob found in another encoding too.
    fn merge(mut self, other: BlobFile) -> BlobFile {
        self.paths.extend(other.paths);
        self.size += other.size;
        self.modified = self.modified.max(other.modified);
        self
    }
}

/// The cache as counted.
struct Count {
    entries: Vec<Entry>,
    blobs: HashMap<Digest, BlobFile>,
}

impl Count {
    fn total(&self) -> u64 {
        self.entries.iter().map(|entry| entry.bytes).sum::<u64>()
            + self.blobs.values().map(|blob| blob.size).sum::<u64>()
    }

    /// How many entries refer to each blob.
    fn ref_counts(&self) -> HashMap<Digest, usize> {
        let mut counts: HashMap<Digest, usize> = HashMap::new();
        for entry in &self.entries {
            for hash in &entry.refs {
                *counts.entry(*hash).or_default() += 1;
            }
        }
        counts
    }
}

/// What `rtask cache stats` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stats {
    pub entries: usize,
    /// Manifests and blobs, each blob once.
    pub bytes: u64,
    /// Blobs no entry refers to: of an interrupted store, or of a replaced entry.
    pub unreferenced: u64,
    /// By session name.
    pub sessions: Vec<SessionStats>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionStats {
    pub session: String,
    pub entries: usize,
    /// Its manifests and the blobs they refer to (a blob shared with another session counts
    /// for both).
    pub bytes: u64,
    pub last_use: SystemTime,
}

/// What a prune did, and what it left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub entries: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub remaining_entries: usize,
    pub remaining_bytes: u64,
}

/// Count the cache whose layout directory (`<cache_dir>/v1`) is `dir`: `None` when there is
/// none.
pub(crate) fn stats(dir: &Path) -> io::Result<Option<Stats>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let count = count(dir)?;
    let counts = count.ref_counts();
    let unreferenced = count
        .blobs
        .iter()
        .filter(|(hash, _)| !counts.contains_key(hash))
        .map(|(_, blob)| blob.size)
        .sum();
    let mut sessions: BTreeMap<&str, (usize, u64, SystemTime, BTreeSet<Digest>)> = BTreeMap::new();
    for entry in &count.entries {
        let (entries, bytes, last_use, refs) = sessions.entry(&entry.session).or_insert((
            0,
            0,
            SystemTime::UNIX_EPOCH,
            BTreeSet::new(),
        ));
        *entries += 1;
        *bytes += entry.bytes;
        *last_use = (*last_use).max(entry.last_use);
        refs.extend(entry.refs.iter().copied());
    }
    let sessions = sessions
        .into_iter()
        .map(|(session, (entries, bytes, last_use, refs))| SessionStats {
            session: session.to_string(),
            entries,
            bytes: bytes + refs.iter().map(|hash| count.blobs[hash].size).sum::<u64>(),
            last_use,
        })
        .collect();
    Ok(Some(Stats {
        entries: count.entries.len(),
        bytes: count.total(),
        unreferenced,
        sessions,
    }))
}

/// Prune the cache at `dir` to `limits`: `None` when there is no cache.
pub(crate) fn prune(dir: &Path, limits: Limits) -> io::Result<Option<Pruned>> {
    run(dir, |_| limits)
}

/// After a run, with `cache_max_size` set: prune to [`AUTO_TARGET_PERCENT`] of `max_size`
/// when the running total says the cache outgrew it, or when the cache was not counted for
/// [`RECOUNT_EVERY`] and turns out to have; nothing otherwise, without counting. `None` when
/// it did not prune.
pub(crate) fn auto(dir: &Path, max_size: u64) -> io::Result<Option<Pruned>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let total = usage::read(dir);
    let over = total.is_some_and(|total| total.bytes > max_size);
    let stale = total.is_none_or(|total| {
        SystemTime::now()
            .duration_since(total.checked)
            .is_ok_and(|age| age > RECOUNT_EVERY)
    });
    if !over && !stale {
        return Ok(None);
    }
    let target = u64::try_from(u128::from(max_size) * u128::from(AUTO_TARGET_PERCENT) / 100)
        .unwrap_or(max_size);
    run(dir, |counted| Limits {
        max_size: (over || counted > max_size).then_some(target),
        older_than: None,
    })
}

fn run(dir: &Path, limits: impl FnOnce(u64) -> Limits) -> io::Result<Option<Pruned>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let before = usage::read(dir);
    let started = usage::file_clock(dir)?;
    let count = count(dir)?;
    let limits = limits(count.total());
    let doomed = choose(&count, limits, started);
    let pruned = remove(dir, &count, &doomed, started)?;
    settle(dir, pruned.remaining_bytes, before);
    Ok(Some(pruned))
}

/// Record the new total; a failure only means the next automatic prune counts again.
fn settle(dir: &Path, remaining: u64, before: Option<Total>) {
    let _ = usage::settle(dir, remaining, before);
}

/// Which entries to remove (indices into `count.entries`).
fn choose(count: &Count, limits: Limits, started: SystemTime) -> BTreeSet<usize> {
    let mut refs = count.ref_counts();
    let mut total = count.total();
    // Blobs of no entry, old enough to go whatever else goes.
    for (hash, blob) in &count.blobs {
        if !refs.contains_key(hash) && orphan_expired(blob, started) {
            total -= blob.size;
        }
    }
    let mut doomed = BTreeSet::new();
    let mut doom = |index: usize, total: &mut u64, doomed: &mut BTreeSet<usize>| {
        let entry = &count.entries[index];
        doomed.insert(index);
        *total -= entry.bytes;
        for hash in &entry.refs {
            let left = refs.get_mut(hash).expect("every reference was counted");
            *left -= 1;
            if *left == 0 {
                *total -= count.blobs[hash].size;
            }
        }
    };
    let mut by_use: Vec<usize> = (0..count.entries.len()).collect();
    by_use.sort_by_key(|&index| count.entries[index].last_use);
    if let Some(age) = limits.older_than {
        for &index in &by_use {
            let unused = started
                .duration_since(count.entries[index].last_use)
                .unwrap_or_default();
            if unused > age {
                doom(index, &mut total, &mut doomed);
            }
        }
    }
    if let Some(max_size) = limits.max_size {
        for &index in &by_use {
            if total <= max_size {
                break;
            }
            if !doomed.contains(&index) {
                doom(index, &mut total, &mut doomed);
            }
        }
    }
    doomed
}

fn orphan_expired(blob: &BlobFile, started: SystemTime) -> bool {
    started
        .duration_since(blob.modified)
        .is_ok_and(|age| age > ORPHAN_GRACE)
}

/// Whether a file was written or used since the prune started counting.
fn touched_since(path: &Path, started: SystemTime) -> io::Result<bool> {
    Ok(fs::symlink_metadata(path)?.modified()? >= started)
}

/// Remove the chosen entries, then the blobs no manifest refers to any more, holding the cache
/// exclusively.
fn remove(
    dir: &Path,
    count: &Count,
    doomed: &BTreeSet<usize>,
    started: SystemTime,
) -> io::Result<Pruned> {
    let _exclusive = usage::exclusive(dir)?;
    let mut pruned = Pruned::default();
    let mut removed = BTreeSet::new();
    for &index in doomed {
        let entry = &count.entries[index];
        match touched_since(&entry.path, started) {
            // Used since it was counted: a run may be about to restore it.
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        remove_file(&entry.path)?;
        let _ = fs::remove_file(unchecked_marker(&entry.path));
        removed.insert(index);
        pruned.entries += 1;
        pruned.bytes += entry.bytes;
    }
    // What the manifests there now refer to: those kept, and those written meanwhile.
    let counted: HashMap<&Path, &Entry> = count
        .entries
        .iter()
        .map(|entry| (entry.path.as_path(), entry))
        .collect();
    let mut referenced: BTreeSet<Digest> = BTreeSet::new();
    for path in manifest_paths(dir)? {
        match counted.get(path.as_path()) {
            Some(entry) if !touched_since(&path, started).unwrap_or(true) => {
                referenced.extend(entry.refs.iter().copied());
            }
            _ => {
                if let Some(refs) = read_refs(&path) {
                    referenced.extend(refs);
                }
            }
        }
    }
    let was_referenced = count.ref_counts();
    for (hash, blob) in &count.blobs {
        if referenced.contains(hash) {
            continue;
        }
        if !was_referenced.contains_key(hash) && !orphan_expired(blob, started) {
            continue;
        }
        let mut touched = false;
        for path in &blob.paths {
            match touched_since(path, started) {
                // Written again, or reused by a store, since it was counted.
                Ok(true) => touched = true,
                Ok(false) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        if touched {
            continue;
        }
        for path in &blob.paths {
            remove_file(path)?;
        }
        pruned.blobs += 1;
        pruned.bytes += blob.size;
    }
    pruned.remaining_entries = count.entries.len() - removed.len();
    pruned.remaining_bytes = count.total().saturating_sub(pruned.bytes);
    Ok(pruned)
}

fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Read a directory that may not be there (yet, or any more).
fn read_dir(dir: &Path) -> io::Result<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.collect(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// Whether a directory entry is of a kind (not following symlinks).
fn is(entry: &fs::DirEntry, kind: fn(&fs::FileType) -> bool) -> bool {
    entry.file_type().is_ok_and(|file_type| kind(&file_type))
}

/// Every manifest file: `entries/<session>/<key>.json`.
fn manifest_paths(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    // What else lies there (a `.DS_Store`, a directory named `x.json`) is none of rtask's.
    for session in read_dir(&dir.join("entries"))? {
        if !is(&session, fs::FileType::is_dir) {
            continue;
        }
        for entry in read_dir(&session.path())? {
            let path = entry.path();
            // `<key>.json`: another name is none of rtask's.
            let keyed = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .is_some_and(|stem| Digest::try_from(stem.to_string()).is_ok());
            if keyed
                && path.extension().is_some_and(|ext| ext == "json")
                && is(&entry, fs::FileType::is_file)
            {
                paths.push(path);
            }
        }
    }
    Ok(paths)
}

/// Count the cache: every blob, and every manifest with what it refers to (read on rayon's
/// pool: the time goes to reading many small files).
fn count(dir: &Path) -> io::Result<Count> {
    let mut shards = read_dir(&dir.join("blobs"))?;
    shards.retain(|shard| is(shard, fs::FileType::is_dir));
    let found: Vec<Vec<(Digest, BlobFile)>> = shards
        .par_iter()
        .map(|shard| {
            let mut found = Vec::new();
            for file in read_dir(&shard.path())? {
                let Some(hash) = file.file_name().to_str().and_then(Encoding::digest_named) else {
                    continue;
                };
                if !is(&file, fs::FileType::is_file) {
                    continue;
                }
                let metadata = match file.metadata() {
                    Ok(metadata) => metadata,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
                };
                let blob = BlobFile {
                    paths: vec![file.path()],
                    size: metadata.len(),
                    modified: metadata.modified()?,
                };
                found.push((hash, blob));
            }
            Ok(found)
        })
        .collect::<io::Result<_>>()?;
    let mut blobs: HashMap<Digest, BlobFile> = HashMap::new();
    for (hash, blob) in found.into_iter().flatten() {
        let merged = match blobs.remove(&hash) {
            Some(other) => other.merge(blob),
            None => blob,
        };
        blobs.insert(hash, merged);
    }
    let entries: Vec<Option<Entry>> = manifest_paths(dir)?
        .into_par_iter()
        .map(|path| read_entry(path, &blobs))
        .collect::<io::Result<_>>()?;
    Ok(Count {
        entries: entries.into_iter().flatten().collect(),
        blobs,
    })
}

/// One manifest as counted; `None` when it is gone.
fn read_entry(path: PathBuf, blobs: &HashMap<Digest, BlobFile>) -> io::Result<Option<Entry>> {
    let (bytes, metadata) = match fs::read(&path).and_then(|bytes| {
        let metadata = fs::metadata(&path)?;
        Ok((bytes, metadata))
    }) {
        Ok(read) => read,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let value: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let session = value
        .as_ref()
        .and_then(|value| value.get("session")?.as_str().map(str::to_string))
        .unwrap_or_else(|| session_of(&path));
    let mut refs = BTreeSet::new();
    if let Some(value) = &value {
        digests_in(value, &mut refs);
    }
    refs.retain(|hash| blobs.contains_key(hash));
    Ok(Some(Entry {
        path,
        session,
        bytes: metadata.len(),
        last_use: metadata.modified()?,
        refs,
    }))
}

/// The digests a manifest names (to re-read one written while a prune runs).
fn read_refs(path: &Path) -> Option<BTreeSet<Digest>> {
    let value: serde_json::Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    let mut refs = BTreeSet::new();
    digests_in(&value, &mut refs);
    Some(refs)
}

/// Every digest written anywhere in a manifest: its blobs whatever the manifest's format (a
/// digest that names no blob, as the key does, is harmless).
fn digests_in(value: &serde_json::Value, found: &mut BTreeSet<Digest>) {
    match value {
        serde_json::Value::String(text) if text.len() == 64 => {
            if let Ok(hash) = Digest::try_from(text.clone()) {
                found.insert(hash);
            }
        }
        serde_json::Value::Array(values) => {
            for value in values {
                digests_in(value, found);
            }
        }
        serde_json::Value::Object(map) => {
            for value in map.values() {
                digests_in(value, found);
            }
        }
        _ => {}
    }
}

/// The session of a manifest that cannot be read, from its directory's name (`%XX` escapes
/// undone).
fn session_of(path: &Path) -> String {
    let name = path
        .parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| name.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_of_an_unreadable_manifest_comes_from_its_directory() {
        assert_eq!(
            session_of(Path::new("/c/v1/entries/a%28db%3D%27x%27%29/k.json")),
            "a(db='x')"
        );
        assert_eq!(session_of(Path::new("/c/v1/entries/odd%2/k.json")), "odd%2");
    }
}

//! The stat cache: per input path, the file's size, mtime, ctime, inode and mode when it was
//! last hashed, and that hash. A file whose stat is unchanged is not read again.
//!
//! It is an accelerator only, kept per machine in `.rtask/stat-cache` (never in the shareable
//! cache directory): a missing, damaged or foreign file is simply empty, and an entry is trusted
//! only when every stat field matches, so a copied checkout (new inodes and ctimes) rehashes.
//! As in git's racy-index handling, a file modified within [`RACY_NS`] of the moment it was
//! hashed is hashed again next time: its mtime cannot tell a later same-size edit apart.

use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::digest::Digest;
use crate::file_stat::FileStat;

/// Timestamps closer than this to the hashing are not trusted (coarse file system clocks).
pub const RACY_NS: i64 = 2_000_000_000;

const MAGIC: &[u8] = b"rtask stat cache 1\n";

#[derive(Debug, Clone)]
struct Entry {
    stat: FileStat,
    hash: [u8; 32],
    /// When the hashing started, in nanoseconds since the epoch.
    verified_ns: i64,
}

type Entries = HashMap<String, Entry, BuildHasherDefault<FxHasher>>;

pub struct StatCache {
    file: Option<PathBuf>,
    /// What the file held, read by a thread of its own while the inputs are being found.
    loaded: OnceLock<Entries>,
    loading: Mutex<Option<JoinHandle<Entries>>>,
    /// What this run hashed; `any_fresh` spares a no-op run the lock.
    fresh: Mutex<Entries>,
    any_fresh: AtomicBool,
}

/// A fast hasher for in-memory maps keyed by paths (rustc's FxHash); never persisted.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        })
}

impl StatCache {
    /// The cache kept in `file`, read in the background; `None`: nothing is remembered.
    pub fn load(file: Option<PathBuf>) -> StatCache {
        let loading = file.clone().and_then(|file| {
            std::thread::Builder::new()
                .name("rtask-stat-cache".into())
                .spawn(move || read(&file).unwrap_or_default())
                .ok()
        });
        StatCache {
            file,
            loaded: OnceLock::new(),
            loading: Mutex::new(loading),
            fresh: Mutex::new(Entries::default()),
            any_fresh: AtomicBool::new(false),
        }
    }

    fn loaded(&self) -> &Entries {
        self.loaded.get_or_init(|| {
            let handle = self
                .loading
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            handle
                .and_then(|handle| handle.join().ok())
                .unwrap_or_default()
        })
    }

    /// The remembered hash of `path`, if its stat is what it was and not racy; what this run
    /// hashed counts too (the racy rule makes that as safe as what earlier runs hashed).
    pub fn get(&self, path: &str, stat: &FileStat) -> Option<Digest> {
        let trusted = |entry: &Entry| {
            (entry.stat == *stat && stat.mtime_ns < entry.verified_ns - RACY_NS)
                .then(|| Digest::from(blake3::Hash::from_bytes(entry.hash)))
        };
        if let Some(entry) = self.loaded().get(path) {
            return trusted(entry);
        }
        let fresh = self
            .fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fresh.get(path).and_then(trusted)
    }

    /// Remember a hash computed from a read that started at `verified_ns`.
    pub fn put(&self, path: &str, stat: FileStat, hash: &Digest, verified_ns: i64) {
        let Ok(hash) = blake3::Hash::from_hex(hash.as_str()) else {
            return;
        };
        let entry = Entry {
            stat,
            hash: *hash.as_bytes(),
            verified_ns,
        };
        self.fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_string(), entry);
        self.any_fresh.store(true, Ordering::Relaxed);
    }

    /// Write the cache back when this run added to it. Best effort: failing costs speed only.
    pub fn save(&self) -> io::Result<()> {
        let fresh = self
            .fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (Some(file), false) = (&self.file, fresh.is_empty()) else {
            return Ok(());
        };
        let dir = file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        {
            let mut out = io::BufWriter::new(temp.as_file_mut());
            out.write_all(MAGIC)?;
            let kept = self
                .loaded()
                .iter()
                .filter(|(path, _)| !fresh.contains_key(*path));
            for (path, entry) in kept.chain(fresh.iter()) {
                let Ok(length) = u16::try_from(path.len()) else {
                    continue;
                };
                out.write_all(&length.to_le_bytes())?;
                out.write_all(path.as_bytes())?;
                let stat = &entry.stat;
                for number in [stat.size, stat.inode, stat.device] {
                    out.write_all(&number.to_le_bytes())?;
                }
                for number in [stat.mtime_ns, stat.ctime_ns, entry.verified_ns] {
                    out.write_all(&number.to_le_bytes())?;
                }
                out.write_all(&stat.mode.to_le_bytes())?;
                out.write_all(&entry.hash)?;
            }
            out.flush()?;
        }
        temp.persist(file).map_err(|error| error.error)?;
        Ok(())
    }
}

fn read(file: &Path) -> io::Result<Entries> {
    let mut bytes = Vec::new();
    fs::File::open(file)?.read_to_end(&mut bytes)?;
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a stat cache"))?;
    let mut entries = Entries::default();
    let mut reader = Reader { bytes: body };
    while !reader.bytes.is_empty() {
        let length = usize::from(u16::from_le_bytes(reader.take()?));
        let path = String::from_utf8(reader.slice(length)?.to_vec()).map_err(|_| invalid())?;
        let size = u64::from_le_bytes(reader.take()?);
        let inode = u64::from_le_bytes(reader.take()?);
        let device = u64::from_le_bytes(reader.take()?);
        let mtime_ns = i64::from_le_bytes(reader.take()?);
        let ctime_ns = i64::from_le_bytes(reader.take()?);
        let verified_ns = i64::from_le_bytes(reader.take()?);
        let mode = u32::from_le_bytes(reader.take()?);
        let hash = reader.take()?;
        let stat = FileStat {
            size,
            mtime_ns,
            ctime_ns,
            inode,
            device,
            mode,
        };
        entries.insert(
            path,
            Entry {
                stat,
                hash,
                verified_ns,
            },
        );
    }
    Ok(entries)
}

fn invalid() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "damaged stat cache")
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn slice(&mut self, length: usize) -> io::Result<&'a [u8]> {
        if self.bytes.len() < length {
            return Err(invalid());
        }
        let (head, tail) = self.bytes.split_at(length);
        self.bytes = tail;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.slice(N)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_round_trip_and_racy_ones_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, "a").unwrap();
        let stat = FileStat::of(&fs::metadata(&file).unwrap());
        let hash = Digest::of_bytes(b"a");
        let cache_file = dir.path().join("stat-cache");
        let cache = StatCache::load(Some(cache_file.clone()));
        cache.put("a.txt", stat, &hash, now_ns());
        assert_eq!(
            cache.get("a.txt", &stat),
            None,
            "hashed just after a change: racy"
        );
        cache.save().unwrap();
        let reloaded = StatCache::load(Some(cache_file.clone()));
        assert_eq!(
            reloaded.get("a.txt", &stat),
            None,
            "hashed just after a change: racy"
        );
        reloaded.put("a.txt", stat, &hash, stat.mtime_ns + RACY_NS + 1);
        reloaded.save().unwrap();
        let reloaded = StatCache::load(Some(cache_file.clone()));
        assert_eq!(reloaded.get("a.txt", &stat), Some(hash.clone()));
        let mut changed = stat;
        changed.ctime_ns += 1;
        assert_eq!(reloaded.get("a.txt", &changed), None);
        fs::write(&cache_file, b"garbage").unwrap();
        assert_eq!(StatCache::load(Some(cache_file)).get("a.txt", &stat), None);
    }
}

//! The stat cache: per input path, the file's size, mtime, ctime, inode and mode when it was
//! last hashed, and that hash. A file whose stat is unchanged is not read again.
//!
//! It is an accelerator only, kept per machine in `.rtask/stat-cache` (never in the shareable
//! cache directory): a missing, damaged or foreign file is simply empty, and an entry is trusted
//! only when every stat field matches, so a copied checkout (new inodes and ctimes) rehashes.
//! As in git's racy-index handling, a file modified within [`RACY_NS`] of the moment it was
//! hashed is hashed again next time: its mtime cannot tell a later same-size edit apart.
//!
//! Entries are grouped by directory and sorted by name, and the walk asks for a directory's
//! files in name order: one map lookup per directory, then a forward scan through memory that is
//! read in order (a hash table or a binary search per file costs a cache miss or several per
//! file, which at 100,000 files was a tenth of a no-op run). The file is read whole into one
//! buffer and entries are decoded where they lie when asked for: loading only indexes the
//! directories, whose blocks say their own length.
//!
//! Layout: a magic line, then per directory its path (u16 length + bytes), the byte length of its
//! entries (u32) and the entries: name (u16 length + bytes), size, inode, device (u64), mtime,
//! ctime, verified (i64 nanoseconds), mode (u32) and the blake3 hash (32 bytes), little-endian.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::digest::Digest;
use crate::file_stat::FileStat;

/// Timestamps closer than this to the hashing are not trusted (coarse file system clocks).
pub const RACY_NS: i64 = 2_000_000_000;

const MAGIC: &[u8] = b"rtask stat cache 3\n";

#[derive(Debug, Clone, Copy)]
struct Entry {
    stat: FileStat,
    hash: Digest,
    /// When the hashing started, in nanoseconds since the epoch.
    verified_ns: i64,
}

impl Entry {
    /// The hash, if the file's stat is what it was and the entry is not racy.
    fn trusted(&self, stat: &FileStat) -> Option<Digest> {
        (self.stat == *stat && stat.mtime_ns < self.verified_ns - RACY_NS).then_some(self.hash)
    }
}

/// The bytes of an entry after its name.
const ENTRY_FIELDS: usize = 3 * 8 + 3 * 8 + 4 + 32;

/// What the file held.
#[derive(Default)]
struct Loaded {
    bytes: Vec<u8>,
    /// Directory (`.` for the root) → the bytes of its entries, sorted by name.
    directories: HashMap<String, Range<usize>, BuildHasherDefault<FxHasher>>,
}

/// The remembered entries of one directory, asked for in ascending name order.
pub struct Directory<'a> {
    entries: Reader<'a>,
}

impl Directory<'_> {
    /// The entry named `name`; names asked for after it must sort after it. A damaged block
    /// ends the directory: its files are hashed again.
    fn seek(&mut self, name: &str) -> Option<Entry> {
        while self.entries.at < self.entries.bytes.len() {
            let mut ahead = self.entries.clone();
            let length = usize::from(u16::from_le_bytes(ahead.take().ok()?));
            let here = ahead.slice(length).ok()?;
            match ahead.bytes[here].cmp(name.as_bytes()) {
                std::cmp::Ordering::Less => {
                    ahead.slice(ENTRY_FIELDS).ok()?;
                    self.entries = ahead;
                }
                std::cmp::Ordering::Equal => {
                    let entry = read_entry(&mut ahead).ok()?;
                    self.entries = ahead;
                    return Some(entry);
                }
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }
}

pub struct StatCache {
    file: Option<PathBuf>,
    /// What the file held, read by a thread of its own while the inputs are being found.
    loaded: OnceLock<Loaded>,
    loading: Mutex<Option<JoinHandle<Loaded>>>,
    /// What this run hashed, by path; `any_fresh` spares a no-op run the lock.
    fresh: Mutex<HashMap<String, Entry, BuildHasherDefault<FxHasher>>>,
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
            fresh: Mutex::new(HashMap::default()),
            any_fresh: AtomicBool::new(false),
        }
    }

    fn loaded(&self) -> &Loaded {
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

    /// The remembered entries of directory `dir` (a project-relative path, `.` for the root).
    pub fn directory(&self, dir: &str) -> Directory<'_> {
        let loaded = self.loaded();
        let bytes = loaded
            .directories
            .get(dir)
            .map_or(&[][..], |range| &loaded.bytes[range.clone()]);
        Directory {
            entries: Reader { bytes, at: 0 },
        }
    }

    /// The remembered hash of the file `name` in `directory` whose path is `path`, if its stat is
    /// what it was and not racy; what this run hashed counts too (the racy rule makes that as
    /// safe as what earlier runs hashed). A directory's files must be asked for in name order.
    pub fn get(
        &self,
        directory: &mut Directory<'_>,
        name: &str,
        path: &str,
        stat: &FileStat,
    ) -> Option<Digest> {
        if self.any_fresh.load(Ordering::Relaxed) {
            let fresh = self
                .fresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(entry) = fresh.get(path) {
                return entry.trusted(stat);
            }
        }
        directory.seek(name)?.trusted(stat)
    }

    /// Remember a hash computed from a read that started at `verified_ns`.
    pub fn put(&self, path: &str, stat: FileStat, hash: Digest, verified_ns: i64) {
        let entry = Entry {
            stat,
            hash,
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
        // Directory → name → entry, both sorted by their bytes; this run's entries win.
        let mut directories: BTreeMap<&[u8], BTreeMap<&[u8], Entry>> = BTreeMap::new();
        let loaded = self.loaded();
        for (dir, range) in &loaded.directories {
            let names = directories.entry(dir.as_bytes()).or_default();
            let mut entries = Reader {
                bytes: &loaded.bytes[range.clone()],
                at: 0,
            };
            while entries.at < entries.bytes.len() {
                let Ok((name, entry)) = read_named_entry(&mut entries) else {
                    break;
                };
                names.insert(name, entry);
            }
        }
        for (path, entry) in fresh.iter() {
            let (dir, name) = path.rsplit_once('/').unwrap_or((".", path));
            directories
                .entry(dir.as_bytes())
                .or_default()
                .insert(name.as_bytes(), *entry);
        }
        let dir = file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        {
            let mut out = io::BufWriter::new(temp.as_file_mut());
            out.write_all(MAGIC)?;
            for (dir, names) in &directories {
                // Names are at most 255 bytes on every file system; longer ones are not kept.
                let names: Vec<(&[u8], &Entry)> = names
                    .iter()
                    .filter(|(name, _)| u16::try_from(name.len()).is_ok())
                    .map(|(name, entry)| (*name, entry))
                    .collect();
                let size: usize = names
                    .iter()
                    .map(|(name, _)| 2 + name.len() + ENTRY_FIELDS)
                    .sum();
                let (Ok(length), Ok(size)) = (u16::try_from(dir.len()), u32::try_from(size)) else {
                    continue;
                };
                out.write_all(&length.to_le_bytes())?;
                out.write_all(dir)?;
                out.write_all(&size.to_le_bytes())?;
                for (name, entry) in names {
                    write_entry(&mut out, name, entry)?;
                }
            }
            out.flush()?;
        }
        temp.persist(file).map_err(|error| error.error)?;
        Ok(())
    }
}

fn write_entry(out: &mut impl Write, name: &[u8], entry: &Entry) -> io::Result<()> {
    let length = u16::try_from(name.len()).map_err(|_| invalid())?;
    out.write_all(&length.to_le_bytes())?;
    out.write_all(name)?;
    let stat = &entry.stat;
    for number in [stat.size, stat.inode, stat.device] {
        out.write_all(&number.to_le_bytes())?;
    }
    for number in [stat.mtime_ns, stat.ctime_ns, entry.verified_ns] {
        out.write_all(&number.to_le_bytes())?;
    }
    out.write_all(&stat.mode.to_le_bytes())?;
    out.write_all(entry.hash.as_bytes())
}

fn read(file: &Path) -> io::Result<Loaded> {
    let mut bytes = Vec::new();
    fs::File::open(file)?.read_to_end(&mut bytes)?;
    if !bytes.starts_with(MAGIC) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a stat cache",
        ));
    }
    let mut directories = HashMap::default();
    let mut reader = Reader {
        bytes: &bytes,
        at: MAGIC.len(),
    };
    while reader.at < bytes.len() {
        let length = usize::from(u16::from_le_bytes(reader.take()?));
        let dir = std::str::from_utf8(&bytes[reader.slice(length)?])
            .map_err(|_| invalid())?
            .to_string();
        let size = usize::try_from(u32::from_le_bytes(reader.take()?)).map_err(|_| invalid())?;
        directories.insert(dir, reader.slice(size)?);
    }
    Ok(Loaded { bytes, directories })
}

fn read_named_entry<'a>(reader: &mut Reader<'a>) -> io::Result<(&'a [u8], Entry)> {
    let length = usize::from(u16::from_le_bytes(reader.take()?));
    let name = reader.slice(length)?;
    let name = &reader.bytes[name];
    Ok((name, read_entry(reader)?))
}

/// The fields of an entry after its name.
fn read_entry(reader: &mut Reader<'_>) -> io::Result<Entry> {
    let size = u64::from_le_bytes(reader.take()?);
    let inode = u64::from_le_bytes(reader.take()?);
    let device = u64::from_le_bytes(reader.take()?);
    let mtime_ns = i64::from_le_bytes(reader.take()?);
    let ctime_ns = i64::from_le_bytes(reader.take()?);
    let verified_ns = i64::from_le_bytes(reader.take()?);
    let mode = u32::from_le_bytes(reader.take()?);
    let hash = Digest::from_bytes(reader.take()?);
    let stat = FileStat {
        size,
        mtime_ns,
        ctime_ns,
        inode,
        device,
        mode,
    };
    Ok(Entry {
        stat,
        hash,
        verified_ns,
    })
}

fn invalid() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "damaged stat cache")
}

/// Reads fields from a byte buffer, handing out positions rather than borrows.
#[derive(Clone)]
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn slice(&mut self, length: usize) -> io::Result<Range<usize>> {
        let end = self.at.checked_add(length).ok_or_else(invalid)?;
        if end > self.bytes.len() {
            return Err(invalid());
        }
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    fn take<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let range = self.slice(N)?;
        let mut out = [0; N];
        out.copy_from_slice(&self.bytes[range]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(cache: &StatCache, path: &str, stat: &FileStat) -> Option<Digest> {
        let (dir, name) = path.rsplit_once('/').unwrap_or((".", path));
        cache.get(&mut cache.directory(dir), name, path, stat)
    }

    #[test]
    fn entries_survive_a_round_trip_and_racy_ones_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        fs::write(&file, "a").unwrap();
        let stat = FileStat::of(&fs::metadata(&file).unwrap());
        let hash = Digest::of_bytes(b"a");
        let cache_file = dir.path().join("stat-cache");
        let cache = StatCache::load(Some(cache_file.clone()));
        cache.put("a.txt", stat, hash, now_ns());
        assert_eq!(
            lookup(&cache, "a.txt", &stat),
            None,
            "hashed just after a change: racy"
        );
        cache.save().unwrap();
        let reloaded = StatCache::load(Some(cache_file.clone()));
        assert_eq!(
            lookup(&reloaded, "a.txt", &stat),
            None,
            "hashed just after a change: racy"
        );
        reloaded.put("a.txt", stat, hash, stat.mtime_ns + RACY_NS + 1);
        reloaded.save().unwrap();
        let reloaded = StatCache::load(Some(cache_file.clone()));
        assert_eq!(lookup(&reloaded, "a.txt", &stat), Some(hash));
        let mut changed = stat;
        changed.ctime_ns += 1;
        assert_eq!(lookup(&reloaded, "a.txt", &changed), None);
        fs::write(&cache_file, b"garbage").unwrap();
        assert_eq!(
            lookup(&StatCache::load(Some(cache_file)), "a.txt", &stat),
            None
        );
    }

    #[test]
    fn directories_and_names_are_found_after_saves_that_merge() {
        let dir = tempfile::tempdir().unwrap();
        let cache_file = dir.path().join("stat-cache");
        let stat = FileStat {
            size: 1,
            mtime_ns: 0,
            ctime_ns: 0,
            inode: 1,
            device: 1,
            mode: 0o100_644,
        };
        let paths = ["z", "a", "d/e/b", "d/e/a.txt", "d/e.txt", "d/e/a"];
        let cache = StatCache::load(Some(cache_file.clone()));
        for path in &paths[..3] {
            cache.put(path, stat, Digest::of_bytes(path.as_bytes()), RACY_NS + 1);
        }
        cache.save().unwrap();
        let cache = StatCache::load(Some(cache_file.clone()));
        for path in &paths[3..] {
            cache.put(path, stat, Digest::of_bytes(path.as_bytes()), RACY_NS + 1);
        }
        cache.save().unwrap();
        let cache = StatCache::load(Some(cache_file));
        for path in paths {
            assert_eq!(
                lookup(&cache, path, &stat),
                Some(Digest::of_bytes(path.as_bytes())),
                "{path}"
            );
        }
        assert_eq!(lookup(&cache, "d/e/c", &stat), None);
        assert_eq!(lookup(&cache, "e/b", &stat), None);
    }
}

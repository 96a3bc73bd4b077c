//! The stat cache: per input file, its size, mtime, ctime, inode, device and mode when it was
//! last hashed, and that hash. A file whose stat is unchanged is not read again.
//!
//! It is an accelerator only, kept per machine in `.rtask/stat-cache` (never in the shareable
//! cache directory): a missing, damaged or foreign file is simply empty, and an entry is trusted
//! only when every stat field matches, so a copied checkout (new inodes and ctimes) rehashes.
//! As in git's racy-index handling, a file modified within [`RACY_NS`] of the moment it was
//! hashed is hashed again next time: its mtime cannot tell a later same-size edit apart. Unlike
//! git, the ctime counts too: an edit whose mtime is put back (`touch -d`) still sets the ctime,
//! which on a file system with one-second timestamps may equal the ctime already remembered.
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

use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::digest::Digest;
use crate::file_stat::FileStat;

/// Timestamps closer than this to the hashing are not trusted (coarse file system clocks).
pub const RACY_NS: i64 = 2_000_000_000;

const MAGIC: &[u8] = b"rtask stat cache 3\n";

/// What the stat cache knows of one file.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    stat: FileStat,
    hash: Digest,
    /// When the hashing started, in nanoseconds since the epoch.
    verified_ns: i64,
}

impl Entry {
    /// A hash computed from a read that started at `verified_ns`.
    pub fn new(stat: FileStat, hash: Digest, verified_ns: i64) -> Entry {
        Entry {
            stat,
            hash,
            verified_ns,
        }
    }

    /// The hash, if the file's stat is what it was and the entry is not racy.
    fn trusted(&self, stat: &FileStat) -> Option<Digest> {
        let changed = stat.mtime_ns.max(stat.ctime_ns);
        (self.stat == *stat && changed < self.verified_ns - RACY_NS).then_some(self.hash)
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

/// What this run hashed in one directory, sorted by name.
type Block = Arc<Vec<(String, Entry)>>;

impl Loaded {
    /// The bytes of the entries of directory `dir` (none when it holds none).
    fn entries(&self, dir: &str) -> &[u8] {
        self.directories
            .get(dir)
            .map_or(&[][..], |range| &self.bytes[range.clone()])
    }
}

/// The remembered entries of one directory, asked for in ascending name order.
pub struct Directory<'a> {
    entries: Reader<'a>,
    /// What this run hashed here, if the asker looks at that too.
    fresh: Block,
    fresh_next: usize,
}

impl Directory<'_> {
    /// This run's entry named `name`; names asked for after it must sort after it.
    fn seek_fresh(&mut self, name: &str) -> Option<Entry> {
        while let Some((here, entry)) = self.fresh.get(self.fresh_next) {
            match here.as_str().cmp(name) {
                std::cmp::Ordering::Less => self.fresh_next += 1,
                std::cmp::Ordering::Equal => return Some(*entry),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    /// The loaded entry named `name`; names asked for after it must sort after it. A damaged
    /// block ends the directory: its files are hashed again.
    fn seek(&mut self, name: &str) -> Option<Entry> {
        while self.entries.at < self.entries.bytes.len() {
            let mut ahead = self.entries.clone();
            match read_name(&mut ahead).ok()?.cmp(name.as_bytes()) {
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
    /// What this run hashed, by directory; `any_fresh` spares a walk that comes before any the
    /// lock.
    fresh: Mutex<HashMap<String, Block, BuildHasherDefault<FxHasher>>>,
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

    /// Whether this run hashed anything yet: a walk that starts before it did need not look
    /// among its own new entries, since it visits each file once.
    pub fn any_fresh(&self) -> bool {
        self.any_fresh.load(Ordering::Relaxed)
    }

    /// The remembered entries of directory `dir` (a project-relative path, `.` for the root);
    /// `fresh`: whether what this run hashed is looked at too.
    pub fn directory(&self, dir: &str, fresh: bool) -> Directory<'_> {
        let bytes = self.loaded().entries(dir);
        let fresh = if fresh {
            let blocks = self
                .fresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            blocks.get(dir).cloned().unwrap_or_default()
        } else {
            Block::default()
        };
        Directory {
            entries: Reader { bytes, at: 0 },
            fresh,
            fresh_next: 0,
        }
    }

    /// The remembered hash of the file `name` in `directory`, if its stat is what it was and
    /// not racy; what this run hashed counts too, and first (the racy rule makes that as safe as
    /// what earlier runs hashed). A directory's files must be asked for in name order.
    pub fn get(
        &self,
        directory: &mut Directory<'_>,
        name: &str,
        stat: &FileStat,
    ) -> Option<Digest> {
        if let Some(entry) = directory.seek_fresh(name) {
            return entry.trusted(stat);
        }
        directory.seek(name)?.trusted(stat)
    }

    /// Remember what was hashed in directory `dir`, by name.
    pub fn put(&self, dir: &str, mut hashed: Vec<(String, Entry)>) {
        if hashed.is_empty() {
            return;
        }
        let mut blocks = self
            .fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let block = Arc::make_mut(blocks.entry(dir.to_string()).or_default());
        // The newest first, so that the stable sort keeps it ahead of an older entry.
        hashed.append(block);
        hashed.sort_by(|a, b| a.0.cmp(&b.0));
        hashed.dedup_by(|later, earlier| later.0 == earlier.0);
        *block = hashed;
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
        let loaded = self.loaded();
        let mut directories: Vec<&str> = fresh
            .keys()
            .chain(loaded.directories.keys())
            .map(String::as_str)
            .collect();
        directories.sort_unstable();
        directories.dedup();
        let dir = file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        {
            let mut out = io::BufWriter::new(temp.as_file_mut());
            out.write_all(MAGIC)?;
            for dir in directories {
                let mut entries = Reader {
                    bytes: loaded.entries(dir),
                    at: 0,
                };
                let mut kept = Vec::new();
                while entries.at < entries.bytes.len() {
                    let Ok(named) = read_named_entry(&mut entries) else {
                        break;
                    };
                    kept.push(named);
                }
                let names = merge(fresh.get(dir).map_or(&[][..], |block| block), &kept);
                let size: usize = names
                    .iter()
                    .map(|(name, _)| 2 + name.len() + ENTRY_FIELDS)
                    .sum();
                let (Ok(length), Ok(size)) = (u16::try_from(dir.len()), u32::try_from(size)) else {
                    continue;
                };
                out.write_all(&length.to_le_bytes())?;
                out.write_all(dir.as_bytes())?;
                out.write_all(&size.to_le_bytes())?;
                for (name, entry) in names {
                    write_entry(&mut out, name, &entry)?;
                }
            }
            out.flush()?;
        }
        temp.persist(file).map_err(|error| error.error)?;
        Ok(())
    }
}

/// This run's entries and the loaded ones of a directory, both sorted by name, as one sorted
/// list in which this run's entry of a name wins; names too long to store are left out.
fn merge<'a>(fresh: &'a [(String, Entry)], loaded: &[(&'a [u8], Entry)]) -> Vec<(&'a [u8], Entry)> {
    let mut merged = Vec::with_capacity(fresh.len() + loaded.len());
    let (mut new, mut old) = (fresh.iter().peekable(), loaded.iter().peekable());
    loop {
        let next = match (new.peek(), old.peek()) {
            (Some((name, entry)), Some((old_name, old_entry))) => {
                match name.as_bytes().cmp(old_name) {
                    std::cmp::Ordering::Greater => {
                        old.next();
                        (*old_name, *old_entry)
                    }
                    ordering => {
                        if ordering == std::cmp::Ordering::Equal {
                            old.next();
                        }
                        new.next();
                        (name.as_bytes(), *entry)
                    }
                }
            }
            (Some((name, entry)), None) => {
                new.next();
                (name.as_bytes(), *entry)
            }
            (None, Some((old_name, old_entry))) => {
                old.next();
                (*old_name, *old_entry)
            }
            (None, None) => break,
        };
        // Names are at most 255 bytes on every file system; longer ones are not kept.
        if u16::try_from(next.0.len()).is_ok() {
            merged.push(next);
        }
    }
    merged
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
    Ok((read_name(reader)?, read_entry(reader)?))
}

/// An entry's name.
fn read_name<'a>(reader: &mut Reader<'a>) -> io::Result<&'a [u8]> {
    let length = usize::from(u16::from_le_bytes(reader.take()?));
    let name = reader.slice(length)?;
    Ok(&reader.bytes[name])
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
        cache.get(&mut cache.directory(dir, true), name, stat)
    }

    fn put(cache: &StatCache, path: &str, stat: FileStat, hash: Digest, verified_ns: i64) {
        let (dir, name) = path.rsplit_once('/').unwrap_or((".", path));
        cache.put(
            dir,
            vec![(name.to_string(), Entry::new(stat, hash, verified_ns))],
        );
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
        put(&cache, "a.txt", stat, hash, now_ns());
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
        put(
            &reloaded,
            "a.txt",
            stat,
            hash,
            stat.ctime_ns.max(stat.mtime_ns) + RACY_NS + 1,
        );
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
        // Two saves, the second merging into what the first wrote.
        for batch in [&paths[..3], &paths[3..]] {
            let cache = StatCache::load(Some(cache_file.clone()));
            for path in batch {
                let hash = Digest::of_bytes(path.as_bytes());
                put(&cache, path, stat, hash, RACY_NS + 1);
            }
            cache.save().unwrap();
        }
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

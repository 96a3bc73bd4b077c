//! The list of input files kept beside each entry, to explain later misses: compact, and split
//! into chunks that entries share wherever their inputs agree.
//!
//! A chunk holds, for each file in path order, its path front-coded against the previous path of
//! the chunk (the length of the prefix they share, then the rest), a byte of flags (the
//! executable bit) and the first [`PREFIX_LEN`] bytes of its content digest; it is
//! zstd-compressed and stored as an ordinary blob, so that entries holding the same chunk store
//! it once.
//!
//! Where chunks end depends on the paths alone: past [`MIN_FILES`] files, a file ends its chunk
//! when a hash of its path says so (one file in [`SPREAD`]), or when the chunk is full
//! ([`MAX_FILES`] files, [`MAX_BYTES`] bytes). A changed file therefore changes its own chunk
//! only, and an added or removed one its chunk and rarely the next few.
//!
//! The digests are truncated because the list only names the files a miss differs by: the key
//! holds full digests of every file. Two contents whose digests agree on their first 8 bytes
//! (about one chance in 2^64) make a changed file look unchanged here, which can only make an
//! explanation say less (that the input files changed, with counts), never make a miss a hit.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use thiserror::Error;

use super::manifest::Manifest;
use super::store::Store;
use crate::digest::Digest;
use crate::fingerprint::InputFile;
use crate::relpath::RelPath;

/// The bytes of a file's content digest a list keeps.
pub const PREFIX_LEN: usize = 8;

/// The start of a content digest: enough to tell which file of a list changed.
pub type Prefix = [u8; PREFIX_LEN];

/// The fewest files a chunk holds (but the last), so that chunks vary less in size.
const MIN_FILES: usize = 128;

/// Past [`MIN_FILES`], a file ends its chunk when the hash of its path is a multiple of this:
/// chunks hold 512 files on average.
const SPREAD: u64 = 384;

/// The most files a chunk holds.
const MAX_FILES: usize = 2048;

/// The most bytes a chunk holds before compression, and a chunk that decompresses to more is
/// refused: a hostile chunk cannot make a reader allocate more. (A path too long to fit, far
/// beyond what file systems allow, gets a chunk of its own that is refused: the explanation
/// then falls back to counts.)
const MAX_BYTES: usize = 256 * 1024;

/// The zstd level: fast, and most of the gain.
const LEVEL: i32 = 3;

/// The flag of an executable file.
const EXECUTABLE: u8 = 1;

/// One file of a stored list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: RelPath,
    pub prefix: Prefix,
    pub executable: bool,
}

impl Listed {
    /// Whether `file` has the content this file had (as far as the digest's prefix tells).
    pub fn same_content(&self, file: &InputFile) -> bool {
        self.prefix == prefix(&file.hash)
    }
}

/// Why a chunk cannot be read.
#[derive(Debug, Error)]
pub enum Undecodable {
    #[error("cannot decompress it: {0}")]
    Compression(std::io::Error),
    #[error("it ends in the middle of a file")]
    Truncated,
    #[error("a path shares more than the previous path holds")]
    Prefix,
    #[error("a path is not UTF-8")]
    NotUtf8,
    #[error("`{0}` is not a normalised relative path")]
    Path(String),
    #[error("its paths are not in order")]
    Order,
    #[error("a file has unknown flags")]
    Flags,
}

/// The list of input files of an entry, in path order: its chunks, decoded.
pub struct StoredInputs(Vec<Arc<[Listed]>>);

impl StoredInputs {
    pub fn iter(&self) -> impl Iterator<Item = &Listed> {
        self.0.iter().flat_map(|chunk| chunk.iter())
    }
}

/// Reads the lists of input files of entries, each chunk once (entries share most of theirs).
pub struct InputLists<'a> {
    store: &'a Store,
    decoded: HashMap<Digest, Arc<[Listed]>>,
}

impl<'a> InputLists<'a> {
    pub fn new(store: &'a Store) -> InputLists<'a> {
        InputLists {
            store,
            decoded: HashMap::new(),
        }
    }

    /// The list of an entry, if every chunk of it can be read and they hold, in order, as many
    /// files as its key counts. Chunks not read yet are read in parallel.
    pub fn of(&mut self, manifest: &Manifest) -> Option<StoredInputs> {
        let chunks = &manifest.inputs.chunks;
        let missing: Vec<_> = chunks
            .iter()
            .filter(|chunk| !self.decoded.contains_key(&chunk.hash))
            .collect();
        // Every chunk is read, even after one fails: reading a damaged chunk discards it, so
        // that the next entry writes it afresh rather than referring to it again.
        let read: Vec<Option<(Digest, Vec<Listed>)>> = missing
            .par_iter()
            .map_init(Decoder::new, |decoder, chunk| {
                let bytes = self.store.read_blob(chunk).ok()?;
                Some((chunk.hash, decoder.as_mut().ok()?.decode(&bytes).ok()?))
            })
            .collect();
        let read: Vec<(Digest, Vec<Listed>)> = read.into_iter().collect::<Option<_>>()?;
        self.decoded
            .extend(read.into_iter().map(|(hash, files)| (hash, files.into())));
        let list = StoredInputs(
            chunks
                .iter()
                .map(|chunk| self.decoded.get(&chunk.hash).cloned())
                .collect::<Option<_>>()?,
        );
        // Each chunk is in order: so is the list when each chunk starts after the last ends.
        let ordered = list
            .0
            .windows(2)
            .all(|pair| match (pair[0].last(), pair[1].first()) {
                (Some(last), Some(first)) => last.path < first.path,
                _ => false,
            });
        let count: usize = list.0.iter().map(|chunk| chunk.len()).sum();
        (ordered && count == manifest.ingredients.inputs.count).then_some(list)
    }
}

/// The start of `digest`, as a list keeps it.
pub fn prefix(digest: &Digest) -> Prefix {
    let mut prefix = [0; PREFIX_LEN];
    prefix.copy_from_slice(&digest.as_bytes()[..PREFIX_LEN]);
    prefix
}

/// The compressed chunks of `files`, which must be sorted by path.
pub fn encode(files: &[InputFile]) -> std::io::Result<Vec<Vec<u8>>> {
    let mut chunks = Vec::new();
    let mut chunk = Vec::new();
    let mut in_chunk = 0;
    let mut previous = "";
    for file in files {
        let path = file.path.as_str();
        // The most bytes its record can take: two varints, the path, the flags, the prefix.
        let most = 2 * 10 + path.len() + 1 + PREFIX_LEN;
        if in_chunk > 0 && chunk.len() + most > MAX_BYTES {
            chunks.push(zstd::bulk::compress(&chunk, LEVEL)?);
            chunk.clear();
            (in_chunk, previous) = (0, "");
        }
        let shared = shared_prefix(previous, path);
        push_varint(&mut chunk, shared);
        push_varint(&mut chunk, path.len() - shared);
        chunk.extend_from_slice(&path.as_bytes()[shared..]);
        chunk.push(if file.executable { EXECUTABLE } else { 0 });
        chunk.extend_from_slice(&prefix(&file.hash));
        (in_chunk, previous) = (in_chunk + 1, path);
        if in_chunk == MAX_FILES || (in_chunk >= MIN_FILES && ends_chunk(path)) {
            chunks.push(zstd::bulk::compress(&chunk, LEVEL)?);
            chunk.clear();
            (in_chunk, previous) = (0, "");
        }
    }
    if in_chunk > 0 {
        chunks.push(zstd::bulk::compress(&chunk, LEVEL)?);
    }
    Ok(chunks)
}

/// Reads chunks, with one decompression context and buffer for all of them.
pub struct Decoder {
    decompressor: zstd::bulk::Decompressor<'static>,
    raw: Vec<u8>,
}

impl Decoder {
    pub fn new() -> std::io::Result<Decoder> {
        Ok(Decoder {
            decompressor: zstd::bulk::Decompressor::new()?,
            raw: Vec::with_capacity(MAX_BYTES),
        })
    }

    /// The files of a compressed chunk, checked: in order, with normalised paths.
    pub fn decode(&mut self, compressed: &[u8]) -> Result<Vec<Listed>, Undecodable> {
        self.raw.clear();
        self.decompressor
            .decompress_to_buffer(compressed, &mut self.raw)
            .map_err(Undecodable::Compression)?;
        parse(&self.raw)
    }
}

/// The files of a decompressed chunk.
fn parse(raw: &[u8]) -> Result<Vec<Listed>, Undecodable> {
    let mut files = Vec::new();
    let mut rest = raw;
    let mut previous = String::new();
    while !rest.is_empty() {
        let shared = take_varint(&mut rest)?;
        let added = take_varint(&mut rest)?;
        if shared > previous.len() {
            return Err(Undecodable::Prefix);
        }
        let suffix = take(&mut rest, added)?;
        let mut bytes = Vec::with_capacity(shared + added);
        bytes.extend_from_slice(&previous.as_bytes()[..shared]);
        bytes.extend_from_slice(suffix);
        let text = String::from_utf8(bytes).map_err(|_| Undecodable::NotUtf8)?;
        let executable = match take(&mut rest, 1)? {
            [0] => false,
            [EXECUTABLE] => true,
            _ => return Err(Undecodable::Flags),
        };
        let prefix: Prefix = take(&mut rest, PREFIX_LEN)?
            .try_into()
            .map_err(|_| Undecodable::Truncated)?;
        if !previous.is_empty() && text <= previous {
            return Err(Undecodable::Order);
        }
        let path = match RelPath::parse(&text) {
            Ok(path) if path.as_str() == text && text != "." => path,
            _ => return Err(Undecodable::Path(text)),
        };
        files.push(Listed {
            path,
            prefix,
            executable,
        });
        previous = text;
    }
    Ok(files)
}

/// Whether `path` may end its chunk: a mixed FNV-1a hash of it is a multiple of [`SPREAD`].
/// Part of the format: changing it changes every chunk.
fn ends_chunk(path: &str) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // The finaliser of splitmix64, so that the low bits depend on every byte.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    hash % SPREAD == 0
}

/// The length of the longest common prefix of `a` and `b`, in bytes.
fn shared_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// LEB128: seven bits a byte, low bits first.
fn push_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(rest: &mut &[u8]) -> Result<usize, Undecodable> {
    let mut value: usize = 0;
    for shift in (0..usize::BITS).step_by(7) {
        let [byte] = take(rest, 1)? else {
            return Err(Undecodable::Truncated);
        };
        value |= usize::from(byte & 0x7f)
            .checked_shl(shift)
            .ok_or(Undecodable::Truncated)?;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Undecodable::Truncated)
}

fn take<'a>(rest: &mut &'a [u8], count: usize) -> Result<&'a [u8], Undecodable> {
    if rest.len() < count {
        return Err(Undecodable::Truncated);
    }
    let (taken, left) = rest.split_at(count);
    *rest = left;
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(index: usize) -> InputFile {
        InputFile {
            path: RelPath::parse(&format!("src/d{:03}/f{index:06}.py", index / 100)).unwrap(),
            hash: Digest::of_bytes(format!("content {index}").as_bytes()),
            executable: index % 7 == 0,
        }
    }

    fn files(count: usize) -> Vec<InputFile> {
        (0..count).map(file).collect()
    }

    fn decode(chunks: &[Vec<u8>]) -> Vec<Listed> {
        let mut decoder = Decoder::new().unwrap();
        chunks
            .iter()
            .flat_map(|chunk| decoder.decode(chunk).unwrap())
            .collect()
    }

    #[test]
    fn a_list_decodes_to_what_was_encoded() {
        let files = files(5000);
        let chunks = encode(&files).unwrap();
        assert!(chunks.len() > 1);
        let listed = decode(&chunks);
        assert_eq!(listed.len(), files.len());
        for (listed, file) in listed.iter().zip(&files) {
            assert_eq!(listed.path, file.path);
            assert!(listed.same_content(file));
            assert_eq!(listed.executable, file.executable);
        }
        assert!(encode(&[]).unwrap().is_empty());
    }

    #[test]
    fn one_changed_added_or_removed_file_changes_few_chunks() {
        let before = encode(&files(20_000)).unwrap();
        let changed_at = |after: &[Vec<u8>]| after.iter().filter(|c| !before.contains(c)).count();
        let mut changed = files(20_000);
        changed[12_345].hash = Digest::of_bytes(b"other");
        assert_eq!(changed_at(&encode(&changed).unwrap()), 1);
        let mut removed = files(20_000);
        removed.remove(777);
        assert!(changed_at(&encode(&removed).unwrap()) <= 2);
        let mut added = files(20_000);
        added.insert(
            9000,
            InputFile {
                path: RelPath::parse("src/d090/f009000b.py").unwrap(),
                hash: Digest::of_bytes(b"new"),
                executable: false,
            },
        );
        assert!(changed_at(&encode(&added).unwrap()) <= 2);
    }

    #[test]
    fn long_paths_fill_chunks_by_size() {
        let long = "x".repeat(3000);
        let files: Vec<InputFile> = (0..300)
            .map(|index| InputFile {
                path: RelPath::parse(&format!("{index:04}{long}")).unwrap(),
                hash: Digest::of_bytes(&[index as u8]),
                executable: false,
            })
            .collect();
        let chunks = encode(&files).unwrap();
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        assert_eq!(decode(&chunks).len(), 300);
    }

    #[test]
    fn damaged_chunks_are_refused() {
        let chunk = encode(&files(10)).unwrap().remove(0);
        let raw = zstd::bulk::decompress(&chunk, MAX_BYTES).unwrap();
        let mut decoder = Decoder::new().unwrap();
        let mut refused = |raw: &[u8]| {
            let compressed = zstd::bulk::compress(raw, LEVEL).unwrap();
            decoder.decode(&compressed).is_err()
        };
        assert!(refused(&raw[..raw.len() - 1]));
        assert!(refused(&[5, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(refused(&[0, 2, b'/', b'a', 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(refused(&[0, 1, b'a', 9, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(refused(&[0xff; 20]));
        let mut out_of_order = raw.clone();
        out_of_order.extend_from_slice(&raw);
        assert!(refused(&out_of_order));
        assert!(Decoder::new().unwrap().decode(b"not zstd").is_err());
        let too_long = zstd::bulk::compress(&vec![0; MAX_BYTES + 1], LEVEL).unwrap();
        assert!(Decoder::new().unwrap().decode(&too_long).is_err());
    }
}

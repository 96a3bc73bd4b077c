//! The local store: content-addressed blobs, and one manifest per key.
//!
//! ```text
//! <cache_dir>/CACHEDIR.TAG
//! <cache_dir>/v1/blobs/<2 hex>/<64 hex>[.zst]     file contents and logs (see `blob.rs`)
//! <cache_dir>/v1/entries/<session>/<key>.json     manifests
//! <cache_dir>/v1/tmp/run-XXXXXXXX/                 one run's temporary files, renamed into
//!                                                  place (see `temps`)
//! ```
//!
//! Every write goes to a temporary file in the store and is renamed into place, and a manifest
//! is written only after all its blobs, so readers never see a partial entry and two processes
//! sharing a store never corrupt it.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempfile::NamedTempFile;
use thiserror::Error;

use super::blob::{BlobReader, BlobWriter, Encoding, Written};
use super::input_list;
use super::manifest::{Blob, Format, InputList, MANIFEST_FORMAT, Manifest, OutputEntry};
use super::outputs::{FoundKind, FoundOutput};
use super::temps::{self, Temps};
use super::usage::{self, InUse};
use crate::digest::Digest;
use crate::fingerprint::InputFile;
use crate::key::Ingredients;
use crate::python::Realised;
use crate::relpath::RelPath;

const LAYOUT: &str = "v1";

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This directory is a cache made by rtask (https://github.com/rtask).\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

pub struct Store {
    cache_dir: PathBuf,
    dir: PathBuf,
    temps: Temps,
}

/// The result of looking a key up. Only a miss gives a [`Writer`], so only a miss can store.
pub enum Lookup {
    Hit(Box<Manifest>),
    Miss(Writer, Miss),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    NoEntry,
    /// The entry exists but cannot be used.
    Unusable(EntryProblem),
}

/// Why an entry that exists cannot be used: it is then a miss, with this reason printed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryProblem {
    #[error("cannot read `{}`: {error}", path.display())]
    Unreadable { path: PathBuf, error: String },
    #[error("manifest `{}` is damaged: {error}", path.display())]
    Damaged { path: PathBuf, error: String },
    #[error("entry has manifest format {found}, this rtask reads format {MANIFEST_FORMAT}")]
    Format { found: u32 },
    #[error("manifest `{}` does not match its key", path.display())]
    KeyMismatch { path: PathBuf },
    #[error("stored {what} {flaw}")]
    Blob { what: Stored, flaw: BlobFlaw },
    /// A check made while restoring refused the entry.
    #[error("refusing to restore `{path}`: {why}")]
    Unsafe { path: RelPath, why: String },
    /// It came from a remote cache or a bundle without a signature check, and this run has a
    /// signing key: nothing vouches for it.
    #[error(
        "it came from a remote cache or a bundle without a signature check, and `RTASK_CACHE_SIGNING_KEY` is set"
    )]
    Unchecked,
    /// A restore found an output's stored copy damaged, or missing from the entry.
    #[error("stored copy of `{path}` is damaged: {why}")]
    DamagedOutput { path: RelPath, why: String },
}

/// What a blob of an entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Output(RelPath),
    Log,
    /// The list of input files, kept to explain later misses.
    Inputs,
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stored::Output(path) => write!(f, "copy of output `{path}`"),
            Stored::Log => f.write_str("log"),
            Stored::Inputs => f.write_str("list of inputs"),
        }
    }
}

/// Whether an entry received from elsewhere had its signature checked: an unchecked one is
/// marked, so that it is never signed again by an export (which would vouch for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Its signature was checked with this run's signing key.
    Signed,
    /// No signing key was set: nothing vouches for it.
    Unchecked,
}

/// Why a blob or an entry received from elsewhere was not stored.
#[derive(Debug, Error)]
pub enum Received {
    #[error("blob {0}")]
    Mismatch(BlobFlaw),
    #[error(transparent)]
    Entry(EntryProblem),
    #[error("cannot write to the cache: {0}")]
    Io(io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BlobFlaw {
    #[error("is missing")]
    Missing,
    #[error("has the wrong size")]
    WrongSize,
    #[error("does not match its digest")]
    WrongDigest,
}

/// Whether a store may replace an entry already stored under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replace {
    /// A miss: an entry another process stored meanwhile is kept (it is as good).
    Never,
    /// `--force`, or an entry found unusable: the new result replaces it.
    Always,
}

/// The right to store one entry: obtained from a miss (or by forcing a re-run of a hit).
pub struct Writer {
    session: String,
    key: Digest,
    replace: Replace,
    /// Held from the first blob staged until the manifest is stored, so that no prune removes
    /// a blob the entry is about to refer to.
    hold: OnceLock<InUse>,
}

/// What a successful run produced, to be stored.
pub struct Run<'a> {
    pub ingredients: Ingredients,
    pub inputs: &'a [InputFile],
    pub outputs: &'a [FoundOutput],
    /// The log, written while the commands ran (see [`Store::blob_writer`]).
    pub log: Written<NamedTempFile>,
    /// The whole session, making its environment included.
    pub duration: Duration,
    /// Its commands alone.
    pub commands: Duration,
    pub posargs: &'a [String],
    /// What the session's environment held.
    pub environment: Option<Realised>,
}

impl Store {
    pub fn new(cache_dir: &Path) -> Store {
        let dir = cache_dir.join(LAYOUT);
        Store {
            cache_dir: cache_dir.to_path_buf(),
            temps: Temps::new(dir.join("tmp")),
            dir,
        }
    }

    pub fn lookup(&self, session: &str, key: &Digest) -> Lookup {
        let miss = |reason| {
            Lookup::Miss(
                Writer {
                    session: session.to_string(),
                    key: *key,
                    replace: match reason {
                        Miss::NoEntry => Replace::Never,
                        Miss::Unusable(_) => Replace::Always,
                    },
                    hold: OnceLock::new(),
                },
                reason,
            )
        };
        match self.read_entry(session, key) {
            Ok(Some(manifest)) => Lookup::Hit(Box::new(manifest)),
            Ok(None) => miss(Miss::NoEntry),
            Err(reason) => miss(Miss::Unusable(reason)),
        }
    }

    /// Replace an entry: a hit re-run with `--force`, or one whose restore found it unusable.
    pub fn overwrite(&self, manifest: &Manifest) -> Writer {
        Writer {
            session: manifest.session.clone(),
            key: manifest.key,
            replace: Replace::Always,
            hold: OnceLock::new(),
        }
    }

    /// The layout directory (`<cache_dir>/v1`), which prune counts and bounds.
    pub(crate) fn layout_dir(&self) -> &Path {
        &self.dir
    }

    /// Hold the cache against prunes while reading an entry's blobs (see `usage`).
    pub(crate) fn in_use(&self) -> InUse {
        usage::in_use(&self.dir)
    }

    /// An entry is restored: its last use is now. Its manifest's time is set, the manifest left
    /// as it is (it may be signed); a cache this process may not change is left alone. Looking
    /// an entry up (`-l`, `--dry-run`) is no use of it.
    pub(crate) fn used(&self, manifest: &Manifest) {
        let _ = File::open(self.entry_path(&manifest.session, &manifest.key))
            .and_then(|file| file.set_modified(SystemTime::now()));
    }

    fn read_entry(&self, session: &str, key: &Digest) -> Result<Option<Manifest>, EntryProblem> {
        let path = self.entry_path(session, key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(EntryProblem::Unreadable {
                    path,
                    error: error.to_string(),
                });
            }
        };
        self.check_entry(&path, &bytes, session, key).map(Some)
    }

    /// Parse an entry's manifest and check it: its format, that it is the entry of `session`
    /// at `key`, and that every blob it names is stored with the right size. `path` names it
    /// in problems.
    fn check_entry(
        &self,
        path: &Path,
        bytes: &[u8],
        session: &str,
        key: &Digest,
    ) -> Result<Manifest, EntryProblem> {
        let damaged = |error: serde_json::Error| EntryProblem::Damaged {
            path: path.to_path_buf(),
            error: error.to_string(),
        };
        // The format first: an older manifest may not parse as this one.
        let Format { format } = serde_json::from_slice(bytes).map_err(damaged)?;
        if format != MANIFEST_FORMAT {
            return Err(EntryProblem::Format { found: format });
        }
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(damaged)?;
        if &manifest.key != key || &manifest.ingredients.key() != key || manifest.session != session
        {
            return Err(EntryProblem::KeyMismatch {
                path: path.to_path_buf(),
            });
        }
        for (what, blob) in manifest.blobs() {
            if what == Stored::Inputs {
                continue;
            }
            self.check_blob(blob)
                .map_err(|flaw| EntryProblem::Blob { what, flaw })?;
        }
        Ok(manifest)
    }

    /// The bytes of an entry's manifest as stored, to copy the entry to another store
    /// (`None`: no entry).
    pub fn entry_bytes(&self, session: &str, key: &Digest) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.entry_path(session, key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Whether a blob is stored with the right size (its bytes are checked when read).
    pub fn has_blob(&self, blob: &Blob) -> bool {
        self.check_blob(blob).is_ok()
    }

    /// Store a blob received from elsewhere (a remote cache, a bundle), checked against the
    /// digest and size it must have: bytes that do not match are never stored.
    pub fn receive_blob(
        &self,
        reader: &mut impl io::Read,
        expected: &Blob,
    ) -> Result<(), Received> {
        let mut writer = self.blob_writer().map_err(Received::Io)?;
        copy(reader, &mut writer).map_err(Received::Io)?;
        let written = writer.finish().map_err(Received::Io)?;
        let Blob { hash, size } = written.blob;
        if hash != expected.hash || size != expected.size {
            return Err(Received::Mismatch(if size == expected.size {
                BlobFlaw::WrongDigest
            } else {
                BlobFlaw::WrongSize
            }));
        }
        self.keep_blob(written).map_err(Received::Io)?;
        Ok(())
    }

    /// Store an entry received from elsewhere, once its blobs are: checked as one read from
    /// this store is, then written without replacing an entry stored under the same key (it is
    /// as good). Returns the manifest.
    pub fn receive_entry(
        &self,
        session: &str,
        key: &Digest,
        bytes: &[u8],
        provenance: Provenance,
    ) -> Result<Manifest, Received> {
        let path = self.entry_path(session, key);
        let manifest = self
            .check_entry(&path, bytes, session, key)
            .map_err(Received::Entry)?;
        if path.exists() {
            // The entry stored here is as good, and keeps its own provenance.
            return Ok(manifest);
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(Received::Io)?;
        }
        let marker = unchecked_marker(&path);
        if provenance == Provenance::Unchecked {
            // Marked before it exists, so that no moment shows it unmarked.
            fs::write(&marker, b"").map_err(Received::Io)?;
        }
        let mut temp = self.temp_file().map_err(Received::Io)?;
        temp.write_all(bytes).map_err(Received::Io)?;
        match temp.persist_noclobber(&path) {
            Ok(_) => {
                usage::add(&self.dir, entry_bytes(bytes.len(), &manifest));
                Ok(manifest)
            }
            Err(error) if error.error.kind() == io::ErrorKind::AlreadyExists => Ok(manifest),
            Err(error) => {
                let _ = fs::remove_file(&marker);
                Err(Received::Io(error.error))
            }
        }
    }

    /// Whether an entry came from a remote cache or a bundle without a signature check.
    pub fn is_unchecked(&self, session: &str, key: &Digest) -> bool {
        unchecked_marker(&self.entry_path(session, key)).exists()
    }

    fn check_blob(&self, blob: &Blob) -> Result<(), BlobFlaw> {
        self.locate_blob(blob).map(|_| ())
    }

    /// A blob's file, open, in whichever encoding holds the right size: checked without
    /// reading it. `Missing` when no file holds it, `WrongSize` when one does with another size.
    fn locate_blob(&self, blob: &Blob) -> Result<(File, Encoding), BlobFlaw> {
        let mut flaw = BlobFlaw::Missing;
        for encoding in Encoding::ALL {
            let Ok(file) = File::open(self.blob_path(&blob.hash, encoding)) else {
                continue;
            };
            match encoding.stored_size(&file) {
                Ok(Some(size)) if size == blob.size => return Ok((file, encoding)),
                Ok(_) => flaw = BlobFlaw::WrongSize,
                Err(_) => flaw = BlobFlaw::Missing,
            }
        }
        Err(flaw)
    }

    /// The newest entry stored for a session, to explain a miss.
    pub fn newest(&self, session: &str) -> Option<Manifest> {
        let (_, newest) = self
            .entry_files(session)
            .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
            .max()?;
        serde_json::from_slice(&fs::read(newest).ok()?).ok()
    }

    /// Whether any entry is stored for a session (readable or not).
    pub fn has_entries(&self, session: &str) -> bool {
        self.entry_files(session).next().is_some()
    }

    /// Every entry stored for a session that can be read, in no order (to explain a miss).
    pub fn entries(&self, session: &str) -> Vec<Manifest> {
        self.entry_files(session)
            .filter_map(|entry| serde_json::from_slice(&fs::read(entry.path()).ok()?).ok())
            .collect()
    }

    /// The manifest files stored for a session (not the marks beside received entries).
    fn entry_files(&self, session: &str) -> impl Iterator<Item = fs::DirEntry> {
        let dir = self.dir.join("entries").join(escape(session));
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
    }

    /// Store the list of input files (sorted by path) as chunks, each a blob: a chunk stored
    /// already, by this entry's predecessors, is not written again.
    fn put_inputs(&self, files: &[InputFile]) -> io::Result<InputList> {
        let mut chunks = Vec::new();
        for bytes in input_list::encode(files)? {
            let blob = Blob {
                hash: Digest::of_bytes(&bytes),
                size: bytes.len() as u64,
            };
            // Read back rather than only found: a chunk damaged in place (its size unchanged)
            // is discarded and written afresh, never referred to by one more entry.
            if self.read_blob(&blob).is_err() {
                self.put_blob(&mut &bytes[..])?;
            }
            chunks.push(blob);
        }
        Ok(InputList { chunks })
    }

    fn blob_path(&self, hash: &Digest, encoding: Encoding) -> PathBuf {
        let hex = hash.to_hex();
        self.dir
            .join("blobs")
            .join(&hex[..2])
            .join(encoding.file_name(hash))
    }

    /// A stream of a blob's bytes (decoded), not checked against its digest yet: whoever
    /// reads it checks what passed (see [`BlobReader::failed`] for read errors).
    pub(crate) fn open_blob(&self, blob: &Blob) -> Result<BlobReader, BlobFlaw> {
        let (file, encoding) = self.locate_blob(blob)?;
        BlobReader::new(file, encoding, blob).map_err(|_| BlobFlaw::Missing)
    }

    /// A stream of a blob's bytes, read through once to check them against its digest first
    /// (a damaged copy is discarded): what it gives is what the entry stored. It reads the
    /// same open file, so a copy replaced meanwhile does not matter.
    pub(crate) fn checked_blob(&self, blob: &Blob) -> Result<BlobReader, BlobFlaw> {
        let mut reader = self.open_blob(blob)?;
        let mut hasher = blake3::Hasher::new();
        let read = copy(&mut reader, &mut hasher);
        if read.ok() != Some(blob.size) || Digest::from(hasher.finalize()) != blob.hash {
            self.discard_blob(&blob.hash);
            return Err(BlobFlaw::WrongDigest);
        }
        reader.restart(blob).map_err(|_| BlobFlaw::Missing)
    }

    /// A blob's bytes, checked against its digest (a damaged copy is discarded).
    pub fn read_blob(&self, blob: &Blob) -> Result<Vec<u8>, BlobFlaw> {
        let mut bytes = Vec::new();
        let read = self.open_blob(blob)?.read_to_end(&mut bytes);
        if read.is_err() || bytes.len() as u64 != blob.size || Digest::of_bytes(&bytes) != blob.hash
        {
            self.discard_blob(&blob.hash);
            return Err(BlobFlaw::WrongDigest);
        }
        Ok(bytes)
    }

    /// Delete a blob found damaged, in any encoding, so that the next store writes it afresh.
    pub fn discard_blob(&self, hash: &Digest) {
        for encoding in Encoding::ALL {
            let _ = fs::remove_file(self.blob_path(hash, encoding));
        }
    }

    fn entry_path(&self, session: &str, key: &Digest) -> PathBuf {
        self.dir
            .join("entries")
            .join(escape(session))
            .join(format!("{key}.json"))
    }

    /// A temporary file in the store (on the file system of its blobs, to be renamed into
    /// place), removed when dropped unless persisted; if this process is killed first, the
    /// next run removes it.
    pub(crate) fn temp_file(&self) -> io::Result<NamedTempFile> {
        self.temps.file(|| self.initialise())
    }

    /// A temporary file in `dir`, where a restore writes before renaming into place: it
    /// matches no output glob, and if this process is killed first the next run removes it.
    pub(crate) fn restore_temp_file(&self, dir: &Path) -> io::Result<NamedTempFile> {
        self.temps.restore_file(dir, || self.initialise())
    }

    /// Remove the temporary files killed runs left, in the store and where they restored to;
    /// never a live run's. Cheap: reads the store's `tmp/` only.
    pub(crate) fn reclaim_temps(&self) {
        temps::reclaim(&self.dir.join("tmp"))
    }

    fn initialise(&self) -> io::Result<()> {
        fs::create_dir_all(self.dir.join("tmp"))?;
        for (name, contents) in [("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", "*\n")] {
            let path = self.cache_dir.join(name);
            if !path.exists() {
                fs::write(path, contents)?;
            }
        }
        Ok(())
    }

    /// A writer of a new blob, into a temporary file of the store: compressed when it pays,
    /// hashed as it goes. [`Store::keep_blob`] stores what it wrote.
    pub(crate) fn blob_writer(&self) -> io::Result<BlobWriter<NamedTempFile>> {
        Ok(BlobWriter::new(self.temp_file()?))
    }

    /// Store `reader`'s bytes as a blob, named by their digest.
    fn put_blob(&self, reader: &mut impl io::Read) -> io::Result<Blob> {
        let mut writer = self.blob_writer()?;
        copy(reader, &mut writer)?;
        self.keep_blob(writer.finish()?)
    }

    /// Rename a written blob into place, unless the store has it already (in any encoding).
    pub(crate) fn keep_blob(&self, written: Written<NamedTempFile>) -> io::Result<Blob> {
        let Written {
            out: temp,
            blob,
            encoding,
        } = written;
        if let Ok((file, _)) = self.locate_blob(&blob) {
            // Reused: a prune that counted it unused must now leave it.
            let _ = file.set_modified(SystemTime::now());
            return Ok(blob);
        }
        let path = self.blob_path(&blob.hash, encoding);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        temp.persist(&path).map_err(|error| error.error)?;
        Ok(blob)
    }
}

impl Writer {
    /// Store a successful run's files as blobs, and make its manifest (not stored yet: see
    /// [`Writer::commit`]).
    pub fn stage(&self, store: &Store, root: &Path, run: Run<'_>) -> io::Result<Manifest> {
        self.hold.get_or_init(|| store.in_use());
        let mut outputs = Vec::with_capacity(run.outputs.len());
        for found in run.outputs {
            let path = found.path.clone();
            outputs.push(match &found.kind {
                FoundKind::File { mode } => {
                    let mut file = File::open(found.path.to_path(root))?;
                    OutputEntry::File {
                        path,
                        blob: store.put_blob(&mut file)?,
                        mode: *mode,
                    }
                }
                FoundKind::Dir { mode } => OutputEntry::Dir { path, mode: *mode },
                FoundKind::Symlink { target } => OutputEntry::Symlink {
                    path,
                    target: target.clone(),
                },
            });
        }
        let log = store.keep_blob(run.log)?;
        let inputs = store.put_inputs(run.inputs)?;
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            rtask_version: env!("CARGO_PKG_VERSION").to_string(),
            session: self.session.clone(),
            key: self.key,
            created_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_millis() as u64),
            duration_ms: run.duration.as_millis() as u64,
            commands_ms: Some(run.commands.as_millis() as u64),
            posargs: run.posargs.to_vec(),
            ingredients: run.ingredients,
            environment: run.environment,
            outputs,
            log,
            inputs,
        };
        Ok(manifest)
    }

    /// Store a staged manifest: the entry exists from now on. Its blobs are stored already, so
    /// readers never see a partial entry.
    pub fn commit(self, store: &Store, manifest: &Manifest) -> io::Result<()> {
        let path = store.entry_path(&manifest.session, &manifest.key);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut temp = store.temp_file()?;
        {
            let mut out = io::BufWriter::new(temp.as_file_mut());
            serde_json::to_writer_pretty(&mut out, manifest)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        let written = temp.as_file().metadata()?.len();
        match self.replace {
            Replace::Always => {
                temp.persist(&path).map_err(|error| error.error)?;
                usage::add(&store.dir, entry_bytes(written, manifest));
                // This run's own result: whatever was received unchecked is gone.
                match fs::remove_file(unchecked_marker(&path)) {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                    _ => {}
                }
            }
            Replace::Never => match temp.persist_noclobber(&path) {
                Ok(_) => usage::add(&store.dir, entry_bytes(written, manifest)),
                // Another process stored this key meanwhile: its entry is as good as this one.
                Err(error) if error.error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error.error),
            },
        }
        Ok(())
    }
}

/// Copy all of `reader` to `writer`, a megabyte at a time.
fn copy(reader: &mut impl io::Read, writer: &mut impl Write) -> io::Result<u64> {
    let mut buffer = vec![0; 1024 * 1024];
    let mut total = 0;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        writer.write_all(&buffer[..read])?;
        total += read as u64;
    }
}

/// What storing an entry added to the cache at most: its manifest and all its blobs.
fn entry_bytes(manifest_bytes: impl TryInto<u64>, manifest: &Manifest) -> u64 {
    let blobs: u64 = manifest.blobs().map(|(_, blob)| blob.size).sum();
    blobs.saturating_add(manifest_bytes.try_into().unwrap_or(u64::MAX))
}

/// Beside an entry received without a signature check: `<key>.json.unchecked`.
pub(crate) fn unchecked_marker(entry: &Path) -> PathBuf {
    let mut name = entry.as_os_str().to_os_string();
    name.push(".unchecked");
    PathBuf::from(name)
}

/// A session name as a file name: anything but `[A-Za-z0-9_.-]` becomes `%XX`.
fn escape(session: &str) -> String {
    let mut out = String::with_capacity(session.len());
    for byte in session.bytes() {
        if byte.is_ascii_alphanumeric() || b"_.-".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_escape_to_safe_file_names() {
        assert_eq!(escape("unit_tests-3.11"), "unit_tests-3.11");
        assert_eq!(escape("a(db='x')/b"), "a%28db%3D%27x%27%29%2Fb");
    }
}

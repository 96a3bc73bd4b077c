//! Reading a bundle into the store, trusting nothing in it.
//!
//! The archive is read once, in order. The index and the manifests come first: each entry is
//! checked (its manifest parses, is of the session and key the index says, is signed with the
//! key when `RTASK_CACHE_SIGNING_KEY` is set, is of a session of this project, and would be
//! restored by it: no unsafe path) before any blob is read. Then the blobs those entries need
//! are stored, each checked against the digest and size its manifest gives; then each entry
//! whose blobs are all there. Members are never unpacked as paths: those named as an export
//! names them are routed into the store, every other one (links, devices, other names) is
//! ignored. Decompression is bounded by the sizes the manifests give, so a small file cannot
//! make rtask read without end.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use super::{BUNDLE_FORMAT, Index, IndexEntry, IndexFormat, Member};
use crate::cache::manifest::{Blob, MANIFEST_FORMAT, Manifest};
use crate::cache::restore::{self, RestoreError, Target};
use crate::cache::signing::{SignatureProblem, SigningKey};
use crate::cache::store::{BlobFlaw, Provenance, Received, Store, Stored};
use crate::digest::Digest;
use crate::error::Error;
use crate::project::Project;
use crate::protected::Protected;

/// At most this much is read for the index and the manifests together.
const METADATA_MAX: u64 = 256 * 1024 * 1024;
/// What a tar member costs besides its data (its header, extended headers, padding), and a
/// margin for the end of the archive and the small members an import ignores.
const MEMBER_OVERHEAD: u64 = 2048;
const MARGIN: u64 = 1024 * 1024;

/// Where an import goes, and what it trusts.
pub(crate) struct Importer<'a> {
    pub store: &'a Store,
    pub project: &'a Project,
    pub protected: &'a Protected,
    pub signing: Option<&'a SigningKey>,
}

/// What became of each entry of a bundle, in the bundle's order.
#[derive(Debug)]
pub(crate) struct Imported {
    pub entries: Vec<(EntryName, Fate)>,
    /// Blobs stored, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
    /// Members that are not part of a bundle: links, devices, other names.
    pub ignored: usize,
    /// The archive could not be read to its end (the entries whose blobs were not read are
    /// refused).
    pub cut: Option<io::Error>,
}

/// An entry as the bundle's index names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EntryName {
    pub session: String,
    pub key: Digest,
}

#[derive(Debug)]
pub(crate) enum Fate {
    Imported,
    /// The cache holds this entry already: it is kept.
    Present,
    Skipped(Skip),
    Refused(Refusal),
}

/// Why an entry is left out without being wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// This project has no session of that name.
    UnknownSession,
    /// The session declares other outputs here: its key here can never be this entry's.
    OtherOutputs,
    /// The index lists it again.
    Duplicate,
}

/// Why an entry is refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The bundle holds no manifest for it (before its blobs).
    NoManifest,
    /// Its manifest cannot be read.
    Damaged(String),
    Format {
        found: u32,
    },
    /// Its manifest is of another session or key than the index says.
    NotItsEntry,
    /// Its manifest's key is not the key of its ingredients.
    KeyMismatch,
    Signature(SignatureProblem),
    /// A restore would refuse it: a path it must not write, a link out of the project, a
    /// declared output missing.
    Unsafe(RestoreError),
    /// The bundle's copy of one of its blobs is wrong, or missing.
    Blob {
        what: Stored,
        flaw: BlobFlaw,
    },
    /// The store did not take it.
    Store(Received),
}

/// An entry that passed its checks, waiting for its blobs.
struct Accepted<'b> {
    position: usize,
    manifest: Manifest,
    bytes: &'b [u8],
}

impl Importer<'_> {
    pub(crate) fn import(&self, path: &Path) -> Result<Imported, Error> {
        let file = File::open(path).map_err(|source| Error::BundleRead {
            path: path.to_path_buf(),
            source,
        })?;
        let meter = Rc::new(Meter {
            read: Cell::new(0),
            limit: Cell::new(METADATA_MAX),
        });
        let decoder = zstd::Decoder::new(file).map_err(|error| not_a_bundle(path, error))?;
        let mut archive = tar::Archive::new(Metered {
            inner: decoder,
            meter: Rc::clone(&meter),
        });
        let mut members = archive
            .entries()
            .map_err(|error| not_a_bundle(path, error))?;
        let head = read_head(&mut members, path)?;
        let (mut fates, accepted) = self.decide(&head.index, &head.manifests);

        // The blobs: those the accepted entries need and the store lacks are read; the rest
        // are skipped, within what the manifests say they weigh.
        meter.limit.set(
            meter
                .read
                .get()
                .saturating_add(allowance(head.manifests.values())),
        );
        let mut receiving = Receiving {
            store: self.store,
            wanted: BTreeMap::new(),
            flawed: BTreeMap::new(),
            blobs: 0,
            bytes: 0,
            ignored: head.ignored,
        };
        for accepted in &accepted {
            for (_, blob) in accepted.manifest.blobs() {
                if !self.store.has_blob(blob) {
                    receiving.wanted.insert(blob.hash, blob.clone());
                }
            }
        }
        let cut = receiving.receive_all(head.first_blob, members)?;

        for accepted in accepted {
            let entry = &head.index.entries[accepted.position];
            fates[accepted.position] = Some(self.store_entry(entry, &accepted, &receiving)?);
        }
        Ok(Imported {
            entries: head
                .index
                .entries
                .iter()
                .zip(fates)
                .map(|(entry, fate)| (entry.name(), fate.unwrap_or(Fate::Imported)))
                .collect(),
            blobs: receiving.blobs,
            bytes: receiving.bytes,
            ignored: receiving.ignored,
            cut,
        })
    }

    /// Decide each entry of the index from its manifest, before any blob is read: its fate, or
    /// `None` and a place among those accepted, whose blobs are to be read.
    fn decide<'m>(
        &self,
        index: &Index,
        manifests: &'m BTreeMap<usize, Vec<u8>>,
    ) -> (Vec<Option<Fate>>, Vec<Accepted<'m>>) {
        let mut fates = Vec::with_capacity(index.entries.len());
        let mut accepted = Vec::new();
        let mut seen = BTreeSet::new();
        for (position, entry) in index.entries.iter().enumerate() {
            let name = entry.name();
            let bytes = manifests.get(&position).map(Vec::as_slice);
            let fate = if !seen.insert(name.clone()) {
                Some(Fate::Skipped(Skip::Duplicate))
            } else {
                match self.check(entry, bytes) {
                    Err(fate) => Some(fate),
                    Ok(_) if self.present(&name) => Some(Fate::Present),
                    Ok(manifest) => {
                        accepted.push(Accepted {
                            position,
                            manifest,
                            bytes: bytes.unwrap_or_default(),
                        });
                        None
                    }
                }
            };
            fates.push(fate);
        }
        (fates, accepted)
    }

    /// Check an entry before any blob is read: the manifest it comes with (`None`: none).
    fn check(&self, entry: &IndexEntry, bytes: Option<&[u8]>) -> Result<Manifest, Fate> {
        let refuse = |refusal| Err(Fate::Refused(refusal));
        let Some(session) = self
            .project
            .sessions
            .iter()
            .find(|session| session.name == entry.session)
        else {
            return Err(Fate::Skipped(Skip::UnknownSession));
        };
        let Some(bytes) = bytes else {
            return refuse(Refusal::NoManifest);
        };
        match serde_json::from_slice::<IndexFormat>(bytes) {
            Ok(IndexFormat { format }) if format != MANIFEST_FORMAT => {
                return refuse(Refusal::Format { found: format });
            }
            Ok(_) => {}
            Err(error) => return refuse(Refusal::Damaged(error.to_string())),
        }
        let manifest: Manifest = match serde_json::from_slice(bytes) {
            Ok(manifest) => manifest,
            Err(error) => return refuse(Refusal::Damaged(error.to_string())),
        };
        if manifest.session != entry.session || manifest.key != entry.key {
            return refuse(Refusal::NotItsEntry);
        }
        if manifest.ingredients.key() != manifest.key {
            return refuse(Refusal::KeyMismatch);
        }
        if let Some(key) = self.signing
            && let Err(problem) = key.verify(bytes, entry.signature.as_deref())
        {
            return refuse(Refusal::Signature(problem));
        }
        let declared: Vec<String> = session
            .outputs
            .iter()
            .map(|output| output.declaration())
            .collect();
        if manifest.ingredients.outputs != declared {
            return Err(Fate::Skipped(Skip::OtherOutputs));
        }
        let target = Target {
            root: &self.project.root,
            declared: &session.outputs,
            protected: self.protected.dirs(),
        };
        match restore::check(&target, &manifest.outputs) {
            Err(error @ (RestoreError::Unsafe { .. } | RestoreError::Damaged { .. })) => {
                refuse(Refusal::Unsafe(error))
            }
            // This workspace, not the entry, is in the way: a restore checks it again.
            Ok(()) | Err(RestoreError::Blocked { .. } | RestoreError::Io { .. }) => Ok(manifest),
        }
    }

    fn present(&self, name: &EntryName) -> bool {
        matches!(
            self.store.entry_bytes(&name.session, &name.key),
            Ok(Some(_))
        )
    }

    /// Store an accepted entry once its blobs are in the store.
    fn store_entry(
        &self,
        entry: &IndexEntry,
        accepted: &Accepted<'_>,
        receiving: &Receiving<'_>,
    ) -> Result<Fate, Error> {
        for (what, blob) in accepted.manifest.blobs() {
            let flaw = match receiving.flawed.get(&blob.hash) {
                Some(flaw) => Some(*flaw),
                // The list of inputs only explains later misses: an entry is whole without it.
                None if what != Stored::Inputs && !self.store.has_blob(blob) => {
                    Some(BlobFlaw::Missing)
                }
                None => None,
            };
            if let Some(flaw) = flaw {
                return Ok(Fate::Refused(Refusal::Blob { what, flaw }));
            }
        }
        // Its signature was checked when this run has a key (or it was refused).
        let provenance = match self.signing {
            Some(_) => Provenance::Signed,
            None => Provenance::Unchecked,
        };
        match self
            .store
            .receive_entry(&entry.session, &entry.key, accepted.bytes, provenance)
        {
            Ok(_) => Ok(Fate::Imported),
            Err(Received::Io(error)) => Err(Error::CacheWrite(error)),
            Err(refused) => Ok(Fate::Refused(Refusal::Store(refused))),
        }
    }
}

impl IndexEntry {
    fn name(&self) -> EntryName {
        EntryName {
            session: self.session.clone(),
            key: self.key,
        }
    }
}

/// The blobs being read into the store.
struct Receiving<'a> {
    store: &'a Store,
    /// What the accepted entries need and the store lacks; each is read once.
    wanted: BTreeMap<Digest, Blob>,
    /// Blobs whose copy in the bundle is wrong.
    flawed: BTreeMap<Digest, BlobFlaw>,
    blobs: usize,
    bytes: u64,
    /// Members that are not part of a bundle.
    ignored: usize,
}

impl Receiving<'_> {
    /// Read the blobs, from `first` on. `Some(error)`: the archive could not be read to its end.
    fn receive_all<'a, R: Read>(
        &mut self,
        first: Option<(Digest, tar::Entry<'a, R>)>,
        members: tar::Entries<'a, R>,
    ) -> Result<Option<io::Error>, Error> {
        if let Some((hash, member)) = first
            && let Some(cut) = self.receive(hash, member)?
        {
            return Ok(Some(cut));
        }
        for member in members {
            let member = match member {
                Ok(member) => member,
                Err(error) => return Ok(Some(error)),
            };
            match member_of(&member) {
                Member::Blob(hash) => {
                    if let Some(cut) = self.receive(hash, member)? {
                        return Ok(Some(cut));
                    }
                }
                Member::Index | Member::Manifest(_) | Member::Unknown => self.ignored += 1,
            }
        }
        Ok(None)
    }

    /// Store one blob member when it is wanted. `Some(error)`: the archive cannot be read on.
    fn receive(&mut self, hash: Digest, member: impl Read) -> Result<Option<io::Error>, Error> {
        let Some(expected) = self.wanted.remove(&hash) else {
            return Ok(None);
        };
        let mut reader = Tapped {
            inner: member.take(expected.size + 1),
            failed: false,
        };
        match self.store.receive_blob(&mut reader, &expected) {
            Ok(()) => {
                self.blobs += 1;
                self.bytes += expected.size;
                Ok(None)
            }
            Err(Received::Mismatch(flaw)) => {
                self.flawed.insert(hash, flaw);
                Ok(None)
            }
            Err(Received::Io(error)) if reader.failed => Ok(Some(error)),
            Err(Received::Io(error)) => Err(Error::CacheWrite(error)),
            Err(Received::Entry(problem)) => {
                Err(Error::CacheWrite(io::Error::other(problem.to_string())))
            }
        }
    }
}

/// The start of a bundle: its index, the manifests that follow it, and the first blob.
struct Head<'a, R: Read> {
    index: Index,
    /// By position in the index.
    manifests: BTreeMap<usize, Vec<u8>>,
    /// Members that are not part of a bundle, so far.
    ignored: usize,
    first_blob: Option<(Digest, tar::Entry<'a, R>)>,
}

fn read_head<'a, R: Read>(
    members: &mut tar::Entries<'a, R>,
    path: &Path,
) -> Result<Head<'a, R>, Error> {
    let mut head = Head {
        index: match members.next() {
            None => return Err(not_a_bundle(path, "it holds nothing")),
            Some(Err(error)) => return Err(not_a_bundle(path, error)),
            Some(Ok(mut member)) if member_of(&member) == Member::Index => {
                read_index(&mut member, path)?
            }
            Some(Ok(_)) => return Err(not_a_bundle(path, "it does not start with `index.json`")),
        },
        manifests: BTreeMap::new(),
        ignored: 0,
        first_blob: None,
    };
    for member in members {
        let mut member = member.map_err(|error| not_a_bundle(path, error))?;
        match member_of(&member) {
            Member::Manifest(position)
                if position < head.index.entries.len()
                    && !head.manifests.contains_key(&position) =>
            {
                let mut bytes = Vec::new();
                member
                    .read_to_end(&mut bytes)
                    .map_err(|error| not_a_bundle(path, error))?;
                head.manifests.insert(position, bytes);
            }
            Member::Blob(hash) => {
                head.first_blob = Some((hash, member));
                break;
            }
            Member::Index | Member::Manifest(_) | Member::Unknown => head.ignored += 1,
        }
    }
    Ok(head)
}

fn not_a_bundle(path: &Path, why: impl ToString) -> Error {
    Error::NotABundle {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// What a member is: only regular files named as an export names them count.
fn member_of<R: Read>(member: &tar::Entry<'_, R>) -> Member {
    if member.header().entry_type() != tar::EntryType::Regular {
        return Member::Unknown;
    }
    Member::of(&member.path_bytes())
}

fn read_index(member: &mut impl Read, path: &Path) -> Result<Index, Error> {
    let mut bytes = Vec::new();
    member
        .read_to_end(&mut bytes)
        .map_err(|error| not_a_bundle(path, error))?;
    let damaged =
        |error: serde_json::Error| not_a_bundle(path, format!("its index is damaged: {error}"));
    let IndexFormat { format } = serde_json::from_slice(&bytes).map_err(damaged)?;
    if format != BUNDLE_FORMAT {
        let made_by = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|index| Some(index.get("rtask_version")?.as_str()?.to_string()))
            .unwrap_or_else(|| "of another version".to_string());
        return Err(Error::BundleFormat {
            path: path.to_path_buf(),
            found: format,
            made_by,
        });
    }
    serde_json::from_slice(&bytes).map_err(damaged)
}

/// How much more of the archive may be read once the manifests are: every blob they name
/// once, with its member's overhead, and a margin.
fn allowance<'m>(manifests: impl Iterator<Item = &'m Vec<u8>>) -> u64 {
    let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
    for bytes in manifests {
        if let Ok(manifest) = serde_json::from_slice::<Manifest>(bytes) {
            for (_, blob) in manifest.blobs() {
                sizes.insert(blob.hash, blob.size);
            }
        }
    }
    sizes.values().fold(MARGIN, |total, size| {
        total
            .saturating_add(size.checked_next_multiple_of(512).unwrap_or(u64::MAX))
            .saturating_add(MEMBER_OVERHEAD)
    })
}

/// How much of the decompressed archive has been read, and how much may be.
struct Meter {
    read: Cell<u64>,
    limit: Cell<u64>,
}

/// The decompressed archive, read no further than its meter allows.
struct Metered<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.meter.limit.get().saturating_sub(self.meter.read.get());
        if buf.is_empty() {
            return Ok(0);
        }
        if left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "it holds more data than its index and manifests account for",
                )),
            };
        }
        let room = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..room])?;
        self.meter.read.set(self.meter.read.get() + read as u64);
        Ok(read)
    }
}

/// A reader that remembers whether reading failed, to tell a damaged bundle from a cache that
/// cannot be written.
struct Tapped<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for Tapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes` read through a meter that allows 10 bytes; the meter too.
    fn metered(bytes: &[u8]) -> (Metered<&[u8]>, Rc<Meter>) {
        let meter = Rc::new(Meter {
            read: Cell::new(0),
            limit: Cell::new(10),
        });
        let reader = Metered {
            inner: bytes,
            meter: Rc::clone(&meter),
        };
        (reader, meter)
    }

    #[test]
    fn the_meter_stops_reading_past_its_limit() {
        let (mut reader, _) = metered(&[7u8; 100]);
        let mut bytes = vec![0; 10];
        reader.read_exact(&mut bytes).unwrap();
        let error = reader.read(&mut [0; 1]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_raised_limit_lets_more_through() {
        let (mut reader, meter) = metered(&[7u8; 100]);
        let mut bytes = vec![0; 10];
        reader.read_exact(&mut bytes).unwrap();
        meter.limit.set(meter.read.get() + 90);
        reader.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len(), 100);
    }

    #[test]
    fn the_meter_lets_an_archive_end_at_its_limit() {
        let (mut reader, _) = metered(&[7u8; 10]);
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len(), 10);
    }
}

//! Writing a bundle: the index, the manifests as stored, then each blob they name once, checked
//! against its digest as it is copied. The file is written beside its destination and renamed
//! into place, so a bundle that exists is whole.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{BUNDLE_FORMAT, INDEX, Index, IndexEntry, blob_name, manifest_name};
use crate::cache::manifest::{Blob, Manifest};
use crate::cache::signing::SigningKey;
use crate::cache::store::{BlobFlaw, Store, Stored};
use crate::digest::Digest;
use crate::error::Error;

/// The zstd level: fast, and most of the gain.
const LEVEL: i32 = 3;

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exported {
    pub entries: usize,
    pub blobs: usize,
    /// The blobs' bytes, before compression.
    pub bytes: u64,
}

/// An entry to export: its session and its key.
pub(crate) struct Wanted<'a> {
    pub session: &'a str,
    pub key: Digest,
}

/// One entry as it goes into the bundle.
struct Packed {
    entry: IndexEntry,
    bytes: Vec<u8>,
    manifest: Manifest,
}

/// Write the entries `wanted` of `store` to a bundle at `path`, signing each manifest when a
/// key is given.
pub(crate) fn export(
    store: &Store,
    wanted: &[Wanted<'_>],
    signing: Option<&SigningKey>,
    path: &Path,
) -> Result<Exported, Error> {
    let packed = wanted
        .iter()
        .map(|wanted| pack(store, wanted, signing))
        .collect::<Result<Vec<Packed>, Error>>()?;
    let write_error = |source| Error::BundleWrite {
        path: path.to_path_buf(),
        source,
    };
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".rtask-bundle-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(parent)
        .map_err(write_error)?;
    let exported = {
        let encoder = zstd::Encoder::new(temp.as_file_mut(), LEVEL).map_err(write_error)?;
        let mut builder = tar::Builder::new(encoder);
        let exported = write_members(&mut builder, store, &packed, write_error)?;
        builder
            .into_inner()
            .and_then(zstd::Encoder::finish)
            .and_then(|file| file.flush())
            .map_err(write_error)?;
        exported
    };
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist(path)
        .map_err(|error| write_error(error.error))?;
    Ok(exported)
}

/// Read an entry's manifest as stored, and sign it.
fn pack(store: &Store, wanted: &Wanted<'_>, signing: Option<&SigningKey>) -> Result<Packed, Error> {
    let unreadable = |source| Error::CacheRead {
        session: wanted.session.to_string(),
        source,
    };
    let bytes = store
        .entry_bytes(wanted.session, &wanted.key)
        .map_err(unreadable)?
        .ok_or_else(|| unreadable(io::ErrorKind::NotFound.into()))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|error| unreadable(io::Error::new(io::ErrorKind::InvalidData, error)))?;
    Ok(Packed {
        entry: IndexEntry {
            session: wanted.session.to_string(),
            key: wanted.key,
            signature: signing.map(|key| key.sign(&bytes)),
        },
        bytes,
        manifest,
    })
}

fn write_members<W: Write>(
    builder: &mut tar::Builder<W>,
    store: &Store,
    packed: &[Packed],
    write_error: impl Fn(io::Error) -> Error,
) -> Result<Exported, Error> {
    let index = Index {
        format: BUNDLE_FORMAT,
        rtask_version: env!("CARGO_PKG_VERSION").to_string(),
        entries: packed.iter().map(|packed| packed.entry.clone()).collect(),
    };
    let index = serde_json::to_vec_pretty(&index).map_err(|error| write_error(error.into()))?;
    append(builder, INDEX, index.len() as u64, &index[..]).map_err(&write_error)?;
    for (position, packed) in packed.iter().enumerate() {
        let name = manifest_name(position);
        append(builder, &name, packed.bytes.len() as u64, &packed.bytes[..])
            .map_err(&write_error)?;
    }
    let mut seen = BTreeSet::new();
    let mut exported = Exported {
        entries: packed.len(),
        blobs: 0,
        bytes: 0,
    };
    for packed in packed {
        for (what, blob) in packed.manifest.blobs() {
            if seen.contains(&blob.hash) {
                continue;
            }
            // The list of inputs only explains later misses: an entry is whole without it.
            if what == Stored::Inputs && !store.has_blob(blob) {
                continue;
            }
            seen.insert(blob.hash);
            let damaged = |flaw| Error::StoredBlobDamaged {
                session: packed.manifest.session.clone(),
                what: what.clone(),
                flaw,
            };
            // Decoded as it is read: a bundle carries the bytes themselves.
            let source = store.open_blob(blob).map_err(damaged)?;
            let mut reader = Checked::new(source.take(blob.size));
            let appended = append(builder, &blob_name(&blob.hash), blob.size, &mut reader);
            if reader.inner.get_ref().failed() {
                return Err(damaged(BlobFlaw::WrongDigest));
            }
            appended.map_err(&write_error)?;
            reader.verify(blob).map_err(damaged)?;
            exported.blobs += 1;
            exported.bytes += blob.size;
        }
    }
    Ok(exported)
}

/// Append a regular file, with the same owner, mode and time whoever exports it.
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(size);
    builder.append_data(&mut header, name, data)
}

/// A reader that hashes and counts what goes through it, to check a blob as it is copied.
struct Checked<R> {
    inner: R,
    hasher: blake3::Hasher,
    size: u64,
}

impl<R: Read> Checked<R> {
    fn new(inner: R) -> Checked<R> {
        Checked {
            inner,
            hasher: blake3::Hasher::new(),
            size: 0,
        }
    }

    fn verify(&self, blob: &Blob) -> Result<(), BlobFlaw> {
        if self.size != blob.size {
            Err(BlobFlaw::WrongSize)
        } else if Digest::from(self.hasher.finalize()) != blob.hash {
            Err(BlobFlaw::WrongDigest)
        } else {
            Ok(())
        }
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.size += read as u64;
        Ok(read)
    }
}

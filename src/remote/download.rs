//! Downloading an entry into the local store: its record, its manifest (and signature,
//! checked when this run has a signing key), then the blobs the store lacks, each checked
//! against its sha256 and its BLAKE3 before it is stored, and the manifest last.

use std::collections::BTreeSet;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use super::action_result::{ActionResult, BLOBS, CasDigest, MANIFEST, SIGNATURE};
use super::transfer::{self, Failure};
use super::{Shared, ac_path, cas_path};
use crate::cache::manifest::{Blob, Manifest};
use crate::cache::signing::SignatureProblem;
use crate::cache::store::{Provenance, Received, Store};
use crate::digest::Digest;
use crate::reporter::{RemoteEvent, RemoteOp};

/// What a download ended with, short of a failure.
enum Fetched {
    /// The entry is in the local store now.
    Stored,
    /// The remote has no such entry (or lost part of it).
    Absent,
    /// Its signature was refused.
    Refused(SignatureProblem),
}

/// A download cut short.
enum Stop {
    Absent,
    Failed(Failure),
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Stop {
        Stop::Failed(failure)
    }
}

impl Shared {
    /// Download the entry of `session` at `key` into `store`; whether it is there now.
    pub(super) fn fetch(&self, store: &Store, session: &str, key: &Digest) -> bool {
        if !self.usable() {
            return false;
        }
        match self.download(store, session, key) {
            Ok(Fetched::Stored) => {
                self.report(&RemoteEvent::Downloaded { session });
                true
            }
            Ok(Fetched::Refused(problem)) => {
                self.report(&RemoteEvent::SignatureRefused { session, problem });
                false
            }
            Ok(Fetched::Absent) | Err(Stop::Absent) => false,
            Err(Stop::Failed(why)) => {
                self.failed(RemoteOp::Download, session, &why);
                false
            }
        }
    }

    fn download(&self, store: &Store, session: &str, key: &Digest) -> Result<Fetched, Stop> {
        let Some(record) = self.client.get_small(&ac_path(session, key), None)? else {
            return Ok(Fetched::Absent);
        };
        let record = ActionResult::decode(&record).map_err(Failure::Record)?;
        let files = record.by_path();
        let manifest_digest = files
            .get(MANIFEST)
            .ok_or(Failure::Incomplete("the manifest"))?;
        let manifest_bytes = self.small_blob(manifest_digest, "the manifest")?;
        if let Some(signing) = &self.signing {
            let signature = match files.get(SIGNATURE) {
                Some(digest) => Some(self.small_blob(digest, "the signature")?),
                None => None,
            };
            let text = signature.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            if let Err(problem) = signing.verify(&manifest_bytes, text.as_deref()) {
                return Ok(Fetched::Refused(problem));
            }
        }
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|_| Failure::WrongBody("the manifest"))?;
        if manifest.session != session || &manifest.key != key {
            return Err(Failure::WrongBody("the manifest").into());
        }
        let mut seen = BTreeSet::new();
        let mut wanted = Vec::new();
        for (_, blob) in manifest.blobs() {
            if !seen.insert(blob.hash) || store.has_blob(blob) {
                continue;
            }
            let name = format!("{BLOBS}{}", blob.hash.to_hex());
            let digest = files
                .get(name.as_str())
                .ok_or(Failure::Incomplete("every blob of its manifest"))?;
            wanted.push((blob.clone(), (*digest).clone()));
        }
        transfer::parallel(&wanted, |(blob, digest)| self.blob(store, blob, digest))?;
        let provenance = match self.signing {
            Some(_) => Provenance::Signed,
            None => Provenance::Unchecked,
        };
        match store.receive_entry(session, key, &manifest_bytes, provenance) {
            Ok(_) => Ok(Fetched::Stored),
            Err(Received::Entry(problem)) => Err(Failure::Entry(problem).into()),
            Err(Received::Io(error)) => Err(Failure::Local(error).into()),
            Err(Received::Mismatch(_)) => Err(Failure::WrongBody("the manifest").into()),
        }
    }

    /// A small CAS object's bytes, checked against its digest.
    fn small_blob(&self, digest: &CasDigest, what: &'static str) -> Result<Vec<u8>, Stop> {
        let bytes = self
            .client
            .get_small(&cas_path(&digest.hash), Some(digest.size))?
            .ok_or(Stop::Absent)?;
        if CasDigest::of(&bytes) != *digest {
            return Err(Failure::WrongBody(what).into());
        }
        Ok(bytes)
    }

    /// Download one blob into the store: stored only if its bytes have both the sha256 the
    /// record gives and the BLAKE3 digest and size the manifest gives.
    fn blob(&self, store: &Store, blob: &Blob, digest: &CasDigest) -> Result<(), Stop> {
        if digest.size != blob.size {
            return Err(Failure::WrongBody("a blob").into());
        }
        let reader = self
            .client
            .get_reader(&cas_path(&digest.hash), blob.size)?
            .ok_or(Stop::Absent)?;
        let mut checked = Checked {
            // One byte more than expected is enough to tell a body that is too long.
            inner: reader.take(blob.size + 1),
            hasher: Sha256::new(),
            expected: &digest.hash,
            failure: None,
        };
        match store.receive_blob(&mut checked, blob) {
            Ok(()) => Ok(()),
            Err(_) if checked.failure.is_some() => {
                Err(checked.failure.map_or(Stop::Absent, Stop::Failed))
            }
            Err(Received::Mismatch(_) | Received::Entry(_)) => {
                Err(Failure::WrongBody("a blob").into())
            }
            Err(Received::Io(error)) => Err(Failure::Local(error).into()),
        }
    }
}

/// A body being received, hashed with sha256 on the way: a read error, or a digest that
/// does not match at its end, fails the read, so the store never keeps the bytes.
struct Checked<'a, R> {
    inner: R,
    hasher: Sha256,
    expected: &'a str,
    failure: Option<Failure>,
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = match self.inner.read(buffer) {
            Ok(read) => read,
            Err(error) => {
                let message = error.to_string();
                self.failure = Some(Failure::of_body(error));
                return Err(io::Error::other(message));
            }
        };
        if read == 0 {
            let hash = crate::digest::hex(&self.hasher.clone().finalize());
            if hash != self.expected {
                self.failure = Some(Failure::WrongBody("a blob"));
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "sha256 does not match",
                ));
            }
        }
        self.hasher.update(&buffer[..read]);
        Ok(read)
    }
}

//! Uploading entries in the background: one thread takes the entries stored by the run, one
//! after the other, and sends each one's blobs the remote lacks (a few at a time), then its
//! manifest and signature, then its action-cache record last, so a reader never finds a
//! record whose blobs are missing. At its end the run waits for it as long as it makes
//! progress.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::action_result::{ActionResult, BLOBS, CasDigest, MANIFEST, SIGNATURE};
use super::transfer::{self, Failure};
use super::{Shared, ac_path, cas_path};
use crate::cache::manifest::{Blob, Manifest};
use crate::cache::store::BlobFlaw;
use crate::digest::Digest;
use crate::reporter::{RemoteEvent, RemoteOp};

/// How often the end of a run looks whether it was interrupted while it waits for uploads.
const POLL: Duration = Duration::from_millis(100);

struct Job {
    session: String,
    key: Digest,
}

/// Something the uploader did: the run's end waits as long as these keep coming.
enum Progress {
    /// A request sending this many bytes starts: it may take until its deadline.
    Sending(u64),
    /// A request finished.
    Step,
    /// An entry is done with (uploaded or not).
    Done,
}

/// The background uploader, started by the first upload.
#[derive(Default)]
pub(super) struct Uploads {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    jobs: Option<Sender<Job>>,
    progress: Option<Receiver<Progress>>,
    pending: usize,
}

impl Uploads {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn start(&self, shared: &Arc<Shared>, session: &str, key: &Digest) {
        let mut state = self.state();
        if state.jobs.is_none() && state.progress.is_none() {
            let (jobs, queue) = mpsc::channel::<Job>();
            let (report, progress) = mpsc::channel();
            let shared = Arc::clone(shared);
            std::thread::spawn(move || {
                for job in queue {
                    shared.push(&job, &report);
                    let _ = report.send(Progress::Done);
                }
            });
            state.jobs = Some(jobs);
            state.progress = Some(progress);
        }
        let job = Job {
            session: session.to_string(),
            key: *key,
        };
        if state
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok())
        {
            state.pending += 1;
        }
    }

    /// Wait for the uploads under way while they make progress, or until `interrupted`
    /// (Ctrl-C, SIGTERM): then they are given up, as the run ends.
    pub(super) fn finish(&self, shared: &Shared, interrupted: &dyn Fn() -> bool) {
        let mut state = self.state();
        state.jobs = None;
        let Some(progress) = state.progress.take() else {
            return;
        };
        // Each request ends by its deadline: the wait for the next news is the longest
        // deadline of the requests under way, at least one timeout.
        let mut wait = shared.timeout;
        let mut since = Instant::now();
        while state.pending > 0 {
            if interrupted() || since.elapsed() >= wait {
                shared.report(&RemoteEvent::UploadsAbandoned {
                    remote: &shared.url,
                    pending: state.pending,
                });
                return;
            }
            match progress.recv_timeout(POLL.min(wait.saturating_sub(since.elapsed()))) {
                Ok(Progress::Done) => {
                    state.pending -= 1;
                    wait = shared.timeout;
                    since = Instant::now();
                }
                Ok(Progress::Sending(bytes)) => {
                    wait = wait.max(transfer::deadline(shared.timeout, bytes));
                }
                Ok(Progress::Step) => since = Instant::now(),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

impl Shared {
    fn push(&self, job: &Job, progress: &Sender<Progress>) {
        if !self.usable() {
            return;
        }
        match self.send_entry(job, progress) {
            Ok(Some(bytes)) => self.report(&RemoteEvent::Uploaded {
                session: &job.session,
                bytes,
            }),
            Ok(None) => {}
            Err(why) => self.failed(RemoteOp::Upload, &job.session, &why),
        }
    }

    /// Upload one entry; how many bytes the remote lacked (`None`: the entry is gone from
    /// the local store).
    fn send_entry(&self, job: &Job, progress: &Sender<Progress>) -> Result<Option<u64>, Failure> {
        let Some(manifest_bytes) = self
            .store
            .entry_bytes(&job.session, &job.key)
            .map_err(Failure::Local)?
        else {
            return Ok(None);
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&manifest_bytes) else {
            return Ok(None);
        };
        let mut seen = BTreeSet::new();
        let blobs: Vec<Blob> = manifest
            .blobs()
            .filter(|(_, blob)| seen.insert(blob.hash))
            .map(|(_, blob)| blob.clone())
            .collect();
        let sent = transfer::parallel(&blobs, |blob| {
            let sent = self.send_blob(blob, progress);
            let _ = progress.send(Progress::Step);
            sent
        })?;
        let mut bytes: u64 = sent.iter().map(|(_, bytes)| bytes).sum();
        let mut files = vec![(MANIFEST.to_string(), CasDigest::of(&manifest_bytes))];
        let _ = progress.send(Progress::Sending(manifest_bytes.len() as u64));
        self.client
            .put(&cas_path(&files[0].1.hash), &manifest_bytes)?;
        bytes += manifest_bytes.len() as u64;
        if let Some(signing) = &self.signing {
            let signature = signing.sign(&manifest_bytes);
            let digest = CasDigest::of(signature.as_bytes());
            self.client
                .put(&cas_path(&digest.hash), signature.as_bytes())?;
            bytes += signature.len() as u64;
            files.push((SIGNATURE.to_string(), digest));
        }
        for (blob, (digest, _)) in blobs.iter().zip(sent) {
            files.push((format!("{BLOBS}{}", blob.hash.to_hex()), digest));
        }
        let record = ActionResult { files }.encode();
        self.client.put(&ac_path(&job.session, &job.key), &record)?;
        let _ = progress.send(Progress::Step);
        Ok(Some(bytes + record.len() as u64))
    }

    /// Send a blob unless the remote has it: its CAS digest, and the bytes sent.
    fn send_blob(
        &self,
        blob: &Blob,
        progress: &Sender<Progress>,
    ) -> Result<(CasDigest, u64), Failure> {
        if !self.usable() {
            return Err(Failure::Unreachable(
                "the remote cache was given up".to_string(),
            ));
        }
        let flawed = |flaw| Failure::Local(std::io::Error::other(format!("a stored blob {flaw}")));
        // Read twice from the same open file, never held whole: once for its sha256 (the CAS
        // name) with its digest checked, so that a damaged copy is never sent; then to send.
        let mut reader = self.store.open_blob(blob).map_err(flawed)?;
        let mut hashes = Hashes::default();
        let size = std::io::copy(&mut reader, &mut hashes).ok();
        if size != Some(blob.size) || Digest::from(hashes.blake3.finalize()) != blob.hash {
            self.store.discard_blob(&blob.hash);
            return Err(flawed(BlobFlaw::WrongDigest));
        }
        let size = blob.size;
        let digest = CasDigest {
            hash: crate::digest::hex(&hashes.sha256.finalize()),
            size,
        };
        let path = cas_path(&digest.hash);
        if self.client.exists(&path)? {
            return Ok((digest, 0));
        }
        let _ = progress.send(Progress::Sending(size));
        let mut reader = reader.restart(blob).map_err(Failure::Local)?;
        self.client.put_reader(&path, size, &mut reader)?;
        Ok((digest, size))
    }
}

/// The two digests of a blob being read: blake3 to check it, sha256 to name it in the CAS.
#[derive(Default)]
struct Hashes {
    blake3: blake3::Hasher,
    sha256: Sha256,
}

impl Write for Hashes {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.blake3.update(bytes);
        self.sha256.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

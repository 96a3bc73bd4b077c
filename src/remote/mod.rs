//! Remote caches on existing servers: the Bazel HTTP cache protocol and S3.
//!
//! The local cache is looked at first; on a plain miss the remote one is asked. A remote entry
//! is downloaded into the local store (its blobs first, each checked against its sha256 and
//! its BLAKE3, then its manifest), and restored from there as a local hit. After a run whose
//! result was stored, the entry is uploaded in the background (the blobs the remote lacks,
//! then its action-cache record), and the run waits for pending uploads at its end.
//!
//! Both protocols store the same bytes: `ac/<sha256 of the entry's name>` holds a REAPI
//! `ActionResult` listing the manifest, its signature and its blobs, and `cas/<sha256>` holds
//! each of those by the sha256 of its bytes.
//!
//! Failures warn and count as misses (or skipped uploads); after a few, or one timeout, the
//! remote is given up for the rest of the run.

pub(crate) mod action_result;
pub mod config;
mod download;
mod http;
mod s3;
pub(crate) mod transfer;
mod upload;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::cache::signing::Signing;

use self::config::{Access, RemoteConfig, RemoteUrl};
use self::transfer::{Client, Failure};
use crate::cache::signing::SigningKey;
use crate::cache::store::{Lookup, Miss, Store};
use crate::digest::Digest;
use crate::reporter::{Disabling, RemoteEvent, RemoteOp, RemoteReporter};

/// After this many failed requests the remote is given up for the rest of the run.
const MAX_FAILURES: u32 = 3;

/// A remote cache, for one run.
pub(crate) struct Remote {
    shared: Arc<Shared>,
    access: Access,
    uploads: upload::Uploads,
}

/// What downloads and the background uploader share.
struct Shared {
    client: Client,
    url: RemoteUrl,
    signing: Option<SigningKey>,
    timeout: Duration,
    /// The local store uploads read from.
    store: Store,
    /// Failures of the server so far; taken while a failure is reported, so that concurrent
    /// ones are counted and said in order, and none is said once the remote is given up.
    failures: Mutex<u32>,
    disabled: AtomicBool,
    reporter: Arc<dyn RemoteReporter>,
}

impl Remote {
    pub(crate) fn new(
        config: RemoteConfig,
        cache_dir: &Path,
        reporter: Arc<dyn RemoteReporter>,
    ) -> Remote {
        if matches!(config.signing, Signing::Empty) {
            reporter.remote(&RemoteEvent::SigningKeyEmpty);
        }
        Remote {
            shared: Arc::new(Shared {
                client: Client::new(config.server, config.timeout),
                url: config.url,
                signing: config.signing.key().cloned(),
                timeout: config.timeout,
                store: Store::new(cache_dir),
                failures: Mutex::new(0),
                disabled: AtomicBool::new(false),
                reporter,
            }),
            access: config.access,
            uploads: upload::Uploads::default(),
        }
    }

    /// Upload a session's entry, stored locally under `key`, in the background (unless the
    /// remote is read-only or given up).
    pub(crate) fn upload(&self, session: &str, key: &Digest) {
        if self.access == Access::ReadOnly || !self.shared.usable() {
            return;
        }
        self.uploads.start(&self.shared, session, key);
    }

    /// Wait for the uploads still under way, for as long as they make progress and the run
    /// is not `interrupted`.
    pub(crate) fn finish(&self, interrupted: &dyn Fn() -> bool) {
        self.uploads.finish(&self.shared, interrupted);
    }
}

/// Look `key` up in the local store, then, on a plain miss, in the remote cache (a remote hit
/// is stored locally, then found there).
pub(crate) fn lookup(
    remote: Option<&Remote>,
    store: &Store,
    session: &str,
    key: &Digest,
) -> Lookup {
    let found = store.lookup(session, key);
    match (remote, &found) {
        (Some(remote), Lookup::Miss(_, Miss::NoEntry))
            if remote.shared.fetch(store, session, key) =>
        {
            store.lookup(session, key)
        }
        _ => found,
    }
}

impl Shared {
    fn usable(&self) -> bool {
        !self.disabled.load(Ordering::SeqCst)
    }

    fn report(&self, event: &RemoteEvent<'_>) {
        self.reporter.remote(event);
    }

    /// A request failed: warn, count it, and give the remote up after too many (or a
    /// timeout). Nothing is said once it is given up.
    fn failed(&self, op: RemoteOp, session: &str, why: &Failure) {
        if matches!(why, Failure::Local(_)) {
            // This machine's fault, not the server's: said, not counted.
            if self.usable() {
                self.report(&RemoteEvent::Failed { op, session, why });
            }
            return;
        }
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.usable() {
            return;
        }
        *failures += 1;
        self.report(&RemoteEvent::Failed { op, session, why });
        let disabling = if why.is_timeout() {
            Some(Disabling::Timeout)
        } else if *failures >= MAX_FAILURES {
            Some(Disabling::Failures(*failures))
        } else {
            None
        };
        if let Some(why) = disabling {
            self.disabled.store(true, Ordering::SeqCst);
            self.report(&RemoteEvent::Disabled {
                remote: &self.url,
                why,
            });
        }
    }
}

/// Where an entry's action-cache record is: the sha256 of its session and key.
fn ac_path(session: &str, key: &Digest) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"rtask-entry/1\0");
    hasher.update(session.as_bytes());
    hasher.update(b"\0");
    hasher.update(key.to_hex().as_bytes());
    format!("ac/{}", crate::digest::hex(&hasher.finalize()))
}

fn cas_path(hash: &str) -> String {
    format!("cas/{hash}")
}

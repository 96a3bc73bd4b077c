//! Requests to a remote cache: one blocking HTTP agent for both protocols (the S3 ones are
//! presigned), answers sorted into found, absent (404) and failed, and work spread over a few
//! threads.

use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use thiserror::Error;
use ureq::{Agent, SendBody};

use super::action_result::Undecodable;
use super::http::Http;
use super::s3::S3;
use crate::cache::store::EntryProblem;

/// How many transfers run at once for one entry.
const THREADS: usize = 4;

/// The largest action-cache record or manifest rtask reads.
const SMALL_LIMIT: u64 = 64 * 1024 * 1024;

/// The server a remote cache is, and how to address it.
pub(crate) enum Server {
    Http(Http),
    S3(S3),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Put,
}

/// A request ready to go: where, and its extra headers (which may hold secrets).
pub(crate) struct Prepared {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl Server {
    fn prepare(&self, method: Method, path: &str) -> Prepared {
        match self {
            Server::Http(http) => http.prepare(path),
            Server::S3(s3) => s3.prepare(method, path),
        }
    }
}

/// Why a request to the remote cache failed. Never holds a secret.
#[derive(Debug, Error)]
pub(crate) enum Failure {
    #[error("the server did not answer within the timeout (`RTASK_REMOTE_TIMEOUT`)")]
    Timeout,
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("the answer broke off: {0}")]
    Body(String),
    #[error("{0} received does not match its digest")]
    WrongBody(&'static str),
    #[error("its action-cache record cannot be read: {0}")]
    Record(Undecodable),
    #[error("its action-cache record does not list {0}")]
    Incomplete(&'static str),
    #[error("the entry received is not usable: {0}")]
    Entry(EntryProblem),
    #[error("cannot use the local cache: {0}")]
    Local(io::Error),
}

impl Failure {
    /// Whether it shows the server hanging: the remote is then given up at once, so that
    /// an outage costs the run about one timeout, not one per request.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, Failure::Timeout)
    }

    fn of(error: ureq::Error) -> Failure {
        match error {
            ureq::Error::Timeout(_) => Failure::Timeout,
            ureq::Error::Io(error) => Failure::of_io(error),
            ureq::Error::StatusCode(status) => Failure::Status(status),
            ureq::Error::HostNotFound => Failure::Unreachable("host not found".to_string()),
            ureq::Error::ConnectionFailed => Failure::Unreachable("connection failed".to_string()),
            other => Failure::Unreachable(other.to_string()),
        }
    }

    fn of_io(error: io::Error) -> Failure {
        if matches!(
            error.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ) {
            return Failure::Timeout;
        }
        if let Some(inner) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            && matches!(inner, ureq::Error::Timeout(_))
        {
            return Failure::Timeout;
        }
        Failure::Unreachable(error.to_string())
    }

    /// A failure while a body was read.
    pub(crate) fn of_body(error: io::Error) -> Failure {
        match Failure::of_io(error) {
            Failure::Unreachable(why) => Failure::Body(why),
            other => other,
        }
    }
}

/// A remote cache's server and the agent that talks to it.
pub(crate) struct Client {
    agent: Agent,
    server: Server,
    timeout: Duration,
}

/// The slowest transfer rate a request's deadline allows for its bytes, beyond the timeout.
const MIN_RATE: u64 = 256 * 1024;

/// How long a request moving `bytes` may take in all: the timeout, plus the bytes at
/// [`MIN_RATE`]. A server that trickles bytes, each read within the timeout, is cut off there.
pub(crate) fn deadline(timeout: Duration, bytes: u64) -> Duration {
    timeout.saturating_add(Duration::from_secs(bytes / MIN_RATE))
}

/// What a record (an action-cache entry) is given to arrive, whose size is not known before.
const RECORD_BUDGET: u64 = 1024 * 1024;

impl Client {
    pub(crate) fn new(server: Server, timeout: Duration) -> Client {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(timeout))
            .timeout_send_request(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            .user_agent(concat!("rtask/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            server,
            timeout,
        }
    }

    fn deadline(&self, bytes: u64) -> Option<Duration> {
        Some(deadline(self.timeout, bytes))
    }

    /// A small object's bytes (a record, a manifest) of `size` bytes when it is known, or
    /// `None` when absent.
    pub(crate) fn get_small(
        &self,
        path: &str,
        size: Option<u64>,
    ) -> Result<Option<Vec<u8>>, Failure> {
        let Some(mut response) = self.get(path, size.unwrap_or(RECORD_BUDGET))? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(SMALL_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(Failure::of_body)?;
        Ok(Some(bytes))
    }

    /// The body of an object of `size` bytes as a reader, or `None` when absent.
    pub(crate) fn get_reader(
        &self,
        path: &str,
        size: u64,
    ) -> Result<Option<impl Read + use<>>, Failure> {
        Ok(self
            .get(path, size)?
            .map(|response| response.into_body().into_reader()))
    }

    fn get(
        &self,
        path: &str,
        size: u64,
    ) -> Result<Option<ureq::http::Response<ureq::Body>>, Failure> {
        let prepared = self.server.prepare(Method::Get, path);
        let mut request = self
            .agent
            .get(&prepared.url)
            .config()
            .timeout_global(self.deadline(size))
            .build();
        for (name, value) in &prepared.headers {
            request = request.header(name, value);
        }
        let response = request.call().map_err(Failure::of)?;
        match response.status().as_u16() {
            200 => Ok(Some(response)),
            404 => Ok(None),
            status => Err(Failure::Status(status)),
        }
    }

    /// Whether an object exists.
    pub(crate) fn exists(&self, path: &str) -> Result<bool, Failure> {
        let prepared = self.server.prepare(Method::Head, path);
        let mut request = self
            .agent
            .head(&prepared.url)
            .config()
            .timeout_global(self.deadline(0))
            .build();
        for (name, value) in &prepared.headers {
            request = request.header(name, value);
        }
        let response = request.call().map_err(Failure::of)?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            status => Err(Failure::Status(status)),
        }
    }

    /// Store an object (an overwrite is fine: objects are named by their contents or key).
    pub(crate) fn put(&self, path: &str, bytes: &[u8]) -> Result<(), Failure> {
        let mut body = bytes;
        self.put_reader(path, bytes.len() as u64, &mut body)
    }

    /// Store an object of `size` bytes read from `body` as they are sent, never held whole.
    pub(crate) fn put_reader(
        &self,
        path: &str,
        size: u64,
        body: &mut dyn Read,
    ) -> Result<(), Failure> {
        let body = SendBody::from_reader(body);
        let prepared = self.server.prepare(Method::Put, path);
        let mut request = self
            .agent
            .put(&prepared.url)
            .config()
            .timeout_global(self.deadline(size))
            // A slow reader holds writes up, and answers once it has read the body, much of
            // which may still wait in the sockets' buffers when the last write returns: the
            // deadline bounds both.
            .timeout_per_write(self.deadline(size))
            .timeout_per_read(self.deadline(size))
            .timeout_recv_response(self.deadline(size))
            .build()
            .header("Content-Type", "application/octet-stream")
            // Given, so that a body read as it is sent goes with its length, not chunked.
            .header("Content-Length", size.to_string());
        for (name, value) in &prepared.headers {
            request = request.header(name, value);
        }
        let response = request.send(body).map_err(Failure::of)?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            status => Err(Failure::Status(status)),
        }
    }
}

/// Do `work` on every item, a few at a time; the results in order, or the first error (the
/// rest are then not started).
pub(crate) fn parallel<T: Sync, R: Send, E: Send>(
    items: &[T],
    work: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let error: Mutex<Option<E>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..THREADS.min(items.len()) {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(at) else { break };
                    match work(item) {
                        Ok(result) => {
                            lock(&results)[at] = Some(result);
                        }
                        Err(failure) => {
                            stop.store(true, Ordering::Relaxed);
                            lock(&error).get_or_insert(failure);
                        }
                    }
                }
            });
        }
    });
    if let Some(failure) = error
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner())
    {
        return Err(failure);
    }
    Ok(results
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner())
        .into_iter()
        .flatten()
        .collect())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_work_keeps_the_order_or_gives_an_error() {
        let items: Vec<u32> = (0..50).collect();
        let doubled: Result<Vec<u32>, ()> = parallel(&items, |item| Ok(item * 2));
        assert_eq!(
            doubled.unwrap(),
            (0..50).map(|item| item * 2).collect::<Vec<_>>()
        );
        let failed: Result<Vec<u32>, u32> =
            parallel(&items, |&item| if item == 7 { Err(item) } else { Ok(item) });
        assert_eq!(failed, Err(7));
    }
}

//! Capturing a running session's log into the store, on a thread of its own: hashing and
//! compressing never slow down reading the commands' output (a command that prints fast would
//! otherwise wait for rtask), and at most [`IN_FLIGHT`] chunks wait in memory between them.

use std::io::{self, Write};
use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

use super::blob::Written;
use super::store::Store;

/// How many chunks of output may wait for the writer (a chunk is a read of the pipe, at most
/// 16 KiB): beyond that, reading waits.
const IN_FLIGHT: usize = 64;

type Writing = JoinHandle<io::Result<Written<NamedTempFile>>>;

/// A log being captured, or why not.
pub(crate) struct Capture {
    state: State,
}

enum State {
    /// Nothing will store the result: not cacheable, or `--no-cache`.
    Off,
    On {
        chunks: SyncSender<Vec<u8>>,
        writing: Writing,
    },
    /// Writing it failed (a full disk): the result cannot be stored.
    Failed(io::Error),
}

impl Capture {
    /// No capture: nothing will store the result.
    pub(crate) fn off() -> Capture {
        Capture { state: State::Off }
    }

    /// Start capturing into a new blob of `store`.
    pub(crate) fn into_store(store: &Store) -> Capture {
        let mut writer = match store.blob_writer() {
            Ok(writer) => writer,
            Err(error) => return Capture::failed(error),
        };
        let (chunks, received) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
        let spawned = std::thread::Builder::new()
            .name("rtask-log".to_string())
            .spawn(move || {
                for chunk in received {
                    writer.write_all(&chunk)?;
                }
                writer.finish()
            });
        match spawned {
            Ok(writing) => Capture {
                state: State::On { chunks, writing },
            },
            Err(error) => Capture::failed(error),
        }
    }

    fn failed(error: io::Error) -> Capture {
        Capture {
            state: State::Failed(error),
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let State::On { chunks, .. } = &self.state else {
            return;
        };
        if chunks.send(bytes.to_vec()).is_ok() {
            return;
        }
        // The writer stopped: its error says why.
        if let State::On { writing, .. } = std::mem::replace(&mut self.state, State::Off) {
            self.state = State::Failed(match joined(writing) {
                Err(error) => error,
                Ok(_) => io::Error::other("the log writer stopped"),
            });
        }
    }

    /// The log, written whole.
    pub(crate) fn finish(mut self) -> io::Result<Written<NamedTempFile>> {
        match std::mem::replace(&mut self.state, State::Off) {
            State::On { chunks, writing } => {
                drop(chunks);
                joined(writing)
            }
            State::Failed(error) => Err(error),
            State::Off => Err(io::Error::other("its log was not captured")),
        }
    }
}

impl Drop for Capture {
    /// A run that ended early: its writer ends too, and its temporary file is deleted.
    fn drop(&mut self) {
        if let State::On { chunks, writing } = std::mem::replace(&mut self.state, State::Off) {
            drop(chunks);
            let _ = joined(writing);
        }
    }
}

fn joined(writing: Writing) -> io::Result<Written<NamedTempFile>> {
    writing
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the log writer failed")))
}

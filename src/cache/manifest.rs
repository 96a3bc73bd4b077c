//! The readable JSON manifest stored beside each cache entry.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::store::Stored;
use crate::digest::Digest;
use crate::key::Ingredients;
use crate::python::Realised;
use crate::relpath::RelPath;

/// Bumped when the manifest's layout changes; older or newer manifests are misses.
/// 3: the `{posargs}` of the run are recorded, to explain misses. 4: the environment a
/// Python session ran in is recorded (no longer part of the key). 5: the list of input files is
/// stored compactly, in chunks shared between entries (see [`super::input_list`]), rather than
/// as one JSON blob per entry (25 MB at 200k inputs).
pub const MANIFEST_FORMAT: u32 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub rtask_version: String,
    pub session: String,
    pub key: Digest,
    pub created_unix_ms: u64,
    /// How long the session took, making its environment included.
    pub duration_ms: u64,
    /// How long its commands took: what a hit spares. Absent from entries stored before
    /// rtask recorded it (optional, so those stay readable without a new format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands_ms: Option<u64>,
    /// The `{posargs}` the run had (already part of the key through the commands): to say
    /// "posargs changed" rather than "command changed".
    #[serde(default)]
    pub posargs: Vec<String>,
    pub ingredients: Ingredients,
    /// What the session's virtual environment held when it ran, when it has one: compared
    /// with a local environment before a restore.
    #[serde(default)]
    pub environment: Option<Realised>,
    /// Sorted by path, so directories come before what they hold.
    pub outputs: Vec<OutputEntry>,
    pub log: Blob,
    /// The input files, to explain later misses.
    pub inputs: InputList,
}

/// Where the list of an entry's input files is stored: compressed chunks, each a blob, in path
/// order (see [`super::input_list`]). An entry is whole without them: they only explain misses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputList {
    pub chunks: Vec<Blob>,
}

/// Just the format of a manifest, read before the rest: a manifest of another format may not
/// parse as this one.
#[derive(Deserialize)]
pub struct Format {
    pub format: u32,
}

impl Manifest {
    /// How long the commands of the run that made the entry took. An entry stored before
    /// that was recorded gives the whole run's time, making its environment included: the
    /// best it knows, an overstatement it carries until it is replaced.
    pub fn commands(&self) -> Duration {
        Duration::from_millis(self.commands_ms())
    }

    /// [`Manifest::commands`] in milliseconds, as stored.
    pub fn commands_ms(&self) -> u64 {
        self.commands_ms.unwrap_or(self.duration_ms)
    }

    /// When the run that made the entry ended.
    pub fn created(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.created_unix_ms)
    }

    /// Every blob the entry refers to, with what it holds: the stored copies of its files, its
    /// log and the chunks of its list of inputs.
    pub fn blobs(&self) -> impl Iterator<Item = (Stored, &Blob)> {
        let files = self.outputs.iter().filter_map(|entry| match entry {
            OutputEntry::File { path, blob, .. } => Some((Stored::Output(path.clone()), blob)),
            OutputEntry::Dir { .. } | OutputEntry::Symlink { .. } => None,
        });
        let inputs = self
            .inputs
            .chunks
            .iter()
            .map(|chunk| (Stored::Inputs, chunk));
        files.chain([(Stored::Log, &self.log)]).chain(inputs)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    pub hash: Digest,
    pub size: u64,
}

impl Blob {
    /// Whether `path` is a regular file holding exactly these bytes.
    pub fn matches_file(&self, path: &Path) -> bool {
        path.symlink_metadata()
            .is_ok_and(|metadata| metadata.is_file() && metadata.len() == self.size)
            && Digest::of_file(path).is_ok_and(|digest| digest == self.hash)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutputEntry {
    File {
        path: RelPath,
        #[serde(flatten)]
        blob: Blob,
        mode: u32,
    },
    Dir {
        path: RelPath,
        mode: u32,
    },
    Symlink {
        path: RelPath,
        target: String,
    },
}

impl OutputEntry {
    pub fn path(&self) -> &RelPath {
        match self {
            OutputEntry::File { path, .. }
            | OutputEntry::Dir { path, .. }
            | OutputEntry::Symlink { path, .. } => path,
        }
    }
}

//! `--report FILE`: the run as JSON, in nox's report shape, with rtask's `cached` and `key`.

use std::io;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::digest::Digest;
use crate::project::Session;
use crate::reporter::Outcome;
use crate::ui::words;

#[derive(Serialize)]
struct Report<'a> {
    /// 1 when nothing failed (skipped sessions do not fail a run), as in nox.
    result: u8,
    sessions: Vec<SessionReport<'a>>,
}

#[derive(Serialize)]
struct SessionReport<'a> {
    args: serde_json::Map<String, serde_json::Value>,
    name: &'a str,
    result: &'static str,
    result_code: i8,
    reason: Option<String>,
    signatures: &'a [String],
    duration: f64,
    /// Seconds its commands took in this run (`null` when none started: restored, skipped).
    commands_duration: Option<f64>,
    /// Seconds spent making or updating its environment (`null` when none was made).
    environment_duration: Option<f64>,
    /// Seconds a cache hit saved: the stored run's commands' time less the restore's.
    saved: Option<f64>,
    cached: bool,
    key: Option<&'a Digest>,
}

/// One session's part in the report.
pub struct Entry<'a> {
    pub session: &'a Session,
    pub outcome: &'a Outcome,
    pub key: Option<&'a Digest>,
    pub elapsed: Duration,
}

pub fn render(entries: &[Entry<'_>]) -> String {
    let sessions: Vec<SessionReport<'_>> = entries
        .iter()
        .map(|entry| {
            let (result, result_code, reason) = match entry.outcome {
                Outcome::Ran { .. } | Outcome::Cached { .. } | Outcome::Installed { .. } => {
                    ("success", 1, None)
                }
                Outcome::Failed { error, .. } => ("failed", 0, Some(error.to_string())),
                Outcome::Skipped { reason } => ("skipped", 2, Some(words::skip(reason))),
                Outcome::Aborted { reason } => ("aborted", -1, Some(words::abort(reason))),
                Outcome::Interrupted { .. } => ("aborted", -1, Some("interrupted".to_string())),
            };
            let (took, environment, saved) = match entry.outcome {
                Outcome::Ran { took }
                | Outcome::Failed { took, .. }
                | Outcome::Interrupted { took } => (Some(took), took.environment, None),
                Outcome::Cached { saved, environment } => (None, *environment, Some(*saved)),
                Outcome::Installed { duration } => (None, Some(*duration), None),
                Outcome::Aborted { .. } | Outcome::Skipped { .. } => (None, None, None),
            };
            SessionReport {
                args: entry
                    .session
                    .call_spec
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect(),
                name: &entry.session.base,
                result,
                result_code,
                reason,
                signatures: &entry.session.signatures,
                duration: entry.elapsed.as_secs_f64(),
                commands_duration: took.and_then(|took| took.commands).map(|d| d.as_secs_f64()),
                environment_duration: environment.map(|d| d.as_secs_f64()),
                saved: saved.map(|d| d.as_secs_f64()),
                cached: matches!(entry.outcome, Outcome::Cached { .. }),
                key: entry.key,
            }
        })
        .collect();
    let report = Report {
        result: u8::from(entries.iter().all(|entry| !entry.outcome.is_failure())),
        sessions,
    };
    let mut text = serde_json::to_string_pretty(&report).expect("plain data serialises");
    text.push('\n');
    text
}

/// Why `--report`'s file cannot be written: found before any session runs, so that a run
/// never ends, however well, without the report it was asked for.
#[derive(Debug, thiserror::Error)]
pub enum Unwritable {
    #[error("its directory `{}` does not exist", .0.display())]
    NoDirectory(std::path::PathBuf),
    #[error("it is a directory")]
    IsADirectory,
    #[error("cannot write in its directory `{}`: {source}", directory.display())]
    DirectoryNotWritable {
        directory: std::path::PathBuf,
        source: io::Error,
    },
}

/// Check that `path` (absolute) can be written as the report, leaving nothing behind: its
/// directory exists, a file can be created in it, and the path is not a directory.
pub fn check_writable(path: &Path) -> Result<(), Unwritable> {
    let directory = path.parent().unwrap_or(path);
    if !directory.is_dir() {
        return Err(Unwritable::NoDirectory(directory.to_path_buf()));
    }
    if path.is_dir() {
        return Err(Unwritable::IsADirectory);
    }
    // A real file made and removed there: permissions, read-only mounts and ACLs all answer.
    tempfile::Builder::new()
        .prefix(".rtask-report-check")
        .tempfile_in(directory)
        .map(drop)
        .map_err(|source| Unwritable::DirectoryNotWritable {
            directory: directory.to_path_buf(),
            source,
        })
}

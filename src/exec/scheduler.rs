//! Running the selected sessions in dependency order, up to `jobs` at once.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::session::{self, Context};
use crate::digest::Digest;
use crate::failure::SessionError;
use crate::plan::Finished;
use crate::plan::reason::{AbortReason, Blocked, RequirementEnd, blocked};
use crate::project::SessionId;
use crate::reporter::Outcome;

/// How one session of the run ended.
pub struct SessionResult {
    pub id: SessionId,
    pub outcome: Outcome,
    /// Its cache key, when its result is in the cache.
    pub key: Option<Digest>,
    /// From its start to its end (zero for sessions that never started).
    pub elapsed: Duration,
}

pub struct Options {
    pub jobs: usize,
    pub stop_on_first_error: bool,
}

enum State {
    Waiting,
    Running,
    Done(Outcome),
}

/// Runs `order` (each session after what it requires) and returns each session's outcome, in
/// that order. A failed session aborts the sessions that require it; the others go on unless
/// `stop_on_first_error`.
pub fn run(context: &Context<'_>, order: &[SessionId], options: &Options) -> Vec<SessionResult> {
    let sessions = &context.planner.project.sessions;
    let mut states: BTreeMap<SessionId, State> =
        order.iter().map(|&id| (id, State::Waiting)).collect();
    let mut finished: BTreeMap<SessionId, Finished> = BTreeMap::new();
    let mut elapsed: BTreeMap<SessionId, Duration> = BTreeMap::new();
    let mut stopped = false;
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| {
        let mut running = 0;
        loop {
            for &id in order {
                if !matches!(states[&id], State::Waiting) {
                    continue;
                }
                let ends = sessions[id].requires.iter().map(|dep| {
                    let end = match states.get(dep) {
                        Some(State::Done(outcome)) => end_of(outcome),
                        _ => RequirementEnd::Succeeded,
                    };
                    (sessions[*dep].name.as_str(), end)
                });
                let outcome = match blocked(ends) {
                    Some(Blocked::Skip(reason)) => {
                        let outcome = Outcome::Skipped { reason };
                        context.reporter.finished(&sessions[id].name, &outcome);
                        outcome
                    }
                    Some(Blocked::Abort(reason)) => Outcome::Aborted { reason },
                    None if context.interrupts.interrupted() => Outcome::Aborted {
                        reason: AbortReason::Interrupted,
                    },
                    None if stopped => Outcome::Aborted {
                        reason: AbortReason::StoppedAfterFirstFailure,
                    },
                    None => continue,
                };
                states.insert(id, State::Done(outcome));
            }
            for &id in order {
                if running >= options.jobs {
                    break;
                }
                let ready = matches!(states[&id], State::Waiting)
                    && sessions[id]
                        .requires
                        .iter()
                        .all(|dep| matches!(states.get(dep), Some(State::Done(outcome)) if outcome.succeeded()));
                if !ready {
                    continue;
                }
                states.insert(id, State::Running);
                running += 1;
                let upstream: BTreeMap<SessionId, Finished> = sessions[id]
                    .requires
                    .iter()
                    .filter_map(|dep| Some((*dep, finished.get(dep)?.clone())))
                    .collect();
                let sender = sender.clone();
                scope.spawn(move || {
                    let started = Instant::now();
                    // A bug in one session must not leave the scheduler waiting forever.
                    let result = panic::catch_unwind(AssertUnwindSafe(|| {
                        session::run(context, id, &upstream)
                    }))
                    .unwrap_or_else(|_| {
                        (
                            Outcome::failed(Duration::ZERO, SessionError::Panicked),
                            None,
                        )
                    });
                    let _ = sender.send((id, result, started.elapsed()));
                });
            }
            if running == 0 {
                break;
            }
            let Ok((id, (outcome, done), took)) = receiver.recv() else {
                break;
            };
            running -= 1;
            elapsed.insert(id, took);
            if outcome.is_failure() && options.stop_on_first_error {
                stopped = true;
            }
            states.insert(id, State::Done(outcome));
            if let Some(done) = done {
                finished.insert(id, done);
            }
        }
    });
    order
        .iter()
        .map(|&id| {
            let outcome = match states.remove(&id) {
                Some(State::Done(outcome)) => outcome,
                _ => Outcome::Aborted {
                    reason: AbortReason::DidNotRun,
                },
            };
            let key = finished
                .get(&id)
                .and_then(|done| done.entry.as_ref())
                .map(|entry| entry.key);
            SessionResult {
                id,
                outcome,
                key,
                elapsed: elapsed.get(&id).copied().unwrap_or_default(),
            }
        })
        .collect()
}

/// How a finished session ended, as the sessions that require it see it.
fn end_of(outcome: &Outcome) -> RequirementEnd {
    match outcome {
        Outcome::Ran { .. } | Outcome::Cached { .. } => RequirementEnd::Succeeded,
        Outcome::Skipped { .. } => RequirementEnd::Skipped,
        Outcome::Failed { .. } => RequirementEnd::Failed,
        Outcome::Interrupted { .. } => RequirementEnd::Interrupted,
        Outcome::Aborted { .. } => RequirementEnd::Aborted,
    }
}

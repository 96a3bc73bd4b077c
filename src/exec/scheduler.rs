//! Running the selected sessions in dependency order, up to `jobs` at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::session::{self, Context};
use crate::digest::Digest;
use crate::failure::SessionError;
use crate::plan::Finished;
use crate::plan::reason::{AbortReason, Blocked, RequirementEnd, blocked};
use crate::project::{Session, SessionId};
use crate::reporter::{Outcome, Took};

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

/// Where the sessions of a run stand, by their position in its order: what each waits for,
/// and who waits for it, so that each end costs what it touches (a run of many sessions, or
/// one requiring thousands, stays linear).
struct Board {
    states: Vec<State>,
    /// How many of its requirements, and of the sessions of the run its `after` names, have
    /// not ended yet.
    pending: Vec<usize>,
    /// The positions of the sessions that require it or start after it.
    dependents: Vec<Vec<usize>>,
    /// Sessions whose requirements have all ended, to be started, skipped or aborted; in
    /// order, so that sessions start in the order given when several could.
    settled: BTreeSet<usize>,
}

impl Board {
    fn new(
        sessions: &[Session],
        order: &[SessionId],
        position: &HashMap<SessionId, usize>,
    ) -> Board {
        let mut pending = vec![0; order.len()];
        let mut dependents = vec![Vec::new(); order.len()];
        for (at, &id) in order.iter().enumerate() {
            // Only the sessions of the run: `after` never waits for one that is not in it.
            for dependency in sessions[id].requires.iter().chain(&sessions[id].after) {
                if let Some(&required) = position.get(dependency) {
                    pending[at] += 1;
                    dependents[required].push(at);
                }
            }
        }
        let settled = (0..order.len()).filter(|&at| pending[at] == 0).collect();
        Board {
            states: order.iter().map(|_| State::Waiting).collect(),
            pending,
            dependents,
            settled,
        }
    }

    fn end(&mut self, at: usize, outcome: Outcome) {
        self.states[at] = State::Done(outcome);
        for &dependent in &self.dependents[at] {
            self.pending[dependent] -= 1;
            if self.pending[dependent] == 0 {
                self.settled.insert(dependent);
            }
        }
    }
}

/// Runs `order` (each session after what it requires and what it starts `after`) and returns
/// each session's outcome, in that order. A failed session aborts the sessions that require
/// it; the others, those that start after it included, go on unless `stop_on_first_error`.
pub fn run(context: &Context<'_>, order: &[SessionId], options: &Options) -> Vec<SessionResult> {
    let sessions = &context.planner.project.sessions;
    let position: HashMap<SessionId, usize> =
        order.iter().enumerate().map(|(at, &id)| (id, at)).collect();
    let mut board = Board::new(sessions, order, &position);
    // Sessions free to start, in order.
    let mut ready: BTreeSet<usize> = BTreeSet::new();
    let mut finished: HashMap<SessionId, Finished> = HashMap::new();
    let mut elapsed: HashMap<SessionId, Duration> = HashMap::new();
    let mut stopped = false;
    let (sender, receiver) = mpsc::channel();
    thread::scope(|scope| {
        let mut running = 0;
        loop {
            while let Some(at) = board.settled.pop_first() {
                let id = order[at];
                let ends = sessions[id].requires.iter().map(|dep| {
                    let end = match position.get(dep).map(|&required| &board.states[required]) {
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
                    None => {
                        ready.insert(at);
                        continue;
                    }
                };
                board.end(at, outcome);
            }
            let abort = if context.interrupts.interrupted() {
                Some(AbortReason::Interrupted)
            } else if stopped {
                Some(AbortReason::StoppedAfterFirstFailure)
            } else {
                None
            };
            if let Some(reason) = abort {
                for at in std::mem::take(&mut ready) {
                    board.end(
                        at,
                        Outcome::Aborted {
                            reason: reason.clone(),
                        },
                    );
                }
            }
            while running < options.jobs {
                let Some(at) = ready.pop_first() else {
                    break;
                };
                let id = order[at];
                board.states[at] = State::Running;
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
                            Outcome::failed(Took::default(), SessionError::Panicked),
                            None,
                        )
                    });
                    let _ = sender.send((at, result, started.elapsed()));
                });
            }
            if running == 0 {
                if board.settled.is_empty() {
                    break;
                }
                continue;
            }
            let Ok((at, (outcome, done), took)) = receiver.recv() else {
                break;
            };
            running -= 1;
            let id = order[at];
            elapsed.insert(id, took);
            if outcome.is_failure() && options.stop_on_first_error {
                stopped = true;
            }
            if let Some(done) = done {
                finished.insert(id, done);
            }
            board.end(at, outcome);
        }
    });
    order
        .iter()
        .zip(board.states)
        .map(|(&id, state)| {
            let outcome = match state {
                State::Done(outcome) => outcome,
                State::Waiting | State::Running => Outcome::Aborted {
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
        Outcome::Ran { .. } | Outcome::Cached { .. } | Outcome::Installed { .. } => {
            RequirementEnd::Succeeded
        }
        Outcome::Skipped { reason } => RequirementEnd::Skipped(reason.clone()),
        Outcome::Failed { error, .. } => match &**error {
            SessionError::MissingInterpreter { version } => RequirementEnd::MissingInterpreter {
                version: version.clone(),
            },
            _ => RequirementEnd::Failed,
        },
        Outcome::Interrupted { .. } => RequirementEnd::Interrupted,
        Outcome::Aborted { reason } => RequirementEnd::Aborted(Some(reason.clone())),
    }
}

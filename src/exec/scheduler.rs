//! Running the selected sessions in dependency order, up to `jobs` at once.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::session::{self, Context, Finished};
use crate::digest::Digest;
use crate::key::Upstream;
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
    let sessions = &context.workspace.project.sessions;
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
                let blocked = sessions[id]
                    .requires
                    .iter()
                    .find_map(|dep| match states.get(dep) {
                        Some(State::Done(outcome)) if !outcome.succeeded() => Some(*dep),
                        _ => None,
                    });
                if let Some(dep) = blocked
                    && matches!(states[&dep], State::Done(Outcome::Skipped { .. }))
                {
                    let reason = format!("requires `{}`, which was skipped", sessions[dep].name);
                    context.reporter.finished(
                        &sessions[id].name,
                        &Outcome::Skipped {
                            reason: reason.clone(),
                        },
                    );
                    states.insert(id, State::Done(Outcome::Skipped { reason }));
                    continue;
                }
                let reason = if let Some(dep) = blocked {
                    Some(match &states[&dep] {
                        State::Done(Outcome::Interrupted { .. }) => {
                            format!("`{}` was interrupted", sessions[dep].name)
                        }
                        State::Done(Outcome::Aborted { .. }) => {
                            format!("`{}` did not run", sessions[dep].name)
                        }
                        _ => format!("`{}` failed", sessions[dep].name),
                    })
                } else if context.interrupts.interrupted() {
                    Some("interrupted".to_string())
                } else if stopped {
                    Some("stopped after the first failure".to_string())
                } else {
                    None
                };
                if let Some(reason) = reason {
                    states.insert(id, State::Done(Outcome::Aborted { reason }));
                }
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
                        let reason =
                            "rtask itself failed while running it (a bug: please report it)";
                        let outcome = Outcome::Failed {
                            duration: Duration::ZERO,
                            reason: reason.to_string(),
                        };
                        (outcome, None)
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
                    reason: "did not run".to_string(),
                },
            };
            let key = finished.get(&id).and_then(|done| match &done.upstream {
                Upstream::Key(key) if done.entry.is_some() => Some(*key),
                _ => None,
            });
            SessionResult {
                id,
                outcome,
                key,
                elapsed: elapsed.get(&id).copied().unwrap_or_default(),
            }
        })
        .collect()
}

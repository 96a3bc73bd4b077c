//! The session graph: cycles, and the sessions a selection pulls in, in dependency order.
//! Both walk the graph once, with an explicit stack: a chain of any length neither overflows
//! the stack nor takes more than time linear in sessions and requirements.
//!
//! Two kinds of edges: `requires` pulls sessions in and orders them; `after` only orders the
//! sessions that are part of the run anyway.

use std::collections::{BTreeSet, HashMap};

use crate::project::{Session, SessionId};

/// A cycle of `requires` and `after` edges: `sessions` starts and ends with the same session.
#[derive(Debug, PartialEq, Eq)]
pub struct Cycle {
    pub sessions: Vec<SessionId>,
    /// The session whose edge closes the cycle, and the index of that edge among its
    /// requirements followed by its `after` entries.
    pub closing_edge: (SessionId, usize),
}

/// The `index`th edge of `session`: its requirements, then its `after` entries.
fn nth_edge(session: &Session, index: usize) -> Option<SessionId> {
    match session.requires.get(index) {
        Some(&id) => Some(id),
        None => session.after.get(index - session.requires.len()).copied(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    OnPath,
    Done,
}

/// The first cycle found, searching from sessions in order, each session's requirements then
/// its `after` entries in the order written.
pub fn find_cycle(sessions: &[Session]) -> Option<Cycle> {
    let mut marks = vec![Mark::New; sessions.len()];
    // The path from the start: each session with the index of the next requirement to follow.
    let mut path: Vec<(SessionId, usize)> = Vec::new();
    for start in 0..sessions.len() {
        if marks[start] != Mark::New {
            continue;
        }
        marks[start] = Mark::OnPath;
        path.push((start, 0));
        while let Some(&mut (id, ref mut edge)) = path.last_mut() {
            let Some(next) = nth_edge(&sessions[id], *edge) else {
                marks[id] = Mark::Done;
                path.pop();
                continue;
            };
            let closing = (id, *edge);
            *edge += 1;
            match marks[next] {
                Mark::Done => {}
                Mark::OnPath => {
                    let from = path.iter().position(|&(p, _)| p == next).unwrap_or(0);
                    let mut cycle: Vec<SessionId> = path[from..].iter().map(|&(p, _)| p).collect();
                    cycle.push(next);
                    return Some(Cycle {
                        sessions: cycle,
                        closing_edge: closing,
                    });
                }
                Mark::New => {
                    marks[next] = Mark::OnPath;
                    path.push((next, 0));
                }
            }
        }
    }
    None
}

/// The selected sessions and everything they require, each after what it requires (in the
/// order a depth-first walk from the selection in order finishes them).
/// The graph must be acyclic (validation guarantees it).
pub fn closure(sessions: &[Session], selected: &[SessionId]) -> Vec<SessionId> {
    let mut seen = vec![false; sessions.len()];
    let mut order = Vec::new();
    let mut stack: Vec<(SessionId, usize)> = Vec::new();
    for &start in selected {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push((start, 0));
        while let Some(&mut (id, ref mut edge)) = stack.last_mut() {
            match sessions[id].requires.get(*edge) {
                Some(&next) => {
                    *edge += 1;
                    if !seen[next] {
                        seen[next] = true;
                        stack.push((next, 0));
                    }
                }
                None => {
                    order.push(id);
                    stack.pop();
                }
            }
        }
    }
    order
}

/// The sessions of a run (the selection and what it requires, as [`closure`]) in the order
/// they are decided and start in: each after what it requires and after the sessions of the
/// run its `after` names; otherwise in the closure's order. Acyclic, as validation guarantees.
pub fn run_order(sessions: &[Session], selected: &[SessionId]) -> Vec<SessionId> {
    let closure = closure(sessions, selected);
    let position: HashMap<SessionId, usize> = closure
        .iter()
        .enumerate()
        .map(|(at, &id)| (id, at))
        .collect();
    let mut pending = vec![0usize; closure.len()];
    let mut waiting: Vec<Vec<usize>> = vec![Vec::new(); closure.len()];
    for (at, &id) in closure.iter().enumerate() {
        let session = &sessions[id];
        for earlier in session.requires.iter().chain(&session.after) {
            if let Some(&before) = position.get(earlier) {
                pending[at] += 1;
                waiting[before].push(at);
            }
        }
    }
    let mut free: BTreeSet<usize> = (0..closure.len()).filter(|&at| pending[at] == 0).collect();
    let mut order = Vec::with_capacity(closure.len());
    while let Some(at) = free.pop_first() {
        order.push(closure[at]);
        for &later in &waiting[at] {
            pending[later] -= 1;
            if pending[later] == 0 {
                free.insert(later);
            }
        }
    }
    order
}

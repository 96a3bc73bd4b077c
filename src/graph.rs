//! The session graph: cycles, and the sessions a selection pulls in, in dependency order.
//! Both walk the graph once, with an explicit stack: a chain of any length neither overflows
//! the stack nor takes more than time linear in sessions and requirements.

use crate::project::{Session, SessionId};

/// A cycle of `requires`: `sessions` starts and ends with the same session.
#[derive(Debug, PartialEq, Eq)]
pub struct Cycle {
    pub sessions: Vec<SessionId>,
    /// The session whose requirement closes the cycle, and the index of that requirement.
    pub closing_edge: (SessionId, usize),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    New,
    OnPath,
    Done,
}

/// The first cycle found, searching from sessions in order, each session's requirements in
/// the order written.
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
            let Some(&next) = sessions[id].requires.get(*edge) else {
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

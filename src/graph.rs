//! The session graph: cycles, and the sessions a selection pulls in, in dependency order.

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

/// The first cycle found, searching from sessions in order.
pub fn find_cycle(sessions: &[Session]) -> Option<Cycle> {
    let mut marks = vec![Mark::New; sessions.len()];
    let mut path = Vec::new();
    (0..sessions.len()).find_map(|start| visit(sessions, start, &mut marks, &mut path))
}

fn visit(
    sessions: &[Session],
    id: SessionId,
    marks: &mut [Mark],
    path: &mut Vec<SessionId>,
) -> Option<Cycle> {
    match marks[id] {
        Mark::Done => return None,
        Mark::OnPath => unreachable!("callers check for OnPath before visiting"),
        Mark::New => {}
    }
    marks[id] = Mark::OnPath;
    path.push(id);
    for (edge, &next) in sessions[id].requires.iter().enumerate() {
        if marks[next] == Mark::OnPath {
            let start = path.iter().position(|&p| p == next).unwrap_or(0);
            let mut cycle: Vec<SessionId> = path[start..].to_vec();
            cycle.push(next);
            return Some(Cycle {
                sessions: cycle,
                closing_edge: (id, edge),
            });
        }
        if let Some(cycle) = visit(sessions, next, marks, path) {
            return Some(cycle);
        }
    }
    path.pop();
    marks[id] = Mark::Done;
    None
}

/// The selected sessions and everything they require, each after what it requires.
/// The graph must be acyclic (validation guarantees it).
pub fn closure(sessions: &[Session], selected: &[SessionId]) -> Vec<SessionId> {
    let mut seen = vec![false; sessions.len()];
    let mut order = Vec::new();
    for &id in selected {
        post_order(sessions, id, &mut seen, &mut order);
    }
    order
}

fn post_order(sessions: &[Session], id: SessionId, seen: &mut [bool], order: &mut Vec<SessionId>) {
    if seen[id] {
        return;
    }
    seen[id] = true;
    for &dependency in &sessions[id].requires {
        post_order(sessions, dependency, seen, order);
    }
    order.push(id);
}

//! Which running sessions share a requirement. A dependent may remove the outputs it read
//! (`coverage combine` deletes the data files it combines); but when a requirement's output
//! goes missing while two of its dependents run side by side, either may have removed it, and
//! neither may take it for its own doing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

use crate::project::SessionId;

#[derive(Default)]
pub(crate) struct Sharing {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The sessions running now, with the sessions they require.
    running: BTreeMap<SessionId, Vec<SessionId>>,
    /// Sessions that ran beside another session requiring one of their requirements.
    overlapped: BTreeSet<SessionId>,
}

/// Whether a session ran alone among the dependents of its requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shared {
    Alone,
    WithOthers,
}

impl Sharing {
    /// `id`, which requires `requires`, starts its commands.
    pub(crate) fn start(&self, id: SessionId, requires: &[SessionId]) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let others: Vec<SessionId> = state
            .running
            .iter()
            .filter(|(_, theirs)| theirs.iter().any(|dep| requires.contains(dep)))
            .map(|(other, _)| *other)
            .collect();
        if !others.is_empty() {
            state.overlapped.insert(id);
            state.overlapped.extend(others);
        }
        state.running.insert(id, requires.to_vec());
    }

    /// `id`'s commands ended: whether another dependent of its requirements ran meanwhile.
    pub(crate) fn finish(&self, id: SessionId) -> Shared {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.running.remove(&id);
        if state.overlapped.remove(&id) {
            Shared::WithOthers
        } else {
            Shared::Alone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_sharing_a_requirement_overlap_only_while_both_run() {
        let sharing = Sharing::default();
        sharing.start(1, &[0]);
        sharing.start(2, &[0, 5]);
        sharing.start(3, &[7]);
        assert_eq!(sharing.finish(3), Shared::Alone);
        assert_eq!(sharing.finish(1), Shared::WithOthers);
        assert_eq!(sharing.finish(2), Shared::WithOthers);
        sharing.start(4, &[0]);
        assert_eq!(sharing.finish(4), Shared::Alone);
    }
}

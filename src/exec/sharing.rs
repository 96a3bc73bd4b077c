//! What sessions at work side by side do to each other's files. A dependent may remove the
//! outputs it read from the sessions it requires (`coverage combine` deletes the data files it
//! combines); but when such an output goes missing while another session that may touch it is
//! at work too — one that requires the same session, or one that is not cacheable and so
//! declares nothing of what it does — that one may have removed it, and the dependent may not
//! take it for its own doing. And a file a restore
//! wrote while a session ran (another matrix variant's `.coverage.*`) is not that session's
//! output, although its globs match it and it was not there before.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::file_stat::FileStat;
use crate::project::SessionId;
use crate::relpath::RelPath;

#[derive(Default)]
pub(crate) struct Sharing {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The sessions at work now (from putting back what they require to their last command),
    /// with what may touch what they require: the sessions they require, or `None` for a
    /// session that is not cacheable (it may touch anything).
    present: BTreeMap<SessionId, Option<Vec<SessionId>>>,
    /// Sessions that were at work while another one was.
    overlapped: BTreeSet<SessionId>,
    /// The paths restores wrote in this run, as they were once written.
    restored: BTreeMap<RelPath, FileStat>,
}

/// Whether a session was at work alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shared {
    Alone,
    WithOthers,
}

/// A session at work; it leaves when [`Presence::leave`] is called or it is dropped.
pub(crate) struct Presence<'a> {
    sharing: &'a Sharing,
    id: SessionId,
}

impl Sharing {
    /// `id` starts its work; `reach` is what it requires, `None` when it is not cacheable.
    pub(crate) fn enter(&self, id: SessionId, reach: Option<&[SessionId]>) -> Presence<'_> {
        let mut state = self.lock();
        let touches = |theirs: &Option<Vec<SessionId>>| match (theirs, reach) {
            (None, _) | (_, None) => true,
            (Some(theirs), Some(mine)) => theirs.iter().any(|dep| mine.contains(dep)),
        };
        let others: Vec<SessionId> = state
            .present
            .iter()
            .filter(|(_, theirs)| touches(theirs))
            .map(|(other, _)| *other)
            .collect();
        if !others.is_empty() {
            state.overlapped.extend(others);
            state.overlapped.insert(id);
        }
        state.present.insert(id, reach.map(<[SessionId]>::to_vec));
        Presence { sharing: self, id }
    }

    /// A restore wrote these paths.
    pub(crate) fn restored(&self, root: &Path, paths: &[RelPath]) {
        let stats: Vec<(RelPath, FileStat)> = paths
            .iter()
            .filter_map(|path| {
                let metadata = path.to_path(root).symlink_metadata().ok()?;
                Some((path.clone(), FileStat::of(&metadata)))
            })
            .collect();
        self.lock().restored.extend(stats);
    }

    /// Whether a restore of this run wrote `path` and nothing touched it since.
    pub(crate) fn restored_untouched(&self, root: &Path, path: &RelPath) -> bool {
        let state = self.lock();
        let Some(written) = state.restored.get(path) else {
            return false;
        };
        path.to_path(root)
            .symlink_metadata()
            .is_ok_and(|metadata| FileStat::of(&metadata) == *written)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Presence<'_> {
    /// The session's commands ended: whether another session was at work meanwhile.
    pub(crate) fn leave(&self) -> Shared {
        let mut state = self.sharing.lock();
        state.present.remove(&self.id);
        if state.overlapped.remove(&self.id) {
            Shared::WithOthers
        } else {
            Shared::Alone
        }
    }
}

impl Drop for Presence<'_> {
    fn drop(&mut self) {
        let mut state = self.sharing.lock();
        state.present.remove(&self.id);
        state.overlapped.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_overlap_while_both_are_at_work_and_may_touch_the_same_requirements() {
        let sharing = Sharing::default();
        let one = sharing.enter(1, Some(&[0]));
        let two = sharing.enter(2, Some(&[0, 5]));
        // Requires something else and declares what it does: no overlap with 1 and 2.
        let three = sharing.enter(3, Some(&[7]));
        assert_eq!(three.leave(), Shared::Alone);
        assert_eq!(one.leave(), Shared::WithOthers);
        assert_eq!(two.leave(), Shared::WithOthers);
        // Not cacheable: it may touch anything.
        let four = sharing.enter(4, Some(&[7]));
        let five = sharing.enter(5, None);
        assert_eq!(four.leave(), Shared::WithOthers);
        assert_eq!(five.leave(), Shared::WithOthers);
        drop((one, two, three, four, five));
        let six = sharing.enter(6, Some(&[0]));
        assert_eq!(six.leave(), Shared::Alone);
    }
}

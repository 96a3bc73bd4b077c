//! `--restore-only`: a session that must come from the cache is restored, or fails with why
//! (the reasons it would run for, against the entry nearest to its key).

use super::reason::RunReason;
use super::{Decision, Planner, SessionPlan};
use crate::cache::explain::{self, Current};
use crate::failure::SessionError;

impl Planner<'_> {
    /// The plan of a `--restore-only` session: a decision to run becomes a failure saying why.
    pub(super) fn restore_only(&self, mut plan: SessionPlan) -> SessionPlan {
        if !self.restore_only.contains(&plan.id) {
            return plan;
        }
        if let Decision::Run { reasons, .. } = &plan.decision {
            let reasons = self
                .nearer_reasons(&plan)
                .unwrap_or_else(|| reasons.clone());
            plan.decision = Decision::Fail(SessionError::NotCached { reasons });
        }
        plan
    }

    /// Why the session misses, against the entry of the session that differs least from its
    /// key (rather than the newest): what a consumer must change, or fetch, to hit.
    fn nearer_reasons(&self, plan: &SessionPlan) -> Option<Vec<RunReason>> {
        let (store, keyed) = (self.store?, plan.keyed.as_ref()?);
        let current = Current {
            ingredients: &keyed.ingredients,
            inputs: &keyed.inputs,
            posargs: self.posargs,
        };
        let changes = explain::against_nearest(store, &current)?;
        Some(if changes.is_empty() {
            vec![RunReason::KeyDiffers]
        } else {
            changes.into_iter().map(RunReason::Changed).collect()
        })
    }
}

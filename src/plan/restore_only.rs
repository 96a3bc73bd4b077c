//! `--restore-only`: a session that must come from the cache is restored, or fails with why
//! (the reasons it would run for, against the entry nearest to its key), never run.

use super::reason::RunReason;
use super::{Decision, Keyed, Planner, SessionPlan};
use crate::cache::explain::{self, Current};
use crate::failure::SessionError;

impl Planner<'_> {
    /// The plan of a `--restore-only` session: a decision to run (a hit whose local
    /// environment differs from the entry's) becomes a failure saying why.
    pub(super) fn restore_only(&self, mut plan: SessionPlan) -> SessionPlan {
        if !self.restore_only.contains(&plan.id) {
            return plan;
        }
        if let Decision::Run { reasons, .. } = &plan.decision {
            // Its entry was found: the reasons say why it cannot be used here.
            plan.decision = self.not_cached(reasons.clone(), None);
        }
        plan
    }

    /// The failure of a `--restore-only` session that would run for `reasons`: those reasons,
    /// or, for a miss of key `missed` (`None`: not a miss), its differences from the entry of
    /// the session that differs least from its key (rather than the newest), which is what a
    /// consumer must change or fetch to hit.
    pub(super) fn not_cached(&self, reasons: Vec<RunReason>, missed: Option<&Keyed>) -> Decision {
        let compared = matches!(
            reasons.as_slice(),
            [RunReason::Changed(_), ..] | [RunReason::KeyDiffers]
        );
        let nearer = match (self.store, missed) {
            (Some(store), Some(keyed)) if compared => {
                let current = Current {
                    ingredients: &keyed.ingredients,
                    inputs: &keyed.inputs,
                    posargs: self.posargs,
                };
                explain::against_nearest(store, &current)
            }
            _ => None,
        };
        let reasons = match nearer {
            Some(changes) if changes.is_empty() => vec![RunReason::KeyDiffers],
            Some(changes) => changes.into_iter().map(RunReason::Changed).collect(),
            None => reasons,
        };
        Decision::Fail(SessionError::NotCached { reasons })
    }
}

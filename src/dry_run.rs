//! `--dry-run`: for each session, would it run or be restored, and why. Writes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cache::explain;
use crate::cache::outputs;
use crate::cache::store::{Lookup, Miss};
use crate::exec::session::{Workspace, expand_commands, ingredients};
use crate::key::Upstream;
use crate::project::SessionId;
use crate::ui::style;

/// Explains, for each session of a run, whether it would run or be restored, and why.
pub struct DryRun<'a>(pub &'a Workspace<'a>);

impl DryRun<'_> {
    pub fn explain(&self, order: &[SessionId]) -> String {
        let mut upstream: BTreeMap<SessionId, Upstream> = BTreeMap::new();
        let mut out = String::new();
        for &id in order {
            let session = &self.0.project.sessions[id];
            let (verdict, details) = self.verdict(id, &mut upstream);
            out.push_str(&format!("{}: {verdict}\n", session.name));
            for detail in details {
                out.push_str(&format!("  - {detail}\n"));
            }
        }
        out
    }

    fn verdict(
        &self,
        id: SessionId,
        upstream: &mut BTreeMap<SessionId, Upstream>,
    ) -> (String, Vec<String>) {
        let session = &self.0.project.sessions[id];
        let commands = match expand_commands(session, self.0.posargs) {
            Ok(commands) => commands,
            Err(reason) => return (format!("would fail: {reason}"), Vec::new()),
        };
        let mut details = Vec::new();
        let mut requires = BTreeMap::new();
        for &dep in &session.requires {
            let dep_session = &self.0.project.sessions[dep];
            if let Some(known) = upstream.get(&dep) {
                requires.insert(dep_session.name.clone(), known.clone());
            }
            if !dep_session.cacheable() {
                details.push(format!(
                    "assuming `{}`, which always runs, reproduces the outputs it left in the workspace",
                    dep_session.name
                ));
            }
        }
        let (Some(patterns), Some(store)) = (&session.inputs, self.0.store) else {
            if let Ok(digests) =
                outputs::collect(&self.0.project.root, &session.outputs, self.0.skipped)
                    .and_then(|found| outputs::digests(&self.0.project.root, &found))
            {
                upstream.insert(id, Upstream::Outputs(digests));
            }
            let why = if session.cacheable() {
                "--no-cache"
            } else {
                "not cacheable: no `inputs`, or `cache = false`"
            };
            return (format!("would run ({why})"), details);
        };
        let inputs = match self.0.fingerprinter.inputs(patterns) {
            Ok(inputs) => inputs,
            Err(error) => return (format!("would fail: {error}"), details),
        };
        let ingredients = ingredients(session, self.0.environment, commands, inputs, requires);
        let key = ingredients.key();
        upstream.insert(id, Upstream::Key(key.clone()));
        match store.lookup(&session.name, &key) {
            Lookup::Hit(_) if self.0.force => ("would run (--force)".to_string(), details),
            Lookup::Hit(manifest) => (
                format!(
                    "would be restored from the cache (ran {}, key {})",
                    style::duration(Duration::from_millis(manifest.duration_ms)),
                    key.short()
                ),
                details,
            ),
            Lookup::Miss(_, Miss::Unusable(why)) => {
                details.insert(0, why);
                (
                    "would run: its cache entry cannot be used".to_string(),
                    details,
                )
            }
            Lookup::Miss(_, Miss::NoEntry) => match store.newest(&session.name) {
                None => (
                    "would run: no cache entry for this session yet".to_string(),
                    details,
                ),
                Some(newest) => {
                    let mut reasons = explain::differences(&newest.ingredients, &ingredients);
                    if reasons.is_empty() {
                        reasons.push("the key differs from the newest entry's".to_string());
                    }
                    reasons.extend(details);
                    (
                        "would run, differences from the newest entry:".to_string(),
                        reasons,
                    )
                }
            },
        }
    }
}

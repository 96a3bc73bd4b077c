//! `--dry-run`: for each session, would it run or be restored, and why. Writes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cache::explain;
use crate::cache::outputs;
use crate::cache::store::{Lookup, Miss};
use crate::exec::session::{Resolved, Workspace, expand_commands, ingredients};
use crate::key::Upstream;
use crate::project::SessionId;
use crate::python::{NotReady, PythonKey};
use crate::ui::style;

/// Explains, for each session of a run, whether it would run or be restored, and why.
pub struct DryRun<'a>(pub &'a Workspace<'a>);

/// Whether the cache holds a session's result now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    Fresh,
    Stale,
    /// Not cacheable, or the cache is off.
    NotCached,
}

struct Verdict {
    state: CacheState,
    text: String,
    details: Vec<String>,
}

fn stale(text: String, details: Vec<String>) -> Verdict {
    Verdict {
        state: CacheState::Stale,
        text,
        details,
    }
}

impl DryRun<'_> {
    pub fn explain(&self, order: &[SessionId]) -> String {
        let mut out = String::new();
        for (id, verdict) in self.verdicts(order) {
            out.push_str(&format!(
                "{}: {}\n",
                self.0.project.sessions[id].name, verdict.text
            ));
            for detail in verdict.details {
                out.push_str(&format!("  - {detail}\n"));
            }
        }
        out
    }

    /// The cache state of each session of `order`.
    pub fn states(&self, order: &[SessionId]) -> BTreeMap<SessionId, CacheState> {
        self.verdicts(order)
            .into_iter()
            .map(|(id, verdict)| (id, verdict.state))
            .collect()
    }

    fn verdicts(&self, order: &[SessionId]) -> Vec<(SessionId, Verdict)> {
        let mut upstream: BTreeMap<SessionId, Upstream> = BTreeMap::new();
        order
            .iter()
            .map(|&id| (id, self.verdict(id, &mut upstream)))
            .collect()
    }

    fn verdict(&self, id: SessionId, upstream: &mut BTreeMap<SessionId, Upstream>) -> Verdict {
        let session = &self.0.project.sessions[id];
        let commands = match expand_commands(session, self.0.posargs) {
            Ok(commands) => commands,
            Err(reason) => return stale(format!("would fail: {reason}"), Vec::new()),
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
            return Verdict {
                state: CacheState::NotCached,
                text: format!("would run ({why})"),
                details,
            };
        };
        let python = match self
            .0
            .python
            .plan(&self.0.project.root, session, self.0.fingerprinter)
        {
            Ok(None) => None,
            Ok(Some(plan)) => match self.0.python.ready(&plan) {
                Some(env) => Some(PythonKey::of(&env)),
                None => {
                    let text = "would run: its environment would be (re)created first, so its key is not known yet";
                    return stale(text.to_string(), details);
                }
            },
            Err(NotReady::MissingInterpreter(version)) => {
                return stale(
                    format!("would be skipped: Python interpreter {version} not found"),
                    details,
                );
            }
            Err(NotReady::Unavailable(reason)) => {
                return stale(format!("would fail: {reason}"), details);
            }
        };
        let inputs = match self.0.fingerprinter.inputs(patterns) {
            Ok(inputs) => inputs,
            Err(error) => return stale(format!("would fail: {error}"), details),
        };
        let resolved = Resolved {
            commands,
            requires,
            python,
        };
        let ingredients = ingredients(session, self.0.environment, resolved, &inputs);
        let key = ingredients.key();
        upstream.insert(id, Upstream::Key(key));
        match store.lookup(&session.name, &key) {
            Lookup::Hit(manifest) => Verdict {
                state: CacheState::Fresh,
                text: if self.0.force {
                    "would run (--force)".to_string()
                } else {
                    format!(
                        "would be restored from the cache (ran {}, key {})",
                        style::duration(Duration::from_millis(manifest.duration_ms)),
                        key.short()
                    )
                },
                details,
            },
            Lookup::Miss(_, Miss::Unusable(why)) => {
                details.insert(0, why);
                stale(
                    "would run: its cache entry cannot be used".to_string(),
                    details,
                )
            }
            Lookup::Miss(_, Miss::NoEntry) => {
                match explain::against_newest(store, &ingredients, &inputs) {
                    None => stale(
                        "would run: no cache entry for this session yet".to_string(),
                        details,
                    ),
                    Some(mut reasons) => {
                        if reasons.is_empty() {
                            reasons.push("the key differs from the newest entry's".to_string());
                        }
                        reasons.extend(details);
                        stale(
                            "would run, differences from the newest entry:".to_string(),
                            reasons,
                        )
                    }
                }
            }
        }
    }
}

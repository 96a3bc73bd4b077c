//! Making a session's virtual environment: its commands run with the session's `env`, their
//! output kept to be shown if they fail.

use std::ffi::OsString;
use std::path::Path;
use std::time::Instant;

use super::venv::{self, BackendMatch};
use super::{Plan, Tools};
use crate::environment::Environment;
use crate::exec::interrupts::Interrupts;
use crate::exec::process::{self, CommandSpec, Exit};
use crate::failure::{Ended, SessionError};
use crate::project::{Backend, Session};
use crate::reporter::{EnvironmentMade, Reporter};
use crate::spool::Spool;
use crate::{command, fingerprint::Fingerprinter};

/// Why an environment was not made.
pub(crate) enum NotMade {
    Interrupted,
    Failed(SessionError),
}

/// What making an environment needs from the run.
pub(crate) struct Maker<'a> {
    pub tools: &'a Tools,
    pub root: &'a Path,
    pub environment: &'a Environment,
    pub fingerprinter: &'a Fingerprinter,
    pub interrupts: &'a Interrupts,
    pub reporter: &'a dyn Reporter,
}

impl Maker<'_> {
    /// (Re)make the environment `plan` describes for `session`.
    pub(crate) fn make(&self, session: &Session, plan: &Plan) -> Result<(), NotMade> {
        let started = Instant::now();
        if !venv::replaceable(&plan.dir) {
            return Err(NotMade::Failed(SessionError::NotAnEnvironment {
                dir: plan.dir.clone(),
            }));
        }
        if plan.backends == BackendMatch::UvOrVenv
            && plan.backend == Backend::Venv
            && let Some(broken) = self.tools.finder.broken_uv_once()
        {
            self.reporter.uv_fallback(broken);
        }
        let commands = self.tools.creation(plan).map_err(|source| {
            NotMade::Failed(SessionError::PrepareEnvironment {
                dir: plan.dir.clone(),
                source,
            })
        })?;
        // The session's `env` applies to making its environment too, as nox's `session.install`.
        let mut env = process::session_env(self.environment, session, None);
        env.remove(&OsString::from("PYTHONHOME"));
        env.entry("UV_PYTHON_DOWNLOADS".into())
            .or_insert_with(|| "never".into());
        let mut log = Spool::new();
        for argv in &commands {
            log.push(format!("$ {}\n", command::display(argv)).as_bytes());
            let spec = CommandSpec {
                argv,
                cwd: self.root,
                env: &env,
            };
            let result = process::run(&spec, self.interrupts, &mut |bytes| log.push(bytes));
            if self.interrupts.interrupted() {
                return Err(NotMade::Interrupted);
            }
            let end = match result {
                Ok(Exit::Code(0)) => continue,
                Ok(exit) => Ended::Exit(exit),
                Err(error) => Ended::NotStarted(error),
            };
            self.reporter.environment_failed(&session.name, log);
            let program = argv.first().cloned().unwrap_or_default();
            return Err(NotMade::Failed(SessionError::CreateEnvironment {
                program,
                end,
            }));
        }
        // Installing may write into the project (`*.egg-info`, generated version files).
        self.fingerprinter.invalidate();
        let (env, took) = self
            .tools
            .record(plan, self.root, self.fingerprinter, started)
            .map_err(|source| {
                NotMade::Failed(SessionError::RecordEnvironment {
                    dir: plan.dir.clone(),
                    source,
                })
            })?;
        let made = EnvironmentMade {
            dir: plan
                .dir
                .strip_prefix(self.root)
                .unwrap_or(&plan.dir)
                .to_path_buf(),
            backend: plan.backend,
            python_version: env.interpreter.version,
            took,
            left_out: plan.left_out.clone(),
            recreated: plan.recreate.clone(),
        };
        self.reporter.environment_made(&session.name, &made);
        Ok(())
    }
}

//! Running one command: its own process group, stdout and stderr through one pipe (so their
//! order is kept), every chunk handed to the caller as it arrives.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};

use super::interrupts::Interrupts;
use crate::environment::Environment;
use crate::project::Session;
use crate::python::venv::Env;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

pub struct CommandSpec<'a> {
    pub argv: &'a [String],
    pub cwd: &'a Path,
    pub env: &'a BTreeMap<OsString, OsString>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("command `{program}` not found")]
    NotFound { program: String },
    #[error("cannot start `{program}`: {source}")]
    Io { program: String, source: io::Error },
}

pub fn run(
    spec: &CommandSpec<'_>,
    interrupts: &Interrupts,
    on_output: &mut dyn FnMut(&[u8]),
) -> Result<Exit, SpawnError> {
    let (program, args) = spec.argv.split_first().expect("commands are never empty");
    let resolved = resolve(spec).ok_or_else(|| SpawnError::NotFound {
        program: program.clone(),
    })?;
    let io_error = |source| SpawnError::Io {
        program: program.clone(),
        source,
    };
    interrupts.prepare();
    let reader = duct::cmd(resolved, args)
        .dir(spec.cwd)
        .full_env(spec.env)
        .stdin_null()
        .stderr_to_stdout()
        .unchecked()
        .before_spawn(|command| {
            command.process_group(0);
            Ok(())
        })
        .reader()
        .map_err(io_error)?;
    let groups: Vec<i32> = reader
        .pids()
        .into_iter()
        .filter_map(|pid| i32::try_from(pid).ok())
        .collect();
    for &group in &groups {
        interrupts.register(group);
    }
    let mut buffer = vec![0; 16 * 1024];
    let read_result = loop {
        match (&reader).read(&mut buffer) {
            Ok(0) => break Ok(()),
            Ok(read) => on_output(&buffer[..read]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => break Err(error),
        }
    };
    let status = reader
        .try_wait()
        .map(|output| output.map(|output| output.status));
    for &group in &groups {
        interrupts.unregister(group);
    }
    read_result.map_err(io_error)?;
    let status = status
        .map_err(io_error)?
        .ok_or_else(|| io_error(io::Error::other("the command did not exit")))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    })
}

/// Where the program of `spec` is found: looked up on its `PATH` from its `cwd`.
pub fn resolve(spec: &CommandSpec<'_>) -> Option<PathBuf> {
    let program = spec.argv.first()?;
    let search_path = spec.env.get(&OsString::from("PATH")).cloned();
    which::which_in(program, search_path, spec.cwd).ok()
}

/// The environment of a session's commands: rtask's own, with `[env]` and the session's `env`,
/// and for a session with a virtual environment its `bin/` first on `PATH` and `VIRTUAL_ENV`.
pub fn session_env(
    environment: &Environment,
    session: &Session,
    venv: Option<&Env>,
) -> BTreeMap<OsString, OsString> {
    let mut env = environment.vars().clone();
    if let Some(venv) = venv {
        let mut path = venv.dir.join("bin").into_os_string();
        if let Some(rest) = env.get(&OsString::from("PATH")) {
            path.push(":");
            path.push(rest);
        }
        env.insert("PATH".into(), path);
        env.insert("VIRTUAL_ENV".into(), venv.dir.clone().into_os_string());
        env.remove(&OsString::from("PYTHONHOME"));
    }
    for (name, value) in &session.env {
        env.insert(OsString::from(name), OsString::from(value));
    }
    env
}

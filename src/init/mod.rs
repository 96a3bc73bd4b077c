//! `rtask init`: a starter `tasks.toml`, or one converted from a noxfile (`--from-nox`) by
//! running it under a stand-in `nox` that records what its sessions do.

mod error;
mod proposal;
mod record;
mod writer;

use std::path::{Path, PathBuf};

pub(crate) use error::InitError;

use crate::cli::InitArgs;
use crate::environment::Environment;
use crate::exit::Exit;
use crate::taskfile::TASK_FILE;

/// What plain `rtask init` writes.
const STARTER: &str = r#"# rtask's task file: `rtask` runs the default sessions, `rtask -l` lists them.
# Reference: docs/tasks-toml.md.

[sessions.tests]
description = "Run the tests"
python = "3.12"                      # a virtual environment with this Python
default = true                       # a bare `rtask` runs it
install = ["pytest", "-e ."]         # what goes into it
run = ["pytest {posargs}"]           # `rtask tests -- -x` passes `-x`
inputs = ["src", "tests", "pyproject.toml"]   # with inputs, an unchanged run is restored
"#;

pub(crate) fn run(args: &InitArgs, environment: &Environment) -> Result<Exit, InitError> {
    let here = &environment.current_dir;
    let (target, text) = match &args.from_nox {
        None => (here.join(TASK_FILE), STARTER.to_string()),
        Some(noxfile) => {
            let noxfile = here.join(noxfile);
            if !noxfile.is_file() {
                return Err(InitError::NoNoxfile { path: noxfile });
            }
            let root = noxfile
                .parent()
                .map_or_else(|| here.clone(), Path::to_path_buf);
            let target = root.join(TASK_FILE);
            refuse_overwrite(&target, args.force)?;
            (target, convert(&noxfile, &root, environment)?)
        }
    };
    refuse_overwrite(&target, args.force)?;
    std::fs::write(&target, text).map_err(|source| InitError::Write {
        path: target.clone(),
        source,
    })?;
    eprintln!("rtask: wrote `{}`", target.display());
    Ok(Exit::Success)
}

fn refuse_overwrite(target: &Path, force: bool) -> Result<(), InitError> {
    if target.exists() && !force {
        return Err(InitError::Exists {
            path: target.to_path_buf(),
        });
    }
    Ok(())
}

fn convert(noxfile: &Path, root: &Path, environment: &Environment) -> Result<String, InitError> {
    let python = python3(environment)?;
    let recording = record::record(&python, noxfile)?;
    if recording.sessions.is_empty() {
        return Err(InitError::NoSessions {
            noxfile: noxfile.to_path_buf(),
        });
    }
    let layout = proposal::Layout::of(root);
    Ok(writer::write(
        &recording,
        &layout,
        &root.display().to_string(),
    ))
}

fn python3(environment: &Environment) -> Result<PathBuf, InitError> {
    let path = environment.get_os("PATH").ok_or(InitError::NoPython)?;
    which::which_in("python3", Some(path), &environment.current_dir)
        .map_err(|_| InitError::NoPython)
}

//! Finding, reading and validating `tasks.toml`.

mod cache_dir;
mod diagnostic;
mod outputs;
mod python;
mod resolve;
mod session;
mod validate;
pub(crate) mod wire;

use std::path::{Path, PathBuf};

pub use cache_dir::{CacheDirClash, EnvDirClash};
pub use diagnostic::TaskFileError;

use crate::cache::limits::ByteSize;
use crate::environment::Environment;
use crate::error::Error;
use crate::project::Project;

pub const TASK_FILE: &str = "tasks.toml";

/// The task file: `explicit` when given, else the nearest `tasks.toml` at or above `start`.
pub fn locate(explicit: Option<&Path>, start: &Path) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        let path = start.join(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(Error::TaskFileNotFound {
            searched: path,
            explicit: true,
        });
    }
    start
        .ancestors()
        .map(|dir| dir.join(TASK_FILE))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::TaskFileNotFound {
            searched: start.to_path_buf(),
            explicit: false,
        })
}

/// Read and validate the task file at `path`; `force_python`: `--force-python VERSION`.
pub fn load(path: &Path, env: &Environment, force_python: Option<&str>) -> Result<Project, Error> {
    let source = std::fs::read_to_string(path).map_err(|source| Error::ReadTaskFile {
        path: path.to_path_buf(),
        source,
    })?;
    let display_path = path
        .strip_prefix(&env.current_dir)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf);
    // Symlinks and `..` resolved once, so every path below the root compares as it should.
    let path = &path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let root = path
        .parent()
        .map_or_else(|| env.current_dir.clone(), Path::to_path_buf);
    let fail = |problems| {
        Error::TaskFile(Box::new(TaskFileError {
            display_path: display_path.clone(),
            source: source.clone(),
            problems,
        }))
    };
    let wire = validate::parse(&source).map_err(|problem| fail(vec![problem]))?;
    let cache_dir_override = env.cache_dir_override();
    let context = validate::Context {
        root: &root,
        display_path: &display_path,
        source: &source,
        cache_dir_override: cache_dir_override.clone(),
        force_python,
    };
    let mut project = validate::validate(wire, context).map_err(fail)?;
    if let Some(size) = cache_max_size_override(env)? {
        project.cache_max_size = Some(size);
    }
    // `[settings] cache_dir` is checked with the file, where its span is; the override here.
    if let Some(path) = cache_dir_override
        && let Some(clash) = cache_dir::check(&project.root, &path, &project.sessions)
    {
        return Err(Error::CacheDirOverride { path, clash });
    }
    Ok(project)
}

/// `--envdir DIR`: the environments live in `DIR` (relative to the project root), named as nox
/// names them, whatever `[settings] envdir` says.
pub fn override_envdir(project: &mut Project, dir: &Path) -> Result<(), Error> {
    let path = crate::protected::normalise(&project.root.join(dir));
    let clash = if dir.as_os_str().is_empty() {
        Some(cache_dir::EnvDirClash::ProjectRoot)
    } else {
        cache_dir::check_envdir(&project.root, &path, &project.cache_dir, &project.sessions)
            .or_else(|| holds_output(project, &path))
    };
    if let Some(clash) = clash {
        return Err(Error::EnvDirOverride {
            path: dir.to_path_buf(),
            clash,
        });
    }
    project.envdir = crate::project::EnvDir {
        path,
        naming: crate::project::EnvNaming::Nox,
    };
    crate::python::place_environments(&mut project.sessions, &project.envdir);
    Ok(())
}

/// The first output that reaches into `envdir`, as the file's `envdir` is checked.
fn holds_output(project: &Project, envdir: &Path) -> Option<cache_dir::EnvDirClash> {
    let inside = crate::relpath::RelPath::from_path(&project.root, envdir)?;
    project.sessions.iter().find_map(|session| {
        session.outputs.iter().find_map(|output| {
            outputs::reaches_into(output, std::slice::from_ref(&inside))?;
            Some(cache_dir::EnvDirClash::HoldsOutput {
                output: output.declaration(),
                session: session.name.clone(),
            })
        })
    })
}

/// `RTASK_CACHE_MAX_SIZE` in bytes, when set: it overrides `[settings] cache_max_size`.
pub fn cache_max_size_override(env: &Environment) -> Result<Option<u64>, Error> {
    env.cache_max_size_override()
        .map(|value| {
            value
                .parse::<ByteSize>()
                .map(|size| size.0)
                .map_err(|problem| Error::CacheMaxSizeOverride {
                    value: value.to_string(),
                    problem,
                })
        })
        .transpose()
}

//! The places rtask keeps to itself: any `.git` directory, its state directory `.rtask/`, the
//! directory of the sessions' environments (`envdir`) and the cache directory. Input walks skip them, output globs never match in them, validation
//! refuses outputs that reach into them, and restores never write or clean there. This module
//! is the one description of them that all of those use.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crate::project::Project;
use crate::relpath::RelPath;

/// rtask's state directory, at the project root.
pub(crate) const STATE_DIR: &str = ".rtask";

/// What rtask keeps in its state directory for this machine alone (never shared): the
/// sessions' virtual environments, the interpreters found, the stat cache, the run lock.
pub(crate) const VENVS: &str = "venvs";
pub(crate) const INTERPRETERS: &str = "interpreters.json";
pub(crate) const STAT_CACHE: &str = "stat-cache";
pub(crate) const RUN_LOCK: &str = "run.lock";
pub(crate) const MACHINE_STATE: [&str; 4] = [VENVS, INTERPRETERS, STAT_CACHE, RUN_LOCK];

/// Restore temps, written beside their destination and renamed into place, are named
/// `.rtask-restore.<run>.<random>` (and `.rtask-restore<random>` by older versions): output
/// collection never takes them for outputs, whatever the globs (see `cache::temps`).
pub(crate) const RESTORE_TEMP: &str = ".rtask-restore";
/// A run's name: this, then [`RUN_RANDOM`] letters or digits. Its temporary directory in the
/// store bears it, and so do the restore temps it makes.
pub(crate) const RUN_PREFIX: &str = "run-";
pub(crate) const RUN_RANDOM: usize = 8;
/// How many letters or digits end a restore temp's name.
pub(crate) const TEMP_RANDOM: usize = 6;

/// Whether a file name is that of a restore temp, as rtask makes them and no other:
/// `.rtask-restore.run-XXXXXXXX.XXXXXX` (a run's), `.rtask-restore.XXXXXX` (made without a run
/// directory) or `.rtask-restoreXXXXXX` (older rtask), the Xs letters and digits. A user's
/// `.rtask-restore-notes` is an output like any other file.
pub(crate) fn is_restore_temp(name: &OsStr) -> bool {
    let Some(rest) = name
        .as_encoded_bytes()
        .strip_prefix(RESTORE_TEMP.as_bytes())
    else {
        return false;
    };
    let random =
        |part: &[u8], len: usize| part.len() == len && part.iter().all(u8::is_ascii_alphanumeric);
    match rest.strip_prefix(b".") {
        None => random(rest, TEMP_RANDOM),
        Some(rest) => match rest.strip_prefix(RUN_PREFIX.as_bytes()) {
            Some(run) => match run.split_at_checked(RUN_RANDOM) {
                Some((run, temp)) => {
                    random(run, RUN_RANDOM)
                        && temp
                            .strip_prefix(b".")
                            .is_some_and(|temp| random(temp, TEMP_RANDOM))
                }
                None => false,
            },
            None => random(rest, TEMP_RANDOM),
        },
    }
}

/// Whether a file name is `.git`, in any letter case: a case-insensitive file system (macOS,
/// Windows) takes `.GIT` for it.
pub(crate) fn is_git(name: &OsStr) -> bool {
    name.eq_ignore_ascii_case(".git")
}

/// Whether a project path lies in (or is) a `.git` directory.
pub(crate) fn in_git(path: &RelPath) -> bool {
    path.as_str()
        .split('/')
        .any(|part| is_git(OsStr::new(part)))
}

/// Whether an absolute path lies in (or is) a `.git` directory.
pub(crate) fn in_git_dir(path: &Path) -> bool {
    path.components()
        .any(|part| matches!(part, Component::Normal(name) if is_git(name)))
}

#[derive(Debug, Clone)]
pub(crate) struct Protected {
    root: PathBuf,
    /// Absolute: the state directory, and the environments' and the cache directory as written
    /// (normalised) and with their symlinks resolved.
    dirs: Vec<PathBuf>,
}

impl Protected {
    /// The protected places of the project at `root` whose cache lives in `cache_dir` and
    /// environments in `envdir`.
    pub(crate) fn new(root: &Path, cache_dir: &Path, envdir: &Path) -> Protected {
        let mut dirs = vec![root.join(STATE_DIR)];
        for dir in [cache_dir, envdir] {
            dirs.push(normalise(dir));
            dirs.extend(dir.canonicalize());
        }
        dirs.dedup();
        Protected {
            root: root.to_path_buf(),
            dirs,
        }
    }

    pub(crate) fn of(project: &Project) -> Protected {
        Protected::new(&project.root, &project.cache_dir, &project.envdir.path)
    }

    /// The protected directories, absolute (`.git` directories are recognised by name).
    pub(crate) fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The protected directories inside the project, relative to its root (never the root).
    pub(crate) fn inside(&self) -> Vec<RelPath> {
        let mut inside: Vec<RelPath> = self
            .dirs
            .iter()
            .filter_map(|dir| RelPath::from_path(&self.root, dir))
            .filter(|dir| !dir.is_root())
            .collect();
        inside.sort();
        inside.dedup();
        inside
    }
}

/// `path` without `.` components, `..` components (each removing the one before it) or a
/// trailing separator, without looking at the disk.
pub(crate) fn normalise(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match normal.components().next_back() {
                Some(Component::Normal(_)) => {
                    normal.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => normal.push(".."),
            },
            component => normal.push(component),
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_is_recognised_in_any_case_and_the_cache_as_written_and_resolved() {
        assert!(in_git(&RelPath::parse("a/.GIT/b").unwrap()));
        assert!(!in_git(&RelPath::parse("a/.github/b").unwrap()));
        assert!(in_git_dir(Path::new("/p/.git/x")));
        let protected = Protected::new(
            Path::new("/p"),
            Path::new("/p/./x/../cache/"),
            Path::new("/p/.nox"),
        );
        let inside: Vec<String> = protected.inside().iter().map(ToString::to_string).collect();
        assert_eq!(inside, [".nox", ".rtask", "cache"]);
    }

    #[test]
    fn only_the_names_rtask_gives_its_restore_temps_are_taken_for_them() {
        let temp = |name: &str| is_restore_temp(OsStr::new(name));
        assert!(temp(".rtask-restore.run-0123abCD.a1B2c3"));
        assert!(temp(".rtask-restore.a1B2c3"));
        assert!(temp(".rtask-restoreXy12Zq"));
        for name in [
            ".rtask-restore-notes",
            ".rtask-restore",
            ".rtask-restore.hints.txt",
            ".rtask-restore.run-0123abcd.a1b2c3.txt",
            ".rtask-restore.run-0123abcd",
            ".rtask-restoreXy12Z-",
            "x.rtask-restore.a1B2c3",
        ] {
            assert!(!temp(name), "{name}");
        }
    }
}

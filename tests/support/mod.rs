//! A small builder for temporary projects, and assertions on what the binary printed.

pub mod disk;
pub mod servers;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

pub const RTASK: &str = env!("CARGO_BIN_EXE_rtask");

/// A temporary project directory.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("rtask-test")
                .tempdir()
                .unwrap(),
        }
    }

    /// A project whose `tasks.toml` is `tasks`.
    pub fn with_tasks(tasks: &str) -> Project {
        let project = Project::new();
        project.write("tasks.toml", tasks);
        project
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Leaves the directory behind when the project is dropped, to look at after a failure.
    pub fn keep(&mut self) {
        self.dir.disable_cleanup(true);
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, contents: &str) -> &Project {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
        self
    }

    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative))
            .unwrap_or_else(|error| panic!("cannot read {relative}: {error}"))
    }

    pub fn exists(&self, relative: &str) -> bool {
        self.path(relative).symlink_metadata().is_ok()
    }

    pub fn remove(&self, relative: &str) {
        let path = self.path(relative);
        if path.is_dir() {
            fs::remove_dir_all(path).unwrap();
        } else {
            fs::remove_file(path).unwrap();
        }
    }

    /// How many lines a counter file has: sessions append a line each time they run.
    pub fn count(&self, relative: &str) -> usize {
        fs::read_to_string(self.path(relative)).map_or(0, |text| text.lines().count())
    }

    pub fn set_mtime(&self, relative: &str, time: SystemTime) {
        fs::File::options()
            .append(true)
            .open(self.path(relative))
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    pub fn mtime(&self, relative: &str) -> SystemTime {
        fs::metadata(self.path(relative))
            .unwrap()
            .modified()
            .unwrap()
    }

    /// insta settings that write this project's path as `[project]`.
    pub fn redactions(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(
            &regex_escape(&self.root().display().to_string()),
            "[project]",
        );
        settings
    }

    /// A command for rtask in the project root, with a predictable environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(RTASK);
        command.args(args);
        self.isolate(&mut command);
        command
    }

    /// A shell command line run in the project root, with rtask, then `dirs`, then [`tools`]
    /// on `PATH`, and the environment [`Project::command`] gives rtask.
    pub fn shell(&self, line: &str, dirs: &[PathBuf]) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(line);
        self.isolate(&mut command);
        let bin = Path::new(RTASK).parent().unwrap().to_path_buf();
        let mut first = vec![bin];
        first.extend_from_slice(dirs);
        command.env("PATH", tools_path(&first));
        command
    }

    fn isolate(&self, command: &mut Command) {
        command
            .current_dir(self.root())
            .env("PATH", tools_path(&[]))
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("FORGEJO_ACTIONS")
            .env_remove("RTASK_CACHE_DIR")
            .env_remove("PYTEST_ADDOPTS")
            .env("NO_COLOR", "1");
        // A remote cache, its credentials and a signing key come only from the test.
        for name in [
            "RTASK_REMOTE_CACHE",
            "RTASK_REMOTE_HEADER",
            "RTASK_REMOTE_READ_ONLY",
            "RTASK_REMOTE_TIMEOUT",
            "RTASK_CACHE_SIGNING_KEY",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_PROFILE",
        ] {
            command.env_remove(name);
        }
        // Virtual environments install from the wheelhouse `.ci/prepare` downloads, never the network.
        let wheelhouse = wheelhouse();
        command
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", &wheelhouse)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("UV_OFFLINE", "1")
            .env("UV_FIND_LINKS", &wheelhouse);
    }

    pub fn rtask(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    pub fn rtask_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (name, value) in env {
            command.env(name, value);
        }
        Run::from(command.output().unwrap())
    }

    /// Copy the whole project, cache included, to a new temporary directory (fresh mtimes).
    pub fn copy(&self) -> Project {
        let copy = Project::new();
        copy_tree(self.root(), copy.root());
        copy
    }

    /// The manifests in the cache, as paths relative to the project.
    /// Carry `sessions`' entries to `consumer` in a bundle: exported here, imported there.
    pub fn hand_over_bundle(&self, consumer: &Project, sessions: &[&str]) {
        let mut export = vec!["cache", "export", "-o", "bundle.tar.zst"];
        export.extend_from_slice(sessions);
        self.rtask(&export).success();
        fs::copy(self.path("bundle.tar.zst"), consumer.path("bundle.tar.zst")).unwrap();
        consumer
            .rtask(&["cache", "import", "bundle.tar.zst"])
            .success();
    }

    pub fn manifests(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let entries = self.path(".rtask/cache/v1/entries");
        if let Ok(sessions) = fs::read_dir(entries) {
            for session in sessions {
                let session = session.unwrap().path();
                if !session.is_dir() {
                    continue;
                }
                for manifest in fs::read_dir(session).unwrap() {
                    let path = manifest.unwrap().path();
                    if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
                        found.push(path);
                    }
                }
            }
        }
        found.sort();
        found
    }
}

/// `text` as a regular expression that matches it literally.
pub fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// What one run of rtask did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, expected, "unexpected exit code\n{self}");
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        self.code(0)
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Run {
        assert!(self.stdout.contains(text), "stdout lacks {text:?}\n{self}");
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Run {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n{self}");
        self
    }

    /// Like `stderr_has`, with runs of spaces counted as one (for aligned tables).
    #[track_caller]
    pub fn stderr_has_words(&self, text: &str) -> &Run {
        let squeeze = |text: &str| {
            text.split(' ')
                .filter(|word| !word.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(
            squeeze(&self.stderr).contains(&squeeze(text)),
            "stderr lacks {text:?}\n{self}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, text: &str) -> &Run {
        assert!(!self.stderr.contains(text), "stderr has {text:?}\n{self}");
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, text: &str) -> &Run {
        assert!(!self.stdout.contains(text), "stdout has {text:?}\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- exit {}\n--- stdout\n{}--- stderr\n{}---",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The wheels the tests install from; `.ci/prepare` downloads them.
/// The commands `.ci/prepare` installs for the tests (uv, nox, weed), as links to its own
/// virtual environment's.
pub fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-tools")
}

/// One of [`tools`]' commands, failing the test with the command that installs it.
#[track_caller]
pub fn tool(name: &str) -> Command {
    let path = tools().join(name);
    assert!(
        path.is_file(),
        "`{}` is missing: run `bash .ci/prepare` first",
        path.display()
    );
    let mut command = Command::new(path);
    command.env("PATH", tools_path(&[]));
    command
}

/// `PATH` for the commands a test runs: `first`, then [`tools`], then the test's own `PATH`.
#[allow(clippy::disallowed_methods)] // the test process's own `PATH`, passed on
pub fn tools_path(first: &[PathBuf]) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(
        first
            .iter()
            .cloned()
            .chain(std::iter::once(tools()))
            .chain(std::env::split_paths(&path)),
    )
    .unwrap()
}

/// `PATH` for a machine without `program`: `first`, then the test's own `PATH` without
/// [`tools`] and without the directories that hold `program`.
#[allow(clippy::disallowed_methods)] // the test process's own `PATH`, passed on
pub fn path_without(program: &str, first: &[PathBuf]) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept = std::env::split_paths(&path)
        .filter(|dir| *dir != tools() && !dir.join(program).exists())
        .collect::<Vec<_>>();
    std::env::join_paths(first.iter().cloned().chain(kept)).unwrap()
}

pub fn wheelhouse() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wheelhouse")
}

/// Fails a test that needs the wheelhouse with the command that makes it.
#[track_caller]
pub fn require_wheelhouse() {
    assert!(
        wheelhouse().join("pytest-9.2.0-py3-none-any.whl").is_file(),
        "the wheelhouse is missing: run `bash .ci/prepare` first"
    );
}

/// A time well in the past, to pin mtimes.
pub fn long_ago() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000)
}

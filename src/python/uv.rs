//! uv as found on `PATH`: used only once `uv --version` succeeds, checked the first time a run
//! needs uv and remembered for the rest of the run. A `uv` that does not run (a pyenv shim for
//! another Python, a file that is not executable) is told apart from a missing one.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long `uv --version` may take: a working uv answers in milliseconds; one that hangs
/// (a shim waiting on a network drive, a wrapper asking a question) must not hang the run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// uv on `PATH`, checked at most once.
pub struct Uv {
    found: Option<PathBuf>,
    checked: OnceLock<UvState>,
    /// Whether the fallback to venv was reported already: it is said once in a run.
    noted: AtomicBool,
}

/// What this run found of uv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UvState {
    Missing,
    Works(PathBuf),
    Broken(BrokenUv),
}

/// A `uv` found on `PATH` that does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenUv {
    pub path: PathBuf,
    pub failure: UvFailure,
}

/// How `uv --version` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UvFailure {
    /// It could not be started (not executable, a missing `#!` interpreter): the OS's words.
    NotStarted(String),
    /// It exited unsuccessfully: its exit code (`None`: killed by a signal) and the first
    /// line it wrote to stderr, if any.
    Exited {
        code: Option<i32>,
        stderr: Option<String>,
    },
    /// It had not answered after this long, and was killed.
    TimedOut(Duration),
}

impl Uv {
    /// `found`: the `uv` on `PATH`, not run yet.
    pub fn new(found: Option<PathBuf>) -> Uv {
        Uv {
            found,
            checked: OnceLock::new(),
            noted: AtomicBool::new(false),
        }
    }

    /// What uv is in this run: checked the first time it is asked.
    pub fn state(&self) -> &UvState {
        self.checked.get_or_init(|| match &self.found {
            None => UvState::Missing,
            Some(path) => match check(path) {
                Ok(()) => UvState::Works(path.clone()),
                Err(failure) => UvState::Broken(BrokenUv {
                    path: path.clone(),
                    failure,
                }),
            },
        })
    }

    /// The uv to use, when it is found and runs.
    pub fn working(&self) -> Option<&Path> {
        match self.state() {
            UvState::Works(path) => Some(path),
            UvState::Missing | UvState::Broken(_) => None,
        }
    }

    /// A uv this run found hanging (and gave up on after the timeout), when that was not
    /// said yet: it cost the run that wait even when no environment was made. Never checks.
    pub fn timed_out_unsaid(&self) -> Option<&BrokenUv> {
        let hung = |failure: &UvFailure| matches!(failure, UvFailure::TimedOut(_));
        self.unsaid(self.checked.get(), hung)
    }

    /// The broken uv, the first time this is asked in a run only.
    pub fn broken_once(&self) -> Option<&BrokenUv> {
        self.unsaid(Some(self.state()), |_| true)
    }

    /// The broken uv of `state` when its failure is `which` and the run has not said it yet;
    /// it counts as said from here.
    fn unsaid<'a>(
        &self,
        state: Option<&'a UvState>,
        which: impl Fn(&UvFailure) -> bool,
    ) -> Option<&'a BrokenUv> {
        match state {
            Some(UvState::Broken(broken))
                if which(&broken.failure) && !self.noted.swap(true, Ordering::SeqCst) =>
            {
                Some(broken)
            }
            _ => None,
        }
    }
}

/// Run `uv --version`: whether it works, or how it failed.
fn check(uv: &Path) -> Result<(), UvFailure> {
    check_within(uv, CHECK_TIMEOUT)
}

fn check_within(uv: &Path, timeout: Duration) -> Result<(), UvFailure> {
    // In a process group of its own, so that a timeout ends what it started too: a child of
    // a hung shim would otherwise outlive the check, holding the run lock it inherits.
    let handle = duct::cmd(uv, ["--version"])
        .stdin_null()
        .stdout_null()
        .stderr_capture()
        .unchecked()
        .before_spawn(|command| {
            command.process_group(0);
            Ok(())
        })
        .start()
        .map_err(|error| UvFailure::NotStarted(error.to_string()))?;
    let output = match handle.wait_timeout(timeout) {
        Ok(Some(output)) => output,
        Ok(None) => {
            for pid in handle.pids() {
                if let Ok(group) = i32::try_from(pid) {
                    let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
                }
            }
            // Reaped: nothing of it outlives the check.
            let _ = handle.kill();
            return Err(UvFailure::TimedOut(timeout));
        }
        Err(error) => return Err(UvFailure::NotStarted(error.to_string())),
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(UvFailure::Exited {
        code: output.status.code(),
        stderr: stderr
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str, mode: u32) -> PathBuf {
        let path = dir.join("uv");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_uv_that_fails_is_broken_with_its_code_and_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            dir.path(),
            "echo >&2; echo 'pyenv: uv: command not found' >&2; echo more >&2; exit 127",
            0o755,
        );
        let uv = Uv::new(Some(path.clone()));
        assert_eq!(
            uv.state(),
            &UvState::Broken(BrokenUv {
                path,
                failure: UvFailure::Exited {
                    code: Some(127),
                    stderr: Some("pyenv: uv: command not found".into()),
                },
            })
        );
        assert!(uv.working().is_none());
        assert!(uv.broken_once().is_some());
        assert!(uv.broken_once().is_none(), "said once");
    }

    #[test]
    fn a_uv_that_is_not_executable_did_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let uv = Uv::new(Some(script(dir.path(), "exit 0", 0o644)));
        assert!(matches!(
            uv.state(),
            UvState::Broken(BrokenUv {
                failure: UvFailure::NotStarted(_),
                ..
            })
        ));
    }

    #[test]
    fn a_uv_that_answers_works_and_a_missing_one_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(dir.path(), "echo 'uv 0.9.0'", 0o755);
        let uv = Uv::new(Some(path.clone()));
        assert_eq!(uv.working(), Some(path.as_path()));
        assert!(uv.broken_once().is_none());
        assert_eq!(Uv::new(None).state(), &UvState::Missing);
    }

    #[test]
    fn a_uv_that_hangs_is_broken_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        // A child of the shell, not an `exec`: it must not outlive the check either.
        let pidfile = dir.path().join("child.pid");
        let path = script(
            dir.path(),
            &format!("sleep 30 & echo $! > {}; wait", pidfile.display()),
            0o755,
        );
        let started = std::time::Instant::now();
        let timeout = Duration::from_millis(300);
        assert_eq!(
            check_within(&path, timeout),
            Err(UvFailure::TimedOut(timeout))
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the check waited for uv"
        );
        let child: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Reaped by init in its own time: poll until it is gone (a zombie counts as gone).
        let gone = (0..100).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{child}/stat"));
            let alive = state.is_ok_and(|stat| !stat.contains(") Z "));
            if alive {
                std::thread::sleep(Duration::from_millis(20));
            }
            !alive
        });
        assert!(gone, "the shim's child outlived the check");
    }
}

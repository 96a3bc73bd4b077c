//! Commands die with rtask: when rtask is killed, its watchdog ends the commands' process
//! groups; when it is interrupted, it ends them itself; a normal run leaves no watchdog.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Project, RTASK};

/// Waits for `condition`, failing with `what` after a generous deadline (a loaded machine is
/// slow; the deadline is no timing assertion).
#[track_caller]
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process runs (a zombie waiting to be reaped does not).
pub fn running(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // `pid (comm) state ...`: the state follows the last `)`.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// The watchdogs whose working directory is `root` (rtask runs in the project root).
pub fn watchdogs_in(root: &Path) -> Vec<i32> {
    let root = root.canonicalize().unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|&byte| byte == 0).collect();
            args.get(1) == Some(&&b"--internal-watchdog"[..])
                && args[0] == RTASK.as_bytes()
                && fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == root)
                && running(*pid)
        })
        .collect()
}

/// A session whose command starts a child, writes both pids, then waits for it; `late.txt`
/// would appear only if it outlived its wait.
const BLOCKING: &str = r#"
[sessions.s]
shell = true
run = ["sleep 600 & echo $$ $! > pids.txt; wait; echo late > late.txt"]
"#;

/// Start rtask on the blocking session, in a process group of its own, and wait for the
/// command's pids.
fn start_blocking(project: &Project) -> (Child, Vec<i32>) {
    let child = project
        .command(&["s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_until("the command to start", || {
        project
            .exists("pids.txt")
            .then(|| project.read("pids.txt"))
            .is_some_and(|text| text.ends_with('\n'))
    });
    let pids: Vec<i32> = project
        .read("pids.txt")
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|&pid| running(pid)));
    (child, pids)
}

#[test]
fn a_killed_rtask_takes_its_commands_and_their_children_with_it() {
    let project = Project::with_tasks(BLOCKING);
    let (mut rtask, pids) = start_blocking(&project);
    assert_eq!(
        watchdogs_in(project.root()).len(),
        1,
        "a command runs: watched"
    );
    rtask.kill().unwrap();
    rtask.wait().unwrap();
    wait_until("the command and its child to end", || {
        !pids.iter().any(|&pid| running(pid))
    });
    wait_until("the watchdog to exit", || {
        watchdogs_in(project.root()).is_empty()
    });
    assert!(!project.exists("late.txt"), "the command never went on");
}

#[test]
fn the_next_run_after_a_kill_waits_only_until_the_commands_are_ended() {
    let project = Project::with_tasks(&format!(
        "{BLOCKING}\n[sessions.next]\nshell = true\nrun = [\"echo next > next.txt\"]\n"
    ));
    let (mut rtask, pids) = start_blocking(&project);
    rtask.kill().unwrap();
    rtask.wait().unwrap();
    // The killed run's commands hold the run lock they inherited: the next run waits for
    // them (never reading what they still write), and the watchdog ends them.
    project
        .rtask(&["next"])
        .success()
        .stderr_has("waiting for the commands started by process");
    // Ended: their exit completes a moment after their pipe closes.
    wait_until("the commands to end", || {
        !pids.iter().any(|&pid| running(pid))
    });
    assert_eq!(project.read("next.txt"), "next\n");
    assert!(!project.exists("late.txt"));
}

#[test]
fn ctrl_c_is_rtasks_to_handle_and_leaves_no_watchdog() {
    let project = Project::with_tasks(BLOCKING);
    let (mut rtask, pids) = start_blocking(&project);
    // As a terminal does: SIGINT to rtask's foreground group (the watchdog has its own).
    let group = nix::unistd::Pid::from_raw(rtask.id() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = rtask.wait().unwrap();
    assert_eq!(status.code(), Some(130), "rtask says it was interrupted");
    // Ended: their exit completes a moment after their pipe closes.
    wait_until("the commands to end", || {
        !pids.iter().any(|&pid| running(pid))
    });
    assert!(watchdogs_in(project.root()).is_empty());
    assert!(!project.exists("late.txt"));
}

#[test]
fn a_run_that_ends_leaves_no_watchdog_and_commands_left_behind_are_their_own() {
    let project = Project::with_tasks(
        r#"
[sessions.s]
shell = true
run = ["true", "sleep 600 > /dev/null 2>&1 & echo $! > pids.txt"]
"#,
    );
    // The second command starts once the watchdog runs: had it inherited the watchdog's pipe,
    // its background child would keep the watchdog, and rtask waiting for it, alive.
    project.rtask(&["s"]).success();
    assert!(watchdogs_in(project.root()).is_empty());
    // A command the session left in the background once its group's leader exited is no
    // longer watched: the watchdog never signals a group it was told has ended.
    let pid: i32 = project.read("pids.txt").trim().parse().unwrap();
    assert!(running(pid));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

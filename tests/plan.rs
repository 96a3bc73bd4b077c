//! The plan, and the false hits and false passes it closes: concurrent runs in one checkout,
//! requirements changed under a dependent, failed restores, raw environment values, symlinked
//! working directories; `--dry-run --json`.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{Project, RTASK, regex_escape};
use crate::watchdog::{wait_until, watchdogs_in};

/// `gen` writes `gen.out` in steps (the half-written file is what a concurrent run would read);
/// `build` copies it.
const PIPELINE: &str = r#"
[sessions.gen]
shell = true
run = ["echo gen >> runs.txt; : > gen.out; for i in 1 2 3 4 5 6; do printf '%0260d' $i >> gen.out; sleep 0.05; done"]
inputs = ["seed.txt"]
outputs = ["gen.out"]

[sessions.build]
requires = ["gen"]
shell = true
run = ["echo build >> runs.txt; cp gen.out build.out"]
inputs = ["seed.txt"]
outputs = ["build.out"]
"#;

/// `slow` runs until the test writes `release`.
const SLOW: &str = r#"
[sessions.slow]
shell = true
run = ["touch started; while [ ! -e release ]; do sleep 0.02; done"]
"#;

/// A run the test has not waited for yet: killed (its commands with it, by its watchdog) when
/// the test fails first.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(project: &Project, args: &[&str]) -> Child {
    project
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn concurrent_runs_in_one_checkout_never_cache_a_half_written_requirement() {
    let project = Project::with_tasks(PIPELINE);
    project.write("seed.txt", "1\n");
    let runs: Vec<Child> = (0..4).map(|_| spawn(&project, &["build"])).collect();
    for child in runs {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }
    project.remove("build.out");
    project.remove("gen.out");
    project.rtask(&["build"]).success().stderr_has("2 cached");
    assert_eq!(fs::read(project.path("build.out")).unwrap().len(), 1560);
    assert_eq!(project.read("build.out"), project.read("gen.out"));
    let runs = project.read("runs.txt");
    assert_eq!(
        runs.lines().filter(|line| *line == "gen").count(),
        1,
        "{runs}"
    );
}

#[test]
fn a_second_run_waits_for_the_first_and_says_who_holds_the_lock() {
    let project = Project::with_tasks(SLOW);
    let first = spawn(&project, &["slow"]);
    let first_pid = first.id();
    while !project.exists("started") {
        thread::sleep(Duration::from_millis(10));
    }
    let second = spawn(&project, &["slow"]);
    // Listing and dry runs never wait.
    project.rtask(&["-l"]).success();
    project.rtask(&["--dry-run", "slow"]).success();
    project.write("release", "");
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    assert!(first.status.success() && second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    let expected = format!(
        "rtask: waiting for process {first_pid} (`{} slow`) to finish its run in this project",
        crate::support::RTASK
    );
    assert!(said.contains(&expected), "{said}");
}

/// A second run waiting for the lock gets `signal` (SIGINT as from Ctrl-C, or SIGTERM): it
/// ends its wait at once with 130, says so, and the first run goes on to its end.
fn interrupt_a_waiting_run(signal: Signal) {
    let project = Project::with_tasks(SLOW);
    let mut first = Running(Some(spawn(&project, &["slow"])));
    let first_pid = first.0.as_ref().unwrap().id();
    while !project.exists("started") {
        thread::sleep(Duration::from_millis(10));
    }
    let state = || -> Vec<_> {
        let mut names: Vec<_> = fs::read_dir(project.path(".rtask"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = state();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut second = Running(Some(
        project
            .command(&["slow"])
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap(),
    ));
    let said = || fs::read_to_string(log.path()).unwrap();
    wait_until("the second run to wait", || said().contains("waiting for"));
    let waiting = second.0.as_mut().unwrap();
    kill(Pid::from_raw(waiting.id() as i32), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = waiting.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "a waiting run ignored {signal}\n{}",
            said()
        );
        thread::sleep(Duration::from_millis(20));
    };
    second.0 = None;
    assert_eq!(status.code(), Some(130), "{}", said());
    // The first run still holds the lock, which still names it, and ends as it would have.
    let lock = project.read(".rtask/run.lock");
    assert!(lock.starts_with(&format!("{first_pid}\n")), "{lock}");
    assert_eq!(state(), before, "the waiting run left nothing behind");
    project.write("release", "");
    let first = first.0.take().unwrap().wait_with_output().unwrap();
    assert!(first.status.success(), "{first:?}");
    assert!(watchdogs_in(project.root()).is_empty());
    let mut settings = project.redactions();
    settings.add_filter(&format!(r"\b{first_pid}\b"), "[pid]");
    settings.add_filter(&format!("`{} ", regex_escape(RTASK)), "`rtask ");
    // One pinned text for every signal.
    settings.bind(|| {
        insta::allow_duplicates! {
            insta::assert_snapshot!(said(), @r"
            rtask: waiting for process [pid] (`rtask slow`) to finish its run in this project (it holds `[project]/.rtask/run.lock`)
            rtask: interrupted while waiting for process [pid] (`rtask slow`) to finish its run in this project: no session ran
            ");
        }
    });
}

#[test]
fn sigterm_ends_a_wait_for_the_lock() {
    interrupt_a_waiting_run(Signal::SIGTERM);
}

#[test]
fn ctrl_c_ends_a_wait_for_the_lock() {
    interrupt_a_waiting_run(Signal::SIGINT);
}

#[test]
fn a_dependent_whose_requirement_changed_while_it_ran_is_not_stored() {
    let project = Project::with_tasks(
        r#"
[sessions.gen]
shell = true
run = ["cat seed.txt > gen.out"]
inputs = ["seed.txt"]
outputs = ["gen.out"]

[sessions.build]
requires = ["gen"]
shell = true
run = ["cp gen.out build.out; echo tampered >> gen.out"]
inputs = ["seed.txt"]
outputs = ["build.out"]
"#,
    );
    project.write("seed.txt", "1\n");
    project.rtask(&["build"]).success().stderr_has(
        "warning: outputs of `gen`, which `build` requires, changed or were removed while it ran; its result is not cached",
    );
    assert_eq!(project.manifests().len(), 1, "only gen is stored");
}

/// A file system of `size` mounted over a project directory (root only), unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> SmallDisk {
        fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs needs root");
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    String::from_utf8_lossy(
        &std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
        == "0"
}

#[test]
fn a_restore_that_fails_on_a_full_disk_fails_and_keeps_the_entry() {
    let project = Project::with_tasks(
        r#"
[sessions.big]
shell = true
run = ["echo run >> runs.txt; mkdir -p out; head -c 200000 /dev/zero | tr '\\0' x > out/data.bin"]
inputs = ["seed.txt"]
outputs = ["out/"]
"#,
    );
    project.write("seed.txt", "1\n");
    project.rtask(&["big"]).success();
    project.remove("out");
    // A full disk as root; a directory the user cannot write to otherwise.
    let disk = if is_root() {
        Some(SmallDisk::mount(&project.path("out"), "64k"))
    } else {
        fs::create_dir(project.path("out")).unwrap();
        fs::set_permissions(project.path("out"), fs::Permissions::from_mode(0o555)).unwrap();
        None
    };
    project
        .rtask(&["big"])
        .code(1)
        .stderr_has("big: failed in")
        .stderr_has("cannot restore its cached result: cannot restore `out/data.bin`:");
    assert_eq!(project.count("runs.txt"), 1, "it did not run again");
    drop(disk);
    if project.exists("out") {
        fs::set_permissions(project.path("out"), fs::Permissions::from_mode(0o755)).unwrap();
        project.remove("out");
    }
    project.rtask(&["big"]).success().stderr_has("big: cached");
    assert_eq!(
        fs::read(project.path("out/data.bin")).unwrap().len(),
        200_000
    );
    assert_eq!(project.count("runs.txt"), 1);
}

#[test]
fn non_utf8_env_input_values_are_keyed_by_their_bytes() {
    let project = Project::with_tasks(
        r#"
[sessions.s]
run = ["sh -c 'echo run >> runs.txt'"]
inputs = []
env_inputs = ["MODE"]
"#,
    );
    let run = |value: &[u8]| {
        let output = project
            .command(&["s"])
            .env("MODE", std::ffi::OsStr::from_bytes(value))
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    run(b"\xff");
    let second = run(b"\xfe");
    assert!(
        second.contains("s: running (env `MODE` changed)"),
        "{second}"
    );
    assert!(run(b"\xff").contains("s: cached"));
    assert_eq!(project.count("runs.txt"), 2);
}

#[test]
fn a_retargeted_symlinked_cwd_misses() {
    let project = Project::with_tasks(
        r#"
[sessions.s]
cwd = "here"
shell = true
run = ["cat value.txt > ../out.txt"]
inputs = ["a/value.txt", "b/value.txt"]
outputs = ["out.txt"]
"#,
    );
    project
        .write("a/value.txt", "a\n")
        .write("b/value.txt", "b\n");
    // A chain: `here` -> `via` -> `a`; retargeting the link further along counts too.
    std::os::unix::fs::symlink("via", project.path("here")).unwrap();
    std::os::unix::fs::symlink("a", project.path("via")).unwrap();
    project.rtask(&["s"]).success();
    assert_eq!(project.read("out.txt"), "a\n");
    fs::remove_file(project.path("via")).unwrap();
    std::os::unix::fs::symlink("b", project.path("via")).unwrap();
    project
        .rtask(&["s"])
        .success()
        .stderr_has("s: running (`cwd` changed: `here -> a` -> `here -> b`)");
    assert_eq!(project.read("out.txt"), "b\n");
}

/// A dependent of a session whose key is not known yet says so, not "no longer requires".
#[test]
fn dry_run_says_when_a_requirement_key_is_unknown() {
    let project = Project::with_tasks(
        r#"
[sessions.env]
python = "3.11"
venv_backend = "venv"
run = ["python -c 'print(1)'"]
inputs = []

[sessions.after]
requires = ["env"]
run = ["true"]
inputs = []
"#,
    );
    project.rtask(&["after"]).success();
    // Its entry is found, but its environment is to be made again and compared with the
    // entry's before it is restored.
    let run = project.rtask(&["--dry-run", "--reinstall", "after"]);
    run.success();
    insta::assert_snapshot!(run.stdout, @r"
    env: would be restored if its environment, made again first, matches the entry's (else it would run)
    after: would run: `env`'s environment would be (re)created first, so its key is not known yet
    ");
    // Without an environment, the entry is restored as it is.
    fs::remove_dir_all(project.path(".rtask/venvs")).unwrap();
    project
        .rtask(&["--dry-run", "after"])
        .success()
        .stdout_has("env: would be restored")
        .stdout_has("after: would be restored");
}

#[test]
fn dry_run_json_describes_each_decision() {
    let project = Project::with_tasks(PIPELINE);
    project.write("seed.txt", "1\n");
    project.rtask(&["gen"]).success();
    project.write("seed.txt", "2\n");
    project.rtask(&["gen"]).success();
    project.write("seed.txt", "1\n");
    let run = project.rtask(&["--dry-run", "--json", "build"]);
    run.success();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r#""[0-9a-f]{64}""#, r#""[key]""#);
    settings.add_filter(
        r#""(created_unix_ms|duration_ms|commands_ms)": \d+"#,
        r#""$1": [n]"#,
    );
    settings.add_filter(
        r#""rtask_version": "[^"]+""#,
        r#""rtask_version": "[version]""#,
    );
    settings.bind(|| {
        insta::assert_snapshot!(run.stdout, @r#"
        [
          {
            "session": "gen",
            "decision": "restore",
            "reasons": [],
            "key": "[key]",
            "entry": {
              "key": "[key]",
              "created_unix_ms": [n],
              "duration_ms": [n],
              "commands_ms": [n],
              "rtask_version": "[version]",
              "environment": null
            },
            "requires": [],
            "after": [],
            "cacheable": true,
            "install": null,
            "environment": null,
            "run": [
              [
                "sh",
                "-c",
                "echo gen >> runs.txt; : > gen.out; for i in 1 2 3 4 5 6; do printf '%0260d' $i >> gen.out; sleep 0.05; done"
              ]
            ]
          },
          {
            "session": "build",
            "decision": "run",
            "reasons": [
              {
                "kind": "no_entry",
                "message": "no cache entry for this session yet"
              }
            ],
            "key": "[key]",
            "entry": null,
            "requires": [
              "gen"
            ],
            "after": [],
            "cacheable": true,
            "install": null,
            "environment": null,
            "run": [
              [
                "sh",
                "-c",
                "echo build >> runs.txt; cp gen.out build.out"
              ]
            ]
          }
        ]
        "#);
    });
}

const BIG_TO_OUT: &str = r#"
[sessions.big]
shell = true
run = ["echo run >> runs.txt; mkdir -p out; cp ref.bin out/data.bin"]
inputs = ["ref.bin"]
outputs = ["out/data.bin"]
"#;

/// A workspace the entry cannot go into (here a symlink above the output that leads out of the
/// project, say to a small disk) runs the session without storing its result: a run made
/// there must not replace a good entry.
#[test]
fn a_workspace_a_restore_refuses_runs_and_keeps_the_entry() {
    let project = Project::with_tasks(BIG_TO_OUT);
    project.write("ref.bin", &"x".repeat(200_000));
    project.rtask(&["big"]).success();
    project.remove("out");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), project.path("out")).unwrap();
    let plan = project.rtask(&["--dry-run", "--json", "big"]);
    assert!(
        plan.stdout.contains(r#""kind": "restore_blocked""#),
        "{plan}"
    );
    // What the run writes there (truncated, on a full disk) never reaches the cache.
    project.write("ref.bin", &"x".repeat(200_000));
    project
        .rtask(&["big"])
        .success()
        .stderr_has("warning: cannot restore `big` here: `out/data.bin`: `out` is a symlink that leads out of the project; it runs, and its result is not stored, so the entry is kept")
        .stderr_has("big: running (cache entry cannot be restored here)");
    assert_eq!(project.count("runs.txt"), 2);
    assert_eq!(project.manifests().len(), 1);
    fs::remove_file(project.path("out")).unwrap();
    project.rtask(&["big"]).success().stderr_has("big: cached");
    assert_eq!(project.read("out/data.bin").len(), 200_000);
}

/// A result no restore could use is not stored: its outputs lie through a symlink that leads
/// out of the project.
#[test]
fn a_result_no_restore_could_use_is_not_stored() {
    let project = Project::with_tasks(BIG_TO_OUT);
    project.write("ref.bin", "x");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), project.path("out")).unwrap();
    project
        .rtask(&["big"])
        .success()
        .stderr_has("warning: `big` is not cached: no restore could use its result here");
    assert!(project.manifests().is_empty());
}

/// `--dry-run` and `-l` make the restore's checks: an entry a restore would refuse is not
/// reported as one to restore.
#[test]
fn dry_run_and_list_report_an_entry_the_restore_refuses() {
    let project = Project::with_tasks(BIG_TO_OUT);
    project.write("ref.bin", "x");
    project.rtask(&["big"]).success();
    let path = project.manifests().pop().unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let mut forged = manifest["outputs"][0].clone();
    forged["path"] = "evil.txt".into();
    manifest["outputs"].as_array_mut().unwrap().push(forged);
    fs::write(&path, manifest.to_string()).unwrap();
    let plan = project.rtask(&["--dry-run", "big"]);
    plan.success();
    insta::assert_snapshot!(plan.stdout, @r"
    big: would run: its cache entry cannot be used
      - refusing to restore `evil.txt`: the session does not declare it as an output
    ");
    project.rtask(&["-l"]).success().stdout_has("- big (stale)");
    project
        .rtask(&["big"])
        .success()
        .stderr_has("big: running (cache entry unusable)");
}

/// A file a requirement's output glob matches but no run of it produced (a leftover, like an
/// old `.coverage.*`) is part of its dependents' keys: a checkout without it does not get a
/// result built with it.
#[test]
fn a_leftover_matching_a_requirement_glob_enters_the_dependent_key() {
    let tasks = |command: &str| {
        format!(
            r#"
[sessions.gen]
shell = true
run = ["{command}"]
inputs = []
outputs = ["data.*"]

[sessions.use]
requires = ["gen"]
shell = true
run = ["cat data.* > use.out"]
inputs = []
outputs = ["use.out"]
"#
        )
    };
    let project = Project::with_tasks(&tasks("echo A > data.a"));
    project.rtask(&["use"]).success();
    // Left by hand (or by an older version of the commands): no entry of `gen` holds it.
    project.write("data.b", "B\n");
    project
        .rtask(&["-v", "use"])
        .success()
        .stderr_has("use: running (`data.b`, which a required session's outputs match but it did not produce, appeared)");
    assert_eq!(project.read("use.out"), "A\nB\n", "the leftover was read");
    // A clean checkout that gets the cache (as a CI artifact).
    let clean = Project::with_tasks(&project.read("tasks.toml"));
    fs::create_dir_all(clean.path(".rtask")).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(project.path(".rtask/cache"))
        .arg(clean.path(".rtask/cache"))
        .status()
        .unwrap();
    assert!(copied.success());
    // It gets the result built without the leftover, not the one that read it.
    clean.rtask(&["use"]).success().stderr_has("use: cached");
    assert_eq!(clean.read("use.out"), "A\n");
}

/// Two dependents of one requirement run side by side and one removes its output: the other
/// cannot tell who removed it, so its result is not stored.
#[test]
fn a_requirement_output_removed_by_a_sibling_keeps_the_dependent_out_of_the_cache() {
    let project = Project::with_tasks(
        r#"
[sessions.gen]
shell = true
run = ["echo payload > data.1"]
inputs = []
outputs = ["data.*"]

[sessions.a]
requires = ["gen"]
shell = true
run = ["cat data.* > a.out; rm -f data.*; touch a.done"]
inputs = []
outputs = ["a.out"]

[sessions.b]
requires = ["gen"]
shell = true
run = ["while [ ! -e a.done ]; do sleep 0.02; done; cat data.* > b.out 2>/dev/null; true"]
inputs = []
outputs = ["b.out"]
"#,
    );
    project
        .rtask(&["-j", "2", "a", "b"])
        .success()
        .stderr_has("warning: outputs of `gen`, which `b` requires, changed or were removed while it ran; its result is not cached");
    // Alone, a session may remove what it read (as `coverage combine` does).
    project.remove("a.done");
    project
        .rtask(&["--force", "-j", "1", "a"])
        .success()
        .stderr_lacks("warning");
}

/// A file added to a requirement's output directory while a dependent runs is a change.
#[test]
fn a_file_added_to_a_requirement_output_directory_keeps_the_dependent_out_of_the_cache() {
    let project = Project::with_tasks(
        r#"
[sessions.gen]
shell = true
run = ["mkdir -p out; echo gen > out/a"]
inputs = []
outputs = ["out/"]

[sessions.add]
requires = ["gen"]
shell = true
run = ["cat out/* > add.out; echo evil > out/evil; chmod +x out/a"]
inputs = []
outputs = ["add.out"]
"#,
    );
    project
        .rtask(&["add"])
        .success()
        .stderr_has("warning: outputs of `gen`, which `add` requires, changed or were removed while it ran; its result is not cached");
    assert_eq!(project.manifests().len(), 1, "only gen is stored");
}

/// A build that finds its artifact up to date leaves it untouched: it is not stored (it may as
/// well be a leftover this run did not make), and the session says so.
#[test]
fn an_output_a_run_left_untouched_is_not_stored_and_it_says_so() {
    let project = Project::with_tasks(
        r#"
[sessions.build]
shell = true
run = ["mkdir -p dist; [ dist/pkg.whl -nt src.txt ] || cp src.txt dist/pkg.whl"]
inputs = ["src.txt"]
outputs = ["dist/*.whl"]
"#,
    );
    project.write("src.txt", "wheel\n");
    std::thread::sleep(Duration::from_millis(20));
    project.write("dist/pkg.whl", "wheel\n");
    project.rtask(&["build"]).success().stderr_has(
        "warning: `build` left `dist/pkg.whl` as it found it: not stored as its output, so a restore will not bring it back",
    );
}

/// `--dry-run` says why a dependent of a session that always runs has no key, and a session
/// whose literal input is missing would fail, whatever its requirements.
#[test]
fn dry_run_names_why_a_key_is_unknown_and_failures_come_first() {
    let project = Project::with_tasks(
        r#"
[sessions.n]
shell = true
run = ["echo n > n.out"]
outputs = ["n.out"]

[sessions.b]
requires = ["n"]
run = ["true"]
inputs = []

[sessions.c]
requires = ["b"]
run = ["true"]
inputs = ["missing.txt"]
"#,
    );
    let run = project.rtask(&["--dry-run", "c"]);
    run.success();
    insta::assert_snapshot!(run.stdout, @r"
    n: would run (not cacheable: no `inputs`, or `cache = false`)
    b: would run: `n` would run first, so its key is not known yet
    c: would fail: input `missing.txt` does not exist
    ");
}

/// rtask killed (SIGKILL) while its command still writes: the next run waits for that command
/// instead of storing what it is still writing.
#[test]
fn a_run_after_a_killed_one_waits_for_the_commands_it_left() {
    let project = Project::with_tasks(
        r#"
[sessions.w]
shell = true
run = ["rm -f data.txt; for i in 1 2 3 4 5 6 7 8; do printf \"$MARK\" >> data.txt; sleep 0.1; done"]
inputs = []
env_inputs = ["MARK"]
outputs = ["data.txt"]
"#,
    );
    let mut first = project.command(&["w"]);
    let mut first = first
        .env("MARK", "A")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !project.exists("data.txt") {
        thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let second = project.rtask_env(&["w"], &[("MARK", "B")]);
    second
        .success()
        .stderr_has("rtask: waiting for the commands started by process ");
    assert_eq!(project.read("data.txt"), "BBBBBBBB");
    project.remove("data.txt");
    project
        .rtask_env(&["w"], &[("MARK", "B")])
        .success()
        .stderr_has("w: cached");
    assert_eq!(project.read("data.txt"), "BBBBBBBB");
}

#[test]
fn the_plan_on_the_command_line_edges() {
    let project = Project::with_tasks(
        r#"
[sessions.old]
python = "3.99"
run = ["true"]
inputs = []
"#,
    );
    // Nothing selected (no default): the plan of nothing, not a listing.
    project
        .rtask(&["--dry-run", "--json"])
        .success()
        .stdout_has("[]\n");
    // `--report` belongs to runs.
    project
        .rtask(&["--dry-run", "--report", "r.json", "old"])
        .code(3);
    project.rtask(&["--json"]).code(3);
    // A session that would be skipped is neither fresh nor stale.
    let listed = project.rtask(&["-l"]);
    listed.success().stdout_has("- old\n");
}

/// Two runs under one key may leave different outputs (`--force` here; two checkouts storing
/// one key at once): a dependent follows what its requirement left, not only its key.
#[test]
fn a_dependent_follows_what_its_requirement_left_under_the_same_key() {
    let project = Project::with_tasks(
        r#"
[sessions.a]
shell = true
run = ["echo $$ > stamp.txt"]
inputs = ["in.txt"]
outputs = ["stamp.txt"]

[sessions.b]
requires = ["a"]
shell = true
run = ["cp stamp.txt b.out"]
inputs = []
outputs = ["b.out"]
"#,
    );
    project.write("in.txt", "1");
    project.rtask(&["b"]).success();
    project.rtask(&["--force", "a"]).success();
    project.remove("stamp.txt");
    project.remove("b.out");
    project
        .rtask(&["b"])
        .success()
        .stderr_has("b: running (required session `a` changed)");
    assert_eq!(project.read("b.out"), project.read("stamp.txt"));
}

/// A leftover symlink a requirement's glob matches is keyed with what it leads to.
#[test]
fn a_leftover_symlink_is_keyed_with_what_it_leads_to() {
    let project = Project::with_tasks(
        r#"
[sessions.a]
shell = true
run = ["echo fresh > data.new"]
inputs = []
outputs = ["data.*"]

[sessions.b]
requires = ["a"]
shell = true
run = ["cat data.* > b.out"]
inputs = []
outputs = ["b.out"]
"#,
    );
    project.write("stash/old", "OLD1\n");
    std::os::unix::fs::symlink("stash/old", project.path("data.old")).unwrap();
    project.rtask(&["b"]).success();
    project.write("stash/old", "OLD2\n");
    project.rtask(&["b"]).success().stderr_has("b: running");
    assert_eq!(project.read("b.out"), "fresh\nOLD2\n");
}

/// An output of a requirement removed while a session that declares nothing of what it does
/// was at work beside it (here one that cleans up) keeps the dependent out of the cache: it
/// cannot tell who removed it.
#[test]
fn a_requirement_output_removed_beside_a_session_that_declares_nothing_keeps_the_dependent_out() {
    let project = Project::with_tasks(
        r#"
[sessions.a]
shell = true
run = ["echo DATA > a.out"]
inputs = []
outputs = ["a.out"]

[sessions.clean]
shell = true
run = ["while [ ! -e c.started ]; do sleep 0.02; done; rm -f a.out"]

[sessions.c]
requires = ["a"]
shell = true
run = ["touch c.started; while [ -e a.out ]; do sleep 0.02; done; echo NONE > c.out"]
inputs = []
outputs = ["c.out"]
"#,
    );
    project
        .rtask(&["-j", "2", "c", "clean"])
        .success()
        .stderr_has("warning: outputs of `a`, which `c` requires, changed or were removed while it ran; its result is not cached");
}

/// A file a restore wrote while a session ran (another matrix variant's data file, restored side
/// by side) is not that session's output, although its glob matches it.
#[test]
fn a_variant_never_stores_what_a_sibling_restore_wrote_beside_it() {
    let project = Project::with_tasks(
        r#"
[sessions.t]
shell = true
run = ["if [ {x} = 2 ]; then while [ ! -e cov.1 ]; do sleep 0.02; done; fi; echo data-{x} > cov.{x}"]
inputs = []
outputs = ["cov.*"]
parametrize = { x = ["1", "2"] }
"#,
    );
    project.rtask(&["t(x='1')"]).success();
    project.remove("cov.1");
    project.rtask(&["-j", "2", "t"]).success();
    let manifests: Vec<String> = project
        .manifests()
        .iter()
        .map(|path| fs::read_to_string(path).unwrap())
        .collect();
    let second = manifests
        .iter()
        .find(|manifest| manifest.contains("\"cov.2\""))
        .expect("t(x='2') is stored");
    assert!(!second.contains("\"cov.1\""), "{second}");
}

/// A session that runs again never mixes its results with those of an older run that a restore
/// put back (`.coverage.*` data files before the sources changed): the restored copies are
/// removed before it runs, so what reads its outputs reads this run's only.
#[test]
fn a_run_never_mixes_its_results_with_an_older_restored_one() {
    let project = Project::with_tasks(
        r#"
[sessions.gen]
shell = true
run = ["cat src.txt > d.$$.dat"]
inputs = ["src.txt"]
outputs = ["d.*.dat"]

[sessions.report]
requires = ["gen"]
shell = true
run = ["cat d.*.dat > r.out; rm d.*.dat"]
inputs = ["src.txt"]
outputs = ["r.out"]
"#,
    );
    project.write("src.txt", "1\n");
    project.rtask(&["report"]).success();
    project.rtask(&["report"]).success().stderr_has("2 cached");
    project.write("src.txt", "2\n");
    project.rtask(&["report"]).success();
    assert_eq!(project.read("r.out"), "2\n");
    project.rtask(&["report"]).success().stderr_has("2 cached");
}

/// A session at work beside a dependent that declares what it does and requires none of the
/// dependent's requirements does not keep the dependent out of the cache.
#[test]
fn an_independent_session_beside_a_dependent_leaves_it_cached() {
    let project = Project::with_tasks(
        r#"
[sessions.data]
shell = true
run = ["echo d > data.1"]
inputs = []
outputs = ["data.*"]

[sessions.report]
requires = ["data"]
shell = true
run = ["touch report.started; cat data.* > report.out; rm data.*"]
inputs = []
outputs = ["report.out"]

[sessions.lint]
shell = true
run = ["while [ ! -e report.started ]; do sleep 0.02; done; echo ok > lint.out"]
inputs = []
outputs = ["lint.out"]
"#,
    );
    project
        .rtask(&["-j", "2", "report", "lint"])
        .success()
        .stderr_lacks("warning");
    project.remove("report.started");
    project
        .rtask(&["report", "lint"])
        .success()
        .stderr_has("3 cached");
}

/// Two sessions running side by side that each start `rtask` in the project: their runs take
/// the next level of the lock, so they do not run at once either.
#[test]
fn nested_runs_started_side_by_side_take_turns() {
    let project = Project::with_tasks(&format!(
        r#"
[sessions.gen]
shell = true
run = ["rm -f gen.out; for i in 1 2 3 4 5; do echo line$i >> gen.out; sleep 0.05; done"]
inputs = ["src.txt"]
outputs = ["gen.out"]

[sessions.o1]
run = ["{rtask} gen"]

[sessions.o2]
run = ["{rtask} --force gen"]
"#,
        rtask = crate::support::RTASK
    ));
    project.write("src.txt", "1");
    project.rtask(&["-j", "2", "o1", "o2"]).success();
    project.remove("gen.out");
    project.rtask(&["gen"]).success().stderr_has("gen: cached");
    assert_eq!(project.count("gen.out"), 5);
}

/// A requirement's output that is a symlink to a directory counts with what is below it.
#[test]
fn a_symlinked_directory_output_counts_with_what_is_below_it() {
    let project = Project::with_tasks(
        r#"
[sessions.gen]
run = ["ln -sfn data dirlink"]
inputs = ["src.txt"]
outputs = ["dirlink"]

[sessions.build]
requires = ["gen"]
run = ["sh -c 'cat dirlink/real.txt > build.out'"]
inputs = ["src.txt"]
outputs = ["build.out"]
"#,
    );
    project.write("src.txt", "1").write("data/real.txt", "v1\n");
    project.rtask(&["build"]).success();
    project.write("data/real.txt", "v2\n");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: running");
    assert_eq!(project.read("build.out"), "v2\n");
}

//! The session graph: ordering, failure propagation, parallel output, hand-over of outputs.

use std::time::{Duration, Instant};

use crate::support::Project;

#[test]
fn requirements_run_first_and_failures_abort_dependents_only() {
    let project = Project::with_tasks(
        r#"
[sessions.broken]
run = ["false"]

[sessions.after_broken]
requires = ["broken"]
run = ["echo should-not-run"]

[sessions.independent]
run = ["echo independent-ran"]
"#,
    );
    project
        .rtask(&["-j", "1", "after_broken", "independent"])
        .code(1)
        .stdout_lacks("should-not-run")
        .stdout_has("independent-ran")
        .stderr_has_words("failed broken")
        .stderr_has_words("aborted after_broken `broken` failed")
        .stderr_has_words("ran independent");
}

#[test]
fn stop_on_first_error_starts_nothing_more() {
    let project = Project::with_tasks(
        r#"
[sessions.broken]
run = ["false"]

[sessions.later]
run = ["echo later-ran"]
"#,
    );
    project
        .rtask(&["-x", "-j", "1", "broken", "later"])
        .code(1)
        .stdout_lacks("later-ran")
        .stderr_has_words("aborted later stopped after the first failure");
}

#[test]
fn parallel_sessions_print_one_block_each() {
    let project = Project::with_tasks(
        r#"
[sessions.left]
shell = true
run = ["for i in 1 2 3 4 5; do echo left-$i; sleep 0.05; done"]

[sessions.right]
shell = true
run = ["for i in 1 2 3 4 5; do echo right-$i; sleep 0.05; done"]
"#,
    );
    let run = project.rtask(&["-j", "2", "left", "right"]);
    run.success();
    for side in ["left", "right"] {
        let block = format!("{side}-1\n{side}-2\n{side}-3\n{side}-4\n{side}-5\n");
        assert!(
            run.stdout.contains(&block),
            "{side}'s output is one block\n{run}"
        );
    }
}

#[test]
fn independent_sessions_run_at_the_same_time() {
    let project = Project::with_tasks(
        r#"
[sessions.first]
shell = true
run = ["touch first.started; while [ ! -e second.started ]; do sleep 0.01; done"]

[sessions.second]
shell = true
run = ["touch second.started; while [ ! -e first.started ]; do sleep 0.01; done"]
"#,
    );
    let mut child = project
        .command(&["-j", "2", "first", "second"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the two sessions never ran side by side"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn outputs_of_a_cached_requirement_are_restored_before_the_dependent_starts() {
    let project = Project::with_tasks(
        r#"
[sessions.tests]
shell = true
run = ["echo run >> tests-runs.txt", "echo data > .coverage.1"]
inputs = ["src.txt"]
outputs = [".coverage.*"]

[sessions.report]
requires = ["tests"]
shell = true
run = ["cat .coverage.1 > report.txt && rm .coverage.1"]
"#,
    );
    project.write("src.txt", "x");
    project.rtask(&["report"]).success();
    assert!(
        !project.exists(".coverage.1"),
        "the report consumed the data file"
    );
    project
        .rtask(&["report"])
        .success()
        .stderr_has("tests: cached");
    assert_eq!(project.read("report.txt"), "data\n");
    assert_eq!(project.count("tests-runs.txt"), 1);
}

#[test]
fn a_dependent_keys_on_its_requirements() {
    let project = Project::with_tasks(
        r#"
[sessions.gen]
shell = true
run = ["cat seed.txt > generated.txt"]
outputs = ["generated.txt"]

[sessions.build]
requires = ["gen"]
shell = true
run = ["echo run >> build-runs.txt"]
inputs = ["other.txt"]

[sessions.test]
requires = ["build"]
shell = true
run = ["echo run >> test-runs.txt"]
inputs = ["other.txt"]
"#,
    );
    project.write("seed.txt", "1").write("other.txt", "x");
    project.rtask(&["test"]).success();
    project
        .rtask(&["test"])
        .success()
        .stderr_has("build: cached")
        .stderr_has("test: cached");
    project.write("seed.txt", "2");
    project
        .rtask(&["test"])
        .success()
        .stderr_has("build: running (required session `gen` changed)")
        .stderr_has("test: running (required session `build` changed)");
    assert_eq!(project.count("build-runs.txt"), 2);
    assert_eq!(project.count("test-runs.txt"), 2);
}

#[test]
fn an_interrupt_stops_the_commands_and_caches_nothing() {
    let project = Project::with_tasks(
        r#"
[sessions.slow]
shell = true
run = ["touch started; sleep 30 & echo $! > child.pid; wait"]
inputs = ["input.txt"]

[sessions.after]
requires = ["slow"]
run = ["echo after-ran"]
"#,
    );
    project.write("input.txt", "x");
    let child = project
        .command(&["after"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !project.exists("child.pid") || project.read("child.pid").trim().is_empty() {
        assert!(Instant::now() < deadline, "the session never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    nix_kill(child.id(), "TERM");
    let output = child.wait_with_output().unwrap();
    let run = crate::support::Run::from(output);
    run.code(130)
        .stderr_has("slow: interrupted after")
        .stderr_has_words("aborted after `slow` was interrupted");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sleeping grandchild was stopped too"
    );
    let grandchild = project.read("child.pid").trim().to_string();
    let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .trim_start()
        .chars()
        .next();
    assert!(
        matches!(state, None | Some('Z' | 'X')),
        "the process group was signalled: {stat}"
    );
    assert!(project.manifests().is_empty());
}

fn nix_kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn variants_store_only_the_outputs_they_wrote() {
    let project = Project::with_tasks(
        r#"
[sessions.gen]
shell = true
run = ["cp src-{n}.txt out-{n}.txt"]
inputs = ["src-{n}.txt"]
outputs = ["out-*.txt"]

[sessions.gen.parametrize]
n = [1, 2]

[sessions.combine]
requires = ["gen"]
shell = true
run = ["cat out-1.txt out-2.txt > all.txt"]
"#,
    );
    project
        .write("src-1.txt", "v1-one\n")
        .write("src-2.txt", "v1-two\n");
    project.rtask(&["-j", "1", "combine"]).success();
    project.write("src-1.txt", "v2-one\n");
    project
        .rtask(&["-j", "1", "combine"])
        .success()
        .stderr_has("gen(n=2): cached");
    assert_eq!(project.read("all.txt"), "v2-one\nv1-two\n");
}

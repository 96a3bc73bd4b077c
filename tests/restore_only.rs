//! `--restore-only`: a session that must come from the cache is restored, or rtask exits 4
//! naming it and saying why, without running it.

use crate::support::Project;

const PIPELINE: &str = r#"
[sessions.unit_tests]
run = ["sh -c 'echo ran >> runs.log; cat tests.txt > result.txt'"]
inputs = ["tests.txt"]
outputs = ["result.txt"]

[sessions.report]
requires = ["unit_tests"]
run = ["sh -c 'cat result.txt > report.txt'"]
inputs = []
outputs = ["report.txt"]
"#;

/// Snapshot `text` with durations, which vary from run to run, replaced.
fn snapshot(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(' ') {
        let number = word.trim_end();
        if number.contains('.') && number.parse::<f64>().is_ok() {
            out.push_str("[t] ");
        } else {
            out.push_str(word);
        }
    }
    out
}

/// A consumer's checkout: the producer's project and cache, without its outputs or logs.
fn consumer_of(producer: &Project) -> Project {
    let consumer = producer.copy();
    for path in ["result.txt", "report.txt", "runs.log"] {
        if consumer.exists(path) {
            consumer.remove(path);
        }
    }
    consumer
}

#[test]
fn a_restore_only_session_with_an_entry_is_restored_and_its_dependent_runs() {
    let producer = Project::with_tasks(PIPELINE);
    producer.write("tests.txt", "1\n");
    producer.rtask(&["unit_tests"]).success();
    let consumer = consumer_of(&producer);
    consumer
        .rtask(&["--restore-only", "unit_tests", "report"])
        .success();
    assert_eq!(consumer.count("runs.log"), 0, "unit_tests ran");
    assert_eq!(consumer.read("report.txt"), "1\n");
}

#[test]
fn restore_only_alone_restores_the_session_into_the_checkout() {
    let producer = Project::with_tasks(PIPELINE);
    producer.write("tests.txt", "1\n");
    producer.rtask(&["unit_tests"]).success();
    let consumer = consumer_of(&producer);
    consumer.rtask(&["--restore-only", "unit_tests"]).success();
    assert_eq!(consumer.read("result.txt"), "1\n");
    assert!(!consumer.exists("report.txt"));
}

#[test]
fn a_restore_only_session_without_any_entry_exits_4_without_running() {
    let project = Project::with_tasks(PIPELINE);
    project.write("tests.txt", "1\n");
    let run = project.rtask(&["--restore-only", "unit_tests", "report"]);
    run.code(4);
    assert_eq!(project.count("runs.log"), 0, "unit_tests ran");
    assert!(!project.exists("report.txt"), "report ran");
    insta::assert_snapshot!(snapshot(&run.stderr), @r"
    error: `--restore-only` cannot restore what it names, so nothing was run:
      `unit_tests` has no entry in the cache at all, and no remote cache is set
      hint: a `--restore-only` session must be cacheable, and its entry stored where this job reads (a remote cache, or `rtask cache import`); or run it without `--restore-only`
    ");
}

#[test]
fn a_restore_only_session_never_stored_fails_before_what_it_requires_runs() {
    let project = Project::with_tasks(PIPELINE);
    project.write("tests.txt", "1\n");
    let run = project.rtask(&["--restore-only", "report"]);
    run.code(4);
    assert_eq!(project.count("runs.log"), 0, "unit_tests ran");
    insta::assert_snapshot!(snapshot(&run.stderr), @r"
    error: `--restore-only` cannot restore what it names, so nothing was run:
      `report` has no entry in the cache at all, and no remote cache is set
      hint: a `--restore-only` session must be cacheable, and its entry stored where this job reads (a remote cache, or `rtask cache import`); or run it without `--restore-only`
    ");
}

#[test]
fn a_restore_only_miss_names_what_differs_from_the_nearest_entry() {
    let producer = Project::with_tasks(
        r#"
[sessions.unit_tests]
run = ["sh -c 'echo ran >> runs.log; cat tests.txt data.txt > result.txt'"]
inputs = ["tests.txt", "data.txt"]
outputs = ["result.txt"]
"#,
    );
    producer.write("tests.txt", "1\n").write("data.txt", "a\n");
    producer.rtask(&["unit_tests"]).success();
    producer.write("tests.txt", "2\n").write("data.txt", "b\n");
    producer.rtask(&["unit_tests"]).success();
    let consumer = consumer_of(&producer);
    // The older entry differs by one input, the newest by two: the older one is named.
    consumer.write("tests.txt", "1\n").write("data.txt", "c\n");
    let run = consumer.rtask(&["--restore-only", "unit_tests"]);
    run.code(4);
    assert_eq!(consumer.count("runs.log"), 0, "unit_tests ran");
    insta::assert_snapshot!(snapshot(&run.stderr), @r"
    unit_tests: failed in [t] s: not in the cache, and `--restore-only` forbids running it
      - input `data.txt` changed
      hint: restore it where its result was stored (the same inputs, and its job's cache: a remote cache or `rtask cache import`), or run it without `--restore-only`
    rtask: 1 session in [t] s: 1 failed
      failed      unit_tests  [t] s: not in the cache, and `--restore-only` forbids running it
    ");
}

#[test]
fn dry_run_with_restore_only_says_it_would_fail_and_exits_4() {
    let project = Project::with_tasks(PIPELINE);
    project.write("tests.txt", "1\n");
    let run = project.rtask(&["--dry-run", "--restore-only", "unit_tests", "report"]);
    run.code(4);
    insta::assert_snapshot!(run.stdout, @r"
    unit_tests: would fail: not in the cache, and `--restore-only` forbids running it
      - no cache entry for this session yet
    report: would not start: `unit_tests` failed
    ");
    project.rtask(&["unit_tests"]).success();
    project
        .rtask(&["--dry-run", "--restore-only", "unit_tests", "report"])
        .success()
        .stdout_has("unit_tests: would be restored");
}

#[test]
fn restore_only_of_an_uncacheable_session_exits_4() {
    let project = Project::with_tasks(
        r#"
[sessions.lint]
run = ["sh -c 'echo ran >> runs.log'"]
"#,
    );
    let run = project.rtask(&["--restore-only", "lint"]);
    run.code(4);
    assert_eq!(project.count("runs.log"), 0);
    insta::assert_snapshot!(snapshot(&run.stderr), @r"
    error: `--restore-only` cannot restore what it names, so nothing was run:
      `lint` is not cacheable (no `inputs`, or `cache = false`)
      hint: a `--restore-only` session must be cacheable, and its entry stored where this job reads (a remote cache, or `rtask cache import`); or run it without `--restore-only`
    ");
}

#[test]
fn restore_only_conflicts_with_force_and_no_cache() {
    let project = Project::with_tasks(PIPELINE);
    project
        .rtask(&["--restore-only", "unit_tests", "--force"])
        .code(3);
    project
        .rtask(&["--restore-only", "unit_tests", "--no-cache"])
        .code(3);
}

#[test]
fn restore_only_of_an_unknown_session_is_a_usage_error() {
    let project = Project::with_tasks(PIPELINE);
    project.rtask(&["--restore-only", "nope"]).code(3);
}

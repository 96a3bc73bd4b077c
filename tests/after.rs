//! `after`: ordering without pulling in (nox's `notify`), keys hashed once the earlier sessions
//! finished, and the fan-in of a requirement skipped or failed for a missing interpreter.

use serde_json::Value;

use crate::errors::refuses;
use crate::support::Project;

/// Tests that write coverage data, and a report after them that reads it through `inputs`.
const COVERAGE: &str = r#"
[sessions.tests]
shell = true
run = ["sleep 0.3; cat data.txt > .coverage.tests; echo run >> tests-runs.txt"]
inputs = ["data.txt"]
outputs = [".coverage.tests"]

[sessions.report]
after = ["tests"]
shell = true
run = ["cat .coverage.* > report.txt; echo run >> report-runs.txt"]
inputs = [".coverage*"]
outputs = ["report.txt"]
"#;

#[test]
fn a_report_after_tests_is_keyed_on_what_the_tests_wrote() {
    let project = Project::with_tasks(COVERAGE);
    project.write("data.txt", "one\n");
    // The report is named first: `after` orders it, whatever the order on the command line.
    project.rtask(&["-j", "2", "report", "tests"]).success();
    assert_eq!(project.read("report.txt"), "one\n");
    project
        .rtask(&["-j", "2", "report", "tests"])
        .success()
        .stderr_has("tests: cached")
        .stderr_has("report: cached");
    project.write("data.txt", "two\n");
    project
        .rtask(&["-j", "2", "report", "tests"])
        .success()
        .stderr_has("report: running (input `.coverage.tests` changed)");
    assert_eq!(
        project.read("report.txt"),
        "two\n",
        "the report read what the tests wrote, never what was there before"
    );
    assert_eq!(project.count("report-runs.txt"), 2);
    // Back to the first data: the tests are restored, and the report is a hit on what they put back.
    project.write("data.txt", "one\n");
    project
        .rtask(&["-j", "2", "report", "tests"])
        .success()
        .stderr_has("tests: cached")
        .stderr_has("report: cached");
    assert_eq!(project.read("report.txt"), "one\n");
    assert_eq!(project.count("tests-runs.txt"), 2);
}

#[test]
fn after_never_pulls_sessions_in() {
    let project = Project::with_tasks(COVERAGE);
    project
        .write("data.txt", "one\n")
        .write(".coverage.old", "old\n");
    project.rtask(&["report"]).success().stderr_lacks("tests:");
    assert!(!project.exists("tests-runs.txt"));
    assert_eq!(project.read("report.txt"), "old\n");
}

#[test]
fn a_failing_earlier_session_does_not_stop_the_later_one() {
    let tasks = r#"
[sessions.tests]
python = false
run = ["false"]

[sessions.report]
after = ["tests"]
run = ["echo report-ran"]
"#;
    let project = Project::with_tasks(tasks);
    project
        .rtask(&["tests", "report"])
        .code(1)
        .stdout_has("report-ran")
        .stderr_has_words("failed tests")
        .stderr_has_words("ran report");
    project
        .rtask(&["-x", "tests", "report"])
        .code(1)
        .stdout_lacks("report-ran")
        .stderr_has_words("aborted report stopped after the first failure");
}

#[test]
fn after_waits_for_every_variant_and_shows_in_plans_and_listings() {
    let tasks = r#"
[sessions.tests]
venv_backend = "none"
python = ["3.11", "3.12"]
run = ["echo tests"]

[sessions.lint]
run = ["echo lint"]

[sessions.report]
after = ["tests", "lint"]
run = ["echo report"]
"#;
    let project = Project::with_tasks(tasks);
    let plan = project.rtask(&["--dry-run", "--json", "report", "tests"]);
    plan.success();
    let planned: Value = serde_json::from_str(&plan.stdout).unwrap();
    let order: Vec<&str> = planned
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["session"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["tests-3.11", "tests-3.12", "report"], "{plan}");
    assert_eq!(
        planned[2]["after"],
        serde_json::json!(["tests-3.11", "tests-3.12"]),
        "only the sessions of this run"
    );
    insta::assert_snapshot!(project.rtask(&["--dry-run", "report", "tests"]).stdout, @r"
    tests-3.11: would run (not cacheable: no `inputs`, or `cache = false`)
    tests-3.12: would run (not cacheable: no `inputs`, or `cache = false`)
    report: would run (not cacheable: no `inputs`, or `cache = false`)
      - starts after `tests-3.11`, `tests-3.12`
    ");
    let listed: Value = serde_json::from_str(&project.rtask(&["-l", "--json"]).stdout).unwrap();
    assert_eq!(
        listed[3]["after"],
        serde_json::json!(["tests-3.11", "tests-3.12", "lint"])
    );
    assert_eq!(listed[0]["after"], serde_json::json!([]));
}

#[test]
fn a_dry_run_does_not_promise_a_key_that_earlier_sessions_may_change() {
    let project = Project::with_tasks(COVERAGE);
    project.write("data.txt", "one\n");
    let plan = project.rtask(&["--dry-run", "--json", "tests", "report"]);
    let planned: Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(planned[1]["session"], "report");
    assert_eq!(planned[1]["key"], Value::Null, "{plan}");
    assert_eq!(planned[1]["reasons"][0]["kind"], "after_key_unknown");
    project
        .rtask(&["--dry-run", "tests", "report"])
        .success()
        .stdout_has("report: would run: it starts after `tests`, which would run first: what it reads is known only then");
    project.rtask(&["tests", "report"]).success();
    project
        .rtask(&["--dry-run", "tests", "report"])
        .success()
        .stdout_has("tests: would be restored")
        .stdout_has("report: would be restored");
}

#[test]
fn after_names_are_checked_like_requires() {
    let base = "[sessions.tests]\nrun = [\"true\"]\n\n";
    let project = Project::with_tasks(&format!(
        "{base}[sessions.report]\nafter = [\"tsets\"]\nrun = [\"true\"]\n"
    ));
    refuses(
        &project,
        "5:10",
        "unknown session `tsets` in `report`'s `after`",
        "did you mean `tests`?",
    );
    let project = Project::with_tasks(&format!(
        "{base}[sessions.report]\nafter = [\"report\"]\nrun = [\"true\"]\n"
    ));
    refuses(
        &project,
        "5:10",
        "session `report` names itself in `after`",
        "remove it",
    );
    let project = Project::with_tasks(
        "[sessions.tests]\nafter = [\"report\"]\nrun = [\"true\"]\n\n\
         [sessions.report]\nrequires = [\"tests\"]\nrun = [\"true\"]\n",
    );
    refuses(
        &project,
        "6:13",
        "ordering cycle: `tests` -> `report` -> `tests`",
        "`after` and `requires` together",
    );
}

const MISSING: &str = r#"
[sessions.tests]
python = ["3.11", "3.99"]
run = ["python -c 'print(1)'"]

[sessions.combine]
python = false
requires = ["tests"]
run = ["echo combine"]

[sessions.coverage_report]
python = false
requires = ["combine"]
run = ["echo report"]
"#;

#[test]
fn outside_ci_the_summary_says_what_a_missing_interpreter_skipped() {
    let project = Project::with_tasks(MISSING);
    let run = project.rtask(&["--report", "report.json", "coverage_report"]);
    run.success()
        .stderr_has("coverage_report: skipped (requires `combine`, which was skipped: requires `tests-3.99`, which was skipped: Python interpreter 3.99 not found)");
    timeless().bind(|| insta::assert_snapshot!(summary(&run.stderr), @r"
    rtask: 4 sessions in [TIME]: 1 ran, 3 skipped
      ran         tests-3.11       [TIME] (environment [TIME])
      skipped     tests-3.99       Python interpreter 3.99 not found
      skipped     combine          requires `tests-3.99`, which was skipped: Python interpreter 3.99 not found
      skipped     coverage_report  requires `combine`, which was skipped: requires `tests-3.99`, which was skipped: Python interpreter 3.99 not found
    "));
    let report: Value = serde_json::from_str(&project.read("report.json")).unwrap();
    assert_eq!(report["result"], 1);
    assert_eq!(report["sessions"][2]["result"], "skipped");
    assert_eq!(
        report["sessions"][2]["reason"],
        "requires `tests-3.99`, which was skipped: Python interpreter 3.99 not found"
    );
}

#[test]
fn under_ci_a_missing_interpreter_fails_every_dependent_loudly() {
    let project = Project::with_tasks(MISSING);
    let run = project.rtask_env(
        &["--report", "report.json", "coverage_report"],
        &[("CI", "true")],
    );
    run.code(1);
    timeless().bind(|| insta::assert_snapshot!(summary(&run.stderr), @r"
    rtask: 4 sessions in [TIME]: 1 ran, 1 failed, 2 aborted
      ran         tests-3.11       [TIME] (environment [TIME])
      failed      tests-3.99       [TIME]: Python interpreter 3.99 not found
      aborted     combine          requires `tests-3.99`, which failed: Python interpreter 3.99 not found
      aborted     coverage_report  requires `combine`, which did not run: requires `tests-3.99`, which failed: Python interpreter 3.99 not found
    "));
    let report: Value = serde_json::from_str(&project.read("report.json")).unwrap();
    assert_eq!(report["result"], 0);
    assert_eq!(report["sessions"][3]["result"], "aborted");
    assert_eq!(
        report["sessions"][3]["reason"],
        "requires `combine`, which did not run: requires `tests-3.99`, which failed: Python interpreter 3.99 not found"
    );
    project
        .rtask(&["--error-on-missing-interpreters", "coverage_report"])
        .code(1)
        .stderr_has_words("aborted combine requires `tests-3.99`, which failed");
}

/// The closing table of a run.
fn summary(stderr: &str) -> &str {
    &stderr[stderr.find("rtask: ").expect("a summary")..]
}

/// Settings that redact durations (`0.3 s`, `12 ms`).
fn timeless() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d+(\.\d+)? ?(ms|s)\b", "[TIME]");
    settings
}

//! The flagship case with real Python, pytest and coverage: the example project.

use std::fs;
use std::path::Path;

use crate::support::{Project, long_ago};

/// A copy of `examples/python-coverage` (sources only) with a conftest that counts pytest runs.
pub(crate) fn example() -> Project {
    crate::support::require_wheelhouse();
    let project = Project::new();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-coverage");
    copy_sources(&source, project.root());
    project.write(
        "tests/conftest.py",
        "def pytest_sessionstart(session):\n    with open('pytest-runs.txt', 'a') as runs:\n        runs.write('run\\n')\n",
    );
    project
}

fn copy_sources(from: &Path, to: &Path) {
    const ARTIFACTS: &[&str] = &[
        ".rtask",
        ".coverage",
        "coverage.xml",
        "htmlcov",
        "__pycache__",
        ".pytest_cache",
    ];
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ARTIFACTS.iter().any(|artifact| name == *artifact) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_sources(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_suite_runs_once_and_the_report_reuses_its_coverage_data() {
    let project = example();
    project
        .rtask(&["coverage_report"])
        .success()
        .stdout_has("20 passed")
        .stdout_has("TOTAL")
        .stderr_has("unit_tests: running (no cache entry)")
        .stderr_has("coverage_report: running (no cache entry)");
    assert_eq!(project.count("pytest-runs.txt"), 1);
    assert!(project.exists("coverage.xml") && project.exists("htmlcov/index.html"));

    // Again: nothing runs; what is missing comes back.
    project.remove("htmlcov");
    project.remove("coverage.xml");
    project
        .rtask(&["coverage_report"])
        .success()
        .stderr_has("unit_tests: cached")
        .stderr_has("coverage_report: cached")
        .stdout_has("20 passed");
    assert_eq!(project.count("pytest-runs.txt"), 1);
    assert!(project.exists("coverage.xml") && project.exists("htmlcov/index.html"));

    // The data file deleted: restored for the report, pytest does not run.
    project.remove(".coverage");
    project
        .rtask(&["coverage_report"])
        .success()
        .stderr_has("unit_tests: cached");
    assert!(project.exists(".coverage"));
    assert_eq!(project.count("pytest-runs.txt"), 1);
}

#[test]
fn a_report_change_reruns_only_the_report() {
    let project = example();
    project.rtask(&["coverage_report"]).success();
    let tasks = project
        .read("tasks.toml")
        .replace("coverage html", "coverage html --precision 1");
    project.write("tasks.toml", &tasks);
    project
        .rtask(&["coverage_report"])
        .success()
        .stderr_has("unit_tests: cached")
        .stderr_has("coverage_report: running (command changed");
    assert_eq!(project.count("pytest-runs.txt"), 1);
}

#[test]
fn editing_a_test_with_the_same_size_and_mtime_runs_pytest_again() {
    let project = example();
    let test = "tests/test_stats.py";
    project.set_mtime(test, long_ago());
    project.rtask(&["unit_tests"]).success();
    let text = project.read(test);
    let edited = text.replacen(" == ", "== ", 1);
    let edited = format!("{edited} ");
    assert_eq!(edited.len(), text.len(), "same size");
    assert_ne!(edited, text);
    project.write(test, &edited);
    project.set_mtime(test, long_ago());
    project
        .rtask(&["unit_tests"])
        .success()
        .stderr_has("unit_tests: running (input `tests/test_stats.py` changed)");
    assert_eq!(project.count("pytest-runs.txt"), 2);
}

#[test]
fn a_copied_cache_gives_hits_in_a_second_checkout() {
    let first = example();
    first.rtask(&["coverage_report"]).success();
    let second = example();
    fs::rename(first.path(".rtask"), second.path(".rtask")).unwrap();
    second
        .rtask(&["coverage_report"])
        .success()
        .stderr_has("unit_tests: cached")
        .stderr_has("coverage_report: cached");
    assert_eq!(second.count("pytest-runs.txt"), 0);
    assert!(second.exists(".coverage") && second.exists("htmlcov/index.html"));
    second
        .rtask(&["coverage_report", "--force"])
        .success()
        .stderr_has("unit_tests: running (--force)");
    assert_eq!(second.count("pytest-runs.txt"), 1);
}

#[test]
fn posargs_reach_pytest() {
    let project = example();
    project
        .rtask(&["unit_tests", "--", "-k", "median"])
        .success()
        .stdout_has("deselected");
}

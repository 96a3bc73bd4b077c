//! What rtask prints about a project, pinned: `-l`, `-l --json`, `--dry-run` and
//! `--dry-run --json`, before and after a run, with keys, times and paths filtered.

use crate::support::Project;

/// Sessions of every kind a listing tells apart: described and tagged, a Python matrix with
/// a version no machine has, one outside the defaults, one required, uncacheable, parametrized.
const TASKS: &str = r#"[settings]
default = ["report"]

[sessions.lint]
description = "Check the style"
shell = true
run = ["echo lint > lint.txt"]
inputs = ["src/*.py"]
outputs = ["lint.txt"]
tags = ["check"]

[sessions.tests]
description = "Run the tests"
python = ["3.11", "3.77"]
run = ["python -c 'print(1)'"]
inputs = ["src/*.py"]
tags = ["test"]

[sessions.build]
shell = true
run = ["echo built > out.txt"]
inputs = ["src/*.py"]
outputs = ["out.txt"]
default = false

[sessions.report]
requires = ["build"]
shell = true
run = ["cat out.txt"]

[sessions.matrix]
shell = true
run = ["echo {db}"]
[sessions.matrix.parametrize]
db = ["sqlite", "postgres"]
"#;

fn project() -> Project {
    let project = Project::with_tasks(TASKS);
    project.write("src/app.py", "print('app')\n");
    project
}

/// Run rtask and pin its stdout under `name` (stderr must be empty).
#[track_caller]
fn pin(project: &Project, name: &str, args: &[&str]) {
    let run = project.rtask(args);
    assert_eq!(run.stderr, "", "{args:?}");
    let mut settings = project.redactions();
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[key]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[short key]");
    settings.add_filter(r"\b\d+(\.\d+)? ?(ms|s)\b", "[time]");
    settings.add_filter(r#""(\w+_ms)": \d+"#, r#""$1": [ms]"#);
    settings.set_description(format!("rtask {}", args.join(" ")));
    settings
        .bind(|| insta::assert_snapshot!(name, format!("exit code: {}\n{}", run.code, run.stdout)));
}

#[test]
fn listings_and_dry_runs_are_pinned_before_and_after_a_run() {
    let project = project();
    pin(&project, "list", &["-l"]);
    pin(&project, "list_json", &["-l", "--json"]);
    pin(
        &project,
        "list_json_tagged",
        &["-l", "--json", "-t", "test"],
    );
    pin(&project, "dry_run", &["--dry-run"]);
    pin(
        &project,
        "dry_run_json",
        &["--dry-run", "--json", "tests", "lint"],
    );
    project.rtask(&["build", "lint"]).success();
    pin(&project, "list_after", &["-l"]);
    pin(
        &project,
        "dry_run_after",
        &["--dry-run", "-s", "report,lint"],
    );
    pin(
        &project,
        "dry_run_json_after",
        &["--dry-run", "--json", "lint"],
    );
}

//! The table form of `run` entries (`external`, `env`, `success_codes` per command) and
//! programs run from outside a session's virtual environment (nox's external programs), with
//! real environments.

use crate::errors::refuses;
use crate::support::{Project, require_wheelhouse};

#[test]
fn a_command_table_sets_env_and_success_codes_for_that_command_only() {
    let project = Project::with_tasks(
        r#"
[sessions.a]
inputs = []
env = { X = "session" }
run = [
  { cmd = "sh -c 'echo first X=$X; exit 5'", env = { X = "own" }, success_codes = [5] },
  ["sh", "-c", "echo second X=$X"],
  { cmd = ["sh", "-c", "exit 5"] },
]
"#,
    );
    // The third command keeps the session's success codes: 5 fails it.
    project
        .rtask(&["a"])
        .code(1)
        .stdout_has("first X=own\n")
        .stdout_has("second X=session\n")
        .stderr_has("`sh` exited with code 5");
    project.write(
        "tasks.toml",
        r#"
[sessions.a]
inputs = []
env = { X = "session" }
run = [
  { cmd = "sh -c 'echo first X=$X; exit 5'", env = { X = "own" }, success_codes = [5] },
  ["sh", "-c", "echo second X=$X"],
]
"#,
    );
    project.rtask(&["a"]).success().stdout_has("first X=own\n");
    project.rtask(&["a"]).success().stderr_has("a: cached");
    // Each option enters the key: a changed one runs again.
    for changed in [
        r#"{ cmd = "sh -c 'echo first X=$X; exit 5'", env = { X = "other" }, success_codes = [5] }"#,
        r#"{ cmd = "sh -c 'echo first X=$X; exit 5'", env = { X = "other" }, success_codes = [5, 6] }"#,
        r#"{ cmd = "sh -c 'echo first X=$X; exit 5'", env = { X = "other" }, success_codes = [5, 6], external = true }"#,
    ] {
        project.write(
            "tasks.toml",
            &format!(
                "[sessions.a]\ninputs = []\nenv = {{ X = \"session\" }}\nrun = [\n  {changed},\n  [\"sh\", \"-c\", \"echo second X=$X\"],\n]\n"
            ),
        );
        project
            .rtask(&["a"])
            .success()
            .stderr_lacks("a: cached")
            .stdout_has("second X=session\n");
        project.rtask(&["a"]).success().stderr_has("a: cached");
    }
}

#[test]
fn placeholders_fill_a_command_table() {
    let project = Project::with_tasks(
        r#"
[sessions.a]
parametrize = { db = ["x"] }
run = [{ cmd = "sh -c 'echo $DB {posargs}'", env = { DB = "{db}" } }]
"#,
    );
    project
        .rtask(&["a", "--", "more"])
        .success()
        .stdout_has("x more\n");
}

#[test]
fn mistakes_in_a_command_table_are_pointed_at() {
    let table = |entry: &str| Project::with_tasks(&format!("[sessions.a]\nrun = [{entry}]\n"));
    refuses(
        &table(r#"{ cmd = "true", extrnal = true }"#),
        "2:24",
        "unknown key `extrnal`",
        "did you mean `external`?",
    );
    refuses(
        &table(r#"{ external = true }"#),
        "2:8",
        "missing key `cmd`",
        "a command table needs `cmd = \"LINE\"`",
    );
    refuses(
        &table(r#"{ cmd = "true", success_codes = [256] }"#),
        "2:41",
        "`256` in `success_codes` is not an exit code",
        "exit codes run from 0 to 255",
    );
    refuses(
        &table(r#"{ cmd = "true", env = { X = "{nope}" } }"#),
        "2:36",
        "unknown placeholder `{nope}` in `env`",
        "this session defines no placeholders",
    );
    refuses(
        &table(r#"{ cmd = "" }"#),
        "2:16",
        "empty command",
        "remove the entry or write the command",
    );
    refuses(
        &table("42"),
        "2:8",
        "invalid type: integer `42`, expected a command line string, an array of strings, or a",
        "docs/tasks-toml.md lists every key",
    );
    refuses(
        &table("{ cmd = 42 }"),
        "2:16",
        "invalid type: integer `42`, expected a command line string or an array of strings",
        "docs/tasks-toml.md lists every key",
    );
}

/// A session with an environment holding pytest, whose commands run programs from inside and
/// outside it.
fn external_project(settings: &str, marked: &str) -> Project {
    require_wheelhouse();
    Project::with_tasks(&format!(
        r#"{settings}
[sessions.ext]
python = "3.11"
venv_backend = "uv"
install = ["pytest==9.2.0"]
run = [
  "python -c 'print(\"python ran\")'",
  "pytest --version",
  {marked},
  "sh -c 'echo sh ran'",
  "echo echo ran",
]

[sessions.host]
run = ["sh -c 'echo host ran'"]

[sessions.lines]
python = "3.11"
venv_backend = "uv"
shell = true
run = ["git --version >/dev/null && echo line ran"]
"#
    ))
}

#[test]
fn programs_outside_the_environment_are_warned_about() {
    let project = external_project("", r#""git --version""#);
    let run = project.rtask(&["ext", "host", "lines"]);
    run.success()
        .stdout_has("python ran\n")
        .stdout_has("pytest 9.2.0")
        .stdout_has("git version")
        .stdout_has("sh ran\n")
        .stdout_has("echo ran\n")
        .stdout_has("host ran\n")
        .stdout_has("line ran\n");
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning:") || line.starts_with("  hint:"))
        .collect();
    insta::with_settings!({filters => vec![(r"located at `[^`]*`", "located at `[path]`")]}, {
        insta::assert_snapshot!(warnings.join("\n"), @r"
        warning: `git` is not installed into the virtual environment of `ext`, it is located at `[path]`
          hint: mark the command `external = true` if it is meant to run from there
        warning: `sh` is not installed into the virtual environment of `ext`, it is located at `[path]`
          hint: mark the command `external = true` if it is meant to run from there
        warning: `echo` is not installed into the virtual environment of `ext`, it is located at `[path]`
          hint: mark the command `external = true` if it is meant to run from there
        ");
    });
}

#[test]
fn a_command_marked_external_is_not_warned_about() {
    let project = external_project("", r#"{ cmd = "git --version", external = true }"#);
    project
        .rtask(&["ext"])
        .success()
        .stdout_has("git version")
        .stderr_lacks("`git` is not installed")
        .stderr_has("`sh` is not installed");
    project
        .rtask(&["--error-on-external-run", "ext"])
        .code(1)
        .stdout_has("git version")
        .stdout_lacks("sh ran\n");
}

fn fails_before_the_program_starts(project: &Project, args: &[&str]) {
    let run = project.rtask(args);
    run.code(1)
        .stdout_has("pytest 9.2.0")
        .stdout_lacks("git version")
        .stdout_lacks("sh ran\n")
        .stderr_lacks("warning:");
    let failure: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains("external program") || line.contains("hint:"))
        .collect();
    let filters = vec![
        (r"located at `[^`]*`", "located at `[path]`"),
        (r"\d+\.\d+ s\b", "[t]"),
    ];
    insta::allow_duplicates! {
        insta::with_settings!({filters => filters.clone()}, {
            insta::assert_snapshot!(failure.join("\n"), @r"
            ext: failed in [t] (environment [t]): `git` is not installed into the virtual environment, it is located at `[path]`: external program disallowed
              hint: mark the command `external = true` in `run` to allow it, or install the program into the environment
              failed      ext  [t] (environment [t]): `git` is not installed into the virtual environment, it is located at `[path]`: external program disallowed
            ");
        });
    }
}

#[test]
fn error_on_external_run_fails_the_session_before_the_program_starts() {
    let project = external_project("", r#""git --version""#);
    fails_before_the_program_starts(&project, &["--error-on-external-run", "ext"]);
    // Sessions without an environment, and `sh -c` lines, are not checked.
    project
        .rtask(&["--error-on-external-run", "host", "lines"])
        .success()
        .stdout_has("host ran\n")
        .stdout_has("line ran\n");
}

#[test]
fn error_on_external_run_in_settings_fails_the_session() {
    let project = external_project(
        "[settings]\nerror_on_external_run = true\n",
        r#""git --version""#,
    );
    fails_before_the_program_starts(&project, &["ext"]);
}

/// A result made where an outside program only warned is no result for a run where it fails
/// the session: that would be a false pass.
#[test]
fn a_result_made_with_warnings_is_not_served_to_error_on_external_run() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.ext]
python = "3.11"
venv_backend = "uv"
inputs = []
run = ["git --version"]
"#,
    );
    project
        .rtask(&["ext"])
        .success()
        .stderr_has("`git` is not installed");
    project
        .rtask(&["--error-on-external-run", "ext"])
        .code(1)
        .stderr_has("external program disallowed");
    project.rtask(&["ext"]).success().stderr_has("ext: cached");
    // Sessions without an environment keep their keys.
    project.write(
        "tasks.toml",
        "[sessions.host]\ninputs = []\nrun = [\"git --version\"]\n",
    );
    project.rtask(&["host"]).success();
    project
        .rtask(&["--error-on-external-run", "host"])
        .success()
        .stderr_has("host: cached");
}

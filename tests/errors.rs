//! Bad task files: each a clear error with file, line, column, a snippet and a hint; exit 2;
//! nothing touched.

use crate::support::Project;

#[track_caller]
fn rejects(tasks: &str, location: &str, message: &str, hint: &str) {
    let project = Project::with_tasks(tasks);
    project.write("input.txt", "x");
    refuses(&project, location, message, hint);
}

/// `rtask --list` in `project` exits 2 with `message` at `location` and a help line with `hint`.
#[track_caller]
pub(crate) fn refuses(project: &Project, location: &str, message: &str, hint: &str) {
    let run = project.rtask(&["--list"]);
    run.code(2)
        .stderr_has(&format!("error: {message}"))
        .stderr_has(&format!("[tasks.toml:{location}]"));
    let help = run
        .stderr
        .lines()
        .filter(|line| line.trim_start().starts_with("help:"));
    assert!(
        help.into_iter().any(|line| line.contains(hint)),
        "no help line with {hint:?}\n{run}"
    );
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(
        !project.exists(".rtask"),
        "an invalid task file touches nothing"
    );
}

#[test]
fn syntax_errors_point_at_the_spot() {
    rejects(
        "[sessions.a]\nrun = [\"x\"\n",
        "2:11",
        "unclosed array, expected `]`",
        "tasks.toml must be valid TOML",
    );
}

#[test]
fn unknown_keys_suggest_the_nearest() {
    rejects(
        "[sessions.a]\nrun = [\"true\"]\ndescripton = \"x\"\n",
        "3:1",
        "unknown key `descripton`",
        "did you mean `description`?",
    );
    rejects(
        "[setings]\ndefault = []\n",
        "1:2",
        "unknown key `setings`",
        "did you mean `settings`?",
    );
    rejects(
        "[settings]\ncache = \"x\"\n[sessions.a]\nrun = [\"true\"]\n",
        "2:1",
        "unknown key `cache`",
        "did you mean `cache_dir`?",
    );
}

#[test]
fn wrong_types_are_named() {
    rejects(
        "[sessions.a]\nrun = \"true\"\n",
        "2:7",
        "invalid type: string \"true\", expected a sequence",
        "docs/tasks-toml.md",
    );
    rejects(
        "[sessions.a]\nrun = [\"true\"]\ninputs = [1]\n",
        "3:11",
        "invalid type: integer `1`, expected a string",
        "docs/tasks-toml.md",
    );
}

#[test]
fn a_session_needs_run() {
    rejects(
        "[sessions.a]\ninputs = []\n",
        "1:1",
        "missing key `run`",
        "every session needs `run",
    );
}

#[test]
fn unknown_requirements_suggest_a_session() {
    rejects(
        "[sessions.unit_tests]\nrun = [\"true\"]\n[sessions.report]\nrun = [\"true\"]\nrequires = [\"unit_test\"]\n",
        "5:13",
        "unknown session `unit_test` in `report`'s `requires`",
        "did you mean `unit_tests`?",
    );
}

#[test]
fn cycles_are_printed() {
    rejects(
        "[sessions.a]\nrun = [\"true\"]\nrequires = [\"b\"]\n[sessions.b]\nrun = [\"true\"]\nrequires = [\"c\"]\n[sessions.c]\nrun = [\"true\"]\nrequires = [\"a\"]\n",
        "9:13",
        "dependency cycle: `a` -> `b` -> `c` -> `a`",
        "a session cannot require itself",
    );
}

#[test]
fn invalid_globs_are_refused() {
    rejects(
        "[sessions.a]\nrun = [\"true\"]\ninputs = [\"src/[a.py\"]\n",
        "3:11",
        "invalid glob `src/[a.py`",
        "globs use",
    );
}

#[test]
fn paths_may_not_leave_the_project() {
    rejects(
        "[sessions.a]\nrun = [\"true\"]\noutputs = [\"/tmp/out\"]\n",
        "3:12",
        "path `/tmp/out` is an absolute path",
        "cannot leave it",
    );
    rejects(
        "[sessions.a]\nrun = [\"true\"]\noutputs = [\"out/../../x\"]\n",
        "3:12",
        "path `out/../../x` contains `..`",
        "cannot leave it",
    );
    rejects(
        "[sessions.a]\nrun = [\"true\"]\ncwd = \"..\"\n",
        "3:7",
        "`cwd` contains `..`",
        "cannot leave it",
    );
    rejects(
        "[sessions.a]\nrun = [\"true\"]\ninputs = [\"../x\"]\n",
        "3:11",
        "path `../x` contains `..`",
        "cannot leave it",
    );
}

#[test]
fn empty_commands_are_refused() {
    rejects(
        "[sessions.a]\nrun = []\n",
        "2:7",
        "session `a` has nothing to run",
        "add at least one command",
    );
    rejects(
        "[sessions.a]\nrun = [\"  \"]\n",
        "2:8",
        "empty command",
        "remove the entry",
    );
    rejects(
        "[sessions.a]\nrun = [[]]\n",
        "2:8",
        "empty command",
        "an argv array needs",
    );
}

#[test]
fn shell_syntax_without_a_shell_is_refused() {
    rejects(
        "[sessions.a]\nrun = [\"pytest && coverage report\"]\n",
        "2:8",
        "cannot read this command: `&&` is shell syntax, but commands do not run in a shell",
        "set `shell = true`",
    );
    rejects(
        "[sessions.a]\nrun = [\"echo 'oops\"]\n",
        "2:8",
        "cannot read this command: unclosed single quote",
        "POSIX shell",
    );
}

#[test]
fn an_output_claimed_twice_is_refused() {
    rejects(
        "[sessions.a]\nrun = [\"true\"]\noutputs = [\"htmlcov/\"]\n[sessions.b]\nrun = [\"true\"]\noutputs = [\"htmlcov/index.html\"]\n",
        "6:12",
        "output `htmlcov/index.html` of `b` is also claimed by `a` (as `htmlcov/`)",
        "each path may be the output of one session only",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let project = Project::with_tasks(
        "[sessions.a]\nrun = []\n[sessions.b]\nrun = [\"true\"]\nrequires = [\"zzz\"]\n",
    );
    project
        .rtask(&[])
        .code(2)
        .stderr_has("error: session `a` has nothing to run\n   ╭─[tasks.toml:2:7]")
        .stderr_has("error: unknown session `zzz` in `b`'s `requires`\n   ╭─[tasks.toml:5:13]");
}

#[test]
fn default_sessions_must_exist() {
    rejects(
        "[settings]\ndefault = [\"tests\"]\n[sessions.test]\nrun = [\"true\"]\n",
        "2:12",
        "unknown session `tests` in `default`",
        "did you mean `test`?",
    );
}

#[test]
fn a_missing_task_file_says_where_it_looked() {
    let project = Project::new();
    project
        .rtask(&[])
        .code(2)
        .stderr_has("error: no `tasks.toml` in")
        .stderr_has("hint: create `tasks.toml`");
    project
        .rtask(&["-f", "other.toml"])
        .code(2)
        .stderr_has("task file `");
}

#[test]
fn control_characters_in_commands_are_refused() {
    rejects(
        "[sessions.a]\nrun = [\"echo \\u00010\\u0001\"]\n",
        "2:8",
        "cannot read this command: it holds the control character U+0001",
        "POSIX shell",
    );
}

#[test]
fn python_keys_are_checked() {
    rejects(
        "[sessions.a]\nrun = [\"true\"]\npython = \"3.11\"\nvenv_backend = \"pipenv\"\n",
        "4:16",
        "unknown `venv_backend` `pipenv`",
        "use \"uv\", \"venv\", \"virtualenv\", \"conda\", \"mamba\", \"micromamba\" or \"none\"",
    );
    rejects(
        "[sessions.a]\nrun = [\"true\"]\npython = [\"3.11\", \"three\"]\n",
        "3:19",
        "cannot read `\"three\"` as a Python version",
        "write versions such as",
    );
    rejects(
        "[sessions.a]\nrun = [\"true\"]\n[sessions.a.parametrize]\ndb = \"sqlite\"\n",
        "4:6",
        "parameter `db` is not a list",
        "write `db = [",
    );
    rejects(
        "[sessions.a]\nrun = [\"echo {db}\"]\n",
        "2:8",
        "unknown placeholder `{db}` in `run`",
        "this session defines no placeholders",
    );
    rejects(
        "[sessions.a]\nrun = [\"true\"]\ninstall = [\"pytest\"]\n",
        "3:12",
        "`install` needs a virtual environment",
        "set `python",
    );
}

#[test]
fn expanded_names_must_be_unique() {
    rejects(
        "[sessions.t]\npython = [\"3.11\"]\nrun = [\"true\"]\n[sessions.\"t-3.11\"]\nrun = [\"true\"]\n",
        "4:11",
        "two sessions are named `t-3.11`",
        "`[sessions.t]` already makes a session of that name",
    );
}

#[test]
fn placeholders_fill_paths_too() {
    let project = Project::with_tasks(
        "[sessions.t]\nshell = true\nrun = [\"echo {n} > out-{n}.txt\"]\ninputs = [\"in-{n}.txt\"]\noutputs = [\"out-{n}.txt\"]\n[sessions.t.parametrize]\nn = [1]\n",
    );
    project.write("in-1.txt", "x");
    project.rtask(&["t"]).success();
    project.remove("out-1.txt");
    project.rtask(&["t"]).success().stderr_has("cached");
    assert_eq!(project.read("out-1.txt"), "1\n");
}

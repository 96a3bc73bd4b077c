//! Environments that explain themselves: a `uv` that does not run falls back to venv with a
//! note (or fails a session pinned to uv), every environment made again says why, and one made
//! by venv is kept when uv appears.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{Project, Run, path_without, require_wheelhouse, tools_path};

const CHECK: &str = r#"
[sessions.check]
python = "3.11"
install = ["-r requirements.txt"]
run = ["python -c 'import pytest; print(pytest.__version__)'"]
inputs = ["in.txt"]
"#;

/// A directory holding a stand-in `uv`, a shell script with `body`.
fn fake_uv(project: &Project, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = project.path("fakebin");
    fs::create_dir_all(&dir).unwrap();
    let uv = dir.join("uv");
    fs::write(&uv, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&uv, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Run rtask with `PATH` set to `path`.
fn run_with_path(project: &Project, args: &[&str], path: &std::ffi::OsString) -> Run {
    project.rtask_env(args, &[("PATH", path.to_str().unwrap())])
}

/// Drop a file in an environment: it survives only while the environment is kept.
fn mark(project: &Project) {
    project.write(".rtask/venvs/check/marker", "kept");
}

fn kept(project: &Project) -> bool {
    project.exists(".rtask/venvs/check/marker")
}

/// The lines about environments and the note about uv.
fn environment_lines(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| line.contains("created `") || line.starts_with("note:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Snapshot settings that redact times, temporary paths and Python's patch version.
fn redacted() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d+(\.\d+)? ?(ms|s)\b", "[TIME]");
    settings.add_filter(r"/[^`\s]*/rtask-test[^/`\s]*", "[ROOT]");
    settings.add_filter(r"Python 3\.11\.\d+", "Python 3.11.[X]");
    settings
}

/// A project of [`CHECK`] whose `check` ran once, with no uv on `PATH`: its environment
/// made by venv, with pytest 9.2.0.
fn made_with_venv() -> Project {
    require_wheelhouse();
    let project = Project::with_tasks(CHECK);
    project
        .write("in.txt", "1")
        .write("requirements.txt", "pytest==9.2.0\n");
    let no_uv = path_without("uv", &[]);
    run_with_path(&project, &["check"], &no_uv)
        .success()
        .stderr_has("check: created `.rtask/venvs/check` with venv")
        .stdout_has("9.2.0");
    project
}

/// Keeping a venv-made environment when uv appears must not let an entry be served wrongly:
/// only the backend may differ, the environment is verified against the entry like any other,
/// and a change that comes with uv still remakes it (with uv) and runs the session.
#[test]
fn a_kept_environment_never_serves_a_stale_result() {
    let project = made_with_venv();
    mark(&project);
    // uv appears together with a requirement that leaves pytest out.
    project.write("requirements.txt", "iniconfig\n");
    let run = project.rtask(&["check"]);
    run.code(1)
        .stderr_has("check: recreated `.rtask/venvs/check` with uv")
        .stderr_has("; `requirements.txt` changed")
        .stderr_lacks("check: cached")
        .stdout_has("No module named 'pytest'");
    assert!(!kept(&project));
    // Back to pytest: remade with uv. The distributions match the entry made in venv's
    // environment, but pip, which venv put there, is not here: it runs.
    project.write("requirements.txt", "pytest==9.2.0\n");
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: recreated `.rtask/venvs/check` with uv")
        .stderr_has("`pip` was in the entry's environment, not here")
        .stderr_lacks("check: cached");
}

/// venv puts pip in an environment, uv does not: a result from a command that uses pip, made
/// in a venv environment, is never served in a uv one, where the command would fail.
#[test]
fn a_result_that_used_pip_is_not_served_where_uv_left_pip_out() {
    let project = Project::with_tasks(
        r#"
[sessions.check]
python = "3.11"
run = ["python -c 'import pip; print(\"has pip\")'"]
inputs = ["in.txt"]
"#,
    );
    project.write("in.txt", "1");
    run_with_path(&project, &["check"], &path_without("uv", &[]))
        .success()
        .stderr_has("check: created `.rtask/venvs/check` with venv")
        .stdout_has("has pip");
    // uv makes the environment again, without pip: the entry is not served.
    project
        .rtask(&["--reinstall", "check"])
        .code(1)
        .stderr_has("check: recreated `.rtask/venvs/check` with uv")
        .stderr_lacks("check: cached")
        .stdout_has("No module named 'pip'");
}

/// The issue's story: the first run has no uv and makes the environment with venv; uv is then
/// installed, and the next runs keep the environment (and hit) rather than rebuild it. With
/// `venv_backend` pinned, a change of backend remakes it and says so.
#[test]
fn an_environment_made_by_venv_is_kept_when_uv_appears() {
    let project = made_with_venv();
    mark(&project);
    project
        .rtask(&["check"])
        .success()
        .stderr_lacks("created `")
        .stderr_has("check: cached");
    project.write("in.txt", "2");
    project
        .rtask(&["check"])
        .success()
        .stderr_lacks("created `")
        .stdout_has("9.2.0");
    assert!(kept(&project), "an up-to-date environment is kept");
    // Pinned, the backend counts.
    project.write(
        "tasks.toml",
        &CHECK.replace(
            "[sessions.check]\n",
            "[sessions.check]\nvenv_backend = \"venv\"\n",
        ),
    );
    project
        .rtask(&["check"])
        .success()
        .stderr_lacks("created `");
    project.write(
        "tasks.toml",
        &CHECK.replace(
            "[sessions.check]\n",
            "[sessions.check]\nvenv_backend = \"uv\"\n",
        ),
    );
    let run = project.rtask(&["check"]);
    run.success();
    redacted().bind(|| {
        insta::assert_snapshot!(environment_lines(&run.stderr), @"check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; backend changed: venv -> uv");
    });
    assert!(!kept(&project));
}

/// A `uv` on `PATH` that does not run (a pyenv shim for another Python exits 127): with
/// `venv_backend` unset, environments are made with venv after one note; uv is asked once in
/// the run, never per session.
#[test]
fn a_broken_uv_falls_back_to_venv_with_one_note() {
    let project = Project::with_tasks(
        r#"
[sessions.a]
python = "3.11"
run = ["python -c 'print(1)'"]

[sessions.b]
python = "3.11"
requires = ["a"]
run = ["python -c 'print(2)'"]
"#,
    );
    let fakebin = fake_uv(
        &project,
        "echo \"$@\" >> \"$(dirname \"$0\")/calls\"\necho 'pyenv: uv: command not found' >&2\nexit 127",
    );
    let path = tools_path(&[fakebin]);
    let run = run_with_path(&project, &["a", "b"], &path);
    run.success();
    redacted().bind(|| {
        insta::assert_snapshot!(environment_lines(&run.stderr), @r"
        note: `[ROOT]/fakebin/uv` does not run: `uv --version` exited with code 127 (pyenv: uv: command not found); environments are made with venv instead
        a: created `.rtask/venvs/a` with venv (Python 3.11.[X]) in [TIME]
        b: created `.rtask/venvs/b` with venv (Python 3.11.[X]) in [TIME]
        ");
    });
    assert_eq!(project.read("fakebin/calls"), "--version\n");
    // Up to date, nothing is made and nothing is said.
    let again = run_with_path(&project, &["a", "b"], &path);
    again
        .success()
        .stderr_lacks("note:")
        .stderr_lacks("created `");
}

/// A `uv` that hangs is given up on after a timeout, with what it started, and the run says
/// so even when no environment is made: the wait cost it time.
#[test]
fn a_hanging_uv_is_given_up_on_and_said() {
    let project =
        Project::with_tasks("[sessions.a]\npython = \"3.11\"\nrun = [\"python -c 'print(1)'\"]\n");
    // Made first with no uv around: the run below makes nothing.
    run_with_path(&project, &["a"], &path_without("uv", &[])).success();
    // Two children: one in uv's process group, one that leaves it (`setsid`).
    let fakebin = fake_uv(
        &project,
        "dir=\"$(dirname \"$0\")\"\nsleep 1000 &\necho $! > \"$dir/child\"\n\
         setsid sleep 1000 &\necho $! > \"$dir/escaped\"\nwait",
    );
    let run = run_with_path(&project, &["a"], &tools_path(&[fakebin]));
    let escaped = project.read("fakebin/escaped").trim().to_string();
    // Whatever it holds, it is ended here.
    let holds: Vec<PathBuf> = fs::read_dir(format!("/proc/{escaped}/fd"))
        .map(|fds| {
            fds.filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    let _ = Command::new("kill").args(["-9", &escaped]).status();
    run.success();
    redacted().bind(|| {
        insta::assert_snapshot!(environment_lines(&run.stderr), @"note: `[ROOT]/fakebin/uv` does not run: `uv --version` did not answer within [TIME]; environments are made with venv instead");
    });
    let child = project.read("fakebin/child");
    let stat = fs::read_to_string(format!("/proc/{}/stat", child.trim()));
    assert!(
        stat.as_ref().map_or(true, |stat| stat.contains(") Z ")),
        "the hanging uv's child outlived the check: {stat:?}"
    );
    // The one that escaped was started before the run lock was taken: it cannot hold it.
    assert!(
        !holds.iter().any(|path| path.ends_with("run.lock")),
        "an escaped child of uv holds the run lock: {holds:?}"
    );
}

/// With `venv_backend = "uv"`, a `uv` that does not run fails the session, saying which and
/// how, with a hint.
#[test]
fn a_broken_uv_fails_a_session_pinned_to_uv() {
    let project = Project::with_tasks(
        r#"
[sessions.a]
python = "3.11"
venv_backend = "uv"
run = ["python -c 'print(1)'"]
"#,
    );
    let fakebin = fake_uv(
        &project,
        "echo 'pyenv: uv: command not found' >&2\nexit 127",
    );
    let run = run_with_path(&project, &["a"], &tools_path(&[fakebin]));
    run.code(1);
    redacted().bind(|| {
        insta::assert_snapshot!(run.stderr, @r#"
        a: failed in [TIME]: `venv_backend = "uv"` but `[ROOT]/fakebin/uv` does not run: `uv --version` exited with code 127 (pyenv: uv: command not found)
          hint: repair or reinstall that `uv`, put a working one first on PATH, or set `venv_backend = "venv"`
        rtask: 1 session in [TIME]: 1 failed
          failed      a  [TIME]: `venv_backend = "uv"` but `[ROOT]/fakebin/uv` does not run: `uv --version` exited with code 127 (pyenv: uv: command not found)
        "#)
    });
    // One whose `#!` names a missing interpreter cannot start.
    let fakebin = fake_uv(&project, "");
    fs::write(fakebin.join("uv"), "#!/nonexistent/python\n").unwrap();
    let run = run_with_path(&project, &["a"], &tools_path(&[fakebin]));
    run.code(1);
    redacted().bind(|| {
        insta::assert_snapshot!(run.stderr, @r#"
        a: failed in [TIME]: `venv_backend = "uv"` but `[ROOT]/fakebin/uv` does not run: it could not start: No such file or directory (os error 2)
          hint: repair or reinstall that `uv`, put a working one first on PATH, or set `venv_backend = "venv"`
        rtask: 1 session in [TIME]: 1 failed
          failed      a  [TIME]: `venv_backend = "uv"` but `[ROOT]/fakebin/uv` does not run: it could not start: No such file or directory (os error 2)
        "#);
    });
}

const REMADE: &str = r#"
[sessions.check]
python = "3.11"
venv_backend = "uv"
install = ["-r requirements.txt"]
run = ["python -c 'import iniconfig'"]
"#;

/// Edit the environment's record with `edit`.
fn edit_record(project: &Project, edit: impl FnOnce(&mut serde_json::Value)) {
    let file = ".rtask/venvs/check/rtask-venv.json";
    let mut record: serde_json::Value = serde_json::from_str(&project.read(file)).unwrap();
    edit(&mut record);
    project.write(file, &serde_json::to_string(&record).unwrap());
}

/// Every time an existing environment is made again, the line says why.
#[test]
fn each_recreated_environment_says_why() {
    require_wheelhouse();
    let project = Project::with_tasks(REMADE);
    project.write("requirements.txt", "iniconfig\n");
    let mut lines = Vec::new();
    let mut step = |label: &str, project: &Project, args: &[&str]| {
        let run = project.rtask(args);
        run.success();
        let said = environment_lines(&run.stderr);
        let said = if said.is_empty() { "(nothing)" } else { &said };
        lines.push(format!("{label}: {said}"));
    };
    step("first", &project, &["check"]);
    step("up to date", &project, &["check"]);
    // Killed during the install: no record.
    project.remove(".rtask/venvs/check/rtask-venv.json");
    step("no record", &project, &["check"]);
    project.write("requirements.txt", "iniconfig\n# pinned later\n");
    // `--dry-run` says it too.
    project
        .rtask(&["--dry-run", "check"])
        .success()
        .stdout_has("  - its environment would be recreated first: `requirements.txt` changed\n");
    let plan = project.rtask(&["--dry-run", "--json", "check"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.success().stdout).unwrap();
    assert_eq!(
        plan[0]["environment"],
        serde_json::json!({
            "action": "recreate",
            "reason": {"kind": "file_changed", "message": "`requirements.txt` changed"},
        })
    );
    step("requirements", &project, &["check"]);
    // Each step adds one setting to the last.
    let mut extra = String::from("install = [\"-r requirements.txt\", \"iniconfig\"]\n");
    let base = REMADE.replace("install = [\"-r requirements.txt\"]\n", "");
    let tasks = |extra: &str| base.replace("run =", &format!("{extra}run ="));
    project.write("tasks.toml", &tasks(&extra));
    step("install", &project, &["check"]);
    extra.push_str("venv_params = [\"--system-site-packages\"]\n");
    project.write("tasks.toml", &tasks(&extra));
    step("venv_params", &project, &["check"]);
    extra.push_str("env = { FOO = \"1\" }\n");
    project.write("tasks.toml", &tasks(&extra));
    step("env", &project, &["check"]);
    step("--reinstall", &project, &["--reinstall", "check"]);
    step(
        "--reuse-venv no",
        &project,
        &["--reuse-venv", "no", "check"],
    );
    project.write(
        "tasks.toml",
        &tasks(&format!("{extra}reuse_venv = false\n")),
    );
    step("reuse_venv = false", &project, &["check"]);
    project.write("tasks.toml", &tasks(&extra));
    edit_record(&project, |record| record["schema"] = 1.into());
    step("schema", &project, &["check"]);
    edit_record(&project, |record| {
        record["interpreter"]["version"] = "3.11.0".into();
    });
    step("interpreter", &project, &["check"]);
    let moved = project.copy();
    step("moved", &moved, &["check"]);
    let mut settings = redacted();
    settings.add_filter(r"(?m) at /[^ ]+( ->|$)", " at [PYTHON]$1");
    settings.add_filter(r"cpython 3\.11\.[1-9]\d*", "cpython 3.11.[X]");
    settings.bind(|| {
        insta::assert_snapshot!(lines.join("\n"), @r"
        first: check: created `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]
        up to date: (nothing)
        no record: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; rtask has no record of completing it (an interrupted install, or another tool made it)
        requirements: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; `requirements.txt` changed
        install: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; the `install` arguments changed
        venv_params: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; `venv_params` changed
        env: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; env `FOO` changed
        --reinstall: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; `--reinstall` (`--reuse-venv never`) remakes it
        --reuse-venv no: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; `--reuse-venv no` remakes it
        reuse_venv = false: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; the session says `reuse_venv = false`
        schema: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; it was made by another version of rtask
        interpreter: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; interpreter changed: cpython 3.11.0 at [PYTHON] -> cpython 3.11.[X] at [PYTHON]
        moved: check: recreated `.rtask/venvs/check` with uv (Python 3.11.[X]) in [TIME]; it was made at `[ROOT]/.rtask/venvs/check`
        ");
    });
}

//! nox's run flags, with real environments: `--no-install` / `-R`, `--no-venv`,
//! `--install-only`, `--add-timestamp`. The cases that could pass falsely come first: a result
//! made in an environment that is not up to date, or without one, is never stored or served.

use serde_json::Value;

use crate::support::{Project, require_wheelhouse};

/// A session whose environment installs from `requirements.txt`, cached, writing `ran.txt`.
fn env_project() -> Project {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.check]
python = "3.11"
venv_backend = "uv"
install = ["-r requirements.txt"]
inputs = ["src/**"]
outputs = ["ran.txt"]
run = ["python -c 'import os, sys, importlib.util; print(\"venv\", os.environ.get(\"VIRTUAL_ENV\") is not None, sys.prefix != sys.base_prefix, importlib.util.find_spec(\"pytest\") is not None); open(\"ran.txt\", \"a\").write(\"x\")'"]

[sessions.host]
inputs = ["src/**"]
run = ["sh -c 'echo host ran'"]
"#,
    );
    project
        .write("requirements.txt", "pytest==9.2.0\n")
        .write("src/a.py", "a\n");
    project
}

#[test]
fn no_install_in_a_stale_environment_runs_but_stores_nothing() {
    let project = env_project();
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: created");
    project.write("requirements.txt", "pytest==9.2.0\n# changed\n");
    project.remove("ran.txt");
    let run = project.rtask(&["--no-install", "check"]);
    run.success()
        .stderr_lacks("created")
        .stderr_lacks("check: cached")
        .stdout_has("venv True True True\n");
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .collect();
    insta::assert_snapshot!(notes.join("\n"), @"warning: `check` ran in its environment as it stands (`--no-install`), which is not up to date with what it declares; its result is not cached");
    // The result was not stored: a plain run makes the environment again and runs.
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: recreated")
        .stderr_has("; `requirements.txt` changed")
        .stderr_lacks("check: cached")
        .stdout_has("venv True True True\n");
    // A hit, made in an up-to-date environment, is still served.
    project.write("requirements.txt", "pytest==9.2.0\n");
    project.rtask(&["check"]).success();
    project.write("requirements.txt", "pytest==9.2.0\n# changed\n");
    project
        .rtask(&["-R", "check"])
        .success()
        .stderr_has("check: cached")
        .stderr_lacks("created");
}

#[test]
fn no_install_makes_a_missing_environment_and_stores_its_result() {
    let project = env_project();
    project
        .rtask(&["-R", "check"])
        .success()
        .stderr_has("check: created")
        .stderr_lacks("warning:");
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: cached")
        .stderr_lacks("created");
}

#[test]
fn no_venv_neither_restores_nor_stores_sessions_with_environments() {
    let project = env_project();
    // Stored by a plain run, not restored by `--no-venv`: it runs on the host.
    project.rtask(&["check", "host"]).success();
    project.remove("ran.txt");
    let run = project.rtask(&["--no-venv", "check", "host"]);
    run.success()
        .stdout_has("venv False False")
        .stderr_lacks("check: cached")
        .stderr_has("host: cached")
        .stderr_lacks("created");
    assert_eq!(project.read("ran.txt"), "x");
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("note:"))
        .collect();
    insta::assert_snapshot!(notes.join("\n"), @"note: `check` runs on the host without its virtual environment (`--no-venv`): `install` is skipped, and its result is neither restored nor cached");
    // Nothing stored: in a fresh project, a plain run after `--no-venv` runs.
    let fresh = env_project();
    fresh.rtask(&["--no-venv", "check"]).success();
    fresh
        .rtask(&["check"])
        .success()
        .stderr_lacks("check: cached")
        .stdout_has("venv True True True\n");
}

#[test]
fn install_only_makes_environments_and_runs_restores_and_stores_nothing() {
    let project = env_project();
    let run = project.rtask(&["--install-only", "check", "host"]);
    run.success().stderr_has("check: created");
    assert!(!project.exists("ran.txt"), "no command ran\n{run}");
    assert_eq!(run.stdout, "", "no command ran\n{run}");
    let summary: Vec<&str> = run
        .stderr
        .lines()
        .skip_while(|line| !line.starts_with("rtask:"))
        .collect();
    insta::with_settings!({filters => vec![(r"\d+\.\d+ s\b", "[t]")]}, {
        insta::assert_snapshot!(summary.join("\n"), @r"
        rtask: 2 sessions in [t]: 2 installed (--install-only: no command ran, nothing was restored or stored)
          installed   check  [t]
          installed   host   [t]
        ");
    });
    // Nothing stored: the next run runs, in the environment already made.
    project
        .rtask(&["check"])
        .success()
        .stderr_lacks("created")
        .stderr_lacks("check: cached");
    assert_eq!(project.read("ran.txt"), "x");
    // Nothing restored either.
    project.remove("ran.txt");
    project.rtask(&["--install-only", "check"]).success();
    assert!(!project.exists("ran.txt"));
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: cached");
    assert!(project.exists("ran.txt"));
}

#[test]
fn reports_stay_nox_shaped() {
    let project = env_project();
    for args in [
        &["--install-only", "check", "host"][..],
        &["--no-venv", "check", "host"][..],
        &["--no-install", "check", "host"][..],
    ] {
        let mut args = args.to_vec();
        args.extend(["--report", "report.json"]);
        project.rtask(&args).success();
        let report: Value = serde_json::from_str(&project.read("report.json")).unwrap();
        assert_eq!(report["result"], 1, "{args:?}");
        let sessions = report["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 2, "{args:?}");
        for session in sessions {
            assert_eq!(session["result"], "success", "{args:?}");
            assert_eq!(session["result_code"], 1, "{args:?}");
        }
    }
}

#[test]
fn add_timestamp_prefixes_rtasks_lines_only() {
    let project = env_project();
    // `-ts` is nox's spelling.
    for flag in ["--add-timestamp", "-ts"] {
        let run = project.rtask(&[flag, "host"]);
        run.success().stdout_has("host ran\n");
        assert!(
            run.stdout.lines().all(|line| !line.starts_with('[')),
            "the commands' output is left alone\n{run}"
        );
        for line in run.stderr.lines().filter(|line| !line.starts_with("  ")) {
            let (time, _) = line.split_once(' ').unwrap();
            assert!(
                time.len() == 22 && time.starts_with("[20") && time.ends_with("Z]"),
                "{line:?}\n{run}"
            );
        }
    }
}

#[test]
fn flags_that_contradict_each_other_are_refused() {
    let project = env_project();
    for pair in [
        ["--no-install", "--install-only"],
        ["--no-venv", "--install-only"],
        ["--no-venv", "--no-install"],
        ["-R", "--reinstall"],
        ["-R", "-N"],
        ["-R", "--reuse-venv=no"],
        ["--no-install", "--reinstall"],
        ["--install-only", "--restore-only=check"],
        ["--install-only", "--dry-run"],
    ] {
        project
            .rtask(&pair)
            .code(3)
            .stderr_has("cannot be used with");
    }
}

const FORCED_TASKS: &str = r#"
[sessions.tests]
python = ["3.11", "3.12"]
run = ["true"]

[sessions.single]
python = "3.11"
run = ["true"]

[sessions.param]
python = ["3.11"]
parametrize = { db = ["a", "b"] }
run = ["true"]

[sessions.bare]
python = "3.11"
venv_backend = "none"
run = ["true"]

[sessions.host]
run = ["true"]
"#;

const FORCED_NOXFILE: &str = r#"
import nox

@nox.session(python=["3.11", "3.12"])
def tests(session):
    pass

@nox.session(python="3.11")
def single(session):
    pass

@nox.session(python=["3.11"])
@nox.parametrize("db", ["a", "b"])
def param(session, db):
    pass

@nox.session(python="3.11", venv_backend="none")
def bare(session):
    pass
"#;

/// The sessions `-l --json` selects, as (session, python, call_spec).
fn listed(json: &str) -> Vec<(String, Value, Value)> {
    let list: Value = serde_json::from_str(json).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|session| {
            (
                session["session"].as_str().unwrap().to_string(),
                session["python"].clone(),
                session["call_spec"].clone(),
            )
        })
        .collect()
}

/// `--force-python` selects and names sessions as nox does. The one difference: a session
/// without `python` (no environment) is left out, where nox would run it in a VERSION
/// environment.
#[test]
fn force_python_names_and_selects_as_nox() {
    let project = Project::with_tasks(FORCED_TASKS);
    project.write("noxfile.py", FORCED_NOXFILE);
    for version in ["3.13", "3.11"] {
        let nox = crate::support::tool("nox")
            .args(["-l", "--json", "--force-python", version])
            .current_dir(project.root())
            .env_remove("CI")
            .output()
            .expect("nox is installed by .ci/prepare");
        let theirs = listed(&String::from_utf8(nox.stdout).unwrap());
        let run = project.rtask(&["-l", "--json", "--force-python", version]);
        run.success();
        assert_eq!(listed(&run.stdout), theirs, "--force-python {version}");
        assert!(!theirs.is_empty());
    }
    // It replaces `-p`'s versions, as nox's does.
    let run = project.rtask(&["-l", "--json", "-p", "3.12", "-P", "3.13"]);
    let names: Vec<String> = listed(&run.stdout).into_iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        [
            "tests-3.13",
            "single-3.13",
            "param(db='a')",
            "param(db='b')",
            "bare-3.13"
        ]
    );
    // The forced variants answer to nox's other names too.
    project
        .rtask(&[
            "--force-python",
            "3.13",
            "--dry-run",
            "-s",
            "param-3.13(db='a')",
        ])
        .success()
        .stdout_has("param(db='a')");
    project
        .rtask(&["--force-python", "3.1x", "-l"])
        .code(3)
        .stderr_has("invalid value '3.1x' for '--force-python <VERSION>'");
}

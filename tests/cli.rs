//! The command line: selection, listing, exit codes, output modes.

use crate::support::Project;

const TASKS: &str = r#"
[settings]
default = ["test"]

[sessions.lint]
description = "Check the style"
run = ["echo linting"]
tags = ["check"]

[sessions.test]
description = "Run the tests"
run = ["echo testing {posargs}"]
tags = ["check", "slow"]

[sessions.docs]
run = ["echo documenting"]
"#;

#[test]
fn a_bare_run_runs_the_defaults() {
    let project = Project::with_tasks(TASKS);
    project
        .rtask(&[])
        .success()
        .stdout_has("testing\n")
        .stdout_lacks("linting")
        .stderr_has("rtask: 1 session in ")
        .stderr_has_words("ran test");
}

#[test]
fn without_defaults_a_bare_run_lists_and_succeeds() {
    let project = Project::with_tasks(&TASKS.replace("default = [\"test\"]", ""));
    let run = project.rtask(&[]);
    run.success();
    assert_eq!(
        run.stdout,
        "Sessions defined in tasks.toml:\n\n- lint [check] -> Check the style\n- test [check,slow] -> Run the tests\n- docs\n\n\
         no default sessions: run `rtask SESSION`, or set `default` in `[settings]`.\n"
    );
}

#[test]
fn listing_marks_the_selection_like_nox() {
    let project = Project::with_tasks(TASKS);
    let run = project.rtask(&["-l"]);
    run.success();
    assert_eq!(
        run.stdout,
        "Sessions defined in tasks.toml:\n\n- lint [check] -> Check the style\n* test [check,slow] -> Run the tests\n- docs\n\n\
         sessions marked with * are selected, sessions marked with - are skipped.\n"
    );
    project
        .rtask(&["-l", "-t", "check"])
        .success()
        .stdout_has("* lint")
        .stdout_has("* test")
        .stdout_has("- docs");
}

#[test]
fn listing_as_json_has_nox_fields() {
    let project = Project::with_tasks(TASKS);
    let run = project.rtask(&["--list", "--json", "-t", "check"]);
    run.success();
    let listed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let first = &listed[0];
    assert_eq!(first["session"], "lint");
    assert_eq!(first["name"], "lint");
    assert_eq!(first["description"], "Check the style");
    assert_eq!(first["python"], serde_json::Value::Null);
    assert_eq!(first["tags"], serde_json::json!(["check"]));
    assert_eq!(first["call_spec"], serde_json::json!({}));
    assert_eq!(first["cached"], serde_json::Value::Null);
    assert_eq!(
        listed.as_array().unwrap().len(),
        2,
        "only the selected sessions, as nox"
    );
    let defaults: serde_json::Value =
        serde_json::from_str(&project.rtask(&["-l", "--json"]).stdout).unwrap();
    assert_eq!(defaults[0]["session"], "test");
}

#[test]
fn sessions_are_selected_by_name_flag_and_tag() {
    let project = Project::with_tasks(TASKS);
    project
        .rtask(&["lint", "docs"])
        .success()
        .stdout_has("linting")
        .stdout_has("documenting")
        .stdout_lacks("testing");
    project
        .rtask(&["-s", "lint,docs"])
        .success()
        .stdout_has("linting")
        .stdout_has("documenting");
    project
        .rtask(&["-t", "slow"])
        .success()
        .stdout_has("testing")
        .stdout_lacks("linting");
}

#[test]
fn unknown_names_and_tags_are_usage_errors() {
    let project = Project::with_tasks(TASKS);
    project
        .rtask(&["tset"])
        .code(3)
        .stderr_has("error: unknown session `tset`")
        .stderr_has("hint: did you mean `test`?");
    project
        .rtask(&["zzzzzzzz"])
        .code(3)
        .stderr_has("hint: known: `lint`, `test`, `docs`");
    project
        .rtask(&["-t", "fast"])
        .code(3)
        .stderr_has("no session has the tag `fast`")
        .stderr_has("known: `check`, `slow`");
    project
        .rtask(&["--frobnicate"])
        .code(3)
        .stderr_has("--frobnicate");
    project.rtask(&["-j", "0", "test"]).code(3);
}

#[test]
fn posargs_follow_a_double_dash() {
    let project = Project::with_tasks(TASKS);
    project
        .rtask(&["test", "--", "-k", "it's"])
        .success()
        .stdout_has("testing -k it's\n");
}

#[test]
fn the_task_file_is_found_from_a_subdirectory_or_given() {
    let project = Project::with_tasks(TASKS);
    project.write("deep/er/file.txt", "x");
    let mut command = project.command(&["lint"]);
    command.current_dir(project.path("deep/er"));
    let output = command.output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("linting"));
    project.write(
        "other/tasks.toml",
        "[sessions.other]\nrun = [\"echo other\"]\n",
    );
    project
        .rtask(&["-f", "other/tasks.toml", "other"])
        .success()
        .stdout_has("other\n");
}

#[test]
fn commands_run_in_the_session_cwd() {
    let project = Project::with_tasks("[sessions.where]\nrun = [\"pwd\"]\ncwd = \"sub/dir\"\n");
    project.write("sub/dir/x", "");
    project.rtask(&["where"]).success().stdout_has("sub/dir\n");
    let project = Project::with_tasks("[sessions.where]\nrun = [\"pwd\"]\ncwd = \"missing\"\n");
    project
        .rtask(&["where"])
        .code(1)
        .stderr_has("`cwd` `missing` is not a directory");
}

#[test]
fn a_missing_program_is_named() {
    let project = Project::with_tasks("[sessions.x]\nrun = [\"no-such-program-rtask --flag\"]\n");
    project
        .rtask(&["x"])
        .code(1)
        .stderr_has("command `no-such-program-rtask` not found");
}

#[test]
fn stdout_and_stderr_keep_their_order() {
    let project = Project::with_tasks(
        "[sessions.mixed]\nshell = true\nrun = [\"echo one; echo two >&2; echo three; echo four >&2\"]\n",
    );
    project
        .rtask(&["mixed"])
        .success()
        .stdout_has("one\ntwo\nthree\nfour\n");
}

#[test]
fn github_actions_output_is_grouped() {
    let project = Project::with_tasks(TASKS);
    project
        .rtask_env(&["lint"], &[("GITHUB_ACTIONS", "true"), ("CI", "true")])
        .success()
        .stdout_has("::group::lint: running\n$ echo linting\nlinting\n::endgroup::\n");
    project
        .rtask_env(&["lint"], &[("FORGEJO_ACTIONS", "true")])
        .success()
        .stdout_has("::group::lint: running\n");
}

#[test]
fn quiet_shows_only_failures() {
    let project = Project::with_tasks(
        "[sessions.ok]\nrun = [\"echo fine\"]\n[sessions.bad]\nshell = true\nrun = [\"echo broken; exit 3\"]\n",
    );
    let run = project.rtask(&["-q", "ok"]);
    run.success();
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");
    project
        .rtask(&["-q", "ok", "bad"])
        .code(1)
        .stdout_has("broken")
        .stdout_lacks("fine")
        .stderr_has("bad: failed in")
        .stderr_has("`sh` exited with code 3");
}

#[test]
fn help_and_version() {
    let project = Project::new();
    project
        .rtask(&["--help"])
        .success()
        .stdout_has("Usage: rtask [OPTIONS] [SESSION]... [-- <POSARGS>...]")
        .stdout_has("--dry-run");
    project.rtask(&["--version"]).success().stdout_has("rtask ");
}

#[test]
fn colour_follows_the_flag() {
    let project = Project::with_tasks(TASKS);
    project
        .rtask(&["--color", "always", "lint"])
        .success()
        .stderr_has("\x1b[");
    project
        .rtask(&["--color", "never", "lint"])
        .success()
        .stderr_lacks("\x1b[");
}

#[test]
fn a_closed_stdout_is_an_error_not_a_crash() {
    // `rtask schema | head -c 0`: the reader is gone before rtask writes.
    let project = Project::with_tasks(TASKS);
    for args in [
        &["schema"][..],
        &["completions", "bash"],
        &["-l"],
        &["--dry-run"],
    ] {
        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let output = project
            .command(args)
            .stdout(std::process::Stdio::from(writer))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

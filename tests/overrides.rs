//! `[sessions.NAME.overrides."VERSION"]`: `install`, `env` and `run` of one Python version's
//! variants, with real environments installed from the wheelhouse.

use serde_json::Value;

use crate::errors::refuses;
use crate::markers::path_with;
use crate::support::{Project, require_wheelhouse};

fn tasks(legacy: &str) -> String {
    format!(
        r#"
[sessions.check]
python = ["3.11", "3.12"]
venv_backend = "uv"
install = ["iniconfig"]
env = {{ MODE = "new", KEPT = "yes" }}
run = ["python -c 'import os, importlib.util as u; print(\"new run\", os.environ[\"MODE\"], os.environ[\"KEPT\"], u.find_spec(\"pytest\") is not None)'"]
inputs = ["input.txt"]

[sessions.check.overrides."3.11"]
install = ["pytest"]
env = {{ MODE = "{legacy}" }}
run = ["python -c 'import os, importlib.util as u; print(\"old run\", os.environ[\"MODE\"], os.environ[\"KEPT\"], u.find_spec(\"pytest\") is not None)'"]
"#
    )
}

/// The keys of each session, as `--dry-run --json` gives them.
fn keys(project: &Project, path: &str) -> Vec<(String, String)> {
    let run = project.rtask_env(&["--dry-run", "--json", "check"], &[("PATH", path)]);
    run.success();
    let planned: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    planned
        .iter()
        .map(|plan| {
            let name = plan["session"].as_str().unwrap().to_string();
            (name, plan["key"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn an_override_applies_to_its_version_only() {
    require_wheelhouse();
    let project = Project::with_tasks(&tasks("legacy"));
    project.write("input.txt", "x");
    let path = path_with(&project, &["3.11", "3.12"], false);
    project
        .rtask_env(&["check"], &[("PATH", &path)])
        .success()
        .stdout_has("old run legacy yes True\n")
        .stdout_has("new run new yes False\n");
    let before = keys(&project, &path);
    let run = project.rtask_env(&["--dry-run", "--json", "check"], &[("PATH", &path)]);
    let planned: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(planned[0]["install"], serde_json::json!(["pytest"]));
    assert_eq!(planned[1]["install"], serde_json::json!(["iniconfig"]));
    let commands = |plan: &Value| plan["run"][0][2].as_str().unwrap().to_string();
    assert!(commands(&planned[0]).contains("old run"), "{planned:?}");
    assert!(commands(&planned[1]).contains("new run"), "{planned:?}");

    // Another `env` in the override: only its variant runs again.
    project.write("tasks.toml", &tasks("older"));
    let after = keys(&project, &path);
    assert_ne!(after[0], before[0], "check-3.11's key follows its override");
    assert_eq!(after[1], before[1], "check-3.12's key is untouched");
    project
        .rtask_env(&["check"], &[("PATH", &path)])
        .success()
        .stdout_has("old run older yes True\n")
        .stderr_has("check-3.12: cached")
        .stderr_lacks("check-3.11: cached");
}

#[test]
fn overrides_are_checked() {
    let refused = |tail: &str, location: &str, message: &str, hint: &str| {
        let project = Project::with_tasks(&format!(
            "[sessions.check]\npython = [\"3.11\", \"3.12\"]\nrun = [\"pytest\"]\n{tail}"
        ));
        refuses(&project, location, message, hint);
    };
    refused(
        "[sessions.check.overrides.\"3.9\"]\ninstall = [\"pytest<8\"]\n",
        "4:27",
        "`overrides.\"3.9\"` names a version `python` does not list",
        "`python` lists \"3.11\", \"3.12\"",
    );
    refused(
        "[sessions.check.overrides.\"3.11\"]\ninstal = [\"pytest<8\"]\n",
        "5:1",
        "unknown key `instal`",
        "did you mean `install`?",
    );
    let project = Project::with_tasks(
        "[sessions.check]\nrun = [\"pytest\"]\n[sessions.check.overrides.\"3.11\"]\nrun = [\"true\"]\n",
    );
    refuses(
        &project,
        "3:27",
        "`overrides` without `python`",
        "overrides are per Python version",
    );
    // An override's commands are checked as the session's are.
    refused(
        "[sessions.check.overrides.\"3.11\"]\nrun = [\"pytest && true\"]\n",
        "5:8",
        "cannot read this command",
        "split it into separate entries of `run`",
    );
}

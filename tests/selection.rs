//! Selection as nox makes it, checked against the real `nox -l --json` on a noxfile beside an
//! equivalent tasks.toml: tags and keywords replace the names, `-k` reaches `default = false`
//! sessions, `-p` filters first, `-e` is `-s`.

use serde_json::Value;

use crate::support::{Project, Run};

const TASKS: &str = r#"
[sessions.a]
python = false
tags = ["t1"]
run = ["echo a"]

[sessions.b]
python = false
tags = ["t2"]
run = ["echo b"]

[sessions.docs]
python = false
default = false
run = ["echo docs"]

[sessions.tests]
python = ["3.11", "3.12"]
run = ["echo tests"]
"#;

const NOXFILE: &str = r#"
import nox

@nox.session(python=False, tags=["t1"])
def a(session):
    pass

@nox.session(python=False, tags=["t2"])
def b(session):
    pass

@nox.session(python=False, default=False)
def docs(session):
    pass

@nox.session(python=["3.11", "3.12"])
def tests(session):
    pass
"#;

fn listed(stdout: &str) -> Vec<String> {
    let listed: Value = serde_json::from_str(stdout).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session"].as_str().unwrap().to_string())
        .collect()
}

/// `nox -l --json ARGS` and `rtask -l --json ARGS` list the same sessions: `expected`.
#[track_caller]
fn both_list(project: &Project, args: &[&str], expected: &[&str]) {
    let output = crate::support::tool("nox")
        .args(["-l", "--json"])
        .args(args)
        .current_dir(project.root())
        .env_remove("CI")
        .output()
        .expect("nox is on PATH");
    let theirs = listed(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(theirs, expected, "nox {args:?}");
    let mut ours = vec!["-l", "--json"];
    ours.extend_from_slice(args);
    let run: Run = project.rtask(&ours);
    run.success();
    assert_eq!(listed(&run.stdout), expected, "rtask {args:?}\n{run}");
}

fn project() -> Project {
    let project = Project::with_tasks(TASKS);
    project.write("noxfile.py", NOXFILE);
    project
}

#[test]
fn tags_replace_the_names_given() {
    let project = project();
    both_list(&project, &["-s", "a", "-t", "t2"], &["b"]);
    both_list(&project, &["-t", "t2", "-s", "a"], &["b"]);
    // rtask also takes several tags (nox's `-t` takes one list: `-t t1 t2`), in file order.
    assert_eq!(
        listed(&project.rtask(&["-l", "--json", "-t", "t2,t1"]).stdout),
        ["a", "b"]
    );
    project
        .rtask(&["-s", "a", "-t", "t2"])
        .success()
        .stdout_has("b\n")
        .stdout_lacks("a\n");
}

#[test]
fn keywords_reach_every_session_and_replace_the_names() {
    let project = project();
    both_list(&project, &["-k", "docs"], &["docs"]);
    both_list(&project, &["-k", "a or docs"], &["a", "docs"]);
    both_list(&project, &["-s", "a", "-k", "b"], &["b"]);
    both_list(&project, &["-t", "t1", "-k", "a"], &["a"]);
    project
        .rtask(&["-k", "docs"])
        .success()
        .stdout_has("docs\n");
    project
        .rtask(&["-t", "t1", "-k", "b"])
        .code(3)
        .stderr_has("no session matches");
}

#[test]
fn pythons_filter_with_names_and_keywords() {
    let project = project();
    both_list(&project, &["-k", "tests", "-p", "3.12"], &["tests-3.12"]);
    both_list(
        &project,
        &["-k", "tests or b", "-p", "3.12"],
        &["tests-3.12"],
    );
    both_list(&project, &["-s", "tests", "-p", "3.12"], &["tests-3.12"]);
    both_list(&project, &["-p", "3.12"], &["tests-3.12"]);
    both_list(&project, &[], &["a", "b", "tests-3.11", "tests-3.12"]);
}

#[test]
fn e_is_an_alias_of_session() {
    let project = project();
    both_list(&project, &["-e", "a"], &["a"]);
    both_list(&project, &["-e", "docs"], &["docs"]);
    // Repeated, as `-s` (nox keeps the last of repeated `-e`/`-s` flags).
    assert_eq!(
        listed(
            &project
                .rtask(&["-l", "--json", "-e", "a", "-e", "docs"])
                .stdout
        ),
        ["a", "docs"]
    );
}

#[test]
fn a_misspelt_name_is_an_error_even_beside_tags() {
    project()
        .rtask(&["-l", "-s", "nope", "-t", "t1"])
        .code(3)
        .stderr_has("unknown session `nope`");
}

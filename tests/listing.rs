//! Listing at any size: interpreters found missing are remembered until something they are
//! looked for in changes, and a long `requires` chain lists, plans and selects.

use std::fs;
use std::path::Path;

use crate::support::{Project, long_ago};

/// A session asking for an interpreter no machine has, cached so that `-l` shows its state.
const MISSING: &str = "[sessions.t]\npython = \"3.77\"\nrun = [\"true\"]\ninputs = []\n";

fn executable(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A script that answers rtask's probe as a Python 3.77 at `path` would.
fn fake_python(path: &Path) {
    executable(
        path,
        &format!(
            "#!/bin/sh\necho '{{\"executable\": \"{}\", \"version\": \"3.77.0\", \
             \"implementation\": \"cpython\", \"platform\": \"linux-x86_64\", \
             \"markers\": {{\"python_version\": \"3.77\"}}, \"free_threaded\": false}}'\n",
            path.display()
        ),
    );
}

/// A pyenv shaped as pyenv writes its shims, with a `python3.77` shim that counts its runs in
/// `fake-pyenv/runs` and runs `versions/<version>/bin/python3.77`, which no version has yet.
fn fake_pyenv(project: &Project) {
    let root = project.path("fake-pyenv");
    let root = root.to_str().unwrap();
    executable(
        &project.path("fake-pyenv/shims/python3.77"),
        &format!(
            "#!/usr/bin/env bash\nset -e\nprogram=\"${{0##*/}}\"\n\nexport PYENV_ROOT=\"{root}\"\n\
             exec \"{root}/libexec/pyenv\" exec \"$program\" \"$@\"\n"
        ),
    );
    executable(
        &project.path("fake-pyenv/libexec/pyenv"),
        "#!/usr/bin/env bash\necho run >> \"$PYENV_ROOT/runs\"\nshift\nprogram=$1\nshift\n\
         v=$(cat \"$PYENV_ROOT/version\")\nexec \"$PYENV_ROOT/versions/$v/bin/$program\" \"$@\"\n",
    );
    project.write("fake-pyenv/version", "3.77.0\n");
    fs::create_dir_all(project.path("fake-pyenv/versions")).unwrap();
}

/// Set the mtime of `path` and everything under it far in the past: what was changed a moment
/// ago is not trusted to stay as it is (its next change may keep the same mtime).
fn age(path: &Path) {
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap() {
            age(&entry.unwrap().path());
        }
    }
    fs::File::open(path)
        .unwrap()
        .set_modified(long_ago())
        .unwrap();
}

/// `-l` with `PATH` set to `dirs` then the system's own directories (for `sh` and `bash`), and
/// how often the fake pyenv's shim ran so far.
fn list(project: &Project, dirs: &[&str]) -> (String, usize) {
    let mut path: Vec<String> = dirs
        .iter()
        .map(|dir| project.path(dir).display().to_string())
        .collect();
    path.extend(["/usr/bin".to_string(), "/bin".to_string()]);
    let run = project.rtask_env(&["-l"], &[("PATH", &path.join(":"))]);
    run.success();
    let line = run
        .stdout
        .lines()
        .find(|line| line.starts_with("- t"))
        .unwrap()
        .to_string();
    (line, project.count("fake-pyenv/runs"))
}

#[test]
fn a_missing_interpreter_is_remembered_until_one_appears_on_path() {
    let project = Project::with_tasks(MISSING);
    fake_pyenv(&project);
    fs::create_dir_all(project.path("bin-a")).unwrap();
    age(&project.path("fake-pyenv"));
    age(&project.path("bin-a"));
    let dirs = ["fake-pyenv/shims", "bin-a"];
    assert_eq!(list(&project, &dirs), ("- t".to_string(), 1));
    assert_eq!(
        list(&project, &dirs),
        ("- t".to_string(), 1),
        "nothing changed: the search is not made again"
    );
    fake_python(&project.path("bin-a/python3.77"));
    assert_eq!(
        list(&project, &dirs),
        ("- t (stale)".to_string(), 2),
        "a new interpreter in a directory on PATH is found"
    );
}

#[test]
fn a_path_change_searches_again() {
    let project = Project::with_tasks(MISSING);
    fake_pyenv(&project);
    fake_python(&project.path("bin-b/python3.77"));
    age(&project.path("fake-pyenv"));
    age(&project.path("bin-b"));
    let without = ["fake-pyenv/shims"];
    assert_eq!(list(&project, &without), ("- t".to_string(), 1));
    assert_eq!(list(&project, &without), ("- t".to_string(), 1));
    assert_eq!(
        list(&project, &["fake-pyenv/shims", "bin-b"]),
        ("- t (stale)".to_string(), 2),
        "PATH names another directory"
    );
    assert_eq!(
        list(&project, &without),
        ("- t".to_string(), 2),
        "back to the PATH remembered"
    );
}

#[test]
fn a_missing_interpreter_is_found_once_pyenv_installs_it() {
    let project = Project::with_tasks(MISSING);
    fake_pyenv(&project);
    age(&project.path("fake-pyenv"));
    let dirs = ["fake-pyenv/shims"];
    assert_eq!(list(&project, &dirs), ("- t".to_string(), 1));
    let skipped = project.rtask_env(
        &["t"],
        &[(
            "PATH",
            &format!("{}:/usr/bin:/bin", project.path(dirs[0]).display()),
        )],
    );
    skipped
        .success()
        .stderr_has("t: skipped (Python interpreter 3.77 not found)");
    assert_eq!(
        project.count("fake-pyenv/runs"),
        1,
        "the run remembered it too"
    );
    fake_python(&project.path("fake-pyenv/versions/3.77.0/bin/python3.77"));
    assert_eq!(
        list(&project, &dirs),
        ("- t (stale)".to_string(), 2),
        "pyenv's versions changed: the shim is run again"
    );
}

/// `s0` <- `s1` <- ... <- `s<n-1>`, each requiring the one before, each with an output of its
/// own (which validation checks against every other).
fn chain(n: usize) -> String {
    let mut tasks = String::from("[settings]\ndefault = [\"s0\"]\n\n");
    for i in 0..n {
        tasks.push_str(&format!(
            "[sessions.s{i}]\nrun = [\"true\"]\ninputs = []\noutputs = [\"out/s{i}.txt\"]\n"
        ));
        if i > 0 {
            tasks.push_str(&format!("requires = [\"s{}\"]\n", i - 1));
        }
        tasks.push('\n');
    }
    tasks
}

/// A chain long enough that anything quadratic, or a recursion per link, shows: listed, planned
/// and selected correctly (in debug builds 20k sessions; the benchmark takes 50k).
#[test]
fn a_long_requires_chain_lists_plans_and_selects() {
    const N: usize = 20_000;
    let last = format!("s{}", N - 1);
    let project = Project::with_tasks(&chain(N));
    let listed = project.rtask(&["-l"]);
    listed.success();
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), N + 4);
    assert_eq!(
        lines[..3],
        ["Sessions defined in tasks.toml:", "", "* s0 (stale)"]
    );
    assert_eq!(lines[N + 1], format!("- {last} (stale)"));
    let selected = project.rtask(&["-l", &last, "s5"]);
    selected.success();
    let marked: Vec<&str> = selected
        .stdout
        .lines()
        .filter(|line| line.starts_with('*'))
        .collect();
    assert_eq!(
        marked,
        ["* s5 (stale)".to_string(), format!("* {last} (stale)")]
    );

    let planned = project.rtask(&["--dry-run", &last]);
    planned.success();
    let lines: Vec<&str> = planned.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "s0: would run: no cache entry for this session yet"
    );
    assert!(
        lines[1].starts_with("s1: would run"),
        "the second waits for the first: {}",
        lines[1]
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("{last}: would run"))
    );
    assert_eq!(
        lines.iter().filter(|line| !line.starts_with(' ')).count(),
        N
    );
}

//! Python sessions with real interpreters and real installs (from the wheelhouse): environment
//! reuse, recreation, keys that follow installed distributions, nox names, selection, listing
//! and reports compared with nox itself.

use std::fs;
use std::process::Command;

use serde_json::Value;

use crate::support::{Project, require_wheelhouse};

fn env_project(backend: &str) -> Project {
    require_wheelhouse();
    let project = Project::with_tasks(&format!(
        r#"
[sessions.check]
python = "3.11"
venv_backend = "{backend}"
install = ["-r requirements.txt"]
run = ["python -c 'import os, sys, pytest; print(pytest.__version__, sys.prefix == os.environ[\"VIRTUAL_ENV\"])'"]
"#
    ));
    project.write("requirements.txt", "pytest==9.2.0\n");
    project
}

fn environments_are_reused_until_their_requirements_change(backend: &str) {
    let project = env_project(backend);
    let created = format!("check: created `.rtask/venvs/check` with {backend} (Python 3.11");
    let recreated = created.replace("created", "recreated");
    project
        .rtask(&["check"])
        .success()
        .stderr_has(&created)
        .stdout_has("9.2.0 True\n");
    let fingerprint = project.path(".rtask/venvs/check/rtask-venv.json");
    let before = fs::metadata(&fingerprint).unwrap().modified().unwrap();
    project
        .rtask(&["check"])
        .success()
        .stderr_lacks("created")
        .stdout_has("9.2.0 True\n");
    assert_eq!(
        fs::metadata(&fingerprint).unwrap().modified().unwrap(),
        before,
        "reused as it was"
    );
    project.write("requirements.txt", "pytest==9.2.0\n# pinned\n");
    project
        .rtask(&["check"])
        .success()
        .stderr_has(&recreated)
        .stderr_has("; `requirements.txt` changed");
    project.rtask(&["check"]).success().stderr_lacks("created");
    project
        .rtask(&["--reinstall", "check"])
        .success()
        .stderr_has(&recreated)
        .stderr_has("; `--reinstall` (`--reuse-venv never`) remakes it");
}

#[test]
fn uv_environments_are_reused_until_their_requirements_change() {
    environments_are_reused_until_their_requirements_change("uv");
}

#[test]
fn venv_environments_are_reused_until_their_requirements_change() {
    environments_are_reused_until_their_requirements_change("venv");
}

#[test]
fn the_key_follows_installed_distributions() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.check]
python = "3.11"
venv_backend = "uv"
install = ["./localpkg"]
run = ["python -c 'import localpkg'"]
inputs = ["input.txt"]
"#,
    );
    let pyproject = |version: &str| {
        format!(
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"localpkg\"\nversion = \"{version}\"\n"
        )
    };
    project
        .write("input.txt", "x")
        .write("localpkg/pyproject.toml", &pyproject("1.0"))
        .write("localpkg/localpkg/__init__.py", "");
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: running (no cache entry)");
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: cached");
    project.write("localpkg/pyproject.toml", &pyproject("1.1"));
    project
        .rtask(&["-v", "check"])
        .success()
        .stderr_has("check: recreated")
        .stderr_has("check: running (local project `localpkg` changed)");
    let manifests: Vec<Value> = project
        .manifests()
        .iter()
        .map(|path| serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap())
        .collect();
    let versions: Vec<&Value> = manifests
        .iter()
        .map(|manifest| &manifest["environment"]["distributions"]["localpkg"])
        .collect();
    assert_eq!(versions.len(), 2);
    assert!(versions.contains(&&Value::from("1.0")) && versions.contains(&&Value::from("1.1")));
    let python = &manifests[0]["environment"];
    assert_eq!(python["implementation"], "cpython");
    assert!(python["version"].as_str().unwrap().starts_with("3.11."));
}

#[test]
fn a_failed_install_fails_the_session_and_caches_nothing() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.check]
python = "3.11"
venv_backend = "uv"
install = ["no-such-package-for-rtask-tests"]
run = ["true"]
inputs = ["input.txt"]
"#,
    );
    project.write("input.txt", "x");
    project
        .rtask(&["check"])
        .code(1)
        .stderr_has("check: creating its environment")
        .stdout_has("no-such-package-for-rtask-tests")
        .stderr_has("check: failed in")
        .stderr_has("creating its environment failed: `");
    assert!(project.manifests().is_empty());
    assert!(
        !project.exists(".rtask/venvs/check/rtask-venv.json"),
        "a failed environment is never reused"
    );
}

#[test]
fn missing_interpreters_skip_or_fail() {
    let project = Project::with_tasks("[sessions.old]\npython = \"3.99\"\nrun = [\"true\"]\n");
    project
        .rtask(&["old"])
        .success()
        .stderr_has("old: skipped (Python interpreter 3.99 not found)")
        .stderr_has("1 skipped");
    project
        .rtask_env(&["old"], &[("CI", "true")])
        .code(1)
        .stderr_has("old: failed in");
    project
        .rtask(&["--error-on-missing-interpreters", "old"])
        .code(1);
}

const MATRIX: &str = r#"
[sessions.unit_tests]
description = "Run the tests"
python = ["3.11", "3.99"]
run = ["echo {db} {python}"]
tags = ["test"]

[sessions.unit_tests.parametrize]
db = ["sqlite", "postgres"]

[sessions.lint]
python = false
run = ["echo lint"]
tags = ["style"]
default = false

[sessions.nums]
python = false
run = ["echo {n}"]

[sessions.nums.parametrize]
n = [1, 2]

[sessions.report]
python = false
run = ["echo report"]
"#;

fn names(run: &crate::support::Run) -> Vec<String> {
    let listed: Value = serde_json::from_str(&run.stdout).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn matrix_and_parametrize_sessions_are_named_and_selected_like_nox() {
    let project = Project::with_tasks(MATRIX);
    let all = project.rtask(&["-l", "--json"]);
    all.success();
    assert_eq!(
        names(&all),
        [
            "unit_tests-3.11(db='sqlite')",
            "unit_tests-3.11(db='postgres')",
            "unit_tests-3.99(db='sqlite')",
            "unit_tests-3.99(db='postgres')",
            "nums(n=1)",
            "nums(n=2)",
            "report"
        ],
        "a bare run takes every session but those with `default = false`"
    );
    assert_eq!(
        names(&project.rtask(&["-l", "--json", "unit_tests-3.11"])).len(),
        2
    );
    assert_eq!(
        names(&project.rtask(&["-l", "--json", "-s", "unit_tests"])).len(),
        4
    );
    assert_eq!(
        names(&project.rtask(&["-l", "--json", "-k", "sqlite and not 3.99"])),
        ["unit_tests-3.11(db='sqlite')"]
    );
    assert_eq!(
        names(&project.rtask(&["-l", "--json", "-t", "style"])),
        ["lint"]
    );
    assert_eq!(
        names(&project.rtask(&["-l", "--json", "-p", "3.99"])).len(),
        2
    );
    project
        .rtask(&["-k", "nothing-matches"])
        .code(3)
        .stderr_has("no session matches");
    project
        .rtask(&["-k", "(broken"])
        .code(3)
        .stderr_has("cannot read the keyword expression");
    let tasks = MATRIX.replace("[sessions.report]\n", "[sessions.report]\nrequires = [\"unit_tests-{python}\"]\npython = \"3.11\"\nvenv_backend = \"none\"\n");
    let tasks = tasks.replace(
        "python = false\nrun = [\"echo report\"]",
        "run = [\"echo report\"]",
    );
    let project = Project::with_tasks(&tasks);
    project
        .rtask(&["report"])
        .success()
        .stdout_has("sqlite 3.11\n")
        .stdout_has("postgres 3.11\n")
        .stdout_lacks("3.99");
}

/// The same sessions as [`MATRIX`], for nox.
const NOXFILE: &str = r#"
import nox

@nox.session(python=["3.11", "3.99"], tags=["test"])
@nox.parametrize("db", ["sqlite", "postgres"])
def unit_tests(session, db):
    """Run the tests"""

@nox.session(python=False, tags=["style"], default=False)
def lint(session):
    pass

@nox.session(python=False)
@nox.parametrize("n", [1, 2])
def nums(session, n):
    pass

@nox.session(python=False)
def report(session):
    pass
"#;

fn nox(project: &Project, args: &[&str]) -> String {
    let output = crate::support::tool("nox")
        .args(args)
        .current_dir(project.root())
        .env_remove("CI")
        .output()
        .expect("nox is installed by .ci/prepare");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn list_json_has_nox_fields_and_values() {
    let project = Project::with_tasks(MATRIX);
    project.write("noxfile.py", NOXFILE);
    let theirs: Value = serde_json::from_str(&nox(&project, &["-l", "--json"])).unwrap();
    let run = project.rtask(&["-l", "--json"]);
    let ours: Value = serde_json::from_str(&run.stdout).unwrap();
    let theirs = theirs.as_array().unwrap();
    let ours = ours.as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{run}");
    for (ours, theirs) in ours.iter().zip(theirs) {
        for field in [
            "session",
            "name",
            "description",
            "python",
            "tags",
            "call_spec",
        ] {
            assert_eq!(
                ours[field], theirs[field],
                "field `{field}` of {}",
                theirs["session"]
            );
        }
        assert!(ours.get("cached").is_some());
    }
}

#[test]
fn reports_have_nox_fields_and_values() {
    let project = Project::with_tasks(MATRIX);
    project.write("noxfile.py", NOXFILE);
    let sessions = ["unit_tests-3.99", "nums", "report"];
    let mut nox_args = vec!["--report", "nox.json", "-s"];
    nox_args.extend(sessions);
    nox(&project, &nox_args);
    let mut args = vec!["--report", "rtask.json"];
    args.extend(sessions);
    project.rtask(&args).success();
    let theirs: Value = serde_json::from_str(&project.read("nox.json")).unwrap();
    let ours: Value = serde_json::from_str(&project.read("rtask.json")).unwrap();
    assert_eq!(ours["result"], theirs["result"]);
    let by_signature = |report: &Value| -> Vec<(String, Value)> {
        let mut sessions: Vec<(String, Value)> = report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["signatures"][0].as_str().unwrap().to_string(), s.clone()))
            .collect();
        sessions.sort_by(|a, b| a.0.cmp(&b.0));
        sessions
    };
    let (ours, theirs) = (by_signature(&ours), by_signature(&theirs));
    assert_eq!(
        ours.iter().map(|s| &s.0).collect::<Vec<_>>(),
        theirs.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    for ((name, ours), (_, theirs)) in ours.iter().zip(&theirs) {
        for field in [
            "name",
            "signatures",
            "result",
            "result_code",
            "args",
            "reason",
        ] {
            assert_eq!(ours[field], theirs[field], "field `{field}` of {name}");
        }
        assert!(ours["duration"].is_f64());
        assert_eq!(ours["cached"], false);
    }
}

#[test]
fn a_session_runs_with_its_environment_first_on_path() {
    require_wheelhouse();
    let project = Project::with_tasks(
        "[sessions.where]\npython = \"3.11\"\nvenv_backend = \"uv\"\nshell = true\nrun = [\"command -v python; echo $VIRTUAL_ENV\"]\n",
    );
    let run = project.rtask(&["where"]);
    run.success();
    let venv = project
        .root()
        .canonicalize()
        .unwrap()
        .join(".rtask/venvs/where");
    run.stdout_has(&format!(
        "{}/bin/python\n{}\n",
        venv.display(),
        venv.display()
    ));
}

#[test]
fn packages_installed_by_the_commands_keep_the_result_out_of_the_cache() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.t]
python = "3.11"
venv_backend = "uv"
run = ["uv pip install pluggy"]
inputs = ["input.txt"]
"#,
    );
    project.write("input.txt", "x");
    project
        .rtask(&["t"])
        .success()
        .stderr_has("the packages installed in `t`'s environment changed while it ran; its result is not cached");
    assert!(project.manifests().is_empty());
}

/// A pyenv shim is run to learn what it runs only when something pyenv chooses by has changed:
/// here a fake pyenv, shaped as pyenv writes its shims, counts how often it is run. Its versions
/// are `a` and the real interpreter's own version, which is what `.python-version` and
/// `PYENV_VERSION` name: a real pyenv on the machine (whose shims may run uv) reads them too.
#[test]
fn pyenv_shims_are_run_again_only_when_the_choice_can_have_changed() {
    let real = Command::new("python3.11")
        .args([
            "-c",
            "import os, platform, sys; print(os.path.realpath(sys.executable), platform.python_version())",
        ])
        .output()
        .unwrap();
    assert!(real.status.success(), "python3.11 is needed");
    let real = String::from_utf8(real.stdout).unwrap();
    let (real, version) = real.trim().split_once(' ').unwrap();
    let project = Project::with_tasks(
        "[sessions.s]\npython = \"3.11\"\nvenv_backend = \"uv\"\nrun = [\"true\"]\n",
    );
    let root = project.path("fake-pyenv");
    let root = root.to_str().unwrap();
    project
        .write(
            "fake-pyenv/shims/python3.11",
            &format!(
                "#!/usr/bin/env bash\nset -e\nprogram=\"${{0##*/}}\"\n\nexport PYENV_ROOT=\"{root}\"\nexec \"{root}/libexec/pyenv\" exec \"$program\" \"$@\"\n"
            ),
        )
        .write(
            "fake-pyenv/libexec/pyenv",
            &format!(
                "#!/usr/bin/env bash\necho run >> \"$PYENV_ROOT/runs\"\nshift\nprogram=$1\nshift\n\
                 if [ -n \"$PYENV_FAKE_SYSTEM\" ]; then exec \"{real}\" \"$@\"; fi\n\
                 if [ -n \"$PYENV_VERSION\" ]; then v=$PYENV_VERSION\n\
                 elif [ -f .python-version ]; then v=$(cat .python-version)\n\
                 else v=$(cat \"$PYENV_ROOT/version\"); fi\n\
                 exec \"$PYENV_ROOT/versions/$v/bin/$program\" \"$@\"\n"
            ),
        )
        .write("fake-pyenv/version", "a\n");
    for script in ["shims/python3.11", "libexec/pyenv"] {
        let path = project.path(&format!("fake-pyenv/{script}"));
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    for name in ["a", version] {
        let bin = project.path(&format!("fake-pyenv/versions/{name}/bin"));
        fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(real, bin.join("python3.11")).unwrap();
    }
    // The test's own PATH, behind the fake shims.
    let path = crate::support::tools_path(&[project.path("fake-pyenv/shims")])
        .into_string()
        .unwrap();
    let run = |version: &str| {
        project
            .rtask_env(&["s"], &[("PATH", &path), ("PYENV_VERSION", version)])
            .success();
        project.count("fake-pyenv/runs")
    };
    assert_eq!(run(""), 1);
    assert_eq!(run(""), 1, "nothing changed: the shim is not run");
    project.write(".python-version", &format!("{version}\n"));
    assert_eq!(run(""), 2, "a new .python-version");
    assert_eq!(run(""), 2);
    assert_eq!(run(version), 3, "PYENV_VERSION set");
    assert_eq!(run(version), 3);
    project.write("fake-pyenv/version", &format!("{version}\n"));
    assert_eq!(run(""), 4, "the global version file changed");
    project.write("fake-pyenv/pyenv.d/which/pick.bash", "# a hook\n");
    assert_eq!(run(""), 5, "a hook was added");
    assert_eq!(run(""), 5);
    project.write("fake-pyenv/pyenv.d/which/pick.bash", "# a hook, edited\n");
    assert_eq!(run(""), 6, "a hook was edited");
    // A shim that leads outside `$PYENV_ROOT/versions/` (pyenv's `system`) is run every time.
    let system = || {
        project
            .rtask_env(
                &["s"],
                &[
                    ("PATH", &path),
                    ("PYENV_VERSION", ""),
                    ("PYENV_FAKE_SYSTEM", "1"),
                ],
            )
            .success();
        project.count("fake-pyenv/runs")
    };
    assert_eq!(system(), 7);
    assert_eq!(system(), 8, "not remembered");
    // A script of another shape is run every time.
    project.write(
        "fake-pyenv/shims/python3.11",
        &format!("#!/usr/bin/env bash\nexec \"{root}/libexec/pyenv\" exec python3.11 \"$@\"\n"),
    );
    let other = |_: ()| {
        project
            .rtask_env(
                &["s"],
                &[("PATH", &path), ("PYENV_VERSION", ""), ("PYENV_ROOT", root)],
            )
            .success();
        project.count("fake-pyenv/runs")
    };
    assert_eq!(other(()), 9);
    assert_eq!(other(()), 10);
}

/// A project installed without `-e` is a copy of its sources: when they change the
/// environment is made again and the key changes, or the session would pass against the old
/// copy and cache that pass. What building writes into the project (`build/`, `*.egg-info`)
/// does not count, or every run would remake the environment.
fn non_editable_local_installs_follow_their_sources(backend: &str) {
    require_wheelhouse();
    let project = Project::with_tasks(&format!(
        r#"
[sessions.check]
python = "3.11"
venv_backend = "{backend}"
install = ["."]
run = ["python -c 'import localpkg; print(localpkg.VALUE)'"]
inputs = ["input.txt"]
"#
    ));
    project
        .write("input.txt", "x")
        .write(
            "pyproject.toml",
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
             [project]\nname = \"localpkg\"\nversion = \"1.0\"\n\n\
             [tool.setuptools.packages.find]\nwhere = [\"src\"]\n",
        )
        .write("src/localpkg/__init__.py", "VALUE = 1\n");
    let created = format!("check: created `.rtask/venvs/check` with {backend}");
    let recreated = created.replace("created", "recreated");
    project
        .rtask(&["check"])
        .success()
        .stderr_has(&created)
        .stderr_has("check: running (no cache entry)")
        .stdout_has("1\n");
    assert!(
        project.exists("build") && project.exists("src/localpkg.egg-info"),
        "setuptools built the project in place"
    );
    project
        .rtask(&["check"])
        .success()
        .stderr_lacks("created")
        .stderr_has("check: cached");
    project.write("src/localpkg/__init__.py", "VALUE = 2\n");
    project
        .rtask(&["check"])
        .success()
        .stderr_has(&recreated)
        .stderr_has("; local project `.` changed")
        .stderr_has("check: running (local project `.` changed)")
        .stdout_has("2\n");
    assert_eq!(project.manifests().len(), 2, "a new key");
    project
        .rtask(&["check"])
        .success()
        .stderr_lacks("created")
        .stderr_has("check: cached");
    project.write("src/localpkg/__init__.py", "VALUE = 1\n");
    project
        .rtask(&["check"])
        .success()
        .stderr_has(&recreated)
        .stderr_has("check: cached")
        .stdout_has("1\n");
}

#[test]
fn a_non_editable_local_install_is_rebuilt_when_its_source_changes() {
    non_editable_local_installs_follow_their_sources("uv");
}

#[test]
fn a_non_editable_local_install_is_rebuilt_when_its_source_changes_with_venv() {
    non_editable_local_installs_follow_their_sources("venv");
}

/// pip's attached forms (`-e./pkg[test]`, `--requirement=FILE`), dependency groups (whose
/// `pyproject.toml` is read) and nested requirement files are watched like the spaced forms.
#[test]
fn attached_editable_group_and_requirement_forms_are_tracked() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.check]
python = "3.11"
venv_backend = "uv"
install = ["-e./pkg[test]", "--group", "dev", "--requirement=reqs/top.txt"]
run = ["python -c 'import pkg, iniconfig, pluggy, packaging'"]
"#,
    );
    project
        .write(
            "pkg/pyproject.toml",
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
             [project]\nname = \"pkg\"\nversion = \"1.0\"\n\n\
             [project.optional-dependencies]\ntest = [\"iniconfig\"]\n",
        )
        .write("pkg/pkg/__init__.py", "")
        .write("pyproject.toml", "[dependency-groups]\ndev = [\"pluggy\"]\n")
        .write("reqs/top.txt", "-r nested.txt\n")
        .write("reqs/nested.txt", "packaging\n");
    let created = "check: created `.rtask/venvs/check`";
    project.rtask(&["check"]).success().stderr_has(created);
    project.rtask(&["check"]).success().stderr_lacks("created");
    for (file, edited) in [
        ("pkg/pyproject.toml", "# edited\n"),
        ("pyproject.toml", "# edited\n"),
        ("reqs/nested.txt", "# edited\n"),
    ] {
        let contents = project.read(file);
        project.write(file, &format!("{contents}{edited}"));
        project
            .rtask(&["check"])
            .success()
            .stderr_has("check: recreated `.rtask/venvs/check`")
            .stderr_lacks("failed");
        project.rtask(&["check"]).success().stderr_lacks("created");
    }
}

const SETUPTOOLS: &str =
    "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n";

/// A file git ignores but the build packs (here `_gen.py`) is part of what a non-editable
/// install copies: editing it remakes the environment and changes the key. One the build
/// writes itself (`_version.py`, as setuptools-scm writes it) leaves the environment
/// reusable, and so does what running pytest and coverage in the project root leaves there
/// (`.coverage`, `coverage.xml`, `htmlcov/`, `.pytest_cache/`, a log), and what the run
/// leaves in a package the build does not pack (`tests/`).
#[test]
fn a_gitignored_module_the_build_packages_is_watched() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.t]
python = "3.11"
venv_backend = "uv"
install = [".", "pytest", "coverage"]
shell = true
run = [
    "python -c 'import mypkg; print(\"V =\", mypkg.V)'",
    "coverage run -m pytest -q > pytest.log",
    "coverage xml -q",
    "coverage html -q",
    "date +%s%N > tests/last-run.txt",
]
inputs = ["tests"]
"#,
    );
    project
        .write(
            "pyproject.toml",
            &format!(
                "{SETUPTOOLS}[project]\nname = \"mypkg\"\nversion = \"1.0\"\n\n\
                 [tool.setuptools.packages.find]\nwhere = [\"src\"]\n"
            ),
        )
        .write(
            "setup.py",
            "import pathlib\nfrom setuptools import setup\n\n\
             pathlib.Path('src/mypkg/_version.py').write_text('VERSION = \"1.0\"\\n')\nsetup()\n",
        )
        .write(
            ".gitignore",
            "src/mypkg/_gen.py\n_version.py\n.coverage\ncoverage.xml\nhtmlcov/\n*.log\nlast-run.txt\n",
        )
        .write("src/mypkg/__init__.py", "from ._gen import V\n")
        .write("src/mypkg/_gen.py", "V = 1\n")
        .write("tests/__init__.py", "")
        .write(
            "tests/test_v.py",
            "import mypkg\n\n\ndef test_v():\n    assert mypkg.V == 1\n",
        );
    let created = "t: created `.rtask/venvs/t`";
    project
        .rtask(&["t"])
        .success()
        .stderr_has(created)
        .stdout_has("V = 1\n");
    for written in [
        "src/mypkg/_version.py",
        ".coverage",
        "coverage.xml",
        "htmlcov",
        ".pytest_cache",
        "pytest.log",
        "tests/last-run.txt",
    ] {
        assert!(project.exists(written), "the run wrote `{written}`");
    }
    project.write("htmlcov/extra.html", "changes on every run");
    project
        .rtask(&["t"])
        .success()
        .stderr_lacks("created")
        .stderr_has("t: cached");
    project.write("src/mypkg/_gen.py", "V = 2\n");
    project.rtask(&["--dry-run", "t"]).success().stdout_has(
        "t: would be restored if its environment, made again first, matches the entry's",
    );
    project
        .rtask(&["t"])
        .code(1)
        .stderr_has("t: recreated `.rtask/venvs/t`")
        .stderr_has(
            "t: running (the files `mypkg` installed from its local source differ from the entry's)",
        )
        .stdout_has("V = 2\n");
}

/// A local project's dependency installed from a local directory (`NAME @ file:///…`) is a
/// copy of that directory too: editing it remakes the environment, rebuilds the dependency
/// (uv would take its old build from its cache) and changes the key.
#[test]
fn a_local_path_dependency_of_a_local_project_is_watched() {
    require_wheelhouse();
    let outside = tempfile::tempdir().unwrap();
    let dep = outside.path().join("deppkg");
    let write = |path: &str, text: &str| {
        let path = dep.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(
        "pyproject.toml",
        &format!("{SETUPTOOLS}[project]\nname = \"deppkg\"\nversion = \"1.0\"\n"),
    );
    write("deppkg/__init__.py", "V = 1\n");
    let project = Project::with_tasks(
        r#"
[sessions.t]
python = "3.11"
venv_backend = "uv"
install = [".", "pytest"]
run = ["python -c 'import mypkg; print(\"V =\", mypkg.V)'", "pytest -q -p no:cacheprovider"]
inputs = ["tests"]
"#,
    );
    project
        .write(
            "pyproject.toml",
            &format!(
                "{SETUPTOOLS}[project]\nname = \"mypkg\"\nversion = \"1.0\"\n\
                 dependencies = [\"deppkg @ file://{}\"]\n\n\
                 [tool.setuptools.packages.find]\nwhere = [\"src\"]\n",
                dep.display()
            ),
        )
        .write("src/mypkg/__init__.py", "from deppkg import V\n")
        .write(
            "tests/test_v.py",
            "import mypkg\n\n\ndef test_v():\n    assert mypkg.V == 1\n",
        );
    let created = "t: created `.rtask/venvs/t`";
    project
        .rtask(&["t"])
        .success()
        .stderr_has(created)
        .stdout_has("V = 1\n");
    project
        .rtask(&["t"])
        .success()
        .stderr_lacks("created")
        .stderr_has("t: cached");
    write("deppkg/__init__.py", "V = 2\n");
    project
        .rtask(&["--dry-run", "t"])
        .success()
        .stdout_has(&format!(
            "t: would run, differences from the newest entry:\n  - local project `{}` changed\n  - its environment would be recreated first: local dependency `{}` changed\n",
            dep.display(),
            dep.display()
        ));
    project
        .rtask(&["t"])
        .code(1)
        .stderr_has("t: recreated `.rtask/venvs/t`")
        .stderr_has(&format!(
            "t: running (local project `{}` changed)",
            dep.display()
        ))
        .stdout_has("V = 2\n");
}

/// What a session writes at the top of a local project is a result, not a source, even where
/// git does not ignore it (uv's `.gitignore` leaves `.coverage*` out): here the parallel data
/// files of `coverage run -p` and a report, declared outputs, and `coverage.xml`, which is not
/// declared. The environment is reused and the result served from the cache.
#[test]
fn coverage_parallel_outputs_at_the_top_are_not_sources() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.t]
python = "3.11"
venv_backend = "uv"
install = [".", "pytest", "coverage"]
run = [
    "coverage run -p -m pytest -q -p no:cacheprovider",
    "coverage combine --keep -q",
    "coverage xml -q",
    "python -c 'import time; open(\"report.txt\", \"w\").write(str(time.time_ns()))'",
]
inputs = ["src", "tests"]
outputs = [".coverage.*", "report.txt"]
"#,
    );
    project
        .write(
            "pyproject.toml",
            &format!(
                "{SETUPTOOLS}[project]\nname = \"mypkg\"\nversion = \"1.0\"\n\n\
                 [tool.setuptools.packages.find]\nwhere = [\"src\"]\n"
            ),
        )
        .write(".gitignore", ".venv/\n__pycache__/\n")
        .write("src/mypkg/__init__.py", "V = 1\n")
        .write(
            "tests/test_v.py",
            "import mypkg\n\n\ndef test_v():\n    assert mypkg.V == 1\n",
        );
    project
        .rtask(&["t"])
        .success()
        .stderr_has("t: created `.rtask/venvs/t`")
        .stderr_has("t: running (no cache entry)");
    for _ in 0..2 {
        project
            .rtask(&["t"])
            .success()
            .stderr_lacks("created")
            .stderr_has("t: cached");
    }
    assert!(
        project.exists("coverage.xml"),
        "the run wrote `coverage.xml`"
    );
}

/// What a reinstall puts in the environment is in the key: a build that packs a file rtask
/// does not watch (a module git ignores, outside any package directory) is served from the
/// cache until `--reinstall` installs the edited copy, which then misses.
#[test]
fn a_reinstall_that_installs_other_code_misses() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.t]
python = "3.11"
venv_backend = "uv"
install = ["."]
run = ["python -c 'import gen; print(\"V =\", gen.V); assert gen.V == 1'"]
inputs = ["input.txt"]
"#,
    );
    project
        .write(
            "pyproject.toml",
            &format!(
                "{SETUPTOOLS}[project]\nname = \"mypkg\"\nversion = \"1.0\"\n\n\
                 [tool.setuptools]\npy-modules = [\"gen\"]\n"
            ),
        )
        .write(".gitignore", "gen.py\n")
        .write("gen.py", "V = 1\n")
        .write("input.txt", "x");
    project
        .rtask(&["t"])
        .success()
        .stderr_has("t: running (no cache entry)")
        .stdout_has("V = 1\n");
    project.write("gen.py", "V = 2\n");
    project
        .rtask(&["--reinstall", "t"])
        .code(1)
        .stderr_has("t: recreated `.rtask/venvs/t`")
        .stdout_has("V = 2\n");
}

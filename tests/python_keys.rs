//! Python sessions keyed on what they declare (the interpreter asked for, the install
//! arguments, the files and local sources these name), not on a made environment: a result is
//! restored where no interpreter or environment exists, and an environment that does exist is
//! checked against the one the entry was made in.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{Project, require_wheelhouse};

const PRODUCER: &str = r#"
[sessions.unit_tests]
python = "3.11"
install = ["-r requirements.txt"]
run = ["python -c \"import pytest; open('result.txt', 'w').write('ok ' + pytest.__version__)\""]
inputs = ["src/*.py"]
outputs = ["result.txt"]

[sessions.show]
requires = ["unit_tests"]
run = ["cat result.txt"]
inputs = []
"#;

fn producer() -> Project {
    require_wheelhouse();
    let project = Project::with_tasks(PRODUCER);
    project
        .write("requirements.txt", "pytest==9.2.0\n")
        .write("src/a.py", "A = 1\n");
    project
}

/// A directory of links to these programs, found on the test's own `PATH`: a `PATH` with
/// nothing else on it.
fn bin_with(programs: &[(&str, PathBuf)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, target) in programs {
        std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
    }
    dir
}

fn which(program: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The real Python 3.11 (not a pyenv shim, which needs more than itself on `PATH`).
fn real_python() -> PathBuf {
    let out = Command::new("python3.11")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The real uv binary, from the tools `.ci/prepare` installs.
fn real_uv() -> PathBuf {
    std::fs::canonicalize(crate::support::tools().join("uv")).unwrap()
}

fn path_of(dirs: &[&Path]) -> String {
    let dirs: Vec<String> = dirs.iter().map(|dir| dir.display().to_string()).collect();
    dirs.join(":")
}

#[test]
fn a_consumer_restores_a_python_session_without_interpreter_or_environment() {
    let producer = producer();
    producer.rtask(&["unit_tests"]).success();
    let consumer = producer.copy();
    consumer.remove(".rtask/venvs");
    consumer.remove("result.txt");
    // Nothing but `cat`: no Python, no uv.
    let bin = bin_with(&[("cat", which("cat"))]);
    let path = path_of(&[bin.path()]);
    let plan = consumer.rtask_env(&["--dry-run", "show"], &[("PATH", &path)]);
    plan.success();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"commands [0-9.]+ m?s", "commands [t]");
    settings.add_filter(r"key [0-9a-f]{8,}", "key [key]");
    settings.add_filter(r"CPython 3\.11\.\d+", "CPython 3.11.[n]");
    settings.bind(|| {
        insta::assert_snapshot!(plan.stdout, @r"
        unit_tests: would be restored from the cache (commands [t], key [key])
          - made with CPython 3.11.[n], 5 distributions
        show: would run: no cache entry for this session yet
        ");
    });
    consumer
        .rtask_env(&["show"], &[("PATH", &path)])
        .success()
        .stderr_has("unit_tests: cached")
        .stderr_has("show: running")
        .stdout_has("ok 9.2.0");
    assert_eq!(consumer.read("result.txt"), "ok 9.2.0");
    assert!(
        !consumer.exists(".rtask/venvs"),
        "no environment is made for a restore"
    );
    // What the entry's environment held, with `-v` and in `--dry-run --json`.
    consumer
        .rtask_env(&["-v", "unit_tests"], &[("PATH", &path)])
        .success()
        .stderr_has("\n  made with CPython 3.11.");
    let plan = consumer.rtask_env(&["--dry-run", "--json", "unit_tests"], &[("PATH", &path)]);
    plan.success();
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let environment = &plan[0]["entry"]["environment"];
    assert_eq!(environment["implementation"], "cpython");
    assert!(
        environment["version"]
            .as_str()
            .unwrap()
            .starts_with("3.11.")
    );
    assert_eq!(environment["distributions"]["pytest"], "9.2.0");
    assert!(environment["distributions"].get("pip").is_none());
}

#[test]
fn a_venv_made_entry_is_not_served_where_uv_left_out_pip() {
    let project = producer();
    let python = bin_with(&[("python3.11", real_python())]);
    let uv = bin_with(&[("uv", real_uv())]);
    let without_uv = path_of(&[python.path()]);
    let with_uv = path_of(&[python.path(), uv.path()]);
    project
        .rtask_env(&["unit_tests"], &[("PATH", &without_uv)])
        .success()
        .stderr_has("created `.rtask/venvs/unit_tests` with venv")
        .stderr_has("unit_tests: running (no cache entry)");
    assert!(project.exists(".rtask/venvs/unit_tests/bin/pip"));
    project.remove("result.txt");
    // Made again by uv, which leaves pip out: the same distributions, but a command could
    // use pip, so the entry is not served; the result is made here and stored beside it.
    project
        .rtask_env(&["--reinstall", "unit_tests"], &[("PATH", &with_uv)])
        .success()
        .stderr_has("created `.rtask/venvs/unit_tests` with uv")
        .stderr_has("`pip` was in the entry's environment, not here")
        .stderr_lacks("unit_tests: cached");
    assert!(!project.exists(".rtask/venvs/unit_tests/bin/pip"));
    assert_eq!(project.read("result.txt"), "ok 9.2.0");
    // Each backend's environment now finds its own entry.
    project.remove("result.txt");
    project
        .rtask_env(&["unit_tests"], &[("PATH", &with_uv)])
        .success()
        .stderr_has("unit_tests: cached");
    assert_eq!(project.read("result.txt"), "ok 9.2.0");
}

/// A wheel of `tinypkg` at `version`, made by hand in `dir`.
fn tiny_wheel(dir: &Path, version: &str) {
    let script = format!(
        r#"
import base64, hashlib, zipfile
files = {{
    "tinypkg/__init__.py": "VERSION = '{version}'\n",
    "tinypkg-{version}.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: {version}\n",
    "tinypkg-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}}
record = []
with zipfile.ZipFile("tinypkg-{version}-py3-none-any.whl", "w") as wheel:
    for name, text in files.items():
        data = text.encode()
        wheel.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{{name}},sha256={{digest}},{{len(data)}}")
    record.append("tinypkg-{version}.dist-info/RECORD,,")
    wheel.writestr("tinypkg-{version}.dist-info/RECORD", "\n".join(record) + "\n")
"#
    );
    let status = Command::new("python3.11")
        .args(["-c", &script])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_environment_with_other_distributions_misses_and_replaces_the_entry() {
    require_wheelhouse();
    let tasks = r#"
[sessions.check]
python = "3.11"
venv_backend = "venv"
install = ["tinypkg"]
run = ["python -c \"import tinypkg; open('out.txt', 'w').write(tinypkg.VERSION)\""]
inputs = []
outputs = ["out.txt"]
"#;
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tiny_wheel(old.path(), "1.0");
    tiny_wheel(new.path(), "2.0");
    let shared = tempfile::tempdir().unwrap();
    let shared_dir = shared.path().to_str().unwrap();
    let links = |dir: &tempfile::TempDir| dir.path().to_str().unwrap().to_string();
    let (old_links, new_links) = (links(&old), links(&new));
    let first = Project::with_tasks(tasks);
    first
        .rtask_env(
            &["check"],
            &[
                ("RTASK_CACHE_DIR", shared_dir),
                ("PIP_FIND_LINKS", &old_links),
            ],
        )
        .success()
        .stderr_has("check: running (no cache entry)");
    // A second checkout whose environment, made before with its own cache, holds 2.0.
    let second = Project::with_tasks(tasks);
    second
        .rtask_env(&["check"], &[("PIP_FIND_LINKS", &new_links)])
        .success();
    second
        .rtask_env(
            &["check"],
            &[
                ("RTASK_CACHE_DIR", shared_dir),
                ("PIP_FIND_LINKS", &new_links),
            ],
        )
        .success()
        .stderr_lacks("created")
        .stderr_has("check: running (`tinypkg` is 2.0 here, 1.0 in the entry)");
    assert_eq!(second.read("out.txt"), "2.0");
    // The entry was replaced: the first checkout now differs from it the other way.
    first
        .rtask_env(
            &["check"],
            &[
                ("RTASK_CACHE_DIR", shared_dir),
                ("PIP_FIND_LINKS", &old_links),
            ],
        )
        .success()
        .stderr_has("check: running (`tinypkg` is 1.0 here, 2.0 in the entry)");
    // `--restore-only` says why the entry at this very key cannot be used here.
    let only = second.rtask_env(
        &["check", "--restore-only", "check"],
        &[
            ("RTASK_CACHE_DIR", shared_dir),
            ("PIP_FIND_LINKS", &new_links),
        ],
    );
    only.code(4)
        .stderr_has("  - `tinypkg` is 2.0 here, 1.0 in the entry")
        .stderr_lacks("key differs");
    // A stale environment is not made again to verify an entry `--restore-only` restores.
    let fingerprint = second.read(".rtask/venvs/check/rtask-venv.json");
    second.write(
        "tasks.toml",
        &tasks.replace("venv_backend = \"venv\"", "venv_backend = \"virtualenv\""),
    );
    let dry = second.rtask_env(
        &["--dry-run", "--restore-only", "check"],
        &[("RTASK_CACHE_DIR", shared_dir)],
    );
    dry.success().stdout_has("check: would be restored");
    second
        .rtask_env(
            &["--restore-only", "check"],
            &[("RTASK_CACHE_DIR", shared_dir)],
        )
        .success()
        .stderr_has("check: cached");
    assert_eq!(second.read("out.txt"), "1.0");
    assert_eq!(
        second.read(".rtask/venvs/check/rtask-venv.json"),
        fingerprint,
        "the environment was made again"
    );
    let manifests = manifests_in(&shared.path().join("v1/entries"));
    assert_eq!(manifests.len(), 1, "one key, replaced each time");
    assert_eq!(
        manifests[0]["environment"]["distributions"]["tinypkg"],
        "1.0"
    );
    assert!(
        manifests[0]["environment"]["distributions"]
            .get("pip")
            .is_none(),
        "installer seeds are not recorded"
    );
}

fn manifests_in(entries: &Path) -> Vec<Value> {
    let mut found = Vec::new();
    for session in fs::read_dir(entries).unwrap() {
        for manifest in fs::read_dir(session.unwrap().path()).unwrap() {
            let text = fs::read_to_string(manifest.unwrap().path()).unwrap();
            found.push(serde_json::from_str(&text).unwrap());
        }
    }
    found
}

#[test]
fn declared_files_and_local_sources_are_keyed_without_an_environment() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.check]
python = "3.11"
install = ["-r requirements.txt", "./localpkg"]
run = ["python -c 'import localpkg, pytest'"]
inputs = []
"#,
    );
    project
        .write("requirements.txt", "pytest==9.2.0\n")
        .write(
            "localpkg/pyproject.toml",
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"localpkg\"\nversion = \"1.0\"\n",
        )
        .write("localpkg/localpkg/__init__.py", "");
    project.rtask(&["check"]).success();
    project.remove(".rtask/venvs");
    project
        .rtask(&["--dry-run", "check"])
        .success()
        .stdout_has("check: would be restored");
    assert!(!project.exists(".rtask/venvs"));

    project.write("requirements.txt", "pytest==9.2.0\n# pinned\n");
    let plan = project.rtask(&["--dry-run", "check"]);
    plan.success();
    insta::assert_snapshot!(plan.stdout, @r"
    check: would run, differences from the newest entry:
      - requirements file `requirements.txt` changed
      - its environment would be created first
    ");
    project.write("requirements.txt", "pytest==9.2.0\n");
    project.write("localpkg/localpkg/__init__.py", "X = 1\n");
    let plan = project.rtask(&["--dry-run", "check"]);
    plan.success();
    insta::assert_snapshot!(plan.stdout, @r"
    check: would run, differences from the newest entry:
      - local project `localpkg` changed
      - its environment would be created first
    ");
    assert!(
        !project.exists(".rtask/venvs"),
        "keyed without an environment"
    );
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: running (local project `localpkg` changed)");
}

/// What the key read of the environment's declaration must be as it was once the session ran:
/// a command that rewrites a requirements file made a result keyed on the old one.
#[test]
fn a_declared_file_changed_by_a_command_leaves_the_result_unstored() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.check]
python = "3.11"
install = ["-r requirements.txt"]
run = ["python -c \"open('requirements.txt', 'a').write('# touched\\n')\""]
inputs = []
"#,
    );
    project.write("requirements.txt", "iniconfig\n");
    project.rtask(&["check"]).success().stderr_has(
        "the files or local sources `check`'s environment is made from changed while it ran; its result is not cached",
    );
    assert!(project.manifests().is_empty());
}

/// A local dependency nothing declares to rtask (here a `setup.py`'s `install_requires`) is
/// found in the environment and recorded in the entry; a checkout without an environment reads
/// its sources again before restoring.
#[test]
fn a_recorded_local_dependency_is_read_again_without_an_environment() {
    require_wheelhouse();
    let outside = tempfile::tempdir().unwrap();
    let dep = outside.path().join("deppkg");
    fs::create_dir_all(dep.join("deppkg")).unwrap();
    fs::write(
        dep.join("pyproject.toml"),
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"deppkg\"\nversion = \"1.0\"\n",
    )
    .unwrap();
    fs::write(dep.join("deppkg/__init__.py"), "V = 1\n").unwrap();
    let project = Project::with_tasks(
        r#"
[sessions.t]
python = "3.11"
venv_backend = "uv"
install = ["."]
run = ["python -c 'import mypkg'"]
inputs = []
"#,
    );
    project
        .write(
            "setup.py",
            &format!(
                "from setuptools import setup\n\nsetup(name='mypkg', version='1.0', packages=['mypkg'], install_requires=['deppkg @ file://{}'])\n",
                dep.display()
            ),
        )
        .write("mypkg/__init__.py", "from deppkg import V\n");
    project.rtask(&["t"]).success();
    let manifests = project.manifests();
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(&manifests[0]).unwrap()).unwrap();
    let recorded = manifest["environment"]["dependencies"].as_object().unwrap();
    assert!(recorded.contains_key(&dep.display().to_string()));
    project.remove(".rtask/venvs");
    project
        .rtask(&["--dry-run", "t"])
        .success()
        .stdout_has("t: would be restored");
    fs::write(dep.join("deppkg/__init__.py"), "V = 2\n").unwrap();
    project
        .rtask(&["--dry-run", "t"])
        .success()
        .stdout_has(&format!(
            "t: would run, differences from the newest entry:\n  - local dependency `{}` changed\n",
            dep.display()
        ));
    assert!(!project.exists(".rtask/venvs"));
}

#[test]
fn a_requirement_path_named_through_a_variable_fails_rather_than_going_unkeyed() {
    let project = producer();
    project
        .write(
            "requirements.txt",
            "pytest==9.2.0\n-r ${REQDIR}/nested.txt\n",
        )
        .write("reqs/nested.txt", "iniconfig==2.3.1\n");
    let run = project.rtask_env(&["unit_tests"], &[("REQDIR", "reqs")]);
    run.code(1).stderr_has(
        "`${REQDIR}/nested.txt` is named through an environment variable, which pip and uv expand but rtask cannot key",
    );
    assert!(!project.exists("result.txt"));
    assert!(project.manifests().is_empty());
    // Not even when `..` would fold the variable away.
    project.write(
        "requirements.txt",
        "pytest==9.2.0\n-r ${REQDIR}/../pins.txt\n",
    );
    project
        .rtask_env(&["unit_tests"], &[("REQDIR", "reqs")])
        .code(1)
        .stderr_has("`${REQDIR}/../pins.txt` is named through an environment variable");
    assert!(project.manifests().is_empty());
}

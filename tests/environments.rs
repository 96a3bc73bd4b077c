//! Where environments live (`envdir`, `--envdir`), what makes them (`venv_params`), when an
//! up-to-date one is kept (`reuse_venv`, `--reuse-venv` and nox's spellings of it).

use std::fs;
use std::path::Path;

use crate::support::{Project, require_wheelhouse};

/// Drop a file in an environment: it survives only while the environment is kept.
fn mark(project: &Project, dir: &str) {
    assert!(project.path(dir).join("rtask-venv.json").is_file(), "{dir}");
    project.write(&format!("{dir}/marker"), "kept");
}

fn kept(project: &Project, dir: &str) -> bool {
    project.exists(&format!("{dir}/marker"))
}

/// With `envdir` inside the project and no `.gitignore`, the environments' files are no
/// inputs: the key holds when an environment is made, and when it is remade.
#[test]
fn environments_in_envdir_are_not_inputs() {
    let project = Project::with_tasks(
        r#"
[settings]
envdir = ".nox"

[sessions.tests]
python = ["3.11"]
venv_backend = "uv"
run = ["python -c 'import app; print(app.V)'"]
inputs = ["**/*.py"]
"#,
    );
    project.write("app.py", "V = 1\n");
    project
        .rtask(&["tests"])
        .success()
        .stderr_has("created `.nox/tests-3-11`")
        .stdout_has("1\n");
    assert!(project.path(".nox/tests-3-11/bin/python").exists());
    let python_files = walkdir(&project.path(".nox"));
    assert!(python_files > 0, "the environment holds .py files");
    project
        .rtask(&["tests"])
        .success()
        .stderr_has("tests-3.11: cached");
    // Remade: its files are new, the key is the same.
    project
        .rtask(&["--reuse-venv", "never", "tests"])
        .success()
        .stderr_has("created `.nox/tests-3-11`")
        .stderr_has("tests-3.11: cached");
    project.write("app.py", "V = 2\n");
    project.rtask(&["tests"]).success().stdout_has("2\n");
}

/// How many `.py` files lie below `dir`.
fn walkdir(dir: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if entry.path().extension().is_some_and(|ext| ext == "py") {
                count += 1;
            }
        }
    }
    count
}

/// A directory in envdir that rtask did not make (nox's) is never trusted: it is remade.
#[test]
fn a_directory_rtask_did_not_make_is_remade() {
    let project = Project::with_tasks(
        r#"
[sessions.lint]
python = "3.11"
venv_backend = "uv"
run = ["python -c 'print(1)'"]
"#,
    );
    project
        .write(".nox/lint/marker", "nox's")
        .write(".nox/lint/pyvenv.cfg", "home = /usr/bin\n")
        .write(".nox/lint/bin/python", "");
    project
        .rtask(&["--envdir", ".nox", "lint"])
        .success()
        .stderr_has("created `.nox/lint`");
    assert!(!project.exists(".nox/lint/marker"));
    assert!(!project.exists(".rtask/venvs/lint"));
}

/// Names normalise as nox's; names two sessions would share get a digest each.
#[test]
fn names_follow_nox_and_are_never_shared() {
    // Outside the project: a directory of this test's own.
    let outside = tempfile::tempdir().unwrap();
    let envs = outside.path().join("envs");
    let project = Project::with_tasks(&format!(
        r#"
[settings]
envdir = "{}"

[sessions."unit.tests"]
python = "3.11"
venv_backend = "uv"
run = ["python -c 'print(1)'"]

[sessions.unit-tests]
python = "3.11"
venv_backend = "uv"
run = ["python -c 'print(2)'"]

[sessions.db]
python = "3.11"
venv_backend = "uv"
parametrize = {{ kind = ["sqlite"] }}
run = ["python -c 'print(3)'"]
"#,
        envs.display()
    ));
    project.rtask(&["db(kind='sqlite')"]).success();
    assert!(envs.join("db-kind-sqlite/rtask-venv.json").is_file());
    project.rtask(&["unit.tests", "unit-tests"]).success();
    let mut names: Vec<String> = fs::read_dir(&envs)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "db-kind-sqlite");
    assert!(names[1].starts_with("unit-tests-") && names[1].len() == "unit-tests-".len() + 8);
    assert!(names[2].starts_with("unit-tests-") && names[1] != names[2]);
}

#[test]
fn an_envdir_that_would_hide_inputs_or_the_project_is_refused() {
    let project = Project::with_tasks(
        r#"
[settings]
envdir = "src"

[sessions.t]
python = "3.11"
run = ["true"]
inputs = ["src/**/*.py"]
"#,
    );
    project
        .rtask(&["-l"])
        .code(2)
        .stderr_has("`envdir` `src` holds `src/**/*.py`, an input of `t`")
        .stderr_has("tasks.toml:3:10")
        .stderr_has("such as `.nox`");
    // `--envdir` is checked against the outputs as the file's `envdir` is.
    project.write(
        "tasks.toml",
        "[sessions.gen]\nrun = [\"true\"]\ninputs = []\noutputs = [\"build/\"]\n",
    );
    project
        .rtask(&["--envdir", "build/envs", "gen"])
        .code(3)
        .stderr_has("`--envdir` `build/envs` overlaps `build/`, an output of `gen`");
    let project = Project::with_tasks("[sessions.t]\npython = \"3.11\"\nrun = [\"true\"]\n");
    project
        .rtask(&["--envdir", ".", "t"])
        .code(3)
        .stderr_has("`--envdir` `.` is the project root");
    project
        .rtask(&["--envdir", ".git/envs", "t"])
        .code(3)
        .stderr_has("lies in a `.git` directory");
    // An envdir inside an input's directory that holds what is not an environment: walks
    // skip the envdir, so `src/pkg/a.py` would drop out of the key (a stale hit).
    let project = Project::with_tasks(
        "[settings]\nenvdir = \"src/pkg\"\n\n[sessions.gen]\nrun = [\"true\"]\ninputs = [\"src\"]\n",
    );
    project.write("src/pkg/a.py", "x\n");
    project
        .rtask(&["gen"])
        .code(2)
        .stderr_has("`envdir` `src/pkg` holds `src/pkg/a.py`, which is not an environment");
    project.write(
        "tasks.toml",
        "[sessions.gen]\nrun = [\"true\"]\ninputs = [\"src\"]\n",
    );
    project
        .rtask(&["--envdir", "src/pkg", "gen"])
        .code(3)
        .stderr_has("holds `src/pkg/a.py`, which is not an environment");
    let project = Project::with_tasks("[sessions.t]\npython = \"3.11\"\nrun = [\"true\"]\n");
    // A symlink is followed: `envs -> .` is the project root.
    std::os::unix::fs::symlink(".", project.path("envs")).unwrap();
    project
        .rtask(&["--envdir", "envs", "t"])
        .code(3)
        .stderr_has("`--envdir` `envs` is the project root");
}

/// Where an environment goes, a directory holding anything but an environment is never
/// deleted: the session fails and the files stay. (Inside the project such an envdir is
/// refused when the file is read; outside it, this is the guard.)
#[test]
fn a_directory_that_is_not_an_environment_is_never_deleted() {
    let elsewhere = tempfile::tempdir().unwrap();
    fs::create_dir(elsewhere.path().join("pkg")).unwrap();
    fs::write(
        elsewhere.path().join("pkg/__init__.py"),
        "precious = True\n",
    )
    .unwrap();
    let project = Project::with_tasks(&format!(
        "[settings]\nenvdir = \"{}\"\n\n[sessions.pkg]\npython = \"3.11\"\nrun = [\"true\"]\n",
        elsewhere.path().display()
    ));
    project
        .rtask(&["pkg"])
        .code(1)
        .stderr_has("exists and is not a virtual environment: rtask does not delete it")
        .stderr_has("move it away");
    assert_eq!(
        fs::read_to_string(elsewhere.path().join("pkg/__init__.py")).unwrap(),
        "precious = True\n"
    );
}

const REUSE: &str = r#"
[sessions.plain]
python = "3.11"
venv_backend = "uv"
run = ["true"]

[sessions.fresh]
python = "3.11"
venv_backend = "uv"
reuse_venv = false
run = ["true"]

[sessions.sticky]
python = "3.11"
venv_backend = "uv"
reuse_venv = true
run = ["true"]
"#;

/// Each spelling of reuse, against each `reuse_venv`: which up-to-date environments are kept.
#[test]
fn reuse_follows_the_flags_and_the_sessions() {
    let project = Project::with_tasks(REUSE);
    project.rtask(&["plain", "fresh", "sticky"]).success();
    let rows: &[(&[&str], [bool; 3])] = &[
        (&[], [true, false, true]),
        (&["-r"], [true, false, true]),
        (&["--reuse-existing-virtualenvs"], [true, false, true]),
        (&["--reuse-venv", "yes"], [true, false, true]),
        (&["--reuse-venv", "no"], [false, false, true]),
        (&["--no-reuse-existing-virtualenvs"], [false, false, true]),
        (&["-N"], [false, false, true]),
        (&["--reuse-venv", "always"], [true, true, true]),
        (&["--reuse-venv", "never"], [false, false, false]),
        (&["--reinstall"], [false, false, false]),
    ];
    for (flags, expected) in rows {
        for name in ["plain", "fresh", "sticky"] {
            mark(&project, &format!(".rtask/venvs/{name}"));
        }
        let mut args = flags.to_vec();
        args.extend(["plain", "fresh", "sticky"]);
        project.rtask(&args).success();
        let found = ["plain", "fresh", "sticky"]
            .map(|name| kept(&project, &format!(".rtask/venvs/{name}")));
        assert_eq!(found, *expected, "{flags:?}");
    }
    project
        .rtask(&["--reuse-venv", "no", "-r", "plain"])
        .code(3)
        .stderr_has("cannot be used with");
}

/// `reuse_venv = false` remakes the environment when the session runs, not when its result
/// is served from the cache; a stale environment is remade whatever the flags say.
#[test]
fn a_cache_hit_keeps_the_environment_and_a_stale_one_is_never_kept() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.fresh]
python = "3.11"
venv_backend = "uv"
reuse_venv = false
install = ["-r requirements.txt"]
run = ["python -c 'import pytest; print(pytest.__version__)'"]
inputs = ["in.txt"]
"#,
    );
    project
        .write("in.txt", "1")
        .write("requirements.txt", "pytest==9.2.0\n");
    project.rtask(&["fresh"]).success();
    mark(&project, ".rtask/venvs/fresh");
    project
        .rtask(&["fresh"])
        .success()
        .stderr_has("fresh: cached");
    assert!(
        kept(&project, ".rtask/venvs/fresh"),
        "a hit does not remake it"
    );
    project.write("in.txt", "2");
    project
        .rtask(&["fresh"])
        .success()
        .stderr_has("created `.rtask/venvs/fresh`");
    assert!(!kept(&project, ".rtask/venvs/fresh"));
    mark(&project, ".rtask/venvs/fresh");
    project.write("requirements.txt", "pytest==9.2.0\n# changed\n");
    project
        .rtask(&["--reuse-venv", "always", "fresh"])
        .success()
        .stderr_has("created `.rtask/venvs/fresh`");
    assert!(!kept(&project, ".rtask/venvs/fresh"), "stale: remade");
}

/// `venv_params` reach the create command, remake the environment and change the key:
/// `--system-site-packages` changes what a command can import.
#[test]
fn venv_params_make_the_environment_and_enter_the_key() {
    for backend in ["uv", "venv"] {
        let tasks = |params: &str| {
            format!(
                r#"
[sessions.t]
python = "3.11"
venv_backend = "{backend}"
{params}
run = ["python -c 'import sys; print(sys.prefix)'"]
inputs = []
"#
            )
        };
        let project = Project::with_tasks(&tasks(""));
        project.rtask(&["t"]).success();
        project.rtask(&["t"]).success().stderr_has("t: cached");
        let cfg = || project.read(".rtask/venvs/t/pyvenv.cfg");
        assert!(
            cfg().contains("include-system-site-packages = false"),
            "{}",
            cfg()
        );
        project.write(
            "tasks.toml",
            &tasks("venv_params = [\"--system-site-packages\"]"),
        );
        project
            .rtask(&["t"])
            .success()
            .stderr_has("created `.rtask/venvs/t`")
            .stderr_has("t: running (the key differs");
        assert!(
            cfg().contains("include-system-site-packages = true"),
            "{}",
            cfg()
        );
        project.rtask(&["t"]).success().stderr_has("t: cached");
    }
}

/// A directory of stand-in executables, each a shell script, first on `PATH`.
fn fake_bin(project: &Project, scripts: &[(&str, &str)]) -> String {
    use std::os::unix::fs::PermissionsExt;
    for (name, body) in scripts {
        let path = project.path(&format!("fakebin/{name}"));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    crate::support::tools_path(&[project.path("fakebin")])
        .into_string()
        .unwrap()
}

/// A real CPython 3.11, for the stand-ins to run.
fn real_python() -> String {
    let output = std::process::Command::new("python3.11")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// `3.13t`, `pypy3.10` and `pypy-3.11` are read, named as nox names them, and found only
/// when the interpreter says it is what was asked: a `pypy3.10` that is CPython, or a
/// `python3.13t` with the GIL, is passed over.
#[test]
fn interpreter_spellings_are_checked_against_what_runs() {
    let tasks = r#"
[sessions.tests]
python = ["3.13t", "pypy3.10", "pypy-3.11"]
venv_backend = "venv"
run = ["python -c 'print(1)'"]
"#;
    let project = Project::with_tasks(tasks);
    project.write(
        "noxfile.py",
        "import nox\n\n@nox.session(python=['3.13t', 'pypy3.10', 'pypy-3.11'])\ndef tests(session):\n    pass\n",
    );
    let names = |json: &str| -> Vec<String> {
        let list: serde_json::Value = serde_json::from_str(json).unwrap();
        let list = list.as_array().unwrap().iter();
        list.map(|session| session["session"].as_str().unwrap().to_string())
            .collect()
    };
    let ours = project.rtask(&["-l", "--json"]);
    ours.success();
    let nox = crate::support::tool("nox")
        .args(["-l", "--json"])
        .current_dir(project.root())
        .env_remove("CI")
        .output()
        .unwrap();
    let nox = String::from_utf8(nox.stdout).unwrap();
    assert_eq!(names(&ours.stdout), names(&nox));
    assert_eq!(
        names(&ours.stdout),
        ["tests-3.13t", "tests-pypy3.10", "tests-pypy-3.11"]
    );
    let python = real_python();
    // Each stand-in runs a CPython 3.11 with the GIL, once asked what it is.
    let log = project.path("asked");
    let stand_in = |name: &str| format!("echo {name} >> {}; exec {python} \"$@\"", log.display());
    let path = fake_bin(
        &project,
        &[
            ("python3.13t", &stand_in("python3.13t")),
            ("pypy3.10", &stand_in("pypy3.10")),
        ],
    );
    project
        .rtask_env(
            &["tests-3.13t", "tests-pypy3.10", "tests-pypy-3.11"],
            &[("PATH", &path)],
        )
        .success()
        .stderr_has("tests-3.13t: skipped (Python interpreter 3.13t not found)")
        .stderr_has("tests-pypy3.10: skipped (Python interpreter pypy3.10 not found)")
        .stderr_has("tests-pypy-3.11: skipped (Python interpreter pypy-3.11 not found)");
    let asked = fs::read_to_string(&log).unwrap();
    assert!(
        asked.contains("python3.13t") && asked.contains("pypy3.10"),
        "{asked}"
    );
    // One that says it is PyPy 3.11 is taken for `pypy-3.11`, from `pypy3.11`.
    let probe = format!(
        "case \"$*\" in *sys.implementation*) echo '{{\"executable\": \"{python}\", \"version\": \"3.11.9\", \
         \"implementation\": \"pypy\", \"platform\": \"linux-x86_64\", \"free_threaded\": false, \
         \"markers\": {{\"python_version\": \"3.11\", \"implementation_name\": \"pypy\"}}}}';; \
         *) exec {python} \"$@\";; esac"
    );
    let path = fake_bin(&project, &[("pypy3.11", &probe)]);
    project
        .rtask_env(&["tests-pypy-3.11"], &[("PATH", &path)])
        .success()
        .stderr_has(
            "tests-pypy-3.11: created `.rtask/venvs/tests-pypy-3.11` with venv (Python 3.11.9)",
        );
}

/// The conda backends, with a stand-in `conda`/`micromamba` that logs its arguments and makes a
/// real environment at the prefix (no conda installs from the registries here): nox's create
/// command, `venv_params` in it, pip of the environment for `install`, the environment's own
/// interpreter recorded; a missing tool skips the session as a missing interpreter does.
#[test]
fn conda_backends_create_with_the_tool_and_install_with_pip() {
    require_wheelhouse();
    let tasks = |tool: &str| {
        format!(
            r#"
[sessions.c]
python = "3.11"
venv_backend = "{tool}"
venv_params = ["--override-channels"]
install = ["-r requirements.txt"]
run = ["python -c 'import pytest; print(pytest.__version__)'"]
"#
        )
    };
    let project = Project::with_tasks(&tasks("conda"));
    project.write("requirements.txt", "pytest==9.2.0\n");
    project
        .rtask(&["c"])
        .success()
        .stderr_has("c: skipped (Python interpreter 3.11 through `conda` not found)");
    let log = project.path("conda.log");
    let python = real_python();
    let stand_in = format!(
        "echo \"$(basename $0) $*\" >> {}\nwhile [ $# -gt 0 ]; do [ \"$1\" = --prefix ] && prefix=$2; shift; done\n\
         exec {python} -m venv \"$prefix\"",
        log.display()
    );
    let path = fake_bin(&project, &[("conda", &stand_in), ("micromamba", &stand_in)]);
    let dir = project.path(".rtask/venvs/c");
    project
        .rtask_env(&["c"], &[("PATH", &path)])
        .success()
        .stderr_has("c: created `.rtask/venvs/c` with conda (Python 3.11.7)")
        .stdout_has("9.2.0\n");
    project
        .rtask_env(&["c"], &[("PATH", &path)])
        .success()
        .stderr_lacks("created");
    project.write("tasks.toml", &tasks("micromamba"));
    project
        .rtask_env(&["c"], &[("PATH", &path)])
        .success()
        .stderr_has("with micromamba");
    let logged = fs::read_to_string(&log).unwrap();
    let dir = dir.display();
    assert_eq!(
        logged,
        format!(
            "conda create --yes --prefix {dir} --override-channels pip python=3.11\n\
             micromamba create --yes --prefix {dir} --channel=conda-forge --override-channels pip python=3.11\n"
        )
    );
}

/// The issue's proof: a coverage `[paths]` naming `.nox/*/lib/python*/site-packages` maps what
/// ran from a non-editable install in `envdir = ".nox"` back to `src/`.
#[test]
fn coverage_paths_naming_the_envdir_map_back_to_the_sources() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[settings]
envdir = ".nox"

[sessions.tests]
python = ["3.11"]
venv_backend = "uv"
install = [".", "pytest==9.2.0", "coverage"]
run = ["python -m coverage run -m pytest -q"]
inputs = ["src/**/*.py", "tests/**/*.py", "pyproject.toml", ".coveragerc"]
outputs = [".coverage.*"]

[sessions.report]
requires = ["tests"]
python = "3.11"
venv_backend = "uv"
install = ["coverage"]
run = ["python -m coverage combine --keep", "python -m coverage report --show-missing"]
inputs = [".coveragerc"]
"#,
    );
    project
        .write(
            "pyproject.toml",
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
             [project]\nname = \"mathkit\"\nversion = \"1.0\"\n\n\
             [tool.setuptools.packages.find]\nwhere = [\"src\"]\n",
        )
        .write(
            ".coveragerc",
            "[run]\nsource_pkgs = mathkit\nparallel = true\n\n\
             [paths]\nsource =\n    src/mathkit\n    .nox/*/lib/python*/site-packages/mathkit\n",
        )
        .write(
            "src/mathkit/__init__.py",
            "def double(x):\n    return 2 * x\n\n\ndef unused():\n    return 0\n",
        )
        .write(
            "tests/test_double.py",
            "import mathkit\n\n\ndef test_double():\n    assert mathkit.double(2) == 4\n    assert 'site-packages' in mathkit.__file__\n",
        );
    let run = project.rtask(&["report"]);
    run.success()
        .stderr_has("created `.nox/tests-3-11`")
        .stdout_has("1 passed");
    let report = run
        .stdout
        .lines()
        .find(|line| line.contains("mathkit"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let columns: Vec<&str> = report.split_whitespace().collect();
    assert_eq!(
        columns,
        ["src/mathkit/__init__.py", "4", "1", "75%", "6"],
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(".nox/"), "{}", run.stdout);
    // The environments are no inputs: the next run is served from the cache.
    project
        .rtask(&["report"])
        .success()
        .stderr_has("tests-3.11: cached");
}

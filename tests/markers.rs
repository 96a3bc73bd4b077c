//! PEP 508 markers in `install` entries: checked when the file is read, evaluated against each
//! session's interpreter, with real environments installed from the wheelhouse.

use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{Project, require_wheelhouse};

/// Prints whether pytest and iniconfig are importable in the session's environment.
const PROBE: &str = "python -c 'import importlib.util as u; print(\"pytest\", u.find_spec(\"pytest\") is not None, \"iniconfig\", u.find_spec(\"iniconfig\") is not None)'";

#[test]
fn only_the_entries_whose_marker_holds_are_installed() {
    require_wheelhouse();
    let project = Project::with_tasks(&format!(
        r#"
[sessions.check]
python = ["3.11", "3.12"]
venv_backend = "uv"
install = ["iniconfig", "pytest ; python_version >= '3.12' and sys_platform == 'linux'"]
run = ["{}"]
"#,
        PROBE.replace('"', "\\\"")
    ));
    let path = path_with(&project, &["3.11", "3.12"], false);
    let path = [("PATH", path.as_str())];
    project
        .rtask_env(&["-v", "check-3.11"], &path)
        .success()
        .stdout_has("pytest False iniconfig True")
        .stderr_has("check-3.11: `pytest; python_version >= '3.12' and sys_platform == 'linux'` is not installed: its marker does not hold for this interpreter");
    project
        .rtask_env(&["-v", "check-3.12"], &path)
        .success()
        .stdout_has("pytest True iniconfig True")
        .stderr_lacks("is not installed");
    project.remove(".rtask/venvs");
    project
        .rtask_env(&["--dry-run", "check-3.11"], &path)
        .success()
        .stdout_has("  - `pytest; python_version >= '3.12' and sys_platform == 'linux'` is not installed: its marker does not hold for this interpreter");
}

/// The real executable of `python{version}` on `PATH` (a pyenv shim told which to run).
fn executable(version: &str) -> PathBuf {
    let name = format!("python{version}");
    let output = Command::new(&name)
        .args(["-c", "import sys; print(sys.executable)"])
        .env("PYENV_VERSION", version)
        .output()
        .unwrap_or_else(|error| panic!("{name} is needed here: {error}"));
    assert!(output.status.success(), "{name} is needed here");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// `PATH` with a directory of `project` first, holding `python{version}` for each of
/// `versions` (named `python3` instead with `as_python3`).
pub(crate) fn path_with(project: &Project, versions: &[&str], as_python3: bool) -> String {
    let dir = project.path(&format!("bin-{}", versions.join("-")));
    std::fs::create_dir_all(&dir).unwrap();
    for version in versions {
        let name = if as_python3 {
            "python3".to_string()
        } else {
            format!("python{version}")
        };
        symlink(executable(version), dir.join(name)).unwrap();
    }
    crate::support::tools_path(&[dir]).into_string().unwrap()
}

/// One task file, `python = "3"`, under two interpreters whose marker outcomes differ: the
/// second run neither restores the first's result nor keeps its environment.
#[test]
fn another_marker_outcome_is_never_a_hit() {
    require_wheelhouse();
    let project = Project::with_tasks(&format!(
        r#"
[sessions.check]
python = "3"
venv_backend = "uv"
install = ["iniconfig", "pytest; python_version >= '3.12'"]
run = ["{}"]
inputs = ["input.txt"]
"#,
        PROBE.replace('"', "\\\"")
    ));
    project.write("input.txt", "x");
    let old = path_with(&project, &["3.11"], true);
    let new = path_with(&project, &["3.12"], true);
    project
        .rtask_env(&["check"], &[("PATH", &old)])
        .success()
        .stdout_has("pytest False iniconfig True");
    project
        .rtask_env(&["check"], &[("PATH", &old)])
        .success()
        .stderr_has("check: cached");
    project
        .rtask_env(&["check"], &[("PATH", &new)])
        .success()
        .stderr_has("check: recreated `.rtask/venvs/check` with uv (Python 3.12")
        .stderr_lacks("check: cached")
        .stdout_has("pytest True iniconfig True");
}

/// `./localpkg ; MARKER` is a local project all the same: its sources enter the key.
#[test]
fn a_local_project_with_a_marker_is_watched() {
    require_wheelhouse();
    let project = Project::with_tasks(
        r#"
[sessions.check]
python = "3.11"
venv_backend = "uv"
install = ["./localpkg ; python_version >= '3.9'"]
run = ["python -c 'import localpkg; print(localpkg.VALUE)'"]
inputs = ["input.txt"]
"#,
    );
    project
        .write("input.txt", "x")
        .write(
            "localpkg/pyproject.toml",
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"localpkg\"\nversion = \"1.0\"\n",
        )
        .write("localpkg/localpkg/__init__.py", "VALUE = 1\n");
    project.rtask(&["check"]).success().stdout_has("1\n");
    project
        .rtask(&["check"])
        .success()
        .stderr_has("check: cached");
    project.write("localpkg/localpkg/__init__.py", "VALUE = 2\n");
    project
        .rtask(&["check"])
        .success()
        .stderr_lacks("check: cached")
        .stdout_has("2\n");
}

#[test]
fn a_marker_typo_is_an_error_inside_the_entry() {
    let project = Project::with_tasks(
        "[sessions.check]\npython = \"3.11\"\ninstall = [\"pytest\", \"xdist; python_versoin >= '3.10'\"]\nrun = [\"pytest\"]\n",
    );
    let run = project.rtask(&["--list"]);
    run.code(2);
    insta::assert_snapshot!(run.stderr, @r#"
      error: cannot read this marker: unknown marker variable `python_versoin`
       ╭─[tasks.toml:3:30]
     2 │ python = "3.11"
     3 │ install = ["pytest", "xdist; python_versoin >= '3.10'"]
       ·                              ───────┬──────
       ·                                     ╰── here
     4 │ run = ["pytest"]
       ╰────
      help: markers can use `python_version`, `python_full_version`, `implementation_name`,
            `implementation_version`, `platform_python_implementation`, `sys_platform`, `os_name`,
            `platform_system`, `platform_machine`, `platform_release`, `platform_version`, `extra`
    "#);
}

#[test]
fn malformed_markers_are_refused() {
    let refuses = |install: &str, location: &str, message: &str, hint: &str| {
        let project = Project::with_tasks(&format!(
            "[sessions.check]\npython = \"3.11\"\ninstall = [{install}]\nrun = [\"pytest\"]\n"
        ));
        crate::errors::refuses(&project, location, message, hint);
    };
    refuses(
        "\"xdist; python_version >= '3.10\"",
        "3:38",
        "cannot read this marker: this string is not closed",
        "end it with `'`",
    );
    refuses(
        "\"xdist; python_version '3.10'\"",
        "3:35",
        "cannot read this marker: expected a comparison operator",
        "compare with <, <=",
    );
    refuses(
        "\"-e .; python_version > '3'\"",
        "3:13",
        "a marker applies to one requirement, not to pip options",
        "put the options in an entry of their own",
    );
    refuses(
        "\"xdist; python_version ~= '3'\"",
        "3:38",
        "cannot read this marker: `~=` needs a version of two parts or more, not `3`",
        "write `~= '3.10'`",
    ); // A conda environment brings its interpreter only once made: nothing to evaluate against.
    let project = Project::with_tasks(
        "[sessions.check]\npython = \"3.11\"\nvenv_backend = \"conda\"\n\
         install = [\"pytest\", \"xdist; python_version >= '3.10'\"]\nrun = [\"pytest\"]\n",
    );
    crate::errors::refuses(
        &project,
        "4:22",
        "a marker cannot be evaluated in a `conda` environment",
        "use `[sessions.check.overrides.\"VERSION\"]`",
    );
}

/// After a URL a marker starts only at a `;` after whitespace (PEP 508): a URL may hold `;`.
#[test]
fn a_semicolon_inside_a_url_is_part_of_it() {
    let project = Project::with_tasks(
        "[sessions.check]\npython = \"3.11\"\n\
         install = [\"pkg @ https://example.com/a;b.whl\", \"other @ https://example.com/o.whl ; python_version >= '3'\"]\n\
         run = [\"pytest\"]\n",
    );
    project.rtask(&["-l"]).success();
    let project = Project::with_tasks(
        "[sessions.check]\npython = \"3.11\"\n\
         install = [\"other @ https://example.com/o.whl ; pyton_version >= '3'\"]\n\
         run = [\"pytest\"]\n",
    );
    project
        .rtask(&["-l"])
        .code(2)
        .stderr_has("unknown marker variable `pyton_version`");
}

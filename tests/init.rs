//! `rtask init` and `rtask init --from-nox`: the starter file, noxfiles converted under the
//! stand-in nox and checked against the real `nox -l`, and the errors.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::Project;

/// `(selected, name)` of each session a `-l` listing shows (`*` selected, `-` not).
fn listed(stdout: &str) -> BTreeSet<(bool, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (mark, rest) = line.split_at_checked(2)?;
            let name = rest.split(' ').next()?.to_string();
            match mark {
                "* " => Some((true, name)),
                "- " => Some((false, name)),
                _ => None,
            }
        })
        .collect()
}

/// The names `-l --json` gives (the default selection).
fn json_names(stdout: &str) -> BTreeSet<String> {
    let sessions: Vec<serde_json::Value> = serde_json::from_str(stdout).unwrap();
    sessions
        .iter()
        .map(|s| s["session"].as_str().unwrap().to_string())
        .collect()
}

/// Convert the project's noxfile and check that rtask lists what the real nox lists.
#[track_caller]
fn converts_like_nox(project: &Project) -> String {
    project.rtask(&["init", "--from-nox"]).success();
    let nox = |args: &[&str]| {
        let output = crate::support::tool("nox")
            .args(args)
            .current_dir(project.root())
            .output()
            .unwrap();
        assert!(output.status.success(), "nox {args:?} failed: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let plain = project.rtask(&["-l"]);
    plain.success();
    let json = project.rtask(&["-l", "--json"]);
    json.success();
    assert_eq!(
        listed(&plain.stdout),
        listed(&nox(&["-l"])),
        "{}",
        project.read("tasks.toml")
    );
    assert_eq!(
        json_names(&json.stdout),
        json_names(&nox(&["-l", "--json"])),
        "{}",
        project.read("tasks.toml")
    );
    project.read("tasks.toml")
}

fn with_noxfile(noxfile: &str) -> Project {
    let project = Project::new();
    project.write("noxfile.py", noxfile);
    project
}

#[test]
fn starter_file_loads_and_is_not_overwritten() {
    let project = Project::new();
    project.rtask(&["init"]).success().stderr_has("wrote");
    project.rtask(&["-l"]).success().stdout_has("* tests");
    project.write("tasks.toml", "# mine\n");
    project
        .rtask(&["init"])
        .code(3)
        .stderr_has("already exists")
        .stderr_has("hint: `rtask init --force` replaces it");
    assert_eq!(project.read("tasks.toml"), "# mine\n");
    project.rtask(&["init", "--force"]).success();
    project.rtask(&["-l"]).success().stdout_has("* tests");
}

#[test]
fn from_nox_refuses_to_overwrite() {
    let project = with_noxfile(
        "import nox\n@nox.session(python=False)\ndef a(session):\n    session.run('true')\n",
    );
    project.write("tasks.toml", "# mine\n");
    project
        .rtask(&["init", "--from-nox"])
        .code(3)
        .stderr_has("already exists");
    assert_eq!(project.read("tasks.toml"), "# mine\n");
    project.rtask(&["init", "--from-nox", "--force"]).success();
    project.rtask(&["-l"]).success().stdout_has("* a");
}

const STRAIGHT: &str = r#"
import nox

@nox.session(python="3.12", tags=["check"])
def lint(session):
    """Lint the code."""
    session.install("ruff==0.6.9")
    session.run("ruff", "check", "src", *session.posargs)

@nox.session(python=["3.11", "3.12"])
def tests(session):
    session.install("-r", "requirements.txt", "-e", ".")
    session.env["MODE"] = "strict"
    session.run("pytest", "-q", *(session.posargs or ["-x", "tests"]))
    session.run("git", "describe", external=True, success_codes=[0, 128])

@nox.session(python=False, default=False, requires=["lint"])
def docs(session):
    session.chdir("docs")
    session.run("make", "html", env={"SPHINXOPTS": "-W"})
"#;

#[test]
fn straight_line_noxfile() {
    let project = with_noxfile(STRAIGHT);
    project.write("requirements.txt", "pytest\n");
    project.write("src/pkg/__init__.py", "");
    project.write("tests/test_a.py", "");
    let text = converts_like_nox(&project);
    insta::assert_snapshot!(text, @r#"
    # Converted from noxfile.py by `rtask init --from-nox`. Comments mark what was not
    # translated or was taken as on the machine that converted it: check them.

    # noxfile.py:4
    [sessions.lint]
    description = "Lint the code."
    python = "3.12"
    tags = ["check"]
    default = true
    install = [
      "ruff==0.6.9",
    ]
    run = [
      "ruff check src {posargs}",
    ]
    inputs = ["src", "tests"]  # proposed: check these

    # noxfile.py:10
    [sessions.tests]
    python = ["3.11", "3.12"]
    default = true
    env = { MODE = "strict" }
    install = [
      "-r requirements.txt",
      "-e .",
    ]
    run = [
      "pytest -q {posargs:-x tests}",
      { cmd = "git describe", external = true, success_codes = [0, 128] },
    ]
    inputs = ["src", "tests", "requirements.txt"]  # proposed: check these

    # noxfile.py:17
    [sessions.docs]
    python = false
    default = false
    requires = ["lint"]
    cwd = "docs"
    run = [
      { cmd = "make html", env = { SPHINXOPTS = "-W" } },
    ]
    "#);
}

#[test]
fn parametrized_stacked_and_tagged() {
    let project = with_noxfile(
        r#"
import nox
nox.options.sessions = ["t", "plain"]

@nox.session(python=["3.11", "3.12"], tags=["test"])
@nox.parametrize("db", ["sqlite", "memory"])
@nox.parametrize("n", [1, 2])
def t(session, db, n):
    session.run("echo", db, str(n), session.python)

@nox.session(default=False, python=False)
def plain(session):
    session.run("true")

@nox.session(python=False, tags=["other"])
def other(session):
    session.run("true")
"#,
    );
    let text = converts_like_nox(&project);
    assert!(
        text.contains("parametrize = { n = [1, 2], db = [\"sqlite\", \"memory\"] }"),
        "{text}"
    );
    assert!(text.contains("\"echo {db} {n} {python}\""), "{text}");
}

#[test]
fn branches_on_python_become_overrides() {
    let project = with_noxfile(
        r#"
import sys
import nox

@nox.session(python=["3.11", "3.12"])
def tests(session):
    if session.python == "3.11":
        session.install("pytest<8")
    else:
        session.install("pytest")
    if sys.platform == "win32":
        session.run("echo", "windows")
    session.run("pytest")
"#,
    );
    let text = converts_like_nox(&project);
    insta::assert_snapshot!(text, @r#"
    # Converted from noxfile.py by `rtask init --from-nox`. Comments mark what was not
    # translated or was taken as on the machine that converted it: check them.

    # noxfile.py:5
    [sessions.tests]
    # branch at noxfile.py:11 was taken as on this machine
    # value read from the machine (sys.platform) at noxfile.py:11
    python = ["3.11", "3.12"]
    default = true
    install = [
      "pytest<8",
    ]
    run = [
      "pytest",
    ]

    [sessions.tests.overrides."3.12"]
    install = [
      "pytest",
    ]
    "#);
}

#[test]
fn ids_and_rows_convert_to_the_names_nox_gives() {
    let project = with_noxfile(
        r#"
import nox

@nox.session(python=False)
@nox.parametrize("a,b", [(1, 2), (3, 4)], ids=["one", "two"])
def u(session, a, b):
    session.run("echo", str(a), str(b))

@nox.session(python=["3.11", "3.12"])
@nox.parametrize("db", [nox.param("sqlite", id="lite"), "pg"])
@nox.parametrize("n, m", [(1, 2.0), nox.param(3, 4.5, id="big")])
def v(session, db, n, m):
    session.run("echo", db, str(n), str(m))

@nox.session(python=False)
@nox.parametrize("opt", [None, [1, 2]])
def w(session, opt):
    session.run("echo", str(opt))
"#,
    );
    let text = converts_like_nox(&project);
    assert!(
        text.contains(
            "parametrize = { \"a, b\" = [{ value = [1, 2], id = \"one\" }, { value = [3, 4], id = \"two\" }] }"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "parametrize = { \"n, m\" = [[1, 2.0], { value = [3, 4.5], id = \"big\" }], db = [{ value = \"sqlite\", id = \"lite\" }, \"pg\"] }"
        ),
        "{text}"
    );
    assert!(
        text.contains("opt = [{ value = \"None\", id = \"opt=None\" }, { value = \"[1, 2]\", id = \"opt=[1, 2]\" }]"),
        "{text}"
    );
    assert!(text.contains("\"echo {db} {n} {m}\""), "{text}");
    // The same names in the same order as nox lists them.
    let ours = project.rtask(&["-l", "--json"]);
    ours.success();
    let output = crate::support::tool("nox")
        .args(["-l", "--json"])
        .current_dir(project.root())
        .output()
        .unwrap();
    let ordered = |stdout: &str| -> Vec<String> {
        let sessions: Vec<serde_json::Value> = serde_json::from_str(stdout).unwrap();
        sessions
            .iter()
            .map(|s| s["session"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ordered(&ours.stdout),
        ordered(&String::from_utf8(output.stdout).unwrap())
    );
    project.rtask(&["u(two)"]).success().stdout_has("3 4\n");
}

#[test]
fn a_raising_session_is_written_with_what_it_recorded() {
    let project = with_noxfile(
        r#"
import nox, sys

@nox.session(python=False)
def broken(session):
    session.run("echo", "first")
    raise RuntimeError("no way")

@nox.session(python=False)
def quits(session):
    session.run("echo", "before")
    sys.exit(1)

@nox.session(python=False)
def fine(session):
    session.log("hello")
    session.frobnicate(1)
    session.run("echo", "ok")
"#,
    );
    let text = converts_like_nox(&project);
    assert!(
        text.contains("# the session raised RuntimeError: no way at noxfile.py:7"),
        "{text}"
    );
    assert!(text.contains("\"echo first\""), "{text}");
    assert!(
        text.contains("# the session called sys.exit(1) at noxfile.py:12; what follows"),
        "{text}"
    );
    assert!(text.contains("\"echo before\""), "{text}");
    assert!(
        text.contains("# not converted: session.frobnicate(1)"),
        "{text}"
    );
    assert!(text.contains("# `session.log(...)` dropped"), "{text}");
}

#[test]
fn a_session_that_raises_before_any_command_fails_saying_so() {
    let project = with_noxfile(
        r#"
import sys
import nox

@nox.session(python=False)
def early(session):
    assert sys.version_info < (3, 0)
    session.run("echo", "never")

@nox.session(python=False)
def empty(session):
    pass
"#,
    );
    // `converts_like_nox` loads the file: `run = []` would be refused.
    let text = converts_like_nox(&project);
    assert!(
        text.contains("# the session raised AssertionError at noxfile.py:7; what follows"),
        "the empty message is left out: {text}"
    );
    assert!(
        text.contains(
            "  [\"python3\", \"-c\", \"raise SystemExit('session `early` was not converted: it raised AssertionError at noxfile.py:7')\"],"
        ),
        "{text}"
    );
    project.rtask(&["early"]).code(1).stdout_has(
        "session `early` was not converted: it raised AssertionError at noxfile.py:7\n",
    );
    assert!(
        text.contains("# the session runs no command: this one does nothing, as in nox"),
        "{text}"
    );
    project.rtask(&["empty"]).success();
}

#[test]
fn arguments_with_quotes_become_argv_and_requirements_stay_bare() {
    let project = with_noxfile(
        r#"
import nox

@nox.session(python=False)
def quoted(session):
    session.run("python3", "-c", "print('it' + \"s\" + '\\\\')")
    session.run("echo", "plain", "words")

@nox.session(python="3.12")
def reqs(session):
    session.install("coverage[toml]>=7.10.3", "pytest >= 8", "-e.[a,b]", "-c", "c onstraints.txt")
    session.run("pytest")
"#,
    );
    let text = converts_like_nox(&project);
    assert!(
        text.contains(
            r#"  ["python3", "-c", '''print('it' + "s" + '\\')'''],
  "echo plain words","#
        ),
        "{text}"
    );
    project.rtask(&["quoted"]).success().stdout_has("its\\\n");
    for entry in [
        "  \"coverage[toml]>=7.10.3\",",
        "  \"'pytest >= 8'\",",
        "  \"-e.[a,b]\",",
        "  \"-c 'c onstraints.txt'\",",
    ] {
        assert!(text.contains(entry), "lacks {entry}: {text}");
    }
}

#[test]
fn notify_becomes_after() {
    let project = with_noxfile(
        r#"
import nox

@nox.session(python=False)
def tests(session):
    session.run("true")
    session.notify("report")

@nox.session(python=False, default=False)
def report(session):
    session.run("true")
"#,
    );
    let text = converts_like_nox(&project);
    assert!(text.contains("after = [\"tests\"]"), "{text}");
    // A notify naming one variant of a session orders that session.
    let project = with_noxfile(
        r#"
import nox

@nox.session(python=False)
def tests(session):
    session.run("true")
    session.notify("report(kind='xml')")

@nox.session(python=False, default=False)
@nox.parametrize("kind", ["xml", "html"])
def report(session, kind):
    session.run("echo", kind)
"#,
    );
    let text = converts_like_nox(&project);
    assert!(text.contains("after = [\"tests\"]"), "{text}");
}

#[test]
fn venv_keywords_are_kept() {
    let project = with_noxfile(
        r#"
import nox
nox.options.envdir = ".nox"

@nox.session(python="3.12", venv_backend="venv", venv_params=["--system-site-packages"], reuse_venv=False)
def tests(session):
    session.run("true")
"#,
    );
    let text = converts_like_nox(&project);
    assert!(
        text.contains("venv_params = [\"--system-site-packages\"]"),
        "{text}"
    );
    assert!(text.contains("reuse_venv = false"), "{text}");
}

#[test]
fn nox_own_noxfile_lists_like_nox() {
    let project = nox_sdist();
    converts_like_nox(&project);
}

#[test]
fn nox_own_noxfile_converts() {
    let project = nox_sdist();
    project.rtask(&["init", "--from-nox"]).success();
    let text = project.read("tasks.toml");
    for expected in [
        "[sessions.tests]",
        "\"pytest>=7.4; python_version>='3.12'\"",
        "coverage run -m pytest --numprocesses=auto -m 'not conda and not rattler' {posargs}",
        "# branch at noxfile.py:56 was taken as on this machine",
        "# `default=bool(shutil.which('conda'))` at noxfile.py:123 was evaluated when converting",
        "# not converted: venv_backend=\"rattler\"",
        "# an absolute path from this machine at noxfile.py:202: check it",
        "# the session raised AssertionError at noxfile.py:243; what follows",
        "\"coverage[toml]>=7.10.3\"",
        "\"-e.[tox-to-nox,pbs]\"",
        "[\"python\", \"-c\", \"import sys; assert sys.implementation.name == 'cpython'\"],",
        "[\"python\", \"-c\", \"raise SystemExit('session `github_actions_default_tests` was not converted: it raised AssertionError at noxfile.py:243')\"],",
    ] {
        assert!(text.contains(expected), "lacks {expected:?}:\n{text}");
    }
}

/// nox's own sources, from the sdist `.ci/prepare` downloads.
fn nox_sdist() -> Project {
    let sdist = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/sdists/nox-2026.10.20.tar.gz");
    assert!(
        sdist.is_file(),
        "run .ci/prepare: {} is missing",
        sdist.display()
    );
    let project = Project::new();
    let status = Command::new("tar")
        .args(["xzf"])
        .arg(&sdist)
        .args(["--strip-components=1", "-C"])
        .arg(project.root())
        .status()
        .unwrap();
    assert!(status.success());
    project
}

#[test]
fn errors_say_what_where_and_how() {
    let project = Project::new();
    project
        .rtask(&["init", "--from-nox"])
        .code(2)
        .stderr_has("no noxfile at `")
        .stderr_has("hint: give the noxfile's path");
    project.write("noxfile.py", "import nox\nimport not_installed_here\n");
    project
        .rtask(&["init", "--from-nox"])
        .code(2)
        .stderr_has("noxfile.py` failed to import:")
        .stderr_has("ModuleNotFoundError: No module named 'not_installed_here'")
        .stderr_has("hint: the noxfile runs under a stand-in `nox`");
    project.write("noxfile.py", "import sys\nimport nox\nsys.exit(2)\n");
    project
        .rtask(&["init", "--from-nox"])
        .code(2)
        .stderr_has(
            "noxfile.py` exited (status 2) while it was imported (`sys.exit` at noxfile.py:3)",
        )
        .stderr_has("hint: the noxfile is imported without nox's command line");
    project.write("noxfile.py", "import nox\n");
    project
        .rtask(&["init", "--from-nox"])
        .code(2)
        .stderr_has("declares no session")
        .stderr_has("hint: decorate session functions with `@nox.session`");
    project
        .rtask_env(&["init", "--from-nox"], &[("PATH", "/nonexistent")])
        .code(1)
        .stderr_has("`python3` is not on `PATH`")
        .stderr_has("hint: install Python");
    assert!(!project.exists("tasks.toml"));
}

#[test]
fn values_computed_from_the_machine_are_marked_where_written() {
    let project = with_noxfile(
        r#"import os, getpass, socket, sys, nox
N = os.cpu_count(); USER = getpass.getuser(); V = "%d.%d" % sys.version_info[:2]; MODE = os.getenv("MODE", "dev")
@nox.session(python=False)
def freeze(session):
    session.run("pytest", f"-n{N}", f"--basetemp=/home/{USER}", socket.gethostname())
    session.env["PYV"] = V; session.env["MODE"] = MODE
"#,
    );
    let text = converts_like_nox(&project);
    // The frozen values themselves differ between machines: compare the comments only.
    let comments: Vec<&str> = text
        .lines()
        .filter(|line| line.trim_start().starts_with('#'))
        .collect();
    insta::assert_snapshot!(comments.join("\n"), @r"
    # Converted from noxfile.py by `rtask init --from-nox`. Comments mark what was not
    # translated or was taken as on the machine that converted it: check them.
    # noxfile.py:3
    # `V` (noxfile.py:2) was computed from the machine (sys.version_info) when converting, read at noxfile.py:6
    # `MODE` (noxfile.py:2) was computed from the machine (os.getenv) when converting, read at noxfile.py:6
      # value read from the machine (socket) at noxfile.py:5
      # `N` (noxfile.py:2) was computed from the machine (os.cpu_count) when converting, read at noxfile.py:5
      # `USER` (noxfile.py:2) was computed from the machine (getpass) when converting, read at noxfile.py:5
      # an absolute path from this machine at noxfile.py:5: check it
    ");
    // Each comment sits on the entry it is about.
    assert!(text.contains("read at noxfile.py:6\nenv = {"), "{text}");
    assert!(text.contains("check it\n  \"pytest -n"), "{text}");
}

#[test]
fn a_module_level_platform_choice_names_its_source() {
    let project = with_noxfile(
        r#"
import sys
import nox

if sys.platform == "win32":
    PY = ["3.11"]
else:
    PY = ["3.11", "3.12"]
BASE = PY[0]
FLAGS, = ["-x" if sys.platform.startswith("linux") else "-q"]
FLAGS += ""

@nox.session(python=PY)
def tests(session):
    session.run("pytest", FLAGS, BASE)
"#,
    );
    let text = converts_like_nox(&project);
    assert!(
        text.contains("# `python=PY` at noxfile.py:13 was evaluated when converting: `PY` (noxfile.py:6) was computed from the machine (sys.platform)\n"),
        "{text}"
    );
    assert!(
        text.contains("  # `FLAGS` (noxfile.py:10) was computed from the machine (sys.platform) when converting, read at noxfile.py:15\n"),
        "{text}"
    );
    assert!(
        text.contains("  # `BASE` (noxfile.py:9) was computed from the machine (sys.platform, through `PY`) when converting, read at noxfile.py:15\n"),
        "{text}"
    );
}

#[test]
fn helpers_dates_and_shadowing_names() {
    let project = with_noxfile(
        r#"
import datetime as dt
import subprocess
from pathlib import Path
import nox

STAMP = dt.date.today().isoformat()
REV = subprocess.check_output(["echo", "abc"], text=True).strip()

def version():
    return "1.0" if Path("VERSION").exists() else "0.0"

def tag(session):
    session.run("echo", version(), REV)

@nox.session(python=False)
def release(session):
    tag(session)
    session.run("echo", STAMP)

@nox.session(python=False)
def shadow(session):
    STAMP = "fixed"
    session.run("echo", STAMP, str(Path("docs")))
"#,
    );
    let text = converts_like_nox(&project);
    for expected in [
        // Read in a helper's return value: said on the session.
        "\n# value read from the machine (pathlib.Path.exists) at noxfile.py:11\n",
        "  # `REV` (noxfile.py:8) was computed from the machine (subprocess) when converting, read at noxfile.py:14\n",
        "  # `STAMP` (noxfile.py:7) was computed from the machine (datetime.date.today) when converting, read at noxfile.py:19\n",
    ] {
        assert!(text.contains(expected), "lacks {expected:?}:\n{text}");
    }
    // A local name and a relative path read nothing of the machine.
    let shadow = &text[text.find("[sessions.shadow]").unwrap()..];
    assert!(!shadow.contains('#'), "{shadow}");
}

/// A parameter's value becomes `{name}` only where it is not part of a longer number or word:
/// `--maxfail=10` is not `--maxfail={n}0`, which would run `--maxfail=20` for `n=2`.
#[test]
fn placeholders_replace_whole_values_only() {
    let project = with_noxfile(
        r#"
import nox

@nox.session(python=False)
@nox.parametrize("n", ["1", "2"])
def sub(session, n):
    session.run("echo", "--maxfail=10", f"-n{n}")
"#,
    );
    converts_like_nox(&project);
    project
        .rtask(&["sub(n='2')"])
        .success()
        .stdout_has("--maxfail=10 -n2\n");
}

/// What noxfiles import from nox's submodules (type hints, exceptions, the logger) converts.
#[test]
fn imports_from_nox_submodules_convert() {
    let project = with_noxfile(
        r#"
import nox
import nox.command
from nox.sessions import Session
from nox.command import CommandFailed
from nox.virtualenv import VirtualEnv
from nox.logger import logger

@nox.session(python=False)
def lint(session: Session) -> None:
    try:
        session.run("echo", "lint")
    except CommandFailed:
        logger.warning("failed")
"#,
    );
    converts_like_nox(&project);
    project.rtask(&["lint"]).success().stdout_has("lint\n");
}

/// pytest's root configuration changes which tests run: it is proposed as an input.
#[test]
fn pytest_configuration_is_proposed_as_input() {
    let project = with_noxfile(
        r#"
import nox

@nox.session(python=False)
def tests(session):
    session.run("pytest")
"#,
    );
    project
        .write("tests/test_a.py", "def test_a():\n    pass\n")
        .write("conftest.py", "")
        .write("pytest.ini", "[pytest]\n");
    let text = converts_like_nox(&project);
    assert!(
        text.contains(
            "inputs = [\"tests\", \"conftest.py\", \"pytest.ini\"]  # proposed: check these"
        ),
        "{text}"
    );
}

/// `__file__`, `os.name` and absolute paths in `install` are the converting machine's.
#[test]
fn file_paths_and_os_name_are_marked() {
    let project = with_noxfile(
        r#"
import os
from pathlib import Path
import nox

HERE = Path(__file__).parent
IS_WIN = os.name == "nt"

@nox.session(python="3.11")
def tests(session):
    session.install("-e", str(HERE))
    session.run("echo", "win" if IS_WIN else "posix")
"#,
    );
    let text = converts_like_nox(&project);
    assert!(
        text.contains("`HERE` (noxfile.py:6) was computed from the machine"),
        "{text}"
    );
    assert!(
        text.contains("`IS_WIN` (noxfile.py:7) was computed from the machine (os.name"),
        "{text}"
    );
    assert!(
        text.contains("an absolute path from this machine at noxfile.py:11: check it\n  \"-e "),
        "{text}"
    );
}

/// Parameter values a shell would quote (spaces, quotes) are filled into argv arrays, so each
/// stays one argument and no line breaks on an unclosed quote.
#[test]
fn values_with_spaces_and_quotes_stay_one_argument() {
    let project = with_noxfile(
        r#"
import nox

@nox.session(python=False)
@nox.parametrize("x", ["plain", "a b", "it's"])
def t(session, x):
    session.run("python3", "-c", "import sys; print(len(sys.argv))", x)
"#,
    );
    converts_like_nox(&project);
    for name in ["t(x='plain')", "t(x='a b')", "t(x=\"it's\")"] {
        project.rtask(&[name]).success().stdout_has("2\n");
    }
}

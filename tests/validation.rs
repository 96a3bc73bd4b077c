//! Task files that would let the cache serve a false hit or damage the project: where the cache
//! lives, outputs that hold their own inputs, exit codes, outputs aliased through symlinks.

use std::fs;
use std::os::unix::fs::symlink;

use crate::errors::refuses;
use crate::support::Project;

const SESSION: &str = "[sessions.a]\nrun = [\"true\"]\ninputs = [\"src/**\", \"cfg/x.toml\"]\n";

fn with_cache_dir(dir: &str) -> Project {
    with_cache_dir_in(Project::new(), dir)
}

fn with_cache_dir_in(project: Project, dir: &str) -> Project {
    project
        .write(
            "tasks.toml",
            &format!("[settings]\ncache_dir = \"{dir}\"\n{SESSION}"),
        )
        .write("src/a.py", "a\n")
        .write("cfg/x.toml", "x\n");
    project
}

#[test]
fn a_cache_dir_that_holds_inputs_or_the_project_is_refused() {
    let own = "the cache needs a directory of its own";
    let git = "git keeps its own state there";
    let walks = "input walks skip the cache directory";
    for (dir, message, hint) in [
        (".", "`cache_dir` `.` is the project root", own),
        ("./", "`cache_dir` `./` is the project root", own),
        ("src/..", "`cache_dir` `src/..` is the project root", own),
        ("..", "`cache_dir` `..` holds the project", own),
        ("/", "`cache_dir` `/` holds the project", own),
        (".git", "`cache_dir` `.git` lies in a `.git` directory", git),
        (
            "./.git/rtask/",
            "`cache_dir` `./.git/rtask/` lies in a `.git` directory",
            git,
        ),
        (
            "src",
            "`cache_dir` `src` holds `src/**`, an input of `a`",
            walks,
        ),
        (
            "./src/",
            "`cache_dir` `./src/` holds `src/**`, an input of `a`",
            walks,
        ),
        (
            "cfg",
            "`cache_dir` `cfg` holds `cfg/x.toml`, an input of `a`",
            walks,
        ),
    ] {
        refuses(&with_cache_dir(dir), "2:13", message, hint);
    }

    let project = Project::new();
    let root = project.root().to_str().unwrap().to_string();
    let project = with_cache_dir_in(project, &format!("{root}/"));
    refuses(
        &project,
        "2:13",
        &format!("`cache_dir` `{root}/` is the project root"),
        own,
    );

    // Through symlinks: a link into `.git`, and a link to an input's directory.
    let project = with_cache_dir("cache");
    fs::create_dir_all(project.path(".git/x")).unwrap();
    symlink(".git/x", project.path("cache")).unwrap();
    refuses(
        &project,
        "2:13",
        "`cache_dir` `cache` (`.git/x` through a symlink) lies in a `.git` directory",
        git,
    );
    let project = with_cache_dir("cache");
    symlink("src", project.path("cache")).unwrap();
    refuses(
        &project,
        "2:13",
        "`cache_dir` `cache` (`src` through a symlink) holds `src/**`, an input of `a`",
        walks,
    );

    // The environment's override is checked the same way, without a place in the file.
    let project = Project::with_tasks(SESSION);
    for (value, problem, hint) in [
        ("src", "holds `src/**`, an input of `a`", walks),
        (".git/cache", "lies in a `.git` directory", git),
        (".", "is the project root", own),
    ] {
        let shown = project.root().join(value);
        project
            .rtask_env(&["--list"], &[("RTASK_CACHE_DIR", value)])
            .code(2)
            .stderr_has(&format!(
                "error: `RTASK_CACHE_DIR` `{}` {problem}\n",
                shown.display()
            ))
            .stderr_has(&format!("hint: {hint}"))
            .stderr_lacks("panicked");
    }
}

#[test]
fn a_cache_dir_below_an_input_glob_leaves_only_itself_out_of_the_inputs() {
    let project = Project::with_tasks(
        "[settings]\ncache_dir = \"src/.cache\"\n[sessions.a]\nshell = true\nrun = [\"echo run >> runs.txt\"]\ninputs = [\"src/**\"]\n",
    );
    project.write("src/a.py", "a\n");
    project.rtask(&["a"]).success();
    assert!(project.exists("src/.cache/CACHEDIR.TAG"));
    // The first run filled the cache below `src`; its files are not inputs.
    project.rtask(&["a"]).success().stderr_has("a: cached");
    project.write("src/a.py", "edited\n");
    project
        .rtask(&["a"])
        .success()
        .stderr_has("a: running (input `src/a.py` changed)");
    assert_eq!(project.count("runs.txt"), 2);
}

#[test]
fn an_output_directory_holding_inputs_is_refused() {
    let hint = "a hit would restore the output over the input";
    for (inputs, outputs, message) in [
        (
            "[\"src/**\"]",
            "[\"src/\"]",
            "output `src/` of `a` holds its input `src/**`",
        ),
        (
            "[\"src/pkg/*.py\"]",
            "[\"src\"]",
            "output `src` of `a` holds its input `src/pkg/*.py`",
        ),
        (
            "[\"./gen/schema.json\"]",
            "[\"gen/\"]",
            "output `gen/` of `a` holds its input `gen/schema.json`",
        ),
        (
            "[\"gen/schema.json\"]",
            "[\"gen/schema.json\"]",
            "output `gen/schema.json` of `a` holds its input `gen/schema.json`",
        ),
        (
            "[\"schema.json\"]",
            "[\"*.json\"]",
            "output `*.json` of `a` holds its input `schema.json`",
        ),
    ] {
        let project = Project::with_tasks(&format!(
            "[sessions.a]\nrun = [\"true\"]\ninputs = {inputs}\noutputs = {outputs}\n"
        ));
        refuses(&project, "4:12", message, hint);
    }
}

#[test]
fn outputs_may_hold_what_other_sessions_read() {
    let project = Project::with_tasks(
        r#"
[sessions.generate]
run = ["true"]
inputs = ["schema.json"]
outputs = ["gen/"]

[sessions.build]
run = ["true"]
requires = ["generate"]
inputs = ["gen/**", "src/**", "!src/gen/**"]
outputs = ["src/gen/"]

[sessions.uncached]
run = ["true"]
cache = false
inputs = ["docs/**"]
outputs = ["docs/"]
"#,
    );
    project.rtask(&["--list"]).success();
}

#[test]
fn success_codes_outside_0_255_are_refused() {
    let hint = "exit codes run from 0 to 255";
    for (codes, location, value) in [
        ("[0, 256]", "3:21", "256"),
        ("[-1]", "3:18", "-1"),
        ("[0, 5, 4294967296]", "3:24", "4294967296"),
    ] {
        let project = Project::with_tasks(&format!(
            "[sessions.a]\nrun = [\"true\"]\nsuccess_codes = {codes}\n"
        ));
        refuses(
            &project,
            location,
            &format!("`{value}` in `success_codes` is not an exit code"),
            hint,
        );
    }
    let project = Project::with_tasks(
        "[sessions.a]\nrun = [\"exit 255\"]\nshell = true\nsuccess_codes = [0, 255]\n",
    );
    project.rtask(&["a"]).success();
}

#[test]
fn outputs_aliased_through_a_symlinked_directory_are_refused() {
    let hint = "each path may be the output of one session only";
    for (a, b, message) in [
        (
            "out/x",
            "real/x",
            "output `real/x` of `b` is also claimed by `a` (as `out/x`, through the symlink `out`)",
        ),
        (
            "real/",
            "out/x",
            "output `out/x` of `b` is also claimed by `a` (as `real/`, through the symlink `out`)",
        ),
        (
            "out/*.txt",
            "real/x.txt",
            "output `real/x.txt` of `b` is also claimed by `a` (as `out/*.txt`, through",
        ),
        (
            "d/l/x",
            "real/x",
            "output `real/x` of `b` is also claimed by `a` (as `d/l/x`, through the symlink `d/l`)",
        ),
    ] {
        let project = Project::with_tasks(&format!(
            "[sessions.a]\nrun = [\"true\"]\noutputs = [\"{a}\"]\n[sessions.b]\nrun = [\"true\"]\noutputs = [\"{b}\"]\n"
        ));
        fs::create_dir_all(project.path("real")).unwrap();
        fs::create_dir_all(project.path("d")).unwrap();
        symlink("real", project.path("out")).unwrap();
        symlink("../real", project.path("d/l")).unwrap();
        refuses(&project, "6:12", message, hint);
    }
}

#[test]
fn outputs_reaching_into_git_through_a_symlink_are_refused() {
    let project =
        Project::with_tasks("[sessions.a]\nrun = [\"true\"]\noutputs = [\"h/pre-commit\"]\n");
    fs::create_dir_all(project.path(".git/hooks")).unwrap();
    symlink(".git/hooks", project.path("h")).unwrap();
    refuses(
        &project,
        "3:12",
        "output `h/pre-commit` of `a` reaches into a `.git` directory through the symlink `h`",
        "rtask keeps its state and cache there",
    );
}

/// A glob over the whole project (`**/*.py`) has the root as its base, which no cache directory
/// inside the project holds; the walk would still skip the cache directory and the files the
/// user keeps there. A cache directory holding anything rtask did not write is refused.
#[test]
fn a_cache_dir_holding_files_of_the_project_is_refused() {
    let project = Project::with_tasks(
        "[settings]\ncache_dir = \"lib\"\n\n[sessions.a]\nrun = [\"true\"]\ninputs = [\"**/*.py\"]\n",
    );
    project.write("lib/util.py", "x = 1\n");
    refuses(
        &project,
        "2:13",
        "`cache_dir` `lib` holds `util.py`, which is not rtask's",
        "input walks skip the cache directory",
    );
    // The default cache, once written, holds only rtask's own files.
    let project = Project::with_tasks(
        "[settings]\ncache_dir = \"lib\"\n\n[sessions.a]\nrun = [\"true\"]\ninputs = [\"**/*.py\"]\n",
    );
    project.write("a.py", "x = 1\n");
    project.rtask(&["a"]).success();
    project.rtask(&["a"]).success().stderr_has("a: cached");
}

/// With `out` a symlink to `real`, `out/sub/` is `real/sub/`: a hit restoring it would revert
/// the session's own inputs there, and delete the files it does not hold (a gitignored
/// `real/sub/more.local`). Inputs are followed through symlinks as the walk follows them.
#[test]
fn an_output_holding_its_own_input_through_a_symlink_is_refused() {
    let hint = "a hit would restore the output over the input";
    for (inputs, outputs, message) in [
        (
            "real/sub/**",
            "out/sub/",
            "output `out/sub/` of `a` holds its input `real/sub/**` through the symlink `out`",
        ),
        (
            "out/sub/**",
            "real/sub/",
            "output `real/sub/` of `a` holds its input `out/sub/**` through the symlink `out`",
        ),
        (
            "out/cfg.toml",
            "real/*.toml",
            "output `real/*.toml` of `a` holds its input `out/cfg.toml` through the symlink `out`",
        ),
        (
            "real/**",
            "out/",
            "output `out/` of `a` holds its input `real/**` through the symlink `out`",
        ),
    ] {
        let project = symlinked_out(&format!(
            "[sessions.a]\nrun = [\"true\"]\ninputs = [\"{inputs}\"]\noutputs = [\"{outputs}\"]\n"
        ));
        refuses(&project, "4:12", message, hint);
    }
    // Apart once the symlink is followed: accepted.
    let project = symlinked_out(
        "[sessions.a]\nrun = [\"true\"]\ninputs = [\"real/sub/**\"]\noutputs = [\"out/other/\"]\n",
    );
    project.rtask(&["--list"]).success();
}

/// A project with `out` a symlink to the directory `real`, which holds `sub/`.
fn symlinked_out(tasks: &str) -> Project {
    let project = Project::with_tasks(tasks);
    project.write("real/sub/a.txt", "a\n");
    symlink("real", project.path("out")).unwrap();
    project
}

#[test]
fn two_outputs_of_one_session_naming_one_path_are_refused() {
    for (outputs, location, message, hint) in [
        (
            "\"out/x\", \"real/x\"",
            "3:21",
            "outputs `out/x` and `real/x` of `a` name one path through the symlink `out`",
            "declare each path once, by its real path",
        ),
        (
            "\"real/d/\", \"out/d\"",
            "3:23",
            "outputs `real/d/` and `out/d` of `a` name one path through the symlink `out`",
            "declare each path once, by its real path",
        ),
        (
            "\"x\", \"./x\"",
            "3:17",
            "output `x` of `a` is declared twice",
            "declare each path once",
        ),
    ] {
        let project = symlinked_out(&format!(
            "[sessions.a]\nrun = [\"true\"]\noutputs = [{outputs}]\n"
        ));
        refuses(&project, location, message, hint);
    }
    // A directory and a file in it, or a glob and a file it matches, require that file too.
    let project = symlinked_out(
        "[sessions.a]\nrun = [\"true\"]\noutputs = [\"htmlcov/\", \"htmlcov/index.html\", \"*.xml\", \"a.xml\"]\n",
    );
    project.rtask(&["--list"]).success();
    // Variants of one session may share a glob.
    let project = symlinked_out(
        "[sessions.t]\nrun = [\"true\"]\noutputs = [\".coverage.*\"]\n[sessions.t.parametrize]\nn = [1, 2]\n",
    );
    project.rtask(&["--list"]).success();
}

/// `out/` with `out` a symlink passed validation, then failed every run with
/// "declared output `out/` is a file, not a directory".
#[test]
fn an_output_directory_that_is_a_symlink_is_refused() {
    let project = symlinked_out("[sessions.a]\nrun = [\"true\"]\noutputs = [\"out/\"]\n");
    refuses(
        &project,
        "3:12",
        "output `out/` of `a` is a symlink to the directory `real`",
        "declare the directory the link leads to, `real/`",
    );
    // Outside the project, there is no directory to declare instead.
    let outside = tempfile::tempdir().unwrap();
    let project = Project::with_tasks("[sessions.a]\nrun = [\"true\"]\noutputs = [\"ext/\"]\n");
    symlink(outside.path(), project.path("ext")).unwrap();
    let target = outside.path().canonicalize().unwrap();
    refuses(
        &project,
        "3:12",
        &format!(
            "output `ext/` of `a` is a symlink to the directory `{}`",
            target.display()
        ),
        "restores write a declared directory itself, never through a symlink",
    );
    // Another session's output in the directory it leads to is claimed twice.
    let project = symlinked_out(
        "[sessions.a]\nrun = [\"true\"]\noutputs = [\"out/\"]\n[sessions.b]\nrun = [\"true\"]\noutputs = [\"real/x\"]\n",
    );
    refuses(
        &project,
        "6:12",
        "output `real/x` of `b` is also claimed by `a` (as `out/`, through the symlink `out`)",
        "each path may be the output of one session only",
    );
    // Without the trailing `/`, the symlink itself is the output.
    let project = symlinked_out("[sessions.a]\nrun = [\"true\"]\noutputs = [\"out\"]\n");
    project.rtask(&["--list"]).success();
}

/// A cache directory that is a file could never store: every run warned "Not a directory".
#[test]
fn a_cache_dir_that_is_not_a_directory_is_refused() {
    let hint = "the cache is a directory";
    refuses(
        &with_cache_dir("tasks.toml"),
        "2:13",
        "`cache_dir` `tasks.toml` is not a directory",
        hint,
    );
    refuses(
        &with_cache_dir("cfg/x.toml/cache"),
        "2:13",
        "`cache_dir` `cfg/x.toml/cache` lies below `cfg/x.toml`, which is not a directory",
        hint,
    );
    let project = Project::with_tasks(SESSION);
    project.write("src/a.py", "a\n");
    project
        .rtask_env(&["--list"], &[("RTASK_CACHE_DIR", "src/a.py")])
        .code(2)
        .stderr_has(&format!(
            "error: `RTASK_CACHE_DIR` `{}` is not a directory\n",
            project.root().join("src/a.py").display()
        ))
        .stderr_has(&format!("hint: {hint}"));
}

/// `.rtask` holds machine-local state (virtual environments, the run lock, the stat cache): a
/// cache there would mix with it, and a CI job uploading the cache would upload environments.
#[test]
fn a_cache_dir_in_rtask_state_is_refused() {
    let hint = "the cache may be shared";
    refuses(
        &with_cache_dir(".rtask"),
        "2:13",
        "`cache_dir` `.rtask` is rtask's state directory",
        hint,
    );
    refuses(
        &with_cache_dir("./.rtask/"),
        "2:13",
        "`cache_dir` `./.rtask/` is rtask's state directory",
        hint,
    );
    for dir in [
        ".rtask/venvs",
        ".rtask/stat-cache",
        ".rtask/run.lock",
        "./.rtask/interpreters.json",
    ] {
        refuses(
            &with_cache_dir(dir),
            "2:13",
            &format!("`cache_dir` `{dir}` is part of rtask's machine-local state"),
            hint,
        );
    }
    refuses(
        &with_cache_dir(".rtask/venvs/cache"),
        "2:13",
        "`cache_dir` `.rtask/venvs/cache` lies in `.rtask/venvs`, rtask's machine-local state",
        hint,
    );
    let project = Project::with_tasks(SESSION);
    project
        .rtask_env(&["--list"], &[("RTASK_CACHE_DIR", ".rtask")])
        .code(2)
        .stderr_has(&format!(
            "error: `RTASK_CACHE_DIR` `{}` is rtask's state directory",
            project.root().join(".rtask").display()
        ))
        .stderr_has(&format!("hint: {hint}"));
    // The default, and other directories in `.rtask`, are fine.
    for dir in [".rtask/cache", ".rtask/shared-cache"] {
        with_cache_dir(dir).rtask(&["--list"]).success();
    }
}

#[test]
fn outputs_in_git_in_any_letter_case_are_refused() {
    for (output, message) in [
        (
            ".GIT/x",
            "output `.GIT/x` of `a` reaches into a `.git` directory",
        ),
        (
            "sub/.Git/",
            "output `sub/.Git/` of `a` reaches into a `.git` directory",
        ),
    ] {
        let project = Project::with_tasks(&format!(
            "[sessions.a]\nrun = [\"true\"]\noutputs = [\"{output}\"]\n"
        ));
        refuses(
            &project,
            "3:12",
            message,
            "rtask keeps its state and cache there",
        );
    }
}

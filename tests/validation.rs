//! Task files that would let the cache serve a false hit or damage the project: where the cache
//! lives, outputs that hold their own inputs, exit codes, outputs aliased through symlinks.

use std::fs;
use std::os::unix::fs::symlink;

use crate::errors::refuses;
use crate::support::Project;

#[test]
fn an_output_directory_holding_inputs_is_refused() {
    let hint = "a hit would restore the output over the input";
    for (inputs, outputs, message) in [
        (
            "[\"src/**\"]",
            "[\"src/\"]",
            "output `src/` of `a` holds `src/**`, one of its inputs",
        ),
        (
            "[\"src/pkg/*.py\"]",
            "[\"src\"]",
            "output `src` of `a` holds `src/pkg/*.py`, one of its inputs",
        ),
        (
            "[\"./gen/schema.json\"]",
            "[\"gen/\"]",
            "output `gen/` of `a` holds `gen/schema.json`, one of its inputs",
        ),
        (
            "[\"gen/schema.json\"]",
            "[\"gen/schema.json\"]",
            "output `gen/schema.json` of `a` holds `gen/schema.json`, one of its inputs",
        ),
        (
            "[\"schema.json\"]",
            "[\"*.json\"]",
            "output `*.json` of `a` holds `schema.json`, one of its inputs",
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

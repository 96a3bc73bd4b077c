//! Which files a session's `inputs` name: symlinked directories and `.gitignore` rules.

use std::fs;
use std::os::unix::fs::symlink;

use crate::support::Project;

/// Repoint the symlink `link` of the project at `target`.
fn retarget(project: &Project, link: &str, target: &str) {
    fs::remove_file(project.path(link)).unwrap();
    symlink(target, project.path(link)).unwrap();
}

/// Naming a symlink to a directory walks the directory, as naming the directory would: its
/// files are the inputs, under the link's name.
#[test]
fn a_literal_input_that_links_to_a_directory_keys_its_files() {
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"lib\"]\n");
    project
        .write("reallib/x.py", "1")
        .write("otherlib/x.py", "other");
    symlink("reallib", project.path("lib")).unwrap();
    project.rtask(&["s"]).success();
    project.rtask(&["s"]).success().stderr_has("s: cached");
    project.write("reallib/x.py", "2");
    project
        .rtask(&["s"])
        .success()
        .stderr_has("s: running (input `lib/x.py` changed)");
    retarget(&project, "lib", "otherlib");
    project
        .rtask(&["s"])
        .success()
        .stderr_has("s: running (input `lib/x.py` changed)");
    project.rtask(&["s"]).success().stderr_has("s: cached");
}

/// A named symlink may lead out of the project: what it leads to is walked all the same.
#[test]
fn a_literal_input_that_links_out_of_the_project_keys_what_it_leads_to() {
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir(outside.path().join("pkg")).unwrap();
    fs::write(outside.path().join("pkg/a.py"), "1").unwrap();
    fs::write(outside.path().join(".gitignore"), "*.log\n").unwrap();
    fs::write(outside.path().join("run.log"), "1").unwrap();
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"vendor\"]\n");
    symlink(outside.path(), project.path("vendor")).unwrap();
    project.rtask(&["s"]).success();
    fs::write(outside.path().join("run.log"), "2").unwrap();
    project.rtask(&["s"]).success().stderr_has("s: cached");
    fs::write(outside.path().join("pkg/a.py"), "2").unwrap();
    project
        .rtask(&["s"])
        .success()
        .stderr_has("s: running (input `vendor/pkg/a.py` changed)");
}

/// Where a walk starts is followed when it is a symlink, at the fixed start of a glob as for a
/// named directory, and a literal file may lie below a symlinked directory.
#[test]
fn walks_start_through_symlinked_directories() {
    let project = Project::with_tasks(
        r#"
[sessions.glob]
run = ["true"]
inputs = ["lib/**/*.py"]

[sessions.deep]
run = ["true"]
inputs = ["a/lib/**"]

[sessions.through]
run = ["true"]
inputs = ["lib/x.py"]
"#,
    );
    project
        .write("reallib/x.py", "1")
        .write("reallib/sub/y.py", "1")
        .write("otherlib/x.py", "other")
        .write("otherlib/sub/y.py", "other")
        .write("a/.keep", "");
    symlink("reallib", project.path("lib")).unwrap();
    symlink("../reallib", project.path("a/lib")).unwrap();
    let sessions = ["glob", "deep", "through"];
    project.rtask(&sessions).success();
    project.write("reallib/x.py", "2");
    project
        .rtask(&sessions)
        .success()
        .stderr_has("glob: running (input `lib/x.py` changed)")
        .stderr_has("deep: running (input `a/lib/x.py` changed)")
        .stderr_has("through: running (input `lib/x.py` changed)");
    project.write("reallib/sub/y.py", "2");
    project
        .rtask(&sessions)
        .success()
        .stderr_has("glob: running (input `lib/sub/y.py` changed)")
        .stderr_has("deep: running (input `a/lib/sub/y.py` changed)")
        .stderr_has("through: cached");
    retarget(&project, "lib", "otherlib");
    retarget(&project, "a/lib", "../otherlib");
    project
        .rtask(&sessions)
        .success()
        .stderr_has("glob: running (input `lib/")
        .stderr_has("deep: running (input `a/lib/")
        .stderr_has("through: running (input `lib/x.py` changed)");
}

/// A walk that starts at a symlink to the project (or above it) meets rtask's own state again
/// under the link's name: it is skipped there too, or every run would key the last one's cache.
#[test]
fn rtask_state_is_skipped_when_a_symlink_leads_back_into_the_project() {
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"here\"]\n");
    fs::create_dir(project.path("proj")).unwrap();
    fs::rename(project.path("tasks.toml"), project.path("proj/tasks.toml")).unwrap();
    project.write("proj/a.txt", "a");
    symlink("..", project.path("proj/here")).unwrap();
    let run = |expected: &str| {
        project
            .rtask(&["-f", "proj/tasks.toml", "s"])
            .success()
            .stderr_has(expected);
    };
    run("s: running (no cache entry)");
    run("s: cached");
    project.write("proj/a.txt", "b");
    run("s: running (input `here/proj/a.txt` changed)");
    run("s: cached");
}

/// Lines git reads differently from common glob dialects: an unclosed `[` matches nothing,
/// braces are literal, and a `.gitignore` that is a symlink is not read. The files git does not
/// ignore are inputs: editing one is a miss.
#[test]
fn files_git_does_not_ignore_are_inputs() {
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"src\"]\n");
    project
        .write("src/.gitignore", "sq[uare\n{a,b}.txt\n")
        .write("src/sq[uare", "1")
        .write("src/a.txt", "1")
        .write("shared-ignore", "*.py\n")
        .write("src/sub/x.py", "1");
    symlink("../../shared-ignore", project.path("src/sub/.gitignore")).unwrap();
    project.rtask(&["s"]).success();
    for (file, path) in [
        ("src/sq[uare", "src/sq[uare"),
        ("src/a.txt", "src/a.txt"),
        ("src/sub/x.py", "src/sub/x.py"),
    ] {
        project.write(file, "2");
        project
            .rtask(&["s"])
            .success()
            .stderr_has(&format!("s: running (input `{path}` changed)"));
    }
}

/// An empty alternative names the bare path, as in a shell: `.coverage{,.*}` is `.coverage`
/// and `.coverage.*`, in inputs and in outputs. Without it, `.coverage` was silently left out
/// of the entry, and a restore gave back a result without it.
#[test]
fn an_empty_alternative_names_the_bare_path() {
    let project = Project::with_tasks(
        "[sessions.tests]\n\
         run = [[\"sh\", \"-c\", \"echo data > .coverage; echo part > .coverage.x\"]]\n\
         inputs = [\"src/*.py\"]\n\
         outputs = [\".coverage{,.*}\"]\n\
         [sessions.report]\n\
         requires = [\"tests\"]\n\
         run = [[\"cat\", \".coverage\"]]\n\
         inputs = [\".coverage{,.*}\"]\n",
    );
    project.write("src/a.py", "1");
    project.rtask(&["report"]).success();
    fs::remove_file(project.path(".coverage")).unwrap();
    fs::remove_file(project.path(".coverage.x")).unwrap();
    project
        .rtask(&["report"])
        .success()
        .stderr_has("tests: cached")
        .stderr_has("report: cached");
    assert_eq!(
        fs::read_to_string(project.path(".coverage")).unwrap(),
        "data\n"
    );
    // As an input: the bare name is read, and a change to it is a miss.
    project.write(".coverage", "changed\n").write(
        "tasks.toml",
        "[sessions.reader]\nrun = [[\"cat\", \".coverage\"]]\ninputs = [\".coverage{,.*}\"]\n",
    );
    project.rtask(&["reader"]).success();
    project.write(".coverage", "changed again\n");
    project
        .rtask(&["reader"])
        .success()
        .stderr_has("reader: running (input `.coverage` changed)");
}

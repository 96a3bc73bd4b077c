//! The cache story end to end: miss, hit, restore, invalidation, portability.

use std::fs;

use crate::support::{Project, long_ago};

const BUILD: &str = r#"
[sessions.build]
description = "Copy the sources into out/"
shell = true
run = ["echo run >> runs.txt", "mkdir -p out && cat src/*.txt > out/all.txt && echo built"]
inputs = ["src/**/*.txt"]
outputs = ["out/"]
"#;

fn build_project() -> Project {
    let project = Project::with_tasks(BUILD);
    project
        .write("src/a.txt", "alpha\n")
        .write("src/b.txt", "beta\n");
    project
}

#[test]
fn a_second_run_restores_instead_of_running() {
    let project = build_project();
    project
        .rtask(&["build"])
        .success()
        .stdout_has("built\n")
        .stderr_has("build: running (no cache entry)")
        .stderr_has("1 ran");
    assert_eq!(project.count("runs.txt"), 1);
    project
        .rtask(&["build"])
        .success()
        .stdout_has("│ $ echo run >> runs.txt\n")
        .stdout_has("│ built\n")
        .stderr_has("build: cached: replaying the log of a run from ")
        .stderr_has("1 cached (saved ");
    assert_eq!(project.count("runs.txt"), 1);
    assert_eq!(project.read("out/all.txt"), "alpha\nbeta\n");
}

#[test]
fn changing_an_input_runs_again_and_an_unrelated_file_does_not() {
    let project = build_project();
    project.rtask(&["build"]).success();
    project.write("README.md", "unrelated\n");
    project.rtask(&["build"]).success().stderr_has("cached");
    project.write("src/b.txt", "BETA\n");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: running (input `src/b.txt` changed)");
    assert_eq!(project.count("runs.txt"), 2);
    assert_eq!(project.read("out/all.txt"), "alpha\nBETA\n");
    project.write("src/c.txt", "gamma\n");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("input `src/c.txt` added");
    project.remove("src/a.txt");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("input `src/a.txt` removed");
    assert_eq!(project.count("runs.txt"), 4);
}

#[test]
fn going_back_to_earlier_inputs_hits_the_earlier_entry() {
    let project = build_project();
    project.rtask(&["build"]).success();
    project.write("src/a.txt", "changed\n");
    project.rtask(&["build"]).success();
    project.write("src/a.txt", "alpha\n");
    project.rtask(&["build"]).success().stderr_has("cached");
    assert_eq!(project.count("runs.txt"), 2);
    assert_eq!(project.read("out/all.txt"), "alpha\nbeta\n");
}

#[test]
fn same_size_same_mtime_edit_is_a_miss() {
    let project = build_project();
    project.set_mtime("src/a.txt", long_ago());
    project.rtask(&["build"]).success();
    project.write("src/a.txt", "ALPHA\n");
    project.set_mtime("src/a.txt", long_ago());
    project
        .rtask(&["build"])
        .success()
        .stderr_has("input `src/a.txt` changed");
    assert_eq!(project.count("runs.txt"), 2);
    assert_eq!(project.read("out/all.txt"), "ALPHA\nbeta\n");
}

#[test]
fn swapping_two_files_contents_is_a_miss() {
    let project = build_project();
    project
        .write("src/b.txt", "alpha\n")
        .write("src/a.txt", "beta\n");
    project.rtask(&["build"]).success();
    project
        .write("src/a.txt", "alpha\n")
        .write("src/b.txt", "beta\n");
    project.rtask(&["build"]).success().stderr_has("running (");
    assert_eq!(project.count("runs.txt"), 2);
}

#[test]
fn the_executable_bit_is_an_input() {
    use std::os::unix::fs::PermissionsExt;
    let project = build_project();
    project.rtask(&["build"]).success();
    fs::set_permissions(project.path("src/a.txt"), fs::Permissions::from_mode(0o755)).unwrap();
    project
        .rtask(&["build"])
        .success()
        .stderr_has("input `src/a.txt` changed mode");
}

#[test]
fn deleted_or_damaged_outputs_are_restored_without_running() {
    let project = build_project();
    project.rtask(&["build"]).success();
    project.remove("out");
    project.rtask(&["build"]).success().stderr_has("cached");
    assert_eq!(project.read("out/all.txt"), "alpha\nbeta\n");
    project.write("out/all.txt", "scribbled\n");
    project.write("out/extra.txt", "not from the session\n");
    project
        .rtask(&["-v", "build"])
        .success()
        .stderr_has("restored `out/all.txt`")
        .stderr_has("removed `out/extra.txt`");
    assert_eq!(project.read("out/all.txt"), "alpha\nbeta\n");
    assert!(
        !project.exists("out/extra.txt"),
        "the output directory is made to match exactly"
    );
    assert_eq!(project.count("runs.txt"), 1);
}

#[test]
fn identical_outputs_are_left_alone() {
    let project = build_project();
    project.rtask(&["build"]).success();
    project.set_mtime("out/all.txt", long_ago());
    project
        .rtask(&["-v", "build"])
        .success()
        .stderr_has("build: restored 0 path(s)");
    assert_eq!(project.mtime("out/all.txt"), long_ago());
}

#[test]
fn a_moved_checkout_with_fresh_mtimes_hits() {
    let project = build_project();
    project.rtask(&["build"]).success();
    let moved = project.copy();
    moved.remove("out");
    moved
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
    assert_eq!(moved.read("out/all.txt"), "alpha\nbeta\n");
    assert_eq!(
        moved.count("runs.txt"),
        1,
        "the copy holds the first run's counter only"
    );
}

#[test]
fn files_and_globs_as_outputs() {
    let project = Project::with_tasks(
        r#"
[sessions.data]
shell = true
run = ["echo run >> runs.txt", "echo 1 > .coverage.one && echo 2 > .coverage.two && echo x > report.txt && chmod +x report.txt"]
inputs = ["input.txt"]
outputs = [".coverage.*", "report.txt"]
"#,
    );
    project.write("input.txt", "x");
    project.rtask(&["data"]).success();
    for file in [".coverage.one", ".coverage.two", "report.txt"] {
        project.remove(file);
    }
    project.rtask(&["data"]).success().stderr_has("cached");
    assert_eq!(project.read(".coverage.one"), "1\n");
    assert_eq!(project.read(".coverage.two"), "2\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(project.path("report.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "the mode is restored");
    assert_eq!(project.count("runs.txt"), 1);
}

#[test]
fn a_missing_literal_output_fails_the_session_and_caches_nothing() {
    let project = Project::with_tasks(
        r#"
[sessions.forgetful]
run = ["true"]
inputs = ["input.txt"]
outputs = [".coverage"]
"#,
    );
    project.write("input.txt", "x");
    project
        .rtask(&["forgetful"])
        .code(1)
        .stderr_has("forgetful: failed in")
        .stderr_has("declared output `.coverage` was not produced");
    assert!(project.manifests().is_empty());
}

#[test]
fn a_failed_session_caches_nothing() {
    let project = Project::with_tasks(
        r#"
[sessions.flaky]
shell = true
run = ["echo run >> runs.txt", "test -f pass"]
inputs = ["input.txt"]
"#,
    );
    project.write("input.txt", "x");
    project
        .rtask(&["flaky"])
        .code(1)
        .stderr_has("`sh` exited with code 1");
    project.rtask(&["flaky"]).code(1);
    assert_eq!(project.count("runs.txt"), 2);
    assert!(project.manifests().is_empty());
}

#[test]
fn success_codes_decide_success() {
    let project = Project::with_tasks(
        r#"
[sessions.five]
run = [["sh", "-c", "exit 5"]]
inputs = ["input.txt"]
success_codes = [0, 5]
"#,
    );
    project.write("input.txt", "x");
    project.rtask(&["five"]).success();
    project.rtask(&["five"]).success().stderr_has("cached");
}

#[test]
fn sessions_without_inputs_always_run() {
    let project = Project::with_tasks(
        r#"
[sessions.always]
shell = true
run = ["echo run >> runs.txt"]

[sessions.never]
shell = true
run = ["echo run >> never.txt"]
inputs = ["input.txt"]
cache = false
"#,
    );
    project.write("input.txt", "x");
    project.rtask(&["always", "never"]).success();
    project.rtask(&["always", "never"]).success();
    assert_eq!(project.count("runs.txt"), 2);
    assert_eq!(project.count("never.txt"), 2);
    assert!(project.manifests().is_empty());
}

#[test]
fn env_values_and_env_inputs_enter_the_key() {
    let project = Project::with_tasks(
        r#"
[env]
GLOBAL = "1"

[sessions.show]
shell = true
run = ["echo run >> runs.txt", "echo $GLOBAL $LOCAL $OUTSIDE"]
inputs = ["input.txt"]
env = { LOCAL = "a" }
env_inputs = ["OUTSIDE"]
"#,
    );
    project.write("input.txt", "x");
    project.rtask(&["show"]).success().stdout_has("1 a\n");
    project.rtask(&["show"]).success().stderr_has("cached");
    project
        .rtask_env(&["show"], &[("OUTSIDE", "o")])
        .success()
        .stdout_has("1 a o\n")
        .stderr_has("env `OUTSIDE` changed (unset -> set)");
    project
        .rtask_env(&["show"], &[("OUTSIDE", "o")])
        .success()
        .stderr_has("cached");
    project
        .rtask_env(&["show"], &[("UNRELATED", "u")])
        .success()
        .stderr_has("cached");
    let tasks = project
        .read("tasks.toml")
        .replace("LOCAL = \"a\"", "LOCAL = \"b\"");
    project.write("tasks.toml", &tasks);
    project
        .rtask(&["show"])
        .success()
        .stderr_has("env `LOCAL` changed");
    let tasks = project
        .read("tasks.toml")
        .replace("GLOBAL = \"1\"", "GLOBAL = \"2\"");
    project.write("tasks.toml", &tasks);
    project
        .rtask(&["show"])
        .success()
        .stderr_has("env `GLOBAL` changed");
    assert_eq!(project.count("runs.txt"), 4);
}

#[test]
fn env_values_are_stored_only_as_digests() {
    let project = Project::with_tasks(
        r#"
[sessions.secret]
run = ["true"]
inputs = ["input.txt"]
env = { TOKEN = "hunter2-very-secret" }
env_inputs = ["OUTSIDE_SECRET"]
"#,
    );
    project.write("input.txt", "x");
    project
        .rtask_env(&["secret"], &[("OUTSIDE_SECRET", "s3cr3t-value")])
        .success();
    let manifests = project.manifests();
    assert_eq!(manifests.len(), 1);
    let text = fs::read_to_string(&manifests[0]).unwrap();
    assert!(text.contains("\"TOKEN\""), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(
        !text.contains(project.root().to_str().unwrap()),
        "no absolute paths: {text}"
    );
}

#[test]
fn editing_one_session_does_not_invalidate_another() {
    let project = Project::with_tasks(
        r#"
[sessions.one]
shell = true
run = ["echo run >> one.txt"]
inputs = ["input.txt"]

[sessions.two]
shell = true
run = ["echo run >> two.txt"]
inputs = ["input.txt"]
"#,
    );
    project.write("input.txt", "x");
    project.rtask(&["one", "two"]).success();
    let tasks = project
        .read("tasks.toml")
        .replace("echo run >> two.txt", "echo again >> two.txt");
    project.write("tasks.toml", &tasks);
    project
        .rtask(&["one", "two"])
        .success()
        .stderr_has("one: cached")
        .stderr_has("two: running (command changed: `sh -c 'echo run >> two.txt'` -> `sh -c 'echo again >> two.txt'`)");
    assert_eq!(project.count("one.txt"), 1);
    assert_eq!(project.count("two.txt"), 2);
}

#[test]
fn posargs_reach_the_command_and_the_key() {
    let project = Project::with_tasks(
        r#"
[sessions.echo]
run = ["echo args: {posargs:none given}"]
inputs = ["input.txt"]
"#,
    );
    project.write("input.txt", "x");
    project
        .rtask(&["echo"])
        .success()
        .stdout_has("args: none given\n");
    project
        .rtask(&["echo", "--", "-k", "a b"])
        .success()
        .stdout_has("args: -k a b\n")
        .stderr_has("running (posargs changed: `` -> `-k 'a b'`)");
    project
        .rtask(&["echo", "--", "-k", "a b"])
        .success()
        .stderr_has("cached");
}

#[test]
fn force_runs_and_stores_and_no_cache_touches_nothing() {
    let project = build_project();
    project
        .rtask(&["--no-cache", "build"])
        .success()
        .stderr_has("(--no-cache)");
    assert!(
        !project.exists(".rtask/cache"),
        "--no-cache writes no cache"
    );
    project.rtask(&["build"]).success();
    project
        .rtask(&["--force", "build"])
        .success()
        .stderr_has("build: running (--force)");
    project
        .rtask(&["--no-cache", "build"])
        .success()
        .stderr_has("ran");
    assert_eq!(project.count("runs.txt"), 4);
    project.rtask(&["build"]).success().stderr_has("cached");
}

#[test]
fn gitignored_files_are_not_inputs_unless_named() {
    let project = Project::with_tasks(
        r#"
[sessions.build]
shell = true
run = ["echo run >> runs.txt"]
inputs = ["src/**", "src/generated.txt", "!src/scratch/**"]
"#,
    );
    project
        .write(".gitignore", "src/*.log\nsrc/generated.txt\nruns.txt\n")
        .write("src/a.txt", "a")
        .write("src/debug.log", "1")
        .write("src/generated.txt", "1")
        .write("src/scratch/tmp.txt", "1");
    project.rtask(&["build"]).success();
    project
        .write("src/debug.log", "2")
        .write("src/scratch/tmp.txt", "2");
    project.rtask(&["build"]).success().stderr_has("cached");
    project.write("src/generated.txt", "2");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("input `src/generated.txt` changed");
}

#[test]
fn a_missing_literal_input_is_an_error_naming_it() {
    let project = Project::with_tasks(
        r#"
[sessions.build]
run = ["true"]
inputs = ["pyproject.toml"]
"#,
    );
    project
        .rtask(&["build"])
        .code(1)
        .stderr_has("input `pyproject.toml` does not exist");
}

#[test]
fn inputs_changed_by_the_session_are_not_cached() {
    let project = Project::with_tasks(
        r#"
[sessions.format]
shell = true
run = ["echo formatted >> src/a.txt"]
inputs = ["src/*.txt"]
"#,
    );
    project.write("src/a.txt", "a\n");
    project
        .rtask(&["format"])
        .success()
        .stderr_has("inputs of `format` changed while it ran; its result is not cached");
    assert!(project.manifests().is_empty());
}

#[test]
fn dry_run_says_why_and_writes_nothing() {
    let project = build_project();
    project
        .rtask(&["--dry-run", "build"])
        .success()
        .stdout_has("build: would run: no cache entry for this session yet\n");
    assert!(!project.exists(".rtask"));
    assert_eq!(project.count("runs.txt"), 0);
    project.rtask(&["build"]).success();
    project
        .rtask(&["--dry-run", "build"])
        .success()
        .stdout_has("build: would be restored from the cache (commands ");
    project.write("src/a.txt", "changed\n");
    project.rtask(&["--dry-run", "build"]).success().stdout_has(
        "build: would run, differences from the newest entry:\n  - input `src/a.txt` changed\n",
    );
    assert_eq!(project.count("runs.txt"), 1);
}

#[test]
fn the_cache_dir_can_be_moved_by_setting_or_environment() {
    let project = Project::with_tasks(&format!("[settings]\ncache_dir = \"build-cache\"\n{BUILD}"));
    project.write("src/a.txt", "a\n");
    project.rtask(&["build"]).success();
    assert!(project.exists("build-cache/CACHEDIR.TAG"));
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().join("shared");
    project
        .rtask_env(&["build"], &[("RTASK_CACHE_DIR", dir.to_str().unwrap())])
        .success()
        .stderr_has("running (no cache entry)");
    assert!(dir.join("v1/entries/build").is_dir());
}

#[test]
fn concurrent_processes_sharing_a_cache_do_not_corrupt_it() {
    let project = build_project();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let mut command = project.command(&["--force", "build"]);
            std::thread::spawn(move || command.output().unwrap())
        })
        .collect();
    for handle in handles {
        assert!(handle.join().unwrap().status.success());
    }
    project.remove("out");
    project.rtask(&["build"]).success().stderr_has("cached");
    assert_eq!(project.read("out/all.txt"), "alpha\nbeta\n");
}

#[test]
fn ignore_files_above_the_repository_do_not_count() {
    let outer = Project::new();
    outer
        .write(".gitignore", "*.txt\n")
        .write(
            "proj/tasks.toml",
            "[sessions.s]\nrun = [\"true\"]\ninputs = [\"src/**\"]\n",
        )
        .write("proj/src/a.txt", "a");
    let dry_run =
        |project: &Project| project.rtask(&["-f", "proj/tasks.toml", "--dry-run", "-v", "s"]);
    outer.rtask(&["-f", "proj/tasks.toml", "s"]).success();
    outer.write("proj/src/a.txt", "changed");
    dry_run(&outer)
        .success()
        .stdout_has("input `src/a.txt` changed");
    fs::create_dir(outer.path(".git")).unwrap();
    dry_run(&outer)
        .success()
        .stdout_has("input `src/a.txt` removed");
}

#[test]
fn backslash_escapes_glob_characters() {
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = ['\\*star.txt']\n");
    project.write("*star.txt", "1").write("xstar.txt", "1");
    project.rtask(&["s"]).success();
    project.write("xstar.txt", "2");
    project.rtask(&["s"]).success().stderr_has("cached");
    project.write("*star.txt", "2");
    project
        .rtask(&["s"])
        .success()
        .stderr_has("input `*star.txt` changed");
}

#[test]
fn a_named_directory_counts_even_when_ignored() {
    let project = Project::with_tasks(
        r#"
[sessions.literal]
shell = true
run = ["echo run >> literal.runs"]
inputs = ["build"]

[sessions.glob]
shell = true
run = ["echo run >> glob.runs"]
inputs = ["build/**/*.h"]
"#,
    );
    project
        .write(".gitignore", "build/\n*.runs\n")
        .write("build/lib/x.h", "1");
    project.rtask(&["literal", "glob"]).success();
    project.write("build/lib/x.h", "2");
    project
        .rtask(&["literal", "glob"])
        .success()
        .stderr_has("literal: running (input `build/lib/x.h` changed)")
        .stderr_has("glob: running (input `build/lib/x.h` changed)");
}

#[test]
fn ignore_files_between_the_repository_and_the_project_are_anchored_where_they_stand() {
    let repo = Project::new();
    fs::create_dir(repo.path(".git")).unwrap();
    repo.write(".gitignore", "/src/\n/proj/src/gen.txt\n")
        .write(
            "proj/tasks.toml",
            "[sessions.s]\nrun = [\"true\"]\ninputs = [\"src/**\"]\n",
        )
        .write("proj/src/a.txt", "a")
        .write("proj/src/gen.txt", "g")
        .write("src/other.txt", "o");
    repo.rtask(&["-f", "proj/tasks.toml", "s"]).success();
    repo.write("proj/src/gen.txt", "changed");
    repo.rtask(&["-f", "proj/tasks.toml", "s"])
        .success()
        .stderr_has("cached");
    repo.write("proj/src/a.txt", "changed");
    repo.rtask(&["-f", "proj/tasks.toml", "s"])
        .success()
        .stderr_has("input `src/a.txt` changed");
}

#[test]
fn a_symlinked_input_keys_on_what_it_leads_to() {
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"cfg\"]\n");
    project.write("shared/cfg.real", "1");
    std::os::unix::fs::symlink("shared/cfg.real", project.path("cfg")).unwrap();
    project.rtask(&["s"]).success();
    project.write("shared/cfg.real", "2");
    project
        .rtask(&["s"])
        .success()
        .stderr_has("input `cfg` changed");
}

/// The stat cache trusts files last modified well before they were hashed; these edits keep
/// size and mtime, so only the other stat fields (ctime, inode) can reveal them.
#[test]
fn the_stat_cache_never_hides_an_edit() {
    let project = build_project();
    project.set_mtime("src/a.txt", long_ago());
    project.set_mtime("src/b.txt", long_ago());
    project.rtask(&["build"]).success();
    project.rtask(&["build"]).success().stderr_has("cached");
    assert!(project.exists(".rtask/stat-cache"));
    // Same size, mtime put back.
    project.write("src/a.txt", "ALPHA\n");
    project.set_mtime("src/a.txt", long_ago());
    project
        .rtask(&["build"])
        .success()
        .stderr_has("input `src/a.txt` changed");
    // Swapped contents, both mtimes put back.
    project
        .write("src/a.txt", "beta\n")
        .write("src/b.txt", "ALPHA\n");
    project.set_mtime("src/a.txt", long_ago());
    project.set_mtime("src/b.txt", long_ago());
    project
        .rtask(&["build"])
        .success()
        .stderr_has("input `src/a.txt` changed");
    // Replaced through a rename, mtime put back.
    project.write("replacement.txt", "gamma\n");
    project.set_mtime("replacement.txt", long_ago());
    fs::rename(project.path("replacement.txt"), project.path("src/a.txt")).unwrap();
    project
        .rtask(&["build"])
        .success()
        .stderr_has("input `src/a.txt` changed");
    assert_eq!(project.read("out/all.txt"), "gamma\nALPHA\n");
    // A damaged stat cache is only a slower run.
    project.write(".rtask/stat-cache", "garbage");
    project.rtask(&["build"]).success().stderr_has("cached");
}

/// A FIFO is never opened for reading, whatever leads to it: a `.gitignore`, a symlink named
/// as an input. rtask would hang there; the test gives it 30 seconds.
#[test]
fn fifos_never_block_the_walk() {
    let project =
        Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"**/*\", \"link\"]\n");
    project.write("a.txt", "a");
    for fifo in ["pipe", ".gitignore"] {
        let status = std::process::Command::new("mkfifo")
            .arg(project.path(fifo))
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::os::unix::fs::symlink("pipe", project.path("link")).unwrap();
    let mut child = project
        .command(&["s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("rtask blocked on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success());
    project.rtask(&["s"]).success().stderr_has("cached");
}

#[test]
fn special_files_are_not_inputs() {
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"**/*\"]\n");
    project.write("a.txt", "a");
    let status = std::process::Command::new("mkfifo")
        .arg(project.path("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    project.rtask(&["s"]).success();
    project.rtask(&["s"]).success().stderr_has("cached");
}

#[test]
fn nested_ignore_files_decide_innermost_first() {
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"src/**\"]\n");
    project
        .write(".gitignore", "*.gen\n")
        .write("src/.gitignore", "!keep.gen\nbuild/\n")
        .write("src/sub/.gitignore", "*.txt\n")
        .write("src/a.txt", "1")
        .write("src/x.gen", "1")
        .write("src/keep.gen", "1")
        .write("src/build/out.txt", "1")
        .write("src/sub/b.txt", "1")
        .write("src/sub/c.md", "1")
        .write("src/sub/deeper/d.txt", "1");
    project.rtask(&["s"]).success();
    for ignored in [
        "src/x.gen",
        "src/build/out.txt",
        "src/sub/b.txt",
        "src/sub/deeper/d.txt",
    ] {
        project.write(ignored, "2");
        project.rtask(&["s"]).success().stderr_has("cached");
    }
    for counted in [
        "src/a.txt",
        "src/keep.gen",
        "src/sub/c.md",
        "src/sub/.gitignore",
    ] {
        project.write(counted, "2\n");
        project
            .rtask(&["s"])
            .success()
            .stderr_has(&format!("input `{counted}` changed"));
    }
}

/// Files are looked up in the stat cache directory by directory, in name order: files added
/// and removed between entries it knows, in several directories, must all be seen.
#[test]
fn the_stat_cache_follows_files_added_and_removed_between_known_ones() {
    let project = Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"**/*.txt\"]\n");
    for dir in ["", "d/", "d/e/"] {
        for name in ["b", "d", "f"] {
            let path = format!("{dir}{name}.txt");
            project.write(&path, name);
            project.set_mtime(&path, long_ago());
        }
    }
    project.rtask(&["s"]).success();
    project.rtask(&["s"]).success().stderr_has("cached");
    project.write("d/c.txt", "c").write("d/e/a.txt", "a");
    project.remove("d/e/d.txt");
    project
        .rtask(&["--dry-run", "s"])
        .success()
        .stdout_has("input `d/c.txt` added")
        .stdout_has("input `d/e/a.txt` added")
        .stdout_has("input `d/e/d.txt` removed");
    project.rtask(&["s"]).success().stderr_has("ran");
    project.rtask(&["s"]).success().stderr_has("cached");
    // Same size, mtime put back, in the last directory the walk knows.
    project.write("d/e/f.txt", "F");
    project.set_mtime("d/e/f.txt", long_ago());
    project
        .rtask(&["s"])
        .success()
        .stderr_has("input `d/e/f.txt` changed");
}

/// What one session hashed serves the next in the same run only while the file's stat is the
/// same: a file rewritten in between (same size, old mtime) is read again.
#[test]
fn hashes_taken_earlier_in_a_run_do_not_outlive_a_rewrite() {
    let project = Project::with_tasks(
        r#"
[sessions.look]
run = ["true"]
inputs = ["src/**"]

[sessions.rewrite]
shell = true
run = ["printf B > src/gen/x.txt && touch -d 2001-01-01 src/gen/x.txt"]
inputs = ["src/a.txt"]

[sessions.use]
run = ["true"]
inputs = ["src/**"]
"#,
    );
    project.write("src/a.txt", "a").write("src/gen/x.txt", "A");
    project.set_mtime("src/a.txt", long_ago());
    project.set_mtime("src/gen/x.txt", long_ago());
    // One at a time, in this order: `look` hashes x.txt, `rewrite` changes it, `use` keys on it.
    project
        .rtask(&["-j", "1", "look", "rewrite", "use"])
        .success();
    assert_eq!(project.read("src/gen/x.txt"), "B");
    // Had `use` keyed on the hash `look` took, it would not be cached now.
    project.rtask(&["use"]).success().stderr_has("use: cached");
}

/// Linux file systems take any bytes as a name; macOS's refuse names that are not UTF-8.
#[cfg(target_os = "linux")]
#[test]
fn a_file_name_that_is_not_utf8_is_an_error_naming_it_unless_ignored() {
    use std::os::unix::ffi::OsStrExt;
    let project =
        Project::with_tasks("[sessions.s]\nrun = [\"true\"]\ninputs = [\"src/**/*.txt\"]\n");
    project
        .write("src/a.txt", "a")
        .write(".gitignore", "*.tmp.txt\n");
    // Ignored, and not matched by the inputs' globs: neither counts.
    for name in [&b"src/bad\xff.tmp.txt"[..], b"src/bad\xff.dat"] {
        fs::write(project.root().join(std::ffi::OsStr::from_bytes(name)), "x").unwrap();
    }
    project.rtask(&["s"]).success();
    let counted = std::ffi::OsStr::from_bytes(b"src/bad\xff.txt");
    fs::write(project.root().join(counted), "x").unwrap();
    project
        .rtask(&["s"])
        .code(1)
        .stderr_has("`src/bad\u{fffd}.txt` is not a valid UTF-8 path");
}

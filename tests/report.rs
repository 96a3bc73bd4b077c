//! `--report FILE`: checked before anything runs, so a run never ends without its report; written
//! whole, beside the file and renamed over it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::process::Stdio;

use crate::support::{Project, long_ago};

const TASKS: &str = "[sessions.work]\nshell = true\nrun = [\"echo ran >> runs.txt\"]\n";

/// The names in `relative` (a directory of the project), sorted.
fn names(project: &Project, relative: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(project.path(relative))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_report_that_cannot_be_written_stops_the_run_before_it_starts() {
    let project = Project::with_tasks(TASKS);
    project.write("taken/.keep", "");
    symlink("/nonexistent/zz/r.json", project.path("dangling")).unwrap();
    symlink("taken", project.path("to_directory")).unwrap();
    symlink("loop_b", project.path("loop_a")).unwrap();
    symlink("loop_a", project.path("loop_b")).unwrap();
    symlink("newdir/", project.path("slash_link")).unwrap();
    let long = "a".repeat(300);
    let before = names(&project, ".");
    let cases = [
        ("missing", "no/such/dir/report.json"),
        ("directory", "taken"),
        ("dangling", "dangling"),
        ("parent_is_a_file", "tasks.toml/report.json"),
        ("ancestor_is_a_file", "tasks.toml/deeper/report.json"),
        ("link_to_directory", "to_directory"),
        ("link_loop", "loop_a"),
        ("trailing_slash", "r.json/"),
        ("link_to_a_slash", "slash_link"),
        ("name_too_long", long.as_str()),
    ];
    for (name, path) in cases {
        let run = project.rtask(&["--report", path, "work"]);
        run.code(3);
        assert!(!project.exists("runs.txt"), "{name}: a session ran\n{run}");
        project
            .redactions()
            .bind(|| insta::assert_snapshot!(format!("unwritable_{name}"), run.stderr));
    }
    // The checks left nothing behind, and a good path still works.
    let after: Vec<String> = names(&project, ".")
        .into_iter()
        .filter(|name| name != ".rtask")
        .collect();
    assert_eq!(after, before);
    assert_eq!(names(&project, "taken"), [".keep"]);
    project
        .rtask(&["--report", "taken/r.json", "work"])
        .success();
    assert_eq!(project.read("runs.txt"), "ran\n");
    assert_eq!(names(&project, "taken"), [".keep", "r.json"]);
    let report: serde_json::Value = serde_json::from_str(&project.read("taken/r.json")).unwrap();
    assert_eq!(report["result"], 1);
}

#[test]
fn a_directory_no_one_can_write_in_is_found_before_the_run() {
    // Not even root may make a file in /proc: the check really tries.
    let project = Project::with_tasks(TASKS);
    project
        .rtask(&["--report", "/proc/rtask-report.json", "work"])
        .code(3)
        .stderr_has("`--report /proc/rtask-report.json`: cannot write in its directory `/proc`");
    assert!(!project.exists("runs.txt"));
}

#[test]
fn the_check_leaves_an_existing_report_untouched() {
    // The check passes, then the run stops before any session (`--restore-only` of a session
    // that cannot be cached): the old report is still there as it was.
    let project = Project::with_tasks(TASKS);
    project.write("r.json", "old report\n");
    project.set_mtime("r.json", long_ago());
    project
        .rtask(&["--report", "r.json", "--restore-only", "work"])
        .code(4);
    assert!(!project.exists("runs.txt"));
    assert_eq!(project.read("r.json"), "old report\n");
    assert_eq!(project.mtime("r.json"), long_ago());
    assert_eq!(names(&project, "."), [".rtask", "r.json", "tasks.toml"]);
}

#[test]
fn a_read_only_report_is_refused_unless_the_user_may_write_anything() {
    let project = Project::with_tasks(TASKS);
    project.write("r.json", "old report\n");
    fs::set_permissions(project.path("r.json"), fs::Permissions::from_mode(0o444)).unwrap();
    let run = project.rtask(&["--report", "r.json", "work"]);
    // The tests' user made the project: its owner says whether that user is root.
    if fs::metadata(project.root()).unwrap().uid() == 0 {
        // Root may write a read-only file, as `sh -c 'echo > r.json'` does: it is replaced.
        run.success();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&project.read("r.json")).unwrap()["result"],
            1
        );
    } else {
        run.code(3)
            .stderr_has("r.json`: it is read-only\n")
            .stderr_has("hint: make it writable (`chmod u+w`), or give `--report` another file");
        assert!(!project.exists("runs.txt"), "a session ran\n{run}");
        assert_eq!(project.read("r.json"), "old report\n");
    }
}

#[test]
fn a_report_through_a_link_lands_where_it_points_and_the_link_stays() {
    let project = Project::with_tasks(TASKS);
    project.write("reports/.keep", "");
    symlink("reports/r.json", project.path("latest.json")).unwrap();
    // The link's file does not exist yet: it is made.
    project
        .rtask(&["--report", "latest.json", "work"])
        .success();
    let link = fs::symlink_metadata(project.path("latest.json")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(
        fs::read_link(project.path("latest.json")).unwrap(),
        std::path::Path::new("reports/r.json")
    );
    let report: serde_json::Value = serde_json::from_str(&project.read("reports/r.json")).unwrap();
    assert_eq!(report["sessions"][0]["name"], "work");
    // It now exists: it is replaced whole, keeping its mode, and no temporary file is left.
    fs::set_permissions(
        project.path("reports/r.json"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    project
        .rtask(&["--report", "latest.json", "work"])
        .success();
    assert!(
        fs::symlink_metadata(project.path("latest.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let replaced = fs::metadata(project.path("reports/r.json")).unwrap();
    assert_eq!(replaced.permissions().mode() & 0o777, 0o640);
    assert_eq!(names(&project, "reports"), [".keep", "r.json"]);
    assert_eq!(project.read("runs.txt"), "ran\nran\n");
    let names_at_root: Vec<String> = names(&project, ".");
    assert_eq!(
        names_at_root,
        [".rtask", "latest.json", "reports", "runs.txt", "tasks.toml"]
    );
}

#[test]
fn two_runs_writing_one_report_at_once_leave_one_whole_report() {
    let shared = Project::new();
    let report = shared.path("r.json");
    let report = report.to_str().unwrap();
    let projects = [Project::with_tasks(TASKS), Project::with_tasks(TASKS)];
    let runs: Vec<_> = projects
        .iter()
        .map(|project| {
            project
                .command(&["--report", report, "work"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut run in runs {
        assert!(run.wait().unwrap().success());
    }
    let written: serde_json::Value = serde_json::from_str(&shared.read("r.json")).unwrap();
    assert_eq!(written["result"], 1);
    assert_eq!(names(&shared, "."), ["r.json"]);
}

#[test]
fn a_device_that_takes_no_data_fails_the_run_after_it_without_a_crash() {
    // Opening `/dev/full` works and only writing fails, which no check can find without
    // writing: the sessions run, and then rtask says it could not write the report.
    let project = Project::with_tasks(TASKS);
    let run = project.rtask(&["--report", "/dev/full", "work"]);
    run.code(3);
    assert_eq!(project.read("runs.txt"), "ran\n");
    let error = run
        .stderr
        .lines()
        .skip_while(|line| !line.starts_with("error:"));
    insta::assert_snapshot!(error.collect::<Vec<_>>().join("\n"), @r"
    error: cannot write the report `/dev/full`: No space left on device (os error 28)
      hint: the run is over, but its report is lost: give `--report` a file that can take it, and run again
    ");
}

#[test]
fn a_report_error_into_a_closed_stderr_is_no_crash() {
    // `rtask --report … 2>&1 | head -1`: the reader is gone before rtask says anything.
    let project = Project::with_tasks(TASKS);
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    let status = project
        .command(&["--report", "no/such/dir/r.json", "work"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(writer))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(!project.exists("runs.txt"));
}

#[test]
fn a_report_to_dev_stdout_goes_after_the_output_it_was_redirected_with() {
    // `rtask --report /dev/stdout >> all.log`: the log keeps what it held and the run's
    // output, and the report follows them.
    let project = Project::with_tasks(TASKS);
    project.write("all.log", "PRECIOUS\n");
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(project.path("all.log"))
        .unwrap();
    let status = project
        .command(&["--report", "/dev/stdout", "work"])
        .stdout(Stdio::from(log))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let text = project.read("all.log");
    assert!(text.starts_with("PRECIOUS\n"), "{text}");
    let report = &text[text.find("{\n").unwrap()..];
    let report: serde_json::Value = serde_json::from_str(report).unwrap();
    assert_eq!(report["sessions"][0]["name"], "work");
    assert_eq!(
        names(&project, "."),
        [".rtask", "all.log", "runs.txt", "tasks.toml"]
    );
}

#[test]
fn a_report_is_never_written_among_rtasks_own_files() {
    let project = Project::with_tasks(TASKS);
    project.rtask(&["work"]).success();
    let lock = project.read(".rtask/run.lock");
    let mut said = String::new();
    for path in [".rtask/run.lock", ".rtask/r.json"] {
        let run = project.rtask(&["--report", path, "work"]);
        run.code(3);
        said.push_str(&run.stderr);
    }
    project.redactions().bind(|| {
        insta::assert_snapshot!(said, @r"
        error: `--report [project]/.rtask/run.lock`: it is in `[project]/.rtask`, which rtask keeps to itself
          hint: give `--report` a file outside `.rtask/`, the cache and the environments
        error: `--report [project]/.rtask/r.json`: it is in `[project]/.rtask`, which rtask keeps to itself
          hint: give `--report` a file outside `.rtask/`, the cache and the environments
        ")
    });
    assert_eq!(project.read(".rtask/run.lock"), lock);
    assert_eq!(project.read("runs.txt"), "ran\n");
}

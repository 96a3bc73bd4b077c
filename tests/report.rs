//! `--report FILE`: checked before anything runs, so a run never ends without its report.

use crate::support::Project;

const TASKS: &str = "[sessions.work]\nshell = true\nrun = [\"echo ran >> runs.txt\"]\n";

#[test]
fn a_report_that_cannot_be_written_stops_the_run_before_it_starts() {
    let project = Project::with_tasks(TASKS);
    project.write("taken/.keep", "");
    let cases = [
        ("missing", "no/such/dir/report.json"),
        ("directory", "taken"),
    ];
    for (name, path) in cases {
        let run = project.rtask(&["--report", path, "work"]);
        run.code(3);
        project
            .redactions()
            .bind(|| insta::assert_snapshot!(format!("unwritable_{name}"), run.stderr));
    }
    assert!(!project.exists("runs.txt"), "a session ran");
    // Nothing is left behind by the check, and a good path still works.
    project
        .rtask(&["--report", "taken/r.json", "work"])
        .success();
    assert_eq!(project.read("runs.txt"), "ran\n");
    let left: Vec<_> = std::fs::read_dir(project.path("taken"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
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

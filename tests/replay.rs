//! A cache hit's log is shown as a replay, never as a live run: a header saying when the run
//! was and what its commands took, a gutter before each line, a CI group titled as a replay;
//! `[settings] replay` and `--replay` say how much of it is shown. Times keep the making of an
//! environment apart from the session's own, and a hit saves only its commands' time.

use std::fs;

use crate::support::{Project, Run};

const BUILD: &str = r#"
[sessions.build]
shell = true
run = ["echo building; echo 20 passed", "printf 'no newline at the end'"]
inputs = ["src/**"]
outputs = ["out.txt"]
"#;

/// What a run printed, exit code first, with times, dates and temporary paths filtered out.
fn shown(run: &Run) -> String {
    format!(
        "exit code: {}\n--- stdout\n{}\n--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

fn timeless() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "[date] UTC");
    settings.add_filter(r"\d+ m \d\d s|\d+\.\d s\b", "[t]");
    settings.add_filter(r"`/[^`]*/rtask-test[^/`]*", "`[project]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[key]");
    settings
}

/// A project whose `build` ran once and is now a hit.
fn built(tasks: &str) -> Project {
    let project = Project::with_tasks(tasks);
    project.write("src/a.txt", "a\n");
    project.write("out.txt", "");
    let first = project.rtask(&["build"]);
    first.success();
    timeless().bind(|| {
        insta::assert_snapshot!("first_run", shown(&first));
    });
    project
}

#[test]
fn a_hit_replays_its_log_behind_a_gutter_under_a_replay_header() {
    let project = built(BUILD);
    let hit = project.rtask(&["build"]);
    timeless().bind(|| {
        insta::assert_snapshot!("hit_full", shown(&hit));
    });
}

#[test]
fn on_a_terminal_the_gutter_is_dim_and_the_header_bold() {
    let project = built(BUILD);
    let hit = project.rtask(&["build", "--color", "always"]);
    hit.success();
    assert_eq!(
        hit.stdout,
        "\x1b[2m│ \x1b[0m$ echo building; echo 20 passed\n\
         \x1b[2m│ \x1b[0mbuilding\n\
         \x1b[2m│ \x1b[0m20 passed\n\
         \x1b[2m│ \x1b[0m$ printf 'no newline at the end'\n\
         \x1b[2m│ \x1b[0mno newline at the end"
    );
    let header = hit.stderr.lines().next().unwrap();
    assert!(
        header.starts_with("\x1b[1mbuild: \x1b[32mcached\x1b[0m: replaying the log of a run from "),
        "{hit}"
    );
}

#[test]
fn a_ci_group_is_titled_as_a_replay() {
    let project = built(BUILD);
    let hit = project.rtask_env(&["build"], &[("GITHUB_ACTIONS", "true"), ("CI", "true")]);
    timeless().bind(|| {
        insta::assert_snapshot!("hit_github", shown(&hit));
    });
}

#[test]
fn errors_shows_a_hit_as_its_header_line_alone() {
    let project = built(&format!("[settings]\nreplay = \"errors\"\n{BUILD}"));
    let hit = project.rtask(&["build"]);
    timeless().bind(|| {
        insta::assert_snapshot!("hit_errors", shown(&hit));
    });
    // Under GitHub Actions, no group is opened for a header alone.
    let ci = project.rtask_env(&["build"], &[("GITHUB_ACTIONS", "true")]);
    ci.success().stdout_lacks("::group::");
}

#[test]
fn none_shows_a_hit_only_in_the_summary() {
    let project = built(&format!("[settings]\nreplay = \"none\"\n{BUILD}"));
    let hit = project.rtask(&["build"]);
    timeless().bind(|| {
        insta::assert_snapshot!("hit_none", shown(&hit));
    });
}

#[test]
fn the_flag_wins_over_the_setting() {
    let project = built(&format!("[settings]\nreplay = \"none\"\n{BUILD}"));
    let full = project.rtask(&["build", "--replay", "full"]);
    let errors = project.rtask(&["--replay=errors", "build"]);
    let none = Project::with_tasks(BUILD);
    none.write("src/a.txt", "a\n");
    none.write("out.txt", "");
    none.rtask(&["build"]).success();
    let quiet = none.rtask(&["build", "--replay", "none"]);
    timeless().bind(|| {
        insta::assert_snapshot!(
            "flag_wins",
            format!(
                "{}\n=== errors\n{}\n=== none\n{}",
                shown(&full),
                shown(&errors),
                shown(&quiet)
            )
        );
    });
}

#[test]
fn a_bad_replay_flag_is_a_usage_error() {
    let project = Project::with_tasks(BUILD);
    let run = project.rtask(&["--replay", "some"]);
    run.code(3);
    insta::assert_snapshot!("bad_flag", run.stderr);
}

/// An entry stored before rtask recorded its commands' time is still a hit: its header and
/// its saving count the whole run's time, the best it knows.
#[test]
fn an_entry_without_its_commands_time_is_still_a_hit() {
    let project = built(BUILD);
    let [manifest] = project.manifests().try_into().unwrap();
    let mut entry: serde_json::Value =
        serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    let object = entry.as_object_mut().unwrap();
    assert!(object.remove("commands_ms").is_some(), "{object:?}");
    object.insert("duration_ms".to_string(), 75_000.into());
    fs::write(&manifest, serde_json::to_vec(&entry).unwrap()).unwrap();
    let hit = project.rtask(&["build", "--replay", "errors"]);
    hit.success();
    let header = hit.stderr.lines().next().unwrap();
    assert!(
        header.ends_with("(commands 1 m 15 s); log not replayed"),
        "{hit}"
    );
    hit.stderr_has_words("cached build saved 1 m 1");
}

#[test]
fn the_report_tells_commands_environment_and_savings_apart() {
    let project = built(BUILD);
    let hit = project.rtask(&["build", "--report", "hit.json"]);
    hit.success();
    project.write("src/a.txt", "b\n");
    project.rtask(&["build", "--report", "ran.json"]).success();
    let session = |file: &str| {
        let report: serde_json::Value = serde_json::from_str(&project.read(file)).unwrap();
        report["sessions"][0].clone()
    };
    let (hit, ran) = (session("hit.json"), session("ran.json"));
    assert_eq!(hit["cached"], true);
    assert!(hit["commands_duration"].is_null(), "{hit}");
    assert!(hit["environment_duration"].is_null(), "{hit}");
    assert!(hit["saved"].as_f64().unwrap() >= 0.0, "{hit}");
    assert_eq!(ran["cached"], false);
    let commands = ran["commands_duration"].as_f64().unwrap();
    assert!(commands <= ran["duration"].as_f64().unwrap(), "{ran}");
    assert!(ran["environment_duration"].is_null(), "{ran}");
    assert!(ran["saved"].is_null(), "{ran}");
}

const PYTHON: &str = r#"
[sessions.tests]
python = "3.11"
run = ["python -c 'print(6 * 7)'"]
inputs = ["src/**"]

[sessions.broken]
python = "3.11"
run = ["python -c 'raise SystemExit(3)'"]
"#;

/// The making of an environment is told apart, on a run, a failure, and a hit that had to
/// make it to compare it with its entry's: it is never counted as saved. A hit on a machine
/// without the environment makes none.
#[test]
fn summaries_tell_the_environment_apart() {
    let project = Project::with_tasks(PYTHON);
    project.write("src/a.py", "");
    let ran = project.rtask(&["-j1", "tests", "broken"]);
    ran.code(1);
    let hit = project.rtask(&["tests", "--replay", "errors"]);
    hit.success();
    let remade = project.rtask(&["tests", "--replay", "errors", "--reinstall"]);
    remade.success();
    project.remove(".rtask/venvs/tests");
    let fresh = project.rtask(&["tests", "--replay", "errors"]);
    fresh.success();
    assert!(!project.exists(".rtask/venvs/tests"), "{fresh}");
    let mut settings = timeless();
    settings.add_filter(r"Python 3\.11\.\d+", "Python 3.11.[n]");
    settings.add_filter(r" with (uv|venv) ", " with [backend] ");
    settings.bind(|| {
        insta::assert_snapshot!(
            "environment_times",
            format!(
                "{}\n=== hit\n{}\n=== hit, environment remade to compare\n{}\n=== hit, no environment here\n{}",
                ran.stderr, hit.stderr, remade.stderr, fresh.stderr
            )
        );
    });
}

/// A progress bar redrawn with `\r`, one cleared with `ESC[2K` as indicatif and rich do, and a
/// Windows-style line.
const PROGRESS: &str = r#"
[sessions.build]
shell = true
run = [
    "printf 'progress 10%%\\rprogress 100%%\\n'",
    "printf 'bar 1/2\\r\\033[2Kbar 2/2\\r\\033[2Kdone\\n'",
    "printf 'windows\\r\\n'",
]
inputs = ["src/**"]
"#;

/// The lines a terminal shows of `output` (none after a final newline): `\r` and `ESC[nG` go
/// back to a column, `ESC[nK` erases, other sequences (colours) show nothing.
fn screen(output: &str) -> Vec<String> {
    let mut lines = vec![Vec::new()];
    let mut column = 0;
    let mut chars = output.chars();
    while let Some(char) = chars.next() {
        let line = lines.last_mut().unwrap();
        match char {
            '\n' => {
                lines.push(Vec::new());
                column = 0;
            }
            '\r' => column = 0,
            '\x1b' => {
                assert_eq!(chars.next(), Some('['), "{output:?}");
                let mut parameter = String::new();
                let end = loop {
                    match chars.next() {
                        Some(digit) if digit.is_ascii_digit() => parameter.push(digit),
                        end => break end,
                    }
                };
                let number = parameter.parse::<usize>().unwrap_or(0);
                match end {
                    Some('K') if number == 2 => line.clear(),
                    Some('K') if number == 1 => {
                        line.iter_mut().take(column + 1).for_each(|c| *c = ' ')
                    }
                    Some('K') => line.truncate(column),
                    Some('G') => column = number.saturating_sub(1),
                    _ => {}
                }
            }
            _ => {
                if line.len() <= column {
                    line.resize(column + 1, ' ');
                }
                line[column] = char;
                column += 1;
            }
        }
    }
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| line.into_iter().collect::<String>().trim_end().to_string())
        .collect()
}

/// `output` with its carriage returns and escapes spelled out, one line per line.
fn spelled(output: &str) -> String {
    output.replace('\r', "<CR>").replace('\x1b', "<ESC>")
}

#[test]
fn a_progress_bar_does_not_write_over_the_gutter() {
    let project = Project::with_tasks(PROGRESS);
    project.write("src/a.txt", "a\n");
    let live = project.rtask(&["build"]);
    live.success();
    assert_eq!(
        screen(&live.stdout),
        [
            "$ printf 'progress 10%%\\rprogress 100%%\\n'",
            "progress 100%",
            "$ printf 'bar 1/2\\r\\033[2Kbar 2/2\\r\\033[2Kdone\\n'",
            "done",
            "$ printf 'windows\\r\\n'",
            "windows"
        ]
    );
    let hit = project.rtask(&["build"]);
    hit.success().stderr_has("build: cached");
    timeless().bind(|| {
        insta::assert_snapshot!("progress_bar_hit", spelled(&shown(&hit)));
    });
    let shows = screen(&hit.stdout);
    assert_eq!(shows.len(), screen(&live.stdout).len(), "{shows:#?}");
    for line in &shows {
        assert!(
            line.starts_with("│ "),
            "a line without its gutter: {shows:#?}"
        );
    }
    // In colour, and folded in a CI group, the same lines show.
    let colour = project.rtask(&["build", "--color", "always"]);
    colour.success();
    assert_eq!(screen(&colour.stdout), shows);
    let github = project.rtask_env(&["build"], &[("GITHUB_ACTIONS", "true")]);
    let group = github.stdout.split_once('\n').unwrap().1;
    assert_eq!(
        group.strip_suffix("::endgroup::\n"),
        Some(hit.stdout.as_str())
    );
}

//! The CI recipes of docs/ci.md, run as their jobs would run them: each job's `rtask` commands,
//! read from the document, in a fresh checkout of the example with `CI=true`; the files a job
//! exports reach the jobs that need it, as artifacts would.

use std::fs;
use std::path::{Path, PathBuf};

use crate::python::example;
use crate::support::servers::{self, S3_BUCKET, S3_KEY, S3_SECRET};
use crate::support::{Project, Run};

/// A job of a recipe: its name, the values of its `python` matrix (one run each), and its
/// `run: rtask ...` lines.
#[derive(Debug)]
struct Job {
    name: String,
    matrix: Vec<String>,
    commands: Vec<String>,
}

/// The document the recipes are read from.
fn ci_md() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md")).unwrap()
}

/// The jobs of the workflow marked `# rtask recipe: NAME`, and the `tasks.toml` shown just
/// before it, if any.
fn recipe(name: &str) -> (Vec<Job>, Option<String>) {
    let text = ci_md();
    let marker = format!("# rtask recipe: {name}\n");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/ci.md has no recipe {name:?}"));
    let block = &text[start..];
    let block = &block[..block.find("```").unwrap()];
    let mut jobs: Vec<Job> = Vec::new();
    let mut in_jobs = false;
    for line in block.lines() {
        if line == "jobs:" {
            in_jobs = true;
            continue;
        }
        if !in_jobs {
            continue;
        }
        let trimmed = line.trim();
        if line.starts_with("  ") && !line.starts_with("   ") && trimmed.ends_with(':') {
            jobs.push(Job {
                name: trimmed.trim_end_matches(':').to_string(),
                matrix: Vec::new(),
                commands: Vec::new(),
            });
        } else if let Some(list) = trimmed.strip_prefix("python: [") {
            let job = jobs.last_mut().unwrap();
            job.matrix = list
                .trim_end_matches(']')
                .split(',')
                .map(|value| value.trim().trim_matches('"').to_string())
                .collect();
        } else if let Some(command) = trimmed
            .strip_prefix("- run: ")
            .or_else(|| trimmed.strip_prefix("run: "))
            .filter(|command| command.starts_with("rtask "))
        {
            jobs.last_mut().unwrap().commands.push(command.to_string());
        }
    }
    let before = &text[..start];
    let tasks = before.rfind("```toml\n").map(|at| {
        let toml = &before[at + "```toml\n".len()..];
        toml[..toml.find("```").unwrap()].to_string()
    });
    assert!(
        jobs.iter().all(|job| !job.commands.is_empty()),
        "a job of recipe {name:?} runs no rtask command: {jobs:?}"
    );
    (jobs, tasks)
}

/// One job's machine: a fresh checkout of the example (with the recipe's `tasks.toml`, if it
/// shows one) and its `RUNNER_TEMP`, holding the files the earlier jobs uploaded.
struct Machine {
    checkout: Project,
    runner_temp: tempfile::TempDir,
}

fn machine(tasks: Option<&str>, artifacts: &[PathBuf]) -> Machine {
    let checkout = example();
    if let Some(tasks) = tasks {
        checkout.write("tasks.toml", tasks);
    }
    let runner_temp = tempfile::tempdir().unwrap();
    for artifact in artifacts {
        fs::copy(
            artifact,
            runner_temp.path().join(artifact.file_name().unwrap()),
        )
        .unwrap();
    }
    Machine {
        checkout,
        runner_temp,
    }
}

/// Run a job's commands on `machine` as the CI runner would, with `path` put first on `PATH`
/// (what `actions/setup-python` does); every command must succeed.
fn run_job(
    machine: &Machine,
    job: &Job,
    matrix: Option<&str>,
    env: &[(&str, String)],
    path: &[PathBuf],
) -> Vec<Run> {
    let mut runs = Vec::new();
    for command in &job.commands {
        let line = match matrix {
            Some(value) => command.replace("${{ matrix.python }}", value),
            None => command.clone(),
        };
        let mut shell = machine.checkout.shell(&line, path);
        shell
            .env("CI", "true")
            .env("RUNNER_TEMP", machine.runner_temp.path());
        for (name, value) in env {
            shell.env(name, value);
        }
        let run = Run::from(shell.output().unwrap());
        assert_eq!(
            run.code, 0,
            "job `{}` ({matrix:?}): `{line}` failed\n{run}",
            job.name
        );
        runs.push(run);
    }
    runs
}

/// The bundles (`*.tar.zst`) a job left in its `RUNNER_TEMP`, kept aside as its artifacts.
fn artifacts_of(machine: &Machine, into: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(machine.runner_temp.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_str().unwrap().ends_with(".tar.zst") {
            let kept = into.join(path.file_name().unwrap());
            fs::copy(&path, &kept).unwrap();
            found.push(kept);
        }
    }
    found
}

/// The coverage job built the reports, and neither ran pytest nor made the tests' environment.
#[track_caller]
fn assert_reports_without_tests(machine: &Machine) {
    let consumer = &machine.checkout;
    assert_eq!(
        consumer.count("pytest-runs.txt"),
        0,
        "pytest ran in the coverage job"
    );
    assert!(consumer.exists("coverage.xml") && consumer.exists("htmlcov/index.html"));
    assert!(
        !consumer.exists(".rtask/venvs/unit_tests"),
        "the coverage job made unit_tests' environment"
    );
}

#[test]
fn the_bundle_recipe_restores_the_tests_in_the_coverage_job_without_their_environment() {
    let (jobs, _) = recipe("bundle");
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["unit_tests", "coverage"]);
    let store = tempfile::tempdir().unwrap();

    let producer = machine(None, &[]);
    run_job(&producer, &jobs[0], None, &[], &[]);
    assert_eq!(producer.checkout.count("pytest-runs.txt"), 1);
    let artifacts = artifacts_of(&producer, store.path());
    assert_eq!(artifacts.len(), 1, "the producer exported no bundle");

    let consumer = machine(None, &artifacts);
    let runs = run_job(&consumer, &jobs[1], None, &[], &[]);
    let last = runs.last().unwrap();
    last.stderr_has("unit_tests: cached");
    assert_reports_without_tests(&consumer);
}

/// A Python 3.12 interpreter's directory, as `actions/setup-python` would put on `PATH`.
#[allow(clippy::disallowed_methods)] // where the test machine keeps its interpreters
fn python_3_12() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| {
            let python = dir.join("python3.12");
            python.is_file()
                && std::process::Command::new(&python)
                    .arg("--version")
                    .output()
                    .is_ok_and(|output| output.status.success())
        })
    });
    on_path.or_else(|| {
        let versions = Path::new(&std::env::var_os("HOME")?).join(".pyenv/versions");
        fs::read_dir(versions)
            .ok()?
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .find(|bin| {
                bin.parent()
                    .and_then(|dir| dir.file_name())
                    .is_some_and(|name| name.to_string_lossy().starts_with("3.12"))
                    && bin.join("python3.12").is_file()
            })
    })
}

#[test]
fn the_fan_in_recipe_combines_both_matrix_jobs_coverage_without_their_environments() {
    let Some(python_3_12) = python_3_12() else {
        eprintln!(
            "skipped: the fan-in recipe needs a Python 3.12 interpreter, and none is installed"
        );
        return;
    };
    let (jobs, tasks) = recipe("fan-in");
    let tasks = tasks.expect("the fan-in recipe shows its tasks.toml");
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["tests", "coverage"]);
    assert_eq!(jobs[0].matrix, ["3.11", "3.12"]);
    let store = tempfile::tempdir().unwrap();

    let mut artifacts = Vec::new();
    for version in &jobs[0].matrix {
        let producer = machine(Some(&tasks), &[]);
        let path = if version == "3.12" {
            vec![python_3_12.clone()]
        } else {
            Vec::new()
        };
        run_job(&producer, &jobs[0], Some(version), &[], &path);
        assert_eq!(producer.checkout.count("pytest-runs.txt"), 1);
        artifacts.extend(artifacts_of(&producer, store.path()));
    }
    assert_eq!(artifacts.len(), 2, "each matrix job exports one bundle");

    let consumer = machine(Some(&tasks), &artifacts);
    let runs = run_job(&consumer, &jobs[1], None, &[], &[]);
    let last = runs.last().unwrap();
    last.stderr_has("tests-3.11: cached")
        .stderr_has("tests-3.12: cached");
    let checkout = &consumer.checkout;
    assert_eq!(
        checkout.count("pytest-runs.txt"),
        0,
        "pytest ran in the coverage job"
    );
    assert!(checkout.exists(".coverage") && checkout.exists("htmlcov/index.html"));
    // The restored data files are left as they were: the reports do not consume them.
    assert!(checkout.exists(".coverage.3.11") && checkout.exists(".coverage.3.12"));
    for session in ["tests-3.11", "tests-3.12"] {
        assert!(
            !checkout.exists(&format!(".rtask/venvs/{session}")),
            "the coverage job made {session}'s environment"
        );
    }
}

/// The remote recipe with `RTASK_REMOTE_CACHE` pointing at `url` (and `env`): the producer
/// uploads its signed entries, the consumer (read-only, as a pull request's job) restores them.
fn remote_recipe(url: &str, env: &[(&str, String)]) {
    let (jobs, _) = recipe("remote");
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names, ["unit_tests", "coverage"]);
    let mut env = env.to_vec();
    env.push(("RTASK_REMOTE_CACHE", url.to_string()));
    env.push(("RTASK_CACHE_SIGNING_KEY", "recipe-signing-key".to_string()));

    let producer = machine(None, &[]);
    run_job(&producer, &jobs[0], None, &env, &[]);
    assert_eq!(producer.checkout.count("pytest-runs.txt"), 1);

    env.push(("RTASK_REMOTE_READ_ONLY", "1".to_string()));
    let consumer = machine(None, &[]);
    let runs = run_job(&consumer, &jobs[1], None, &env, &[]);
    let last = runs.last().unwrap();
    last.stderr_has("unit_tests: downloaded from the remote cache")
        .stderr_has("unit_tests: cached")
        .stderr_lacks("warning");
    assert_reports_without_tests(&consumer);
}

#[test]
fn the_remote_recipe_hands_the_tests_over_through_s3() {
    let endpoint = format!("http://127.0.0.1:{}", servers::weed().port);
    remote_recipe(
        &format!("s3://{S3_BUCKET}/recipe"),
        &[
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_ACCESS_KEY_ID", S3_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ],
    );
}

#[test]
fn the_remote_recipe_hands_the_tests_over_through_a_bazel_http_cache() {
    remote_recipe(&servers::nginx().url("recipe"), &[]);
}

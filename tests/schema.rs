//! `rtask schema`: the committed copy is what the binary prints, and Python's `jsonschema`
//! agrees with rtask on every task file of the repository and on the malformed corpus.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Project;

const COMMITTED: &str = "docs/tasks-toml.schema.json";

/// Validates TOML files against the schema: arguments are the schema, then `EXPECTED=PATH`
/// pairs, EXPECTED being `valid`, `invalid` or `not-toml`; prints each file that differs.
const VALIDATE: &str = r#"
import json, sys, tomllib
from jsonschema import Draft202012Validator

with open(sys.argv[1]) as file:
    schema = json.load(file)
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
wrong = []
for pair in sys.argv[2:]:
    expected, path = pair.split("=", 1)
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        got, why = "not-toml", str(error)
    else:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
        got, why = ("invalid" if errors else "valid"), "; ".join(errors)
    if got != expected:
        wrong.append(f"{path}: marked {expected}, but the schema finds it {got} {why}")
print("\n".join(wrong))
sys.exit(1 if wrong else 0)
"#;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_schema_is_what_rtask_schema_prints() {
    // Anywhere, without a task file.
    let project = Project::new();
    let run = project.rtask(&["schema"]);
    run.success();
    let committed = fs::read_to_string(root().join(COMMITTED)).unwrap();
    assert!(
        run.stdout == committed,
        "{COMMITTED} is out of date: regenerate it with\n  \
         cargo run -q -- schema > {COMMITTED}"
    );
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(schema["title"], "tasks.toml");
    assert!(!run.stdout.contains("null"), "TOML has no null");
}

#[test]
fn schema_is_a_command_only_as_the_first_argument() {
    let project = Project::with_tasks("[sessions.schema]\nrun = [\"echo ran\"]\n");
    project
        .rtask(&["-s", "schema"])
        .success()
        .stdout_has("ran\n");
    project
        .rtask(&["schema", "extra"])
        .code(3)
        .stderr_has("unexpected argument 'extra'");
}

/// Task files under `dir`, outside `target`, hidden directories and the corpus.
fn task_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && path != root().join("tests/corpus") {
                task_files(&path, found);
            }
        } else if name == "tasks.toml" {
            found.push(path);
        }
    }
}

#[test]
fn the_schema_accepts_the_repository_and_agrees_with_the_corpus_marks() {
    let mut pairs = Vec::new();
    let mut examples = Vec::new();
    task_files(root(), &mut examples);
    assert!(examples.contains(&root().join("examples/python-coverage/tasks.toml")));
    for file in examples {
        pairs.push(format!("valid={}", file.display()));
    }
    for file in crate::corpus::malformed() {
        let text = fs::read_to_string(&file).unwrap();
        let mark = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# schema: "))
            .filter(|mark| ["valid", "invalid", "not-toml"].contains(mark));
        let Some(mark) = mark else {
            panic!(
                "{} must start with `# schema: valid`, `# schema: invalid` or `# schema: not-toml`",
                file.display()
            );
        };
        pairs.push(format!("{mark}={}", file.display()));
    }
    let python = root().join("target/ci-venv/bin/python");
    let output = Command::new(&python)
        .arg("-c")
        .arg(VALIDATE)
        .arg(root().join(COMMITTED))
        .args(&pairs)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {} (.ci/prepare makes it): {error}",
                python.display()
            )
        });
    assert!(
        output.status.success(),
        "the schema disagrees:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

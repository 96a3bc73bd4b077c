//! The malformed corpus: each file of `tests/corpus/malformed/` is a `tasks.toml` that rtask
//! refuses; its whole rendered error and exit code are pinned by a snapshot named after it.
//! Add a case by adding a file (with its `# schema:` mark, see tests/schema.rs) and accepting
//! its snapshot.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::Project;

/// The corpus files, sorted by name.
pub(crate) fn malformed() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/malformed");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

#[test]
fn every_malformed_file_is_refused_as_pinned() {
    for file in malformed() {
        let name = file.file_stem().unwrap().to_str().unwrap().to_string();
        let project = Project::with_tasks(&fs::read_to_string(&file).unwrap());
        let run = project.rtask(&["-l"]);
        assert!(!run.stderr.contains("panicked"), "{name}: {run}");
        assert!(
            !project.exists(".rtask"),
            "{name}: an invalid task file touches nothing"
        );
        let text = format!(
            "exit code: {}\n--- stdout\n{}--- stderr\n{}",
            run.code, run.stdout, run.stderr
        );
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"`/[^`]*/rtask-test[^/`]*", "`[project]");
        settings.set_input_file(&file);
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!(format!("corpus__{name}"), text));
    }
}

//! Compact entries: the list of input files kept beside each entry is small, shared between
//! entries where unchanged, and still names the files a miss differs by; a damaged list only
//! makes the explanation say less.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::support::{Project, servers};

const TASKS: &str = r#"
[sessions.build]
shell = true
run = ["echo run >> runs.txt"]
inputs = ["src/**/*.txt"]
"#;

/// A project with `count` small input files under `src/`, 100 per folder.
fn project_with_files(count: usize) -> Project {
    let project = Project::with_tasks(TASKS);
    for index in 0..count {
        let path = project.path(&file_name(index));
        if index % 100 == 0 {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        fs::write(path, format!("file {index}\n")).unwrap();
    }
    project
}

/// A project with `count` small input files, and one entry.
fn cached_project(count: usize) -> Project {
    let project = project_with_files(count);
    project.rtask(&["build"]).success();
    project
}

fn file_name(index: usize) -> String {
    format!("src/d{:03}/f{index:05}.txt", index / 100)
}

fn manifest(project: &Project) -> Value {
    let path = project.manifests().pop().expect("one entry");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The paths of the blobs holding an entry's list of inputs.
fn chunk_paths(project: &Project, manifest: &Value) -> Vec<std::path::PathBuf> {
    manifest["inputs"]["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chunk| {
            let hash = chunk["hash"].as_str().unwrap();
            project.path(&format!(".rtask/cache/v1/blobs/{}/{hash}", &hash[..2]))
        })
        .collect()
}

/// The bytes of the files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|entry| {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            if metadata.is_dir() {
                bytes_under(&entry.path())
            } else {
                metadata.len()
            }
        })
        .sum()
}

/// The bytes of the store's blobs and manifests.
fn stored_bytes(project: &Project) -> u64 {
    bytes_under(&project.path(".rtask/cache/v1/blobs"))
        + bytes_under(&project.path(".rtask/cache/v1/entries"))
}

#[test]
fn a_miss_among_many_inputs_names_the_files_that_differ() {
    let project = cached_project(3000);
    project.write("src/d012/f01234.txt", "changed\n");
    project.remove("src/d020/f02000.txt");
    project.write("src/d029/f02999b.txt", "added\n");
    let executable = project.path("src/d000/f00007.txt");
    fs::set_permissions(&executable, fs::Permissions::from_mode(0o755)).unwrap();
    let run = project.rtask(&["--dry-run", "build"]);
    run.success();
    insta::assert_snapshot!(run.stdout, @r"
    build: would run, differences from the newest entry:
      - input `src/d000/f00007.txt` changed mode
      - input `src/d012/f01234.txt` changed
      - input `src/d029/f02999b.txt` added
      - input `src/d020/f02000.txt` removed
    ");
}

#[test]
fn the_list_of_inputs_is_compact_and_a_second_entry_shares_it() {
    let project = cached_project(20_000);
    let first = stored_bytes(&project);
    // Far below the 125 bytes a file the JSON list took.
    assert!(first < 20_000 * 20, "the first entry took {first} bytes");
    project.write("src/d050/f05000.txt", "changed\n");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: running (input `src/d050/f05000.txt` changed)");
    let second = stored_bytes(&project) - first;
    assert!(
        second * 10 < first,
        "the second entry took {second} bytes, the first {first}"
    );
    assert_eq!(project.manifests().len(), 2);
}

#[test]
fn a_damaged_or_missing_list_of_inputs_only_says_less() {
    let project = cached_project(1000);
    let manifest = manifest(&project);
    let chunks = chunk_paths(&project, &manifest);
    assert!(!chunks.is_empty());
    let mut damaged = fs::read(&chunks[0]).unwrap();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x55;
    fs::write(&chunks[0], damaged).unwrap();
    // The hit does not depend on the list.
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
    assert_eq!(project.count("runs.txt"), 1);
    project.write("src/d003/f00300.txt", "changed\n");
    let run = project.rtask(&["--dry-run", "build"]);
    run.success();
    insta::assert_snapshot!("damaged_list", run.stdout);
    // Missing altogether: the same.
    for chunk in &chunks {
        let _ = fs::remove_file(chunk);
    }
    let run = project.rtask(&["--dry-run", "build"]);
    run.success();
    insta::assert_snapshot!("damaged_list", run.stdout);
    // A run stores a whole list again, which names the file once more.
    project.rtask(&["build"]).success();
    project.write("src/d003/f00300.txt", "changed again\n");
    project.rtask(&["--dry-run", "build"]).success().stdout_has(
        "build: would run, differences from the newest entry:\n  - input `src/d003/f00300.txt` changed\n",
    );
}

#[test]
fn chunks_damaged_in_place_are_written_afresh_by_the_next_entry() {
    let project = cached_project(2000);
    let manifest = manifest(&project);
    let chunks = chunk_paths(&project, &manifest);
    assert!(chunks.len() > 1);
    // Damaged in place, their sizes unchanged: found only by reading them.
    for chunk in &chunks {
        let mut damaged = fs::read(chunk).unwrap();
        damaged[0] ^= 0x55;
        fs::write(chunk, damaged).unwrap();
    }
    project.write("src/d003/f00300.txt", "changed\n");
    project.rtask(&["build"]).success();
    project.write("src/d010/f01000.txt", "changed\n");
    project.rtask(&["--dry-run", "build"]).success().stdout_has(
        "build: would run, differences from the newest entry:\n  - input `src/d010/f01000.txt` changed\n",
    );
}

#[test]
fn a_list_of_inputs_that_decodes_to_nonsense_only_says_less() {
    let project = cached_project(200);
    let manifest = manifest(&project);
    // A valid blob (its digest matches) whose bytes are not a list.
    let garbage = b"not a list of inputs";
    let hash = blake3::hash(garbage).to_hex().to_string();
    let path = project.path(&format!(".rtask/cache/v1/blobs/{}/{hash}", &hash[..2]));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, garbage).unwrap();
    let mut edited = manifest.clone();
    edited["inputs"]["chunks"] = serde_json::json!([{ "hash": hash, "size": garbage.len() }]);
    let manifest_path = project.manifests().pop().unwrap();
    fs::write(&manifest_path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
    project.write("src/d001/f00100.txt", "changed\n");
    project
        .rtask(&["--dry-run", "build"])
        .success()
        .stdout_has("  - the content of input files changed (200 files)\n");
}

#[test]
fn an_entry_of_the_older_format_is_a_miss_saying_so() {
    let project = cached_project(10);
    let path = project.manifests().pop().unwrap();
    let mut value: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    value["format"] = Value::from(4);
    value["inputs"] = serde_json::json!({ "hash": "00".repeat(32), "size": 2 });
    fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    project
        .rtask(&["build"])
        .success()
        .stderr_has("entry has manifest format 4, this rtask reads format 5")
        .stderr_has("build: running (cache entry unusable)");
    assert_eq!(project.count("runs.txt"), 2);
}

#[test]
fn a_bundled_entry_still_names_the_file_that_differs() {
    let producer = cached_project(2000);
    let consumer = project_with_files(2000);
    producer.hand_over_bundle(&consumer, &["build"]);
    consumer
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
    consumer.write("src/d019/f01999.txt", "changed\n");
    consumer.rtask(&["--dry-run", "build"]).success().stdout_has(
        "build: would run, differences from the newest entry:\n  - input `src/d019/f01999.txt` changed\n",
    );
}

#[test]
fn an_entry_from_a_remote_cache_still_names_the_file_that_differs() {
    let url = servers::nginx().url("entries-handoff");
    let producer = project_with_files(2000);
    producer.rtask(&["build", "--remote-cache", &url]).success();
    let consumer = project_with_files(2000);
    consumer
        .rtask(&["build", "--remote-cache", &url])
        .success()
        .stderr_has("build: downloaded from the remote cache");
    assert_eq!(consumer.count("runs.txt"), 0);
    consumer.write("src/d007/f00777.txt", "changed\n");
    consumer.rtask(&["--dry-run", "build"]).success().stdout_has(
        "build: would run, differences from the newest entry:\n  - input `src/d007/f00777.txt` changed\n",
    );
}

#[test]
fn a_restore_only_miss_among_many_inputs_names_the_files_against_the_nearest_entry() {
    let project = cached_project(3000);
    project.write("src/d000/f00010.txt", "second\n");
    project.rtask(&["build"]).success();
    project.write("src/d000/f00020.txt", "third\n");
    project.rtask(&["build"]).success();
    assert_eq!(project.manifests().len(), 3);
    // One file away from the first entry, two and three from the others.
    project.write("src/d000/f00010.txt", "file 10\n");
    project.write("src/d000/f00020.txt", "file 20\n");
    project.write("src/d025/f02500.txt", "fourth\n");
    project
        .rtask(&["--restore-only", "build"])
        .code(4)
        .stderr_has("  - input `src/d025/f02500.txt` changed\n  hint:")
        .stderr_lacks("f00010");
    assert_eq!(project.count("runs.txt"), 3);
}

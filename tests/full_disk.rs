//! Full disks: a store that runs out of space leaves no partial entry and the session still
//! succeeds; a restore that runs out of space fails clearly and keeps the good entry.
//! The disks are small tmpfs mounts, which need root: without it the tests say why and pass.

use std::fs;
use std::path::Path;

use crate::support::Project;
use crate::support::disk::SmallDisk;

/// rtask's stderr with durations and the temporary paths of this test replaced.
#[track_caller]
fn snapshot(name: &str, text: &str, project: &Project) {
    let mut settings = project.redactions();
    settings.add_filter(r"\b\d+\.\d+ ?m?s\b", "[t]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Files anywhere below `dir`.
fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|entry| {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    count_files(&entry.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[test]
fn a_store_on_a_full_disk_leaves_no_entry_and_the_session_succeeds() {
    let project = Project::with_tasks(
        r#"
[sessions.big]
shell = true
run = ["echo run >> runs.txt; mkdir -p out; echo small > out/small.txt; head -c 6000000 /dev/urandom > out/large.bin"]
inputs = ["seed.txt"]
outputs = ["out/"]
"#,
    );
    project.write("seed.txt", "1\n");
    let cache = project.path("cache-disk");
    let Some(_disk) = SmallDisk::mount(&cache, "4m") else {
        return;
    };
    let cache_dir = [("RTASK_CACHE_DIR", cache.to_str().unwrap())];
    let run = project.rtask_env(&["big"], &cache_dir);
    run.success();
    snapshot("store_no_space", &run.stderr, &project);
    assert!(
        !cache.join("v1/entries").exists() || count_files(&cache.join("v1/entries")) == 0,
        "no manifest"
    );
    assert_eq!(count_files(&cache.join("v1/tmp")), 0, "no temps left");
    assert_eq!(project.read("out/small.txt"), "small\n");
    // Nothing cached: it runs again, and again succeeds.
    project
        .rtask_env(&["big"], &cache_dir)
        .success()
        .stderr_has("no space left on the device of the cache");
    assert_eq!(project.count("runs.txt"), 2);
}

#[test]
fn a_restore_on_a_full_disk_fails_clearly_and_keeps_the_entry() {
    let project = Project::new();
    // The project lives on the small disk, its cache elsewhere.
    let root = project.path("project");
    let Some(disk) = SmallDisk::mount(&root, "4m") else {
        return;
    };
    fs::write(
        root.join("tasks.toml"),
        r#"
[sessions.big]
shell = true
run = ["echo run >> runs.txt; mkdir -p out; head -c 1500000 /dev/zero | tr '\\0' x > out/large.bin"]
inputs = ["seed.txt"]
outputs = ["out/"]
"#,
    )
    .unwrap();
    fs::write(root.join("seed.txt"), "1\n").unwrap();
    let cache = project.path("cache");
    let cache_dir = [("RTASK_CACHE_DIR", cache.to_str().unwrap())];
    let args = ["-f", "project/tasks.toml", "big"];
    project.rtask_env(&args, &cache_dir).success();
    let stored = fs::read(root.join("out/large.bin")).unwrap();
    fs::remove_dir_all(root.join("out")).unwrap();
    disk.fill("filler");

    let run = project.rtask_env(&args, &cache_dir);
    run.code(1);
    snapshot("restore_no_space", &run.stderr, &project);
    assert_eq!(
        fs::read_to_string(root.join("runs.txt")).unwrap(),
        "run\n",
        "it did not run instead"
    );
    let temps: Vec<_> = fs::read_dir(root.join("out"))
        .map(|entries| entries.map(|entry| entry.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(temps.is_empty(), "no restore temp left: {temps:?}");

    // Space again: the entry, kept, restores.
    fs::remove_file(root.join("filler")).unwrap();
    project
        .rtask_env(&args, &cache_dir)
        .success()
        .stderr_has("big: cached");
    assert_eq!(fs::read(root.join("out/large.bin")).unwrap(), stored);
    assert_eq!(fs::read_to_string(root.join("runs.txt")).unwrap(), "run\n");
}

//! A bounded cache: `rtask cache stats` counts it, `rtask cache prune` removes the entries used
//! least recently (or not for a while) and the blobs no entry refers to any more, beside other
//! runs; `cache_max_size` prunes after a run.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use crate::support::{Project, Run, long_ago};

/// Three sessions storing 100 kB each, a fourth storing the same bytes as `a`.
const TASKS: &str = r#"
[sessions.a]
shell = true
run = ["echo run >> a-runs.txt", "mkdir -p out && cp data/a.bin out/a.bin"]
inputs = ["data/a.bin"]
outputs = ["out/a.bin"]

[sessions.b]
shell = true
run = ["echo run >> b-runs.txt", "mkdir -p out && cp data/b.bin out/b.bin"]
inputs = ["data/b.bin"]
outputs = ["out/b.bin"]

[sessions.c]
shell = true
run = ["echo run >> c-runs.txt", "mkdir -p out && cp data/c.bin out/c.bin"]
inputs = ["data/c.bin"]
outputs = ["out/c.bin"]

[sessions.twin]
shell = true
run = ["echo run >> twin-runs.txt", "mkdir -p out && cp data/a.bin out/twin.bin"]
inputs = ["data/a.bin"]
outputs = ["out/twin.bin"]
"#;

/// Bytes that differ for each `seed` and do not compress (as real outputs often do not).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn project_with(tasks: &str) -> Project {
    let project = Project::with_tasks(tasks);
    for (seed, name) in [(1, "a"), (2, "b"), (3, "c")] {
        fs::create_dir_all(project.path("data")).unwrap();
        fs::write(
            project.path(&format!("data/{name}.bin")),
            noise(seed, 100_000),
        )
        .unwrap();
    }
    project
}

/// The sessions that have an entry, by their manifests' directories.
fn cached(project: &Project) -> Vec<String> {
    let mut sessions: Vec<String> = project
        .manifests()
        .iter()
        .map(|path| {
            let dir = path.parent().unwrap().file_name().unwrap();
            dir.to_string_lossy().into_owned()
        })
        .collect();
    sessions.dedup();
    sessions
}

/// The manifest of a session's only entry.
fn manifest_of(project: &Project, session: &str) -> std::path::PathBuf {
    project
        .manifests()
        .into_iter()
        .find(|path| path.parent().unwrap().ends_with(session))
        .unwrap_or_else(|| panic!("no entry of `{session}`"))
}

/// Make a session's entry look last used at `time`.
fn used_at(project: &Project, session: &str, time: SystemTime) {
    fs::File::open(manifest_of(project, session))
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// Pin output with sizes and times, which vary, redacted.
#[track_caller]
fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r" +\d+(\.\d)? (B|KiB|MiB)\b", " [size]");
    settings.add_filter(r"\(\d+(\.\d)? (B|KiB|MiB)\)", "([size])");
    settings.add_filter(r"\d+[smhd] ago|just now", "[when]");
    settings.add_filter(r"`/[^`]*/rtask-test[^/`]*", "`[project]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// A run restored the session from the cache and put back its output.
#[track_caller]
fn restored(project: &Project, session: &str, output: &str, expected: &[u8]) {
    project.remove(output);
    project
        .rtask(&[session])
        .success()
        .stderr_has("cached")
        .stderr_lacks("cannot use the cache entry");
    assert_eq!(fs::read(project.path(output)).unwrap(), expected);
}

#[test]
fn stats_and_prune_of_a_missing_or_empty_cache_say_so() {
    let project = project_with(TASKS);
    let stats = project.rtask(&["cache", "stats"]);
    stats.success();
    let prune = project.rtask(&["cache", "prune", "--max-size", "0"]);
    prune.success();
    snapshot("missing", &format!("{}{}", stats.stdout, prune.stderr));
    let json = project.rtask(&["cache", "stats", "--json"]);
    json.success();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["exists"], false);

    project.rtask(&["a"]).success();
    project
        .rtask(&["cache", "prune", "--max-size", "0"])
        .success();
    let empty = project.rtask(&["cache", "stats"]);
    empty.success();
    snapshot("empty", &empty.stdout);
}

#[test]
fn stats_count_entries_and_bytes_by_session() {
    let project = project_with(TASKS);
    project.rtask(&["a", "b"]).success();
    project.write("data/b.bin", "changed");
    project.rtask(&["b"]).success();
    used_at(&project, "a", long_ago());
    let stats = project.rtask(&["cache", "stats"]);
    stats.success();
    snapshot("stats", &stats.stdout);

    let json = project.rtask(&["cache", "stats", "--json"]);
    json.success();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["entries"], 3);
    let sessions = value["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["name"], "a");
    assert_eq!(sessions[1]["entries"], 2);
    assert_eq!(sessions[0]["last_used_unix_ms"], 1_600_000_000_000u64);
    let a_bytes = sessions[0]["bytes"].as_u64().unwrap();
    assert!((100_000..110_000).contains(&a_bytes), "{a_bytes}");
    let total = value["bytes"].as_u64().unwrap();
    assert_eq!(total, a_bytes + sessions[1]["bytes"].as_u64().unwrap());
}

#[test]
fn a_hit_refreshes_the_last_use_without_rewriting_the_entry() {
    let project = project_with(TASKS);
    project.rtask(&["a"]).success();
    let manifest = manifest_of(&project, "a");
    let bytes = fs::read(&manifest).unwrap();
    used_at(&project, "a", long_ago());
    project.rtask(&["a"]).success().stderr_has("cached");
    assert_eq!(fs::read(&manifest).unwrap(), bytes);
    let last_use = fs::metadata(&manifest).unwrap().modified().unwrap();
    assert!(last_use > long_ago() + Duration::from_secs(86_400));
}

#[test]
fn prune_by_size_removes_the_least_recently_used_first() {
    let project = project_with(TASKS);
    project.rtask(&["a", "b", "c"]).success();
    // Stored in the order a, b, c; then `a` is used again and becomes the most recent.
    let base = SystemTime::now() - Duration::from_secs(3 * 86_400);
    for (offset, session) in ["a", "b", "c"].iter().enumerate() {
        used_at(
            &project,
            session,
            base + Duration::from_secs(offset as u64 * 60),
        );
    }
    project.rtask(&["a"]).success().stderr_has("cached");
    // Room for two entries of about 100 kB each, not three.
    let prune = project.rtask(&["cache", "prune", "--max-size", "250KB"]);
    prune.success();
    snapshot("prune_by_size", &prune.stderr);
    assert_eq!(cached(&project), ["a", "c"]);
    restored(&project, "a", "out/a.bin", &noise(1, 100_000));
    restored(&project, "c", "out/c.bin", &noise(3, 100_000));
    project.remove("out/b.bin");
    project.rtask(&["b"]).success().stderr_has("running");
    assert_eq!(project.count("b-runs.txt"), 2);

    // Nothing over the limit: nothing removed.
    project
        .rtask(&["cache", "prune", "--max-size", "1GiB"])
        .success()
        .stderr_has("nothing to prune: the cache at `.rtask/cache` holds 3 entries");
}

#[test]
fn prune_by_age_removes_the_entries_unused_for_longer() {
    let project = project_with(TASKS);
    project.rtask(&["a", "b"]).success();
    used_at(
        &project,
        "a",
        SystemTime::now() - Duration::from_secs(40 * 86_400),
    );
    used_at(
        &project,
        "b",
        SystemTime::now() - Duration::from_secs(20 * 86_400),
    );
    project
        .rtask(&["cache", "prune", "--older-than", "30d"])
        .success()
        .stderr_has("removed 1 entry and 3 blobs");
    assert_eq!(cached(&project), ["b"]);
    restored(&project, "b", "out/b.bin", &noise(2, 100_000));
}

#[test]
fn blobs_a_kept_entry_shares_survive_the_entries_removed() {
    let project = project_with(TASKS);
    project.rtask(&["a", "twin"]).success();
    used_at(&project, "a", long_ago());
    project
        .rtask(&["cache", "prune", "--older-than", "1d"])
        .success();
    assert_eq!(cached(&project), ["twin"]);
    restored(&project, "twin", "out/twin.bin", &noise(1, 100_000));
}

#[test]
fn blobs_of_no_entry_go_once_an_hour_old() {
    let project = project_with(TASKS);
    project.rtask(&["a"]).success();
    let fresh = project.path(&format!(".rtask/cache/v1/blobs/00/{}", "00".repeat(32)));
    fs::create_dir_all(fresh.parent().unwrap()).unwrap();
    fs::write(&fresh, noise(9, 5000)).unwrap();
    project
        .rtask(&["cache", "stats"])
        .success()
        .stdout_has("4.9 KiB of it no entry refers to");
    project
        .rtask(&["cache", "prune", "--older-than", "1d"])
        .success()
        .stderr_has("nothing to prune");
    assert!(
        fresh.exists(),
        "a blob written a moment ago may be a store's"
    );
    fs::File::options()
        .append(true)
        .open(&fresh)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    project
        .rtask(&["cache", "prune", "--older-than", "1d"])
        .success()
        .stderr_has("removed 0 entries and 1 blob");
    assert!(!fresh.exists());
    restored(&project, "a", "out/a.bin", &noise(1, 100_000));
}

/// A session writing 200 files, the same bytes an older entry stores, and saying when its
/// command is done (its result is stored then).
const CONCURRENT: &str = r#"
[sessions.old]
shell = true
run = ["mkdir -p old && cp data/many/* old/"]
inputs = ["data/many/*"]
outputs = ["old/"]

[sessions.big]
shell = true
run = ["mkdir -p big && cp data/many/* big/ && touch command-done"]
inputs = ["data/many/*", "seed.txt"]
outputs = ["big/"]
"#;

fn wait_for(path: &Path, child: &mut std::process::Child) {
    for _ in 0..6000 {
        if path.exists() || child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("`{}` never appeared", path.display());
}

#[test]
fn prune_beside_a_run_that_stores_leaves_its_entry_whole() {
    let project = Project::with_tasks(CONCURRENT);
    fs::create_dir_all(project.path("data/many")).unwrap();
    for seed in 0..200 {
        fs::write(
            project.path(&format!("data/many/{seed:03}.bin")),
            noise(seed, 40_000),
        )
        .unwrap();
    }
    for round in 0..4 {
        // An old entry refers to every blob the new one reuses, and the prune removes it (with
        // the entries of earlier rounds, which refer to them too).
        project.rtask(&["old"]).success();
        for manifest in project.manifests() {
            fs::File::open(manifest)
                .unwrap()
                .set_modified(long_ago())
                .unwrap();
        }
        project.write("seed.txt", &round.to_string());
        let _ = fs::remove_file(project.path("command-done"));
        let mut run = project
            .command(&["big"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for(&project.path("command-done"), &mut run);
        let prune = project.rtask(&["cache", "prune", "--older-than", "1d"]);
        prune.success();
        let run = Run::from(run.wait_with_output().unwrap());
        run.success().stderr_lacks("warning");
        assert_eq!(cached(&project), ["big"], "{prune}");
        assert_eq!(project.manifests().len(), 1, "{prune}");
        project.remove("big");
        let again = project.rtask(&["big"]);
        again
            .success()
            .stderr_has("cached")
            .stderr_lacks("cannot use the cache entry");
        for seed in [0, 199] {
            assert_eq!(
                fs::read(project.path(&format!("big/{seed:03}.bin"))).unwrap(),
                noise(seed, 40_000)
            );
        }
        project.remove("old");
    }
}

#[test]
fn cache_max_size_prunes_after_a_run_without_counting_every_time() {
    let project = project_with(&format!("[settings]\ncache_max_size = \"300KB\"\n{TASKS}"));
    project.rtask(&["a", "b"]).success();
    assert_eq!(cached(&project), ["a", "b"]);
    let usage = project.path(".rtask/cache/v1/usage");
    let counted = fs::read_to_string(&usage).unwrap();
    // A hit stores nothing: the running total is neither changed nor counted again.
    project.rtask(&["a"]).success().stderr_has("cached");
    assert_eq!(fs::read_to_string(&usage).unwrap(), counted);
    // A third entry outgrows 300 kB: the least recently used goes, down to 80% (240 kB).
    project.rtask(&["c"]).success();
    assert_eq!(cached(&project), ["a", "c"]);
    assert_ne!(fs::read_to_string(&usage).unwrap(), counted);
    restored(&project, "a", "out/a.bin", &noise(1, 100_000));

    // `rtask cache prune` without a flag prunes to `cache_max_size`, and the environment
    // overrides it.
    project
        .rtask_env(&["cache", "prune"], &[("RTASK_CACHE_MAX_SIZE", "150KB")])
        .success()
        .stderr_has("removed 1 entry");
    assert_eq!(cached(&project), ["a"]);
    project.rtask(&["b"]).success();
    project
        .rtask_env(&["c"], &[("RTASK_CACHE_MAX_SIZE", "0")])
        .success();
    assert!(cached(&project).is_empty(), "{:?}", cached(&project));
}

#[test]
fn a_total_that_is_wrong_or_missing_is_recounted() {
    let project = project_with(&format!("[settings]\ncache_max_size = \"300KB\"\n{TASKS}"));
    project.rtask(&["a", "b"]).success();
    let usage = project.path(".rtask/cache/v1/usage");
    fs::write(&usage, "garbage").unwrap();
    project.rtask(&["a"]).success();
    let total = fs::read_to_string(&usage).unwrap();
    assert!(total.starts_with("bytes 2"), "{total}");
    // Said to be under the limit, but not counted for days: counted, and pruned.
    fs::write(&usage, "bytes 1\nchecked 1600000000000\n").unwrap();
    project.rtask(&["c"]).success();
    assert_eq!(cached(&project).len(), 2);
}

#[test]
fn bad_sizes_and_durations_are_errors_with_a_hint() {
    let project = project_with(TASKS);
    let mut text = String::new();
    for args in [
        &["cache", "prune", "--max-size", "5 parsecs"][..],
        &["cache", "prune", "--max-size", "12"],
        &["cache", "prune", "--older-than", "3 days"],
        &["cache", "prune", "--older-than", "-1d"],
        &["cache", "prune"],
    ] {
        let run = project.rtask(args);
        run.code(3);
        text.push_str(&format!("$ rtask {}\n{}", args.join(" "), run.stderr));
    }
    let env = project.rtask_env(&["a"], &[("RTASK_CACHE_MAX_SIZE", "lots")]);
    env.code(2);
    text.push_str(&format!(
        "$ RTASK_CACHE_MAX_SIZE=lots rtask a\n{}",
        env.stderr
    ));
    project.write(
        "tasks.toml",
        &format!("[settings]\ncache_max_size = \"5 GB per day\"\n{TASKS}"),
    );
    let file = project.rtask(&["cache", "stats"]);
    file.code(2);
    text.push_str(&format!("$ rtask cache stats\n{}", file.stderr));
    snapshot("bad_limits", &text);
}

#[test]
fn prune_beside_a_run_that_restores_leaves_its_outputs_whole() {
    let project = Project::with_tasks(CONCURRENT);
    fs::create_dir_all(project.path("data/many")).unwrap();
    for seed in 0..200 {
        fs::write(
            project.path(&format!("data/many/{seed:03}.bin")),
            noise(seed, 40_000),
        )
        .unwrap();
    }
    project.write("seed.txt", "0");
    for _ in 0..4 {
        project.rtask(&["big"]).success();
        project.remove("big");
        let run = project
            .command(&["big"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        project
            .rtask(&["cache", "prune", "--max-size", "0"])
            .success();
        let run = Run::from(run.wait_with_output().unwrap());
        // Restored whole, or (pruned before it was looked up) run again: never a mix.
        run.success();
        for seed in 0..200 {
            assert_eq!(
                fs::read(project.path(&format!("big/{seed:03}.bin"))).unwrap(),
                noise(seed, 40_000),
                "{run}"
            );
        }
        let strays: Vec<_> = fs::read_dir(project.path("big"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| !name.to_string_lossy().ends_with(".bin"))
            .collect();
        assert!(strays.is_empty(), "{strays:?}");
    }
}

#[test]
fn files_that_are_none_of_rtasks_are_left_out_of_the_count_and_the_prune() {
    let project = project_with(TASKS);
    project.rtask(&["a", "b"]).success();
    // What a file browser or a careless hand leaves in the cache.
    project.write(".rtask/cache/v1/entries/.DS_Store", "finder");
    project.write(".rtask/cache/v1/blobs/.DS_Store", "finder");
    fs::create_dir_all(project.path(".rtask/cache/v1/entries/a/stray.json")).unwrap();
    project.write(".rtask/cache/v1/entries/a/notakey.json", "garbage");
    project
        .rtask(&["cache", "stats"])
        .success()
        .stdout_has("2 entries");
    project
        .rtask(&["cache", "prune", "--older-than", "0s"])
        .success()
        .stderr_has("removed 2 entries");
    // Both entries are gone; what is none of rtask's is left alone.
    assert_eq!(
        project.manifests(),
        [project.path(".rtask/cache/v1/entries/a/notakey.json")]
    );
}

#[test]
fn a_shared_cache_is_looked_after_from_anywhere_with_rtask_cache_dir() {
    let shared = tempfile::tempdir().unwrap();
    let cache = [("RTASK_CACHE_DIR", shared.path().to_str().unwrap())];
    let project = project_with(TASKS);
    project.rtask_env(&["a", "b"], &cache).success();
    // No tasks.toml here: the cache is the one the variable names.
    let elsewhere = Project::new();
    elsewhere
        .rtask_env(&["cache", "stats"], &cache)
        .success()
        .stdout_has("2 entries");
    elsewhere
        .rtask_env(&["cache", "prune", "--max-size", "0"], &cache)
        .success()
        .stderr_has("removed 2 entries");
    elsewhere
        .rtask(&["cache", "stats"])
        .code(2)
        .stderr_has("no `tasks.toml`");
}

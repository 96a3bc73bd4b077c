//! No leftovers: what runs killed while storing or restoring leave is taken back by the next
//! run, never stored as an output, and never taken from a run that still lives.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::Project;
use crate::watchdog::{wait_until, watchdogs_in};

/// A session with a large output: a directory of files and one large file (about 45 MB),
/// the same bytes on every run.
const BIG: &str = r#"
[sessions.big]
shell = true
run = ["mkdir -p out/parts; for i in $(seq 1 20); do seq $i 200000 > out/parts/p$i.txt; done; seq 1 3000000 > out/big.bin"]
inputs = ["seed.txt"]
outputs = ["out/"]
"#;

/// Every file below `dir`, by path relative to `root`, with its bytes.
fn files(root: &Path, dir: &Path, found: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(root, &path, found);
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            found.insert(relative, fs::read(&path).unwrap());
        }
    }
}

fn outputs(project: &Project) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    files(project.root(), &project.path("out"), &mut found);
    found
}

/// Names of restore temps anywhere in the project, the cache included.
fn restore_temps(dir: &Path, found: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".rtask-restore") {
            found.push(entry.path().display().to_string());
        }
        if entry.file_type().unwrap().is_dir() {
            restore_temps(&entry.path(), found);
        }
    }
}

/// What the cache's `tmp/` holds.
fn cache_temps(project: &Project) -> Vec<String> {
    fs::read_dir(project.path(".rtask/cache/v1/tmp"))
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A small seeded generator, so that a failing sequence of kills can be replayed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// Run rtask with `args`, and SIGKILL it after `delay` unless it ended before; whether it was
/// killed.
fn kill_after(project: &Project, args: &[&str], delay: Duration) -> bool {
    let mut child = project
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

#[test]
fn kills_during_stores_and_restores_leave_nothing_behind_and_nothing_wrong() {
    let project = Project::with_tasks(BIG);
    project.write("seed.txt", "1\n");
    let started = Instant::now();
    project.rtask(&["big"]).success();
    let store_time = started.elapsed();
    let good = outputs(&project);
    assert_eq!(good.len(), 21);
    project.remove("out");
    let started = Instant::now();
    project.rtask(&["big"]).success().stderr_has("big: cached");
    let restore_time = started.elapsed();
    assert_eq!(outputs(&project), good);

    let seed = 0x5eed_u64;
    let mut random = XorShift(seed);
    // Kills anywhere from the start to a little past the end of a store or a restore, until
    // twelve of each landed before their run ended.
    let (mut store_kills, mut restore_kills) = (0, 0);
    for _ in 0..200 {
        if store_kills >= 12 && restore_kills >= 12 {
            break;
        }
        if store_kills <= restore_kills {
            let window = store_time.as_millis() as u64 * 5 / 4;
            let delay = Duration::from_millis(random.below(window));
            store_kills += usize::from(kill_after(&project, &["big", "--force"], delay));
        } else {
            // The killed run's command may still write there until its watchdog ends it.
            wait_until("the killed run's commands to end", || {
                watchdogs_in(project.root()).is_empty()
            });
            wait_until("out/ to be removed", || {
                fs::remove_dir_all(project.path("out")).is_ok() || !project.exists("out")
            });
            let window = restore_time.as_millis() as u64 * 5 / 4;
            let delay = Duration::from_millis(random.below(window));
            restore_kills += usize::from(kill_after(&project, &["big"], delay));
        }
    }
    assert!(store_kills >= 12 && restore_kills >= 12);

    project.rtask(&["big"]).success();
    assert!(
        outputs(&project) == good,
        "outputs differ after kills (seed {seed})"
    );
    assert_eq!(cache_temps(&project), Vec::<String>::new());
    let mut left = Vec::new();
    restore_temps(project.root(), &mut left);
    assert_eq!(left, Vec::<String>::new());
    // The entry is good: a restore from it gives the same bytes.
    project.remove("out");
    project.rtask(&["big"]).success().stderr_has("big: cached");
    assert!(outputs(&project) == good);
}

#[test]
fn a_forced_run_after_killed_restores_stores_no_temp() {
    let project = Project::with_tasks(BIG);
    project.write("seed.txt", "1\n");
    project.rtask(&["big"]).success();
    let good = outputs(&project);
    let mut random = XorShift(0xfade);
    for _ in 0..8 {
        if project.exists("out") {
            project.remove("out");
        }
        let _ = kill_after(&project, &["big"], Duration::from_millis(random.below(400)));
        wait_until("the killed run's watchdog to exit", || {
            watchdogs_in(project.root()).is_empty()
        });
    }
    project.rtask(&["big", "--force"]).success();
    assert!(outputs(&project) == good);
    let manifest = &project.manifests()[0];
    let text = fs::read_to_string(manifest).unwrap();
    assert!(!text.contains(".rtask-restore"), "a temp was stored");
    let mut left = Vec::new();
    restore_temps(project.root(), &mut left);
    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn restore_temps_are_never_stored_as_outputs() {
    let project = Project::with_tasks(
        r#"
[sessions.dir]
shell = true
run = ["mkdir -p out/sub; echo a > out/a.dat; echo b > out/sub/b.dat"]
inputs = ["seed.in"]
outputs = ["out/"]

[sessions.globs]
shell = true
run = ["mkdir -p gen; echo c > gen/c.txt; echo d > gen/d.json; echo e > e.txt"]
inputs = ["seed.in"]
outputs = ["gen/*", "gen/**", "**/*.json", "*.txt"]
"#,
    );
    project.write("seed.in", "1\n");
    // What killed restores leave: one of this version's shape, one of an older version's.
    for dir in ["out", "out/sub", "gen", "."] {
        project.write(
            &format!("{dir}/.rtask-restore.run-0badcafe.Ab12Cd"),
            "partial",
        );
        project.write(&format!("{dir}/.rtask-restoreXy34Zw"), "partial");
    }
    project.rtask(&["dir", "globs", "--force"]).success();
    let stored: Vec<String> = project
        .manifests()
        .iter()
        .flat_map(|manifest| {
            let manifest: serde_json::Value =
                serde_json::from_slice(&fs::read(manifest).unwrap()).unwrap();
            manifest["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|output| output["path"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(stored.len(), 7, "{stored:?}");
    assert!(
        stored.iter().all(|path| !path.contains(".rtask-restore")),
        "{stored:?}"
    );
}

#[test]
fn a_users_file_named_like_a_temp_is_an_output_like_any_other() {
    let project = Project::with_tasks(
        r#"
[sessions.build]
shell = true
run = ["mkdir -p dist && echo wheel > dist/pkg.whl && echo cfg > dist/.rtask-restore-hints"]
inputs = ["in.txt"]
outputs = ["dist/"]
"#,
    );
    project.write("in.txt", "1\n");
    project.rtask(&["build"]).success();
    project.remove("dist");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
    assert_eq!(project.read("dist/.rtask-restore-hints"), "cfg\n");
    assert_eq!(project.read("dist/pkg.whl"), "wheel\n");
}

#[test]
fn a_live_runs_temps_are_not_reclaimed_by_another_run_sharing_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let tasks = r#"
[sessions.first]
shell = true
run = ["echo first > first.txt"]
inputs = ["seed.txt"]
outputs = ["first.txt"]

[sessions.block]
requires = ["first"]
shell = true
run = ["touch blocked; while [ ! -e go ]; do sleep 0.05; done"]
"#;
    let one = Project::with_tasks(tasks);
    let two = Project::with_tasks(tasks);
    for project in [&one, &two] {
        project.write("seed.txt", "1\n");
    }
    let tmp = cache.path().join("v1/tmp");
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&tmp)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut blocked = one
        .command(&["block"])
        .env("RTASK_CACHE_DIR", cache.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the first run to block", || one.exists("blocked"));
    // The live run stored `first`: its run directory and lock are there; a temp it is
    // writing would be in that directory.
    let live = listing();
    assert_eq!(live.len(), 2, "{live:?}");
    let live_dir = tmp.join(&live[0]);
    fs::write(live_dir.join(".tmpLive"), "being written").unwrap();
    // A dead run's leftovers beside it.
    fs::create_dir(tmp.join("run-deadbeef")).unwrap();
    fs::write(tmp.join("run-deadbeef.lock"), "").unwrap();
    fs::write(tmp.join("run-deadbeef/.tmpDead"), "partial").unwrap();

    two.rtask_env(
        &["first"],
        &[("RTASK_CACHE_DIR", cache.path().to_str().unwrap())],
    )
    .success()
    .stderr_has("first: cached");
    assert_eq!(
        listing(),
        live,
        "the dead run's went, the live run's stayed"
    );
    assert!(live_dir.join(".tmpLive").exists());

    fs::remove_file(live_dir.join(".tmpLive")).unwrap();
    one.write("go", "");
    assert!(blocked.wait().unwrap().success());
    assert_eq!(listing(), Vec::<String>::new(), "a run removes its own");
}

//! Session logs: captured while commands run, stored compressed, replayed byte for byte (each
//! line behind the replay gutter); and large blobs stored compressed, read back exact or
//! refused with a reason.

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use crate::support::disk::SmallDisk;
use crate::support::{Project, Run};

/// A compressible text of `size` bytes, for blobs worth compressing.
const COMPRESSIBLE: &str = "yes 'a log line that repeats' | head -c";

fn project(tasks: &str) -> Project {
    let project = Project::with_tasks(tasks);
    project.write("input.txt", "x");
    project
}

/// The entry of the only session in the cache, as JSON.
fn manifest(project: &Project) -> Value {
    let path = project.manifests().pop().expect("one entry");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// Where a blob lies in the store, compressed or not.
fn stored_blob(project: &Project, hash: &str) -> PathBuf {
    let dir = project.path(&format!(".rtask/cache/v1/blobs/{}", &hash[..2]));
    let compressed = dir.join(format!("{hash}.zst"));
    if compressed.exists() {
        compressed
    } else {
        dir.join(hash)
    }
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "[date] UTC");
    settings.add_filter(r"\d+(\.\d+)? ?(ms|s)\b", "[time]");
    settings.add_filter(r"[0-9a-f]{64}", "[hash]");
    settings.add_filter(r"/\S*/\.rtask/", "[project]/.rtask/");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Run rtask, keeping its stdout as bytes (binary output included).
fn run(project: &Project, args: &[&str]) -> (Vec<u8>, Run) {
    let output = project.command(args).output().unwrap();
    let stdout = output.stdout.clone();
    (stdout, Run::from(output))
}

/// A log as a hit replays it: each line behind the gutter, and the gutter again after a `\r`
/// that text follows (where a terminal would write over it; these logs erase no line), the
/// bytes otherwise as they were.
fn replayed(log: &[u8]) -> Vec<u8> {
    let gutter = "│ ".as_bytes();
    let mut out = Vec::with_capacity(log.len() + log.len() / 16);
    for line in log.split_inclusive(|&byte| byte == b'\n') {
        out.extend_from_slice(gutter);
        for (at, &byte) in line.iter().enumerate() {
            out.push(byte);
            if byte == b'\r' && !matches!(line.get(at + 1), None | Some(b'\r' | b'\n')) {
                out.extend_from_slice(gutter);
            }
        }
    }
    out
}

#[track_caller]
fn assert_same_bytes(live: &[u8], replayed: &[u8]) {
    assert!(
        live == replayed,
        "the replay differs from the live output:\nlive: {:?}\nreplay: {:?}",
        String::from_utf8_lossy(&live[..live.len().min(400)]),
        String::from_utf8_lossy(&replayed[..replayed.len().min(400)]),
    );
}

#[test]
fn a_replay_is_the_live_output_byte_for_byte_without_a_final_newline_too() {
    let project = project(
        r#"
[sessions.build]
shell = true
run = ["printf 'first line\\nno newline at the end'", "printf 'binary \\000\\377\\r\\033[0m'"]
inputs = ["input.txt"]
"#,
    );
    let (live_out, live) = run(&project, &["build"]);
    live.success();
    let expected =
        b"$ printf 'first line\\nno newline at the end'\nfirst line\nno newline at the end\
        $ printf 'binary \\000\\377\\r\\033[0m'\nbinary \x00\xff\r\x1b[0m";
    assert_same_bytes(expected, &live_out);
    let (hit_out, hit) = run(&project, &["build"]);
    hit.success().stderr_has("build: cached");
    assert_same_bytes(&replayed(&live_out), &hit_out);
    // rtask ends the unfinished line on stderr, where its own lines go.
    snapshot("replay_without_final_newline_stderr", &hit.stderr);
}

#[test]
fn a_replay_with_a_final_newline_adds_nothing() {
    let project = project(
        r#"
[sessions.build]
shell = true
run = ["printf 'one\\ntwo\\n'"]
inputs = ["input.txt"]
"#,
    );
    let (live_out, live) = run(&project, &["build"]);
    live.success();
    assert_same_bytes(b"$ printf 'one\\ntwo\\n'\none\ntwo\n", &live_out);
    let (hit_out, hit) = run(&project, &["build"]);
    hit.success().stderr_has("build: cached");
    assert_same_bytes(&replayed(&live_out), &hit_out);
    snapshot("replay_with_final_newline_stderr", &hit.stderr);
}

#[test]
fn sessions_side_by_side_replay_their_own_bytes() {
    let project = project(
        r#"
[sessions.left]
shell = true
run = ["printf 'left\\000 without newline'"]
inputs = ["input.txt"]

[sessions.right]
shell = true
run = ["sleep 0.2; printf 'right\\nline\\n'"]
inputs = ["input.txt"]
"#,
    );
    let left = b"$ printf 'left\\000 without newline'\nleft\x00 without newline".to_vec();
    let right = b"$ sleep 0.2; printf 'right\\nline\\n'\nright\nline\n".to_vec();
    let either = |stdout: &[u8], left: &[u8], right: &[u8]| {
        let one = [left, right].concat();
        let other = [right, left].concat();
        assert!(
            stdout == one || stdout == other,
            "not the two logs whole: {:?}",
            String::from_utf8_lossy(stdout)
        );
    };
    let (live_out, live) = run(&project, &["-j2", "left", "right"]);
    live.success();
    either(&live_out, &left, &right);
    let (hit_out, hit) = run(&project, &["-j2", "left", "right"]);
    hit.success().stderr_has("2 cached");
    either(&hit_out, &replayed(&left), &replayed(&right));
}

#[test]
fn a_log_restored_while_another_session_streams_is_shown_whole_after_it() {
    let project = project(
        r#"
[sessions.live]
shell = true
run = ["printf 'live starts\\n'; sleep 0.5; printf 'live ends'"]

[sessions.cached]
shell = true
run = ["sleep 0.1; printf 'cached\\000bytes'"]
inputs = ["input.txt"]
"#,
    );
    project.rtask(&["cached"]).success();
    let live = b"$ printf 'live starts\\n'; sleep 0.5; printf 'live ends'\nlive starts\nlive ends"
        .to_vec();
    let cached = replayed(b"$ sleep 0.1; printf 'cached\\000bytes'\ncached\x00bytes");
    let (stdout, run) = run(&project, &["-j2", "live", "cached"]);
    run.success().stderr_has("cached: cached");
    let one = [live.clone(), cached.clone()].concat();
    let other = [cached, live].concat();
    assert!(
        stdout == one || stdout == other,
        "not the two logs whole: {:?}",
        String::from_utf8_lossy(&stdout)
    );
}

#[test]
fn a_large_log_is_stored_compressed_and_replayed_whole() {
    let project = project(&format!(
        r#"
[sessions.build]
shell = true
run = ["{COMPRESSIBLE} 50000000"]
inputs = ["input.txt"]
"#
    ));
    let (live_out, live) = run(&project, &["build"]);
    live.success();
    assert_eq!(
        live_out.len(),
        50_000_000 + COMPRESSIBLE.len() + " 50000000\n".len() + 2
    );
    let log = &manifest(&project)["log"];
    assert_eq!(log["size"], live_out.len());
    let stored = stored_blob(&project, log["hash"].as_str().unwrap());
    assert!(stored.to_string_lossy().ends_with(".zst"), "{stored:?}");
    assert!(fs::metadata(&stored).unwrap().len() < 5_000_000);
    let (hit_out, hit) = run(&project, &["build"]);
    hit.success().stderr_has("build: cached");
    assert_same_bytes(&replayed(&live_out), &hit_out);
}

#[test]
fn a_small_or_incompressible_blob_is_stored_as_it_is() {
    let project = project(
        r#"
[sessions.build]
shell = true
run = ["echo short", "mkdir -p out && head -c 300000 /dev/urandom > out/noise.bin"]
inputs = ["input.txt"]
outputs = ["out/"]
"#,
    );
    project.rtask(&["build"]).success();
    let entry = manifest(&project);
    for hash in [&entry["log"]["hash"], &entry["outputs"][1]["hash"]] {
        let stored = stored_blob(&project, hash.as_str().unwrap());
        assert!(!stored.to_string_lossy().ends_with(".zst"), "{stored:?}");
    }
    let noise = fs::read(project.path("out/noise.bin")).unwrap();
    project.remove("out");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
    assert_eq!(fs::read(project.path("out/noise.bin")).unwrap(), noise);
}

const OUTPUT: &str = r#"
[sessions.build]
shell = true
run = ["echo run >> runs.txt", "mkdir -p out && yes 'output line' | head -c 3000000 > out/big.txt && printf '\\000\\001\\377' >> out/big.txt"]
inputs = ["input.txt"]
outputs = ["out/"]
"#;

/// The blob of `out/big.txt` in the only entry.
fn big_output_blob(project: &Project) -> PathBuf {
    let entry = manifest(project);
    let file = entry["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|output| output["path"] == "out/big.txt")
        .unwrap()
        .clone();
    stored_blob(project, file["hash"].as_str().unwrap())
}

#[test]
fn an_output_restored_from_a_compressed_blob_is_bit_identical() {
    let project = project(OUTPUT);
    project.rtask(&["build"]).success();
    let made = fs::read(project.path("out/big.txt")).unwrap();
    let stored = big_output_blob(&project);
    assert!(stored.to_string_lossy().ends_with(".zst"), "{stored:?}");
    assert!(fs::metadata(&stored).unwrap().len() < made.len() as u64 / 10);
    project.remove("out");
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
    assert_eq!(fs::read(project.path("out/big.txt")).unwrap(), made);
    assert_eq!(project.count("runs.txt"), 1);
    // A copy of the project, cache included, restores the same bytes.
    let copy = project.copy();
    copy.remove("out");
    copy.rtask(&["build"]).success().stderr_has("build: cached");
    assert_eq!(fs::read(copy.path("out/big.txt")).unwrap(), made);
}

#[test]
fn a_damaged_compressed_output_is_a_miss_with_a_reason() {
    let project = project(OUTPUT);
    project.rtask(&["build"]).success();
    let stored = big_output_blob(&project);
    let mut bytes = fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs::write(&stored, bytes).unwrap();
    project.remove("out");
    let run = project.rtask(&["build"]);
    run.success();
    snapshot("damaged_compressed_output", &run.stderr);
    assert_eq!(project.count("runs.txt"), 2);
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
}

#[test]
fn a_truncated_compressed_output_is_a_miss_with_a_reason() {
    let project = project(OUTPUT);
    project.rtask(&["build"]).success();
    let stored = big_output_blob(&project);
    let bytes = fs::read(&stored).unwrap();
    fs::write(&stored, &bytes[..bytes.len() - 100]).unwrap();
    let run = project.rtask(&["build"]);
    run.success();
    snapshot("truncated_compressed_output", &run.stderr);
    assert_eq!(project.count("runs.txt"), 2);
}

#[test]
fn a_damaged_compressed_log_is_a_miss_with_a_reason_and_is_never_shown() {
    let project = project(&format!(
        r#"
[sessions.build]
shell = true
run = ["echo run >> runs.txt", "{COMPRESSIBLE} 200000"]
inputs = ["input.txt"]
"#
    ));
    project.rtask(&["build"]).success();
    let log = manifest(&project)["log"]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = stored_blob(&project, &log);
    assert!(stored.to_string_lossy().ends_with(".zst"), "{stored:?}");
    let mut bytes = fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs::write(&stored, bytes).unwrap();
    let run = project.rtask(&["build"]);
    run.success();
    snapshot("damaged_compressed_log", &run.stderr);
    assert_eq!(project.count("runs.txt"), 2);
    // The run printed its output once: nothing of the damaged replay.
    assert_eq!(run.stdout.matches("$ echo run").count(), 1);
    project
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
}

/// A session with a compressible log and a compressible output, both stored compressed.
const TRAVELS: &str = r#"
[sessions.build]
shell = true
run = ["echo run >> runs.txt", "mkdir -p out && yes 'output line' | head -c 3000000 > out/big.txt", "yes 'log line' | head -c 1000000"]
inputs = ["input.txt"]
outputs = ["out/"]
"#;

#[test]
fn compressed_blobs_travel_as_their_bytes_through_a_remote_cache() {
    let nginx = crate::support::servers::nginx();
    let url = nginx.url("logs-travel");
    let producer = project(TRAVELS);
    let (live_out, live) = run(&producer, &["build", "--remote-cache", &url]);
    live.success().stderr_lacks("warning");
    let made = fs::read(producer.path("out/big.txt")).unwrap();
    assert!(
        big_output_blob(&producer)
            .to_string_lossy()
            .ends_with(".zst")
    );
    // The remote holds the bytes themselves: its objects are named by their sha256.
    let sizes: Vec<u64> = fs::read_dir(nginx.dir("logs-travel").join("cas"))
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .collect();
    assert!(sizes.contains(&(made.len() as u64)), "{sizes:?}");
    assert!(sizes.contains(&(live_out.len() as u64)), "{sizes:?}");

    let consumer = project(TRAVELS);
    let (hit_out, hit) = run(&consumer, &["build", "--remote-cache", &url]);
    hit.success().stderr_has("build: cached");
    assert_eq!(consumer.count("runs.txt"), 0, "the consumer ran\n{hit}");
    assert_same_bytes(&replayed(&live_out), &hit_out);
    assert_eq!(fs::read(consumer.path("out/big.txt")).unwrap(), made);
    // Stored compressed in the consumer's cache too.
    assert!(
        big_output_blob(&consumer)
            .to_string_lossy()
            .ends_with(".zst")
    );
}

#[test]
fn compressed_blobs_travel_as_their_bytes_in_a_bundle() {
    let producer = project(TRAVELS);
    let (live_out, live) = run(&producer, &["build"]);
    live.success();
    let made = fs::read(producer.path("out/big.txt")).unwrap();
    let consumer = project(TRAVELS);
    producer.hand_over_bundle(&consumer, &["build"]);
    let (hit_out, hit) = run(&consumer, &["build"]);
    hit.success().stderr_has("build: cached");
    assert_eq!(consumer.count("runs.txt"), 0, "the consumer ran\n{hit}");
    assert_same_bytes(&replayed(&live_out), &hit_out);
    assert_eq!(fs::read(consumer.path("out/big.txt")).unwrap(), made);
}

#[test]
fn a_log_that_fills_the_disk_is_not_stored_and_the_run_succeeds() {
    let project = project(
        r#"
[sessions.build]
shell = true
run = ["head -c 6000000 /dev/urandom | base64"]
inputs = ["input.txt"]
"#,
    );
    let Some(disk) = SmallDisk::mount(&project.path("disk"), "2m") else {
        return;
    };
    let cache = disk.path().to_str().unwrap().to_string();
    let output = project
        .command(&["build"])
        .env("RTASK_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let stdout = output.stdout.clone();
    let run = Run::from(output);
    run.success().stderr_has(
        "warning: no space left on the device of the cache: the result of `build` is not cached",
    );
    // Shown whole all the same: the echo, then 6 MB as base64, 76 letters a line.
    let echo = "$ head -c 6000000 /dev/urandom | base64\n";
    let lines = 8_000_000usize.div_ceil(76);
    assert_eq!(stdout.len(), echo.len() + 8_000_000 + lines, "{run}");
    assert!(stdout.starts_with(echo.as_bytes()));
    // Nothing is left of the partial log, and there is no entry.
    assert!(project.manifests().is_empty());
    let tmp: Vec<_> = fs::read_dir(disk.path().join("v1/tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

//! Remote caches on real servers (nginx WebDAV as a Bazel HTTP cache, SeaweedFS as S3): an
//! entry goes from one checkout to another, records are REAPI `ActionResult`s, signatures
//! decide, faults (injected by a proxy written here) warn and miss, secrets never show.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::support::servers::{
    self, HTTP_PASSWORD, HTTP_USER, S3_BUCKET, S3_KEY, S3_SECRET, free_port,
};
use crate::support::{Project, Run};

const TASKS: &str = r#"
[sessions.build]
shell = true
run = ["echo run >> runs.txt", "mkdir -p out && cat src/*.txt > out/all.txt && printf '\\000\\001\\377' > out/bytes.bin && echo built"]
inputs = ["src/**/*.txt"]
outputs = ["out/"]
"#;

/// Four independent sessions, to see failures counted and the remote given up.
const FOUR: &str = r#"
[sessions.a]
run = ["sh -c 'echo a >> runs.txt'"]
inputs = ["src/a.txt"]
[sessions.b]
run = ["sh -c 'echo b >> runs.txt'"]
inputs = ["src/b.txt"]
[sessions.c]
run = ["sh -c 'echo c >> runs.txt'"]
inputs = ["src/c.txt"]
[sessions.d]
run = ["sh -c 'echo d >> runs.txt'"]
inputs = ["src/d.txt"]
"#;

fn project_with(tasks: &str) -> Project {
    let project = Project::with_tasks(tasks);
    for name in ["a", "b", "c", "d"] {
        project.write(&format!("src/{name}.txt"), &format!("{name}\n"));
    }
    project
}

fn project() -> Project {
    project_with(TASKS)
}

fn rtask(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    project.rtask_env(args, env)
}

fn s3_env(secret: &'static str) -> Vec<(&'static str, &'static str)> {
    let endpoint: &'static str =
        Box::leak(format!("http://127.0.0.1:{}", servers::weed().port).into_boxed_str());
    vec![
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", S3_KEY),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
    ]
}

#[track_caller]
fn assert_same_outputs(from: &Project, to: &Project) {
    for path in ["out/all.txt", "out/bytes.bin"] {
        assert_eq!(
            fs::read(from.path(path)).unwrap(),
            fs::read(to.path(path)).unwrap(),
            "{path} differs"
        );
    }
}

/// Stderr with what changes from run to run (ports, durations, hashes) masked.
fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    settings.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "[date] UTC");
    settings.add_filter(r"\d+(\.\d+)? ?(ms|s)\b", "[time]");
    settings.add_filter(r"[0-9a-f]{64}", "[hash]");
    settings.add_filter(r"\b2: \d+", "2: [size]");
    settings
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn an_entry_goes_from_one_checkout_to_another_through_a_bazel_http_cache() {
    let nginx = servers::nginx();
    let url = nginx.url("handoff");
    let producer = project();
    rtask(&producer, &["build", "--remote-cache", &url], &[])
        .success()
        .stdout_has("built\n");
    assert_eq!(files_in(&nginx.dir("handoff").join("ac")).len(), 1);

    let consumer = project();
    let run = rtask(&consumer, &["build"], &[("RTASK_REMOTE_CACHE", &url)]);
    run.success().stdout_has("built\n");
    assert_eq!(consumer.count("runs.txt"), 0, "the consumer ran\n{run}");
    assert_same_outputs(&producer, &consumer);
    snapshot_settings().bind(|| insta::assert_snapshot!("http_consumer_stderr", run.stderr));

    // Downloaded into the local cache: the next run is a local hit, even with no remote.
    rtask(&consumer, &["build"], &[])
        .success()
        .stderr_has("build: cached")
        .stderr_lacks("remote");
}

#[test]
fn an_entry_goes_from_one_checkout_to_another_through_s3() {
    let tasks = format!("[settings]\nremote_cache = \"s3://{S3_BUCKET}/handoff\"\n{TASKS}");
    let producer = project_with(&tasks);
    rtask(&producer, &["build"], &s3_env(S3_SECRET))
        .success()
        .stdout_has("built\n")
        .stderr_lacks("warning");

    let consumer = project_with(&tasks);
    let run = rtask(&consumer, &["build"], &s3_env(S3_SECRET));
    run.success()
        .stdout_has("built\n")
        .stderr_has("build: downloaded from the remote cache")
        .stderr_lacks("warning");
    assert_eq!(consumer.count("runs.txt"), 0, "the consumer ran\n{run}");
    assert_same_outputs(&producer, &consumer);
}

#[test]
fn the_action_cache_record_is_a_reapi_action_result_over_sha256_named_blobs() {
    let nginx = servers::nginx();
    let url = nginx.url("record");
    let producer = project();
    rtask(&producer, &["build", "--remote-cache", &url], &[]).success();
    let records = files_in(&nginx.dir("record").join("ac"));
    assert_eq!(records.len(), 1);
    let name = records[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // Fetched over HTTP, as a Bazel client would.
    let fetched = Command::new("curl")
        .args(["-sf", &format!("{url}/ac/{name}")])
        .output()
        .expect("curl is missing: run `bash .ci/prepare` first");
    assert!(fetched.status.success());
    let mut protoc = Command::new("protoc")
        .arg("--decode_raw")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("protoc is missing: run `bash .ci/prepare` first");
    protoc
        .stdin
        .take()
        .unwrap()
        .write_all(&fetched.stdout)
        .unwrap();
    let decoded = protoc.wait_with_output().unwrap();
    assert!(decoded.status.success());
    let decoded = String::from_utf8(decoded.stdout).unwrap();
    snapshot_settings().bind(|| insta::assert_snapshot!("ac_record_decoded", decoded));

    // Every digest the record lists is a CAS blob, named by the sha256 of its bytes.
    let cas = nginx.dir("record").join("cas");
    let listed = regex_digests(&decoded);
    assert_eq!(listed.len(), 5, "{decoded}");
    for hash in &listed {
        let bytes = fs::read(cas.join(hash)).unwrap();
        assert_eq!(&sha256_hex(&bytes), hash);
    }
    for blob in files_in(&cas) {
        let name = blob.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(sha256_hex(&fs::read(&blob).unwrap()), name);
    }
}

/// The 64-hex-digit strings of `protoc --decode_raw` output.
fn regex_digests(decoded: &str) -> Vec<String> {
    decoded
        .lines()
        .filter_map(|line| line.trim().strip_prefix("1: \""))
        .map(|rest| rest.trim_end_matches('"').to_string())
        .filter(|text| text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .collect()
}

#[test]
fn s3_with_a_wrong_secret_warns_misses_and_succeeds() {
    let tasks = format!("[settings]\nremote_cache = \"s3://{S3_BUCKET}/wrong-secret\"\n{TASKS}");
    let producer = project_with(&tasks);
    let env = s3_env("aws-secret-never-printed");
    let run = rtask(&producer, &["build"], &env);
    run.success()
        .stderr_has("warning: remote cache: cannot fetch the entry of `build` (the server answered HTTP 403); it is a miss")
        .stderr_has("warning: remote cache: cannot upload the entry of `build` (the server answered HTTP 403); it stays local");
    assert_eq!(producer.count("runs.txt"), 1);
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("aws-secret-never-printed"), "{run}");
    }
    // Nothing was stored: a consumer with the right secret misses.
    let consumer = project_with(&tasks);
    rtask(&consumer, &["build"], &s3_env(S3_SECRET)).success();
    assert_eq!(consumer.count("runs.txt"), 1);
}

#[test]
fn read_only_runs_download_and_never_upload() {
    let nginx = servers::nginx();
    let flag = project();
    rtask(
        &flag,
        &[
            "build",
            "--remote-cache",
            &nginx.url("ro-flag"),
            "--remote-read-only",
        ],
        &[],
    )
    .success();
    assert!(!nginx.dir("ro-flag").exists());
    let variable = project();
    rtask(
        &variable,
        &["build"],
        &[
            ("RTASK_REMOTE_CACHE", &nginx.url("ro-env")),
            ("RTASK_REMOTE_READ_ONLY", "1"),
        ],
    )
    .success();
    assert!(!nginx.dir("ro-env").exists());

    // It still reads.
    let url = nginx.url("ro-read");
    rtask(&project(), &["build", "--remote-cache", &url], &[]).success();
    let reader = project();
    rtask(
        &reader,
        &["build", "--remote-cache", &url, "--remote-read-only"],
        &[],
    )
    .success()
    .stderr_has("build: downloaded from the remote cache");
    assert_eq!(reader.count("runs.txt"), 0);
}

#[test]
fn with_a_signing_key_only_entries_signed_with_it_are_restored() {
    let nginx = servers::nginx();
    let key = "signing-key-never-printed";
    let unsigned = nginx.url("unsigned");
    rtask(&project(), &["build", "--remote-cache", &unsigned], &[]).success();
    let consumer = project();
    let run = rtask(
        &consumer,
        &["build", "--remote-cache", &unsigned, "--remote-read-only"],
        &[("RTASK_CACHE_SIGNING_KEY", key)],
    );
    run.success().stderr_has(
        "warning: remote cache: refusing the entry of `build`: it is not signed; it is a miss",
    );
    assert_eq!(consumer.count("runs.txt"), 1);

    let signed = nginx.url("signed");
    let producer = project();
    let made = rtask(
        &producer,
        &["build", "--remote-cache", &signed],
        &[("RTASK_CACHE_SIGNING_KEY", key)],
    );
    made.success();
    let other = project();
    let refused = rtask(
        &other,
        &["build", "--remote-cache", &signed, "--remote-read-only"],
        &[("RTASK_CACHE_SIGNING_KEY", "another-key")],
    );
    refused.success().stderr_has(
        "refusing the entry of `build`: its signature does not match (signed with another key, or altered); it is a miss",
    );
    assert_eq!(other.count("runs.txt"), 1);
    assert!(
        !other.manifests().is_empty(),
        "it ran and stored its own result"
    );

    let trusted = project();
    let restored = rtask(
        &trusted,
        &["build", "--remote-cache", &signed],
        &[("RTASK_CACHE_SIGNING_KEY", key)],
    );
    restored
        .success()
        .stderr_has("build: downloaded from the remote cache");
    assert_eq!(trusted.count("runs.txt"), 0);
    assert_same_outputs(&producer, &trusted);
    for run in [&run, &made, &refused, &restored] {
        assert!(!run.stderr.contains(key) && !run.stdout.contains(key));
    }
}

/// What the fault-injecting proxy does to requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answer 500 to everything.
    ServerError,
    /// Wait past any timeout before answering.
    Slow,
    /// Forward, but cut CAS bodies short of their `Content-Length`.
    Truncate,
    /// Forward, but replace the bytes of CAS blobs (not manifests) with as many `X`.
    WrongBlob,
    /// Forward, but send the body of every answer one byte at a time, each within any
    /// timeout.
    Trickle,
    /// Read request bodies at 512 KiB/s, then forward.
    SlowReader,
}

/// A proxy in front of nginx that injects `fault`; its port.
fn proxy(fault: Fault) -> u16 {
    let upstream = servers::nginx().port;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve(stream, fault, upstream);
            });
        }
    });
    port
}

fn serve(mut client: TcpStream, fault: Fault, upstream: u16) -> std::io::Result<()> {
    // 64 KiB 8 times a second: 512 KiB/s.
    let pace = matches!(fault, Fault::SlowReader).then_some(Duration::from_millis(125));
    let request = read_request(&mut client, pace)?;
    let head_end = find(&request, b"\r\n\r\n").unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    match fault {
        Fault::ServerError => {
            client.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            return Ok(());
        }
        Fault::Slow => {
            std::thread::sleep(Duration::from_secs(4));
            return Ok(());
        }
        Fault::Truncate | Fault::WrongBlob | Fault::Trickle | Fault::SlowReader => {}
    }
    // Forward with `Connection: close`, so the whole answer is what upstream sends.
    let mut forwarded = Vec::new();
    for line in head.lines() {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            forwarded.extend_from_slice(line.as_bytes());
            forwarded.extend_from_slice(b"\r\n");
        }
    }
    forwarded.extend_from_slice(b"Connection: close\r\n\r\n");
    forwarded.extend_from_slice(&request[(head_end + 4).min(request.len())..]);
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.write_all(&forwarded)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    if matches!(fault, Fault::Trickle) {
        let body_at = find(&response, b"\r\n\r\n").map_or(0, |at| at + 4);
        client.write_all(&response[..body_at])?;
        for byte in &response[body_at..] {
            client.write_all(&[*byte])?;
            std::thread::sleep(Duration::from_millis(200));
        }
        return Ok(());
    }
    let tampered = request_line.starts_with("GET ")
        && request_line.contains("/cas/")
        && response.starts_with(b"HTTP/1.1 200");
    if !tampered {
        return client.write_all(&response);
    }
    let body_at = find(&response, b"\r\n\r\n").unwrap() + 4;
    let (head, body) = response.split_at(body_at);
    match fault {
        Fault::Truncate => {
            client.write_all(head)?;
            client.write_all(&body[..body.len() / 2])?;
        }
        _ if body.starts_with(b"{") => client.write_all(&response)?,
        _ => {
            client.write_all(head)?;
            client.write_all(&vec![b'X'; body.len()])?;
        }
    }
    Ok(())
}

/// A whole request; with a `pace`, read 64 KiB at a time with that pause between reads (a
/// slow reader).
fn read_request(stream: &mut TcpStream, pace: Option<Duration>) -> std::io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(request);
        }
        request.extend_from_slice(&buffer[..read]);
        if let Some(end) = find(&request, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return Ok(request);
            }
        }
        if let Some(pace) = pace {
            std::thread::sleep(pace);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Every blob in a project's local cache, with its bytes.
fn local_blobs(project: &Project) -> Vec<Vec<u8>> {
    let mut blobs = Vec::new();
    for dir in files_in(&project.path(".rtask/cache/v1/blobs")) {
        for blob in files_in(&dir) {
            blobs.push(fs::read(blob).unwrap());
        }
    }
    blobs
}

#[test]
fn a_server_that_is_down_is_given_up_after_three_failures() {
    let dead = format!("http://127.0.0.1:{}/cache", free_port());
    let project = project_with(FOUR);
    // Read-only, so that only the lookups fail, in the order the sessions run.
    let args = [
        "a",
        "b",
        "c",
        "d",
        "-j",
        "1",
        "--remote-read-only",
        "--remote-cache",
        &dead,
    ];
    let run = rtask(&project, &args, &[]);
    run.success();
    assert_eq!(project.count("runs.txt"), 4);
    assert_eq!(
        run.stderr.matches("cannot fetch the entry").count(),
        3,
        "{run}"
    );
    assert_eq!(
        run.stderr.matches("is not used for the rest").count(),
        1,
        "{run}"
    );

    // Uploads that fail count too, and the run still succeeds.
    let writer = project_with(FOUR);
    let written = rtask(&writer, &["a", "b", "c", "d", "--remote-cache", &dead], &[]);
    written.success();
    let failures = written
        .stderr
        .matches("warning: remote cache: cannot")
        .count();
    assert_eq!(failures, 3, "{written}");
    let disabled = written.stderr.matches("is not used for the rest").count();
    assert_eq!(disabled, 1, "{written}");
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .collect();
    snapshot_settings().bind(|| {
        insta::assert_snapshot!("server_down_warnings", warnings.join("\n"));
    });
}

#[test]
fn server_errors_are_misses_and_give_the_remote_up_after_three() {
    let url = format!("http://127.0.0.1:{}/open/errors", proxy(Fault::ServerError));
    let project = project_with(FOUR);
    let args = [
        "a",
        "b",
        "c",
        "d",
        "-j",
        "1",
        "--remote-read-only",
        "--remote-cache",
        &url,
    ];
    let run = rtask(&project, &args, &[]);
    run.success()
        .stderr_has("cannot fetch the entry of `a` (the server answered HTTP 500); it is a miss")
        .stderr_has("remote cache `http://127.0.0.1:");
    assert_eq!(project.count("runs.txt"), 4);
    assert_eq!(run.stderr.matches("warning:").count(), 4, "{run}");
}

#[test]
fn a_server_slower_than_the_timeout_is_given_up_at_once() {
    let url = format!("http://127.0.0.1:{}/open/slow", proxy(Fault::Slow));
    let project = project_with(FOUR);
    let run = rtask(
        &project,
        &["a", "b", "c", "d", "-j", "1", "--remote-cache", &url],
        &[("RTASK_REMOTE_TIMEOUT", "1")],
    );
    run.success().stderr_has(
        "cannot fetch the entry of `a` (the server did not answer within the timeout (`RTASK_REMOTE_TIMEOUT`)); it is a miss",
    );
    assert_eq!(project.count("runs.txt"), 4);
    assert_eq!(run.stderr.matches("cannot fetch").count(), 1, "{run}");
    assert_eq!(
        run.stderr
            .matches("is not used for the rest of this run: it did not answer in time")
            .count(),
        1,
        "{run}"
    );
}

#[test]
fn a_server_that_trickles_its_answers_is_cut_off_at_a_deadline() {
    let nginx = servers::nginx();
    rtask(
        &project(),
        &["build", "--remote-cache", &nginx.url("trickle")],
        &[],
    )
    .success();
    let url = format!("http://127.0.0.1:{}/open/trickle", proxy(Fault::Trickle));
    let consumer = project();
    let mut command = consumer.command(&["build", "--remote-cache", &url, "--remote-read-only"]);
    command.env("RTASK_REMOTE_TIMEOUT", "1");
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Every byte comes within the timeout: only a deadline ends the request. Without one the
    // run would wait for the whole answer, a byte every 200 ms (or forever).
    let waited = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if waited.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the run still waits for a server that trickles its answer");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = Run::from(child.wait_with_output().unwrap());
    run.success()
        .stderr_has("cannot fetch the entry of `build`");
    assert_eq!(consumer.count("runs.txt"), 1);
}

/// `build` stored on nginx under `prefix`, then a fresh checkout looking it up (read-only)
/// through a proxy that injects `fault`: the checkout and what rtask printed.
fn through_fault(prefix: &str, fault: Fault) -> (Project, Run) {
    let nginx = servers::nginx();
    rtask(
        &project(),
        &["build", "--remote-cache", &nginx.url(prefix)],
        &[],
    )
    .success();
    let url = format!("http://127.0.0.1:{}/open/{prefix}", proxy(fault));
    let consumer = project();
    let run = rtask(
        &consumer,
        &["build", "--remote-cache", &url, "--remote-read-only"],
        &[],
    );
    (consumer, run)
}

#[test]
fn a_truncated_body_is_a_miss_and_nothing_of_it_is_stored() {
    let (consumer, run) = through_fault("truncated", Fault::Truncate);
    run.success().stderr_has(
        "warning: remote cache: cannot fetch the entry of `build` (the answer broke off",
    );
    assert_eq!(consumer.count("runs.txt"), 1);
}

#[test]
fn a_blob_whose_bytes_differ_is_never_stored() {
    let (consumer, run) = through_fault("wrong", Fault::WrongBlob);
    run.success().stderr_has(
        "warning: remote cache: cannot fetch the entry of `build` (a blob received does not match its digest); it is a miss",
    );
    assert_eq!(consumer.count("runs.txt"), 1);
    for blob in local_blobs(&consumer) {
        assert!(
            blob.is_empty() || blob.iter().any(|&byte| byte != b'X'),
            "a tampered blob was stored"
        );
    }
    assert!(files_in(&consumer.path(".rtask/cache/v1/tmp")).is_empty());
}

#[test]
fn secrets_never_show_in_any_output() {
    let nginx = servers::nginx();
    let locked = |password: &str| {
        format!(
            "http://{HTTP_USER}:{password}@127.0.0.1:{}/locked/secrets",
            nginx.port
        )
    };
    let header = ("RTASK_REMOTE_HEADER", "X-Token: header-never-printed");
    let mut runs = Vec::new();
    let producer = project();
    let made = rtask(
        &producer,
        &["build", "-v", "--remote-cache", &locked(HTTP_PASSWORD)],
        &[header],
    );
    made.success().stderr_lacks("warning");
    runs.push(made);
    let consumer = project();
    let restored = rtask(
        &consumer,
        &["build", "-v"],
        &[("RTASK_REMOTE_CACHE", &locked(HTTP_PASSWORD)), header],
    );
    restored
        .success()
        .stderr_has("build: downloaded from the remote cache");
    runs.push(restored);
    let refused = project();
    let wrong = rtask(
        &refused,
        &[
            "build",
            "-v",
            "--remote-cache",
            &locked("wrong-pw-never-printed"),
        ],
        &[header],
    );
    wrong.success().stderr_has("HTTP 401");
    runs.push(wrong);
    runs.push(rtask(
        &project(),
        &[
            "build",
            "--dry-run",
            "--remote-cache",
            &locked("wrong-pw-never-printed"),
        ],
        &[],
    ));
    runs.push(rtask(
        &project(),
        &[
            "build",
            "--remote-cache",
            "ftp://u:flag-pw-never-printed@host/x",
        ],
        &[],
    ));
    runs.push(rtask(
        &project(),
        &["build"],
        &[("RTASK_REMOTE_CACHE", "https://u:env-pw-never-printed@/x")],
    ));
    runs.push(rtask(
        &project(),
        &["build", "--remote-cache", &nginx.url("h")],
        &[("RTASK_REMOTE_HEADER", "header-never-printed-without-colon")],
    ));
    let tasks = format!("[settings]\nremote_cache = \"s3://{S3_BUCKET}/secrets\"\n{TASKS}");
    runs.push(rtask(
        &project_with(&tasks),
        &["build", "-v"],
        &s3_env("aws-secret-never-printed"),
    ));
    runs.push(rtask(
        &project_with(&tasks),
        &["build", "-v"],
        &s3_env(S3_SECRET),
    ));
    runs.push(rtask(
        &project_with(&tasks),
        &["build", "-v", "--dry-run"],
        &s3_env(S3_SECRET),
    ));
    for run in &runs {
        for secret in [
            HTTP_PASSWORD,
            "never-printed",
            S3_SECRET,
            "Basic ",
            "X-Amz-Signature",
        ] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "`{secret}` printed:\n{run}"
            );
        }
    }
}

#[test]
fn a_bad_remote_cache_url_in_the_task_file_points_at_it() {
    let project = project_with(&format!(
        "[settings]\nremote_cache = \"ftp://example/x\"\n{TASKS}"
    ));
    let run = rtask(&project, &["build"], &[]);
    run.code(2);
    insta::assert_snapshot!("bad_remote_cache_in_task_file", run.stderr);
    // The snippet of the file never shows a password.
    let secret = project_with(&format!(
        "[settings]\nremote_cache = \"ftp://ci:hunter/22@example/x\"\n{TASKS}"
    ));
    let run = rtask(&secret, &["build"], &[]);
    run.code(2)
        .stderr_has("ftp://**:*********@example/x")
        .stderr_lacks("hunter");
}

#[test]
fn a_bad_remote_setting_is_a_usage_error() {
    let project = project();
    let run = rtask(
        &project,
        &["build", "--remote-cache", "cache.example/x"],
        &[],
    );
    run.code(3);
    insta::assert_snapshot!("bad_remote_cache_flag", run.stderr);
    rtask(
        &project,
        &["build"],
        &[
            ("RTASK_REMOTE_CACHE", "http://127.0.0.1/x"),
            ("RTASK_REMOTE_TIMEOUT", "soon"),
        ],
    )
    .code(3)
    .stderr_has("error: `RTASK_REMOTE_TIMEOUT` must be a positive number of seconds");
    for (name, value) in [
        ("RTASK_REMOTE_TIMEOUT", "1e20"),
        ("RTASK_REMOTE_HEADER", "X-Token: secret\r\nInjected: 1"),
    ] {
        let run = rtask(
            &project,
            &["build"],
            &[("RTASK_REMOTE_CACHE", "http://127.0.0.1/x"), (name, value)],
        );
        run.code(3).stderr_has(&format!("error: `{name}`"));
        assert!(!run.stderr.contains("secret"), "{run}");
    }
}

#[test]
fn the_flag_wins_over_the_variable_and_listing_never_asks_the_remote() {
    let nginx = servers::nginx();
    let url = nginx.url("precedence");
    rtask(&project(), &["build", "--remote-cache", &url], &[]).success();
    let dead = format!("http://127.0.0.1:{}/cache", free_port());
    let consumer = project();
    // `-l` says it would run: the remote is not asked.
    rtask(&consumer, &["-l"], &[("RTASK_REMOTE_CACHE", &url)])
        .success()
        .stderr_lacks("warning");
    assert!(consumer.manifests().is_empty());
    // A dry run may download, and says so on stderr only when something fails.
    let dry = rtask(
        &consumer,
        &["build", "--dry-run"],
        &[("RTASK_REMOTE_CACHE", &dead)],
    );
    dry.success()
        .stderr_has("warning: remote cache: cannot fetch the entry of `build`");
    let dry = rtask(
        &consumer,
        &["build", "--dry-run", "--remote-cache", &url],
        &[("RTASK_REMOTE_CACHE", &dead)],
    );
    dry.success()
        .stderr_lacks("warning")
        .stdout_has("build: would be restored from the cache");
    rtask(&consumer, &["build"], &[("RTASK_REMOTE_CACHE", &dead)])
        .success()
        .stderr_has("build: cached");
    assert_eq!(consumer.count("runs.txt"), 0);
}

#[test]
fn an_empty_signing_key_is_said_to_check_nothing() {
    let nginx = servers::nginx();
    let url = nginx.url("empty-key");
    let empty = [("RTASK_CACHE_SIGNING_KEY", "")];
    let warning = "warning: `RTASK_CACHE_SIGNING_KEY` is set but empty";
    rtask(&project(), &["build", "--remote-cache", &url], &empty)
        .success()
        .stderr_has(warning);
    let consumer = project();
    consumer
        .rtask_env(&["cache", "export", "-o", "b.tar.zst", "build"], &empty)
        .code(4)
        .stderr_has(warning);
    rtask(&consumer, &["build", "--remote-cache", &url], &[])
        .success()
        .stderr_lacks("warning");
}

/// A session `big` copying `seed.bin`, 3 MiB of bytes that do not compress (the same in every
/// project), to its output: a project, and the seed.
fn big_project() -> (Project, Vec<u8>) {
    let project = project_with(
        r#"
[sessions.big]
run = ["cp seed.bin out.bin"]
inputs = ["seed.bin"]
outputs = ["out.bin"]
"#,
    );
    let seed: Vec<u8> = (0..3u32 * 1024 * 1024)
        .map(|at| (at.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(project.path("seed.bin"), &seed).unwrap();
    (project, seed)
}

#[test]
fn an_upload_slower_than_the_timeout_but_moving_completes() {
    // 6 s at the proxy's pace, against a 1 s timeout.
    let (project, seed) = big_project();
    let url = format!(
        "http://127.0.0.1:{}/open/slow-upload",
        proxy(Fault::SlowReader)
    );
    rtask(
        &project,
        &["big", "--remote-cache", &url],
        &[("RTASK_REMOTE_TIMEOUT", "1")],
    )
    .success()
    .stderr_lacks("warning");
    let (consumer, _) = big_project();
    let nginx = servers::nginx();
    rtask(
        &consumer,
        &[
            "big",
            "--remote-cache",
            &nginx.url("slow-upload"),
            "--remote-read-only",
        ],
        &[],
    )
    .success()
    .stderr_has("big: downloaded from the remote cache");
    assert_eq!(fs::read(consumer.path("out.bin")).unwrap(), seed);
}

#[test]
fn an_interrupted_run_gives_its_uploads_up_at_once() {
    // An upload that takes 6 s at the proxy's pace, allowed 13 s.
    let (project, _) = big_project();
    let url = format!(
        "http://127.0.0.1:{}/open/interrupted",
        proxy(Fault::SlowReader)
    );
    let mut command = project.command(&["big", "--remote-cache", &url]);
    let child = command
        .env("RTASK_REMOTE_TIMEOUT", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    run.code(130)
        .stderr_has("gave up waiting for 1 upload(s) still under way");
    // The run did not wait for the upload to end: the record, sent last, never arrived.
    let records = servers::nginx().dir("interrupted").join("ac");
    assert!(
        !records.exists() || files_in(&records).is_empty(),
        "the upload finished after Ctrl-C\n{run}"
    );
}

//! Cache bundles: `rtask cache export` writes the entries of sessions at their current keys to a
//! tar.zst file, `rtask cache import` adds them to another checkout's cache, checking each.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::support::{Project, Run};

const TASKS: &str = r#"
[sessions.gen]
shell = true
run = ["echo run >> gen-runs.txt", "mkdir -p out && cat src/*.txt > out/all.txt && echo generated"]
inputs = ["src/**/*.txt"]
outputs = ["out/"]

[sessions.build]
requires = ["gen"]
shell = true
run = ["echo run >> build-runs.txt", "tr a-z A-Z < out/all.txt > loud.txt"]
inputs = []
outputs = ["loud.txt"]

[sessions.other]
shell = true
run = ["echo run >> other-runs.txt", "echo other > other.txt"]
inputs = ["src/**/*.txt"]
outputs = ["other.txt"]

[sessions.lint]
default = false
run = ["true"]
"#;

/// A checkout of the project, without any cache.
fn checkout() -> Project {
    let project = Project::with_tasks(TASKS);
    project
        .write("src/a.txt", "alpha\n")
        .write("src/b.txt", "beta\n");
    project
}

/// A checkout whose cache holds `gen` and `build` at their current keys.
fn producer() -> Project {
    let project = checkout();
    project.rtask(&["build"]).success();
    project
}

/// A producer that ran `build` and exported it to `file`, and a fresh checkout holding `file`.
fn exported(file: &str) -> (Project, Project) {
    let producer = producer();
    producer
        .rtask(&["cache", "export", "-o", file, "build"])
        .success();
    let consumer = checkout();
    hand_over(&producer, &consumer, file);
    (producer, consumer)
}

/// Copy `file` of `from` into `to`, under the same name.
fn hand_over(from: &Project, to: &Project, file: &str) {
    fs::copy(from.path(file), to.path(file)).unwrap();
}

/// Pin what rtask printed, with keys redacted.
#[track_caller]
fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[key]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// The sessions and keys of the entries in a project's cache, as `session/key`.
fn entries(project: &Project) -> Vec<String> {
    project
        .manifests()
        .iter()
        .map(|path| {
            let session = path.parent().unwrap().file_name().unwrap();
            let key = path.file_stem().unwrap();
            format!("{}/{}", session.to_str().unwrap(), key.to_str().unwrap())
        })
        .collect()
}

/// The cache holds no entry of `session`.
#[track_caller]
fn assert_no_entry_of(project: &Project, session: &str) {
    let prefix = format!("{session}/");
    let found = entries(project);
    assert!(
        found.iter().all(|entry| !entry.starts_with(&prefix)),
        "entries of `{session}` were stored: {found:?}"
    );
}

/// The members of a bundle: header and bytes, in archive order.
fn members(path: &Path) -> Vec<(tar::Header, Vec<u8>)> {
    let file = fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(zstd::Decoder::new(file).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.header().clone(), bytes)
        })
        .collect()
}

fn name(header: &tar::Header) -> String {
    String::from_utf8(header.path_bytes().into_owned()).unwrap()
}

/// Write members as a bundle, headers as given (names are not checked: hostile ones too).
fn write_members(path: &Path, members: &[(tar::Header, Vec<u8>)]) {
    let file = fs::File::create(path).unwrap();
    let mut builder = tar::Builder::new(zstd::Encoder::new(file, 3).unwrap());
    for (header, bytes) in members {
        let mut header = header.clone();
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        builder.append(&header, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

/// A header for a member named `name` (written raw, so `../` and `/` names go in as they are).
fn raw_header(name: &str, kind: tar::EntryType) -> tar::Header {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header
}

/// Rewrite the manifest of the bundle's first entry, and the bundle's blobs.
fn tamper(
    path: &Path,
    manifest: impl FnOnce(&mut serde_json::Value),
    blob: impl Fn(&str, &mut Vec<u8>),
) {
    let mut members = members(path);
    for (header, bytes) in &mut members {
        let name = name(header);
        if name == "manifests/0.json" {
            let mut json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            manifest(&mut json);
            *bytes = serde_json::to_vec_pretty(&json).unwrap();
            break;
        }
    }
    for (header, bytes) in &mut members {
        let name = name(header);
        if let Some(hash) = name.strip_prefix("blobs/") {
            blob(hash, bytes);
        }
    }
    write_members(path, &members);
}

/// The hash of the stored copy of `output` in a manifest.
fn output_hash(manifest: &serde_json::Value, output: &str) -> String {
    manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["path"] == output)
        .unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every file and directory under `root` but the cache (and the state directory holding it),
/// as relative paths.
fn tree_outside_cache(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            if relative == Path::new(".rtask/cache") {
                continue;
            }
            // The state directory holds the cache: it appears with it.
            if relative != Path::new(".rtask") {
                found.push(relative);
            }
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, root, &mut found);
    found.sort();
    found
}

#[test]
fn a_bundle_carries_results_to_a_fresh_checkout() {
    let producer = producer();
    let export = producer.rtask(&["cache", "export", "-o", "bundle.tar.zst", "build"]);
    export.success();
    snapshot("export_summary", &export.stderr);
    assert!(!producer.exists("bundle.tar.zst.tmp"));

    let consumer = checkout();
    hand_over(&producer, &consumer, "bundle.tar.zst");
    let import = consumer.rtask(&["cache", "import", "bundle.tar.zst"]);
    import.success();
    snapshot("import_summary", &import.stderr);
    assert_eq!(entries(&consumer), entries(&producer));

    consumer
        .rtask(&["build"])
        .success()
        .stderr_has("gen: cached")
        .stderr_has("build: cached");
    assert_eq!(consumer.count("gen-runs.txt"), 0);
    assert_eq!(consumer.count("build-runs.txt"), 0);
    for output in ["out/all.txt", "loud.txt"] {
        assert_eq!(
            fs::read(consumer.path(output)).unwrap(),
            fs::read(producer.path(output)).unwrap()
        );
    }
}

#[test]
fn the_bundle_lays_out_its_index_and_manifests_before_its_blobs() {
    let producer = producer();
    producer
        .rtask(&["cache", "export", "-o", "bundle.tar.zst", "build"])
        .success();
    let names: Vec<String> = members(&producer.path("bundle.tar.zst"))
        .iter()
        .map(|(header, _)| name(header))
        .collect();
    assert_eq!(
        names[..3],
        ["index.json", "manifests/0.json", "manifests/1.json"]
    );
    assert!(names[3..].iter().all(|name| name.starts_with("blobs/")));
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "each blob once");
    let index: serde_json::Value =
        serde_json::from_slice(&members(&producer.path("bundle.tar.zst"))[0].1).unwrap();
    assert_eq!(index["format"], 1);
    assert_eq!(index["entries"][0]["session"], "gen");
    assert_eq!(index["entries"][1]["session"], "build");
}

#[test]
fn export_holds_only_the_closure_at_current_keys() {
    let producer = producer();
    producer.write("src/a.txt", "ALPHA\n");
    producer.rtask(&["gen"]).success();
    producer.rtask(&["other"]).success();
    // The cache now holds two entries of `gen`, one of `build` (at an old key), one of `other`.
    assert_eq!(producer.manifests().len(), 4);
    producer
        .rtask(&["cache", "export", "-o", "gen.tar.zst", "gen"])
        .success();

    let consumer = checkout();
    consumer.write("src/a.txt", "ALPHA\n");
    hand_over(&producer, &consumer, "gen.tar.zst");
    consumer
        .rtask(&["cache", "import", "gen.tar.zst"])
        .success();
    let imported = entries(&consumer);
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert!(imported[0].starts_with("gen/"));
    consumer.rtask(&["gen"]).success().stderr_has("gen: cached");
    assert_eq!(consumer.read("out/all.txt"), "ALPHA\nbeta\n");
}

#[test]
fn the_default_sessions_are_exported_when_none_is_named() {
    let producer = checkout();
    producer.rtask(&[]).success();
    producer
        .rtask(&["cache", "export", "-o", "all.tar.zst"])
        .success()
        .stderr_has("exported 3 entries");
}

#[test]
fn exporting_a_session_without_an_entry_exits_4_and_writes_nothing() {
    let producer = checkout();
    producer.rtask(&["gen"]).success();
    let export = producer.rtask(&["cache", "export", "-o", "bundle.tar.zst", "build", "lint"]);
    export.code(4);
    snapshot("export_missing", &export.stderr);
    assert!(!producer.exists("bundle.tar.zst"));

    let partial = producer.rtask(&[
        "cache",
        "export",
        "--allow-missing",
        "-o",
        "bundle.tar.zst",
        "build",
        "lint",
    ]);
    partial.success();
    snapshot("export_allow_missing", &partial.stderr);
    let consumer = checkout();
    hand_over(&producer, &consumer, "bundle.tar.zst");
    consumer
        .rtask(&["cache", "import", "bundle.tar.zst"])
        .success();
    let imported = entries(&consumer);
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert!(imported[0].starts_with("gen/"));
}

/// A consumer checkout holding the producer's bundle of `build`, altered by `tamper`.
fn tampered(
    manifest: impl FnOnce(&mut serde_json::Value),
    blob: impl Fn(&str, &mut Vec<u8>),
) -> Project {
    let (_producer, consumer) = exported("bundle.tar.zst");
    tamper(&consumer.path("bundle.tar.zst"), manifest, blob);
    consumer
}

#[test]
fn import_refuses_a_blob_whose_bytes_were_altered() {
    let all_txt = std::cell::RefCell::new(String::new());
    let consumer = tampered(
        |manifest| *all_txt.borrow_mut() = output_hash(manifest, "out/all.txt"),
        |hash, bytes| {
            if hash == *all_txt.borrow() {
                bytes[0] ^= 1;
            }
        },
    );
    let import = consumer.rtask(&["cache", "import", "bundle.tar.zst"]);
    import.code(1);
    snapshot("import_altered_blob", &import.stderr);
    // `build` came whole; `gen`, whose output was altered, is not in the cache.
    let imported = entries(&consumer);
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert!(imported[0].starts_with("build/"));
    assert!(
        !consumer
            .path(".rtask/cache/v1/blobs")
            .join(&all_txt.borrow()[..2])
            .join(&*all_txt.borrow())
            .exists()
    );
    consumer
        .rtask(&["gen"])
        .success()
        .stderr_has("gen: running");
    assert_eq!(consumer.read("out/all.txt"), "alpha\nbeta\n");
}

#[test]
fn import_refuses_a_blob_longer_than_its_manifest_says() {
    let all_txt = std::cell::RefCell::new(String::new());
    let consumer = tampered(
        |manifest| *all_txt.borrow_mut() = output_hash(manifest, "out/all.txt"),
        |hash, bytes| {
            if hash == *all_txt.borrow() {
                bytes.extend_from_slice(&[b'x'; 4096]);
            }
        },
    );
    consumer
        .rtask(&["cache", "import", "bundle.tar.zst"])
        .code(1)
        .stderr_has("refused the entry of `gen`")
        .stderr_has("has the wrong size");
    assert_no_entry_of(&consumer, "gen");
}

#[test]
fn import_refuses_an_entry_with_an_unsafe_output() {
    let escaping = tampered(
        |manifest| {
            manifest["outputs"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({
                    "kind": "symlink", "path": "out/escape", "target": "../../../etc"
                }));
        },
        |_, _| {},
    );
    let import = escaping.rtask(&["cache", "import", "bundle.tar.zst"]);
    import.code(1);
    snapshot("import_unsafe_symlink", &import.stderr);
    assert_no_entry_of(&escaping, "gen");

    for path in ["/etc/evil", "out/../../evil"] {
        let consumer = tampered(
            |manifest| manifest["outputs"][1]["path"] = path.into(),
            |_, _| {},
        );
        consumer
            .rtask(&["cache", "import", "bundle.tar.zst"])
            .code(1)
            .stderr_has("refused the entry of `gen`")
            .stderr_has("its manifest is damaged");
        assert_no_entry_of(&consumer, "gen");
    }
}

#[test]
fn import_skips_entries_of_sessions_this_project_does_not_have() {
    let producer = producer();
    producer
        .rtask(&["cache", "export", "-o", "bundle.tar.zst", "build"])
        .success();
    let consumer = Project::with_tasks(
        "[sessions.gen]\nshell = true\nrun = [\"mkdir -p out && cat src/*.txt > out/all.txt\"]\ninputs = [\"src/**/*.txt\"]\noutputs = [\"out/\"]\n",
    );
    hand_over(&producer, &consumer, "bundle.tar.zst");
    let import = consumer.rtask(&["cache", "import", "bundle.tar.zst"]);
    import.success();
    snapshot("import_unknown_session", &import.stderr);
    let imported = entries(&consumer);
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert!(imported[0].starts_with("gen/"));
}

#[test]
fn import_skips_entries_made_for_other_output_declarations() {
    let producer = producer();
    producer
        .rtask(&["cache", "export", "-o", "bundle.tar.zst", "build"])
        .success();
    // Another branch: `gen` declares its output file rather than the directory.
    let consumer =
        Project::with_tasks(&TASKS.replace("outputs = [\"out/\"]", "outputs = [\"out/all.txt\"]"));
    hand_over(&producer, &consumer, "bundle.tar.zst");
    consumer
        .rtask(&["cache", "import", "bundle.tar.zst"])
        .success()
        .stderr_has("note: skipped the entry of `gen` (key ")
        .stderr_has("`gen` declares other `outputs` here, so this entry could never be restored")
        .stderr_has("imported 1 entry");
}

#[test]
fn import_ignores_links_devices_and_odd_names_and_writes_only_into_the_cache() {
    let (_producer, consumer) = exported("bundle.tar.zst");
    let path = consumer.path("bundle.tar.zst");
    let mut members = members(&path);
    let blob = members
        .iter()
        .find(|(header, _)| name(header).starts_with("blobs/"))
        .map(|(header, _)| name(header))
        .unwrap();
    let mut hostile = vec![
        (
            raw_header("../escape.txt", tar::EntryType::Regular),
            b"x".to_vec(),
        ),
        (
            raw_header("/tmp/rtask-abs.txt", tar::EntryType::Regular),
            b"x".to_vec(),
        ),
        (
            raw_header("blobs/../../../escape", tar::EntryType::Regular),
            b"x".to_vec(),
        ),
        (
            raw_header("manifests/../escape.json", tar::EntryType::Regular),
            b"{}".to_vec(),
        ),
    ];
    let mut link = raw_header("blobs/link", tar::EntryType::Symlink);
    link.set_link_name("/etc/passwd").unwrap();
    hostile.push((link, Vec::new()));
    let mut hard = raw_header(&blob, tar::EntryType::Link);
    hard.set_link_name("/etc/passwd").unwrap();
    hostile.push((hard, Vec::new()));
    hostile.push((raw_header("dev", tar::EntryType::Char), Vec::new()));
    hostile.push((raw_header("fifo", tar::EntryType::Fifo), Vec::new()));
    // After the index, before the manifests; and among the blobs.
    let tail = members.split_off(1);
    members.extend(hostile.drain(..4));
    members.extend(tail);
    members.extend(hostile);
    write_members(&path, &members);

    let before = tree_outside_cache(consumer.root());
    let import = consumer.rtask(&["cache", "import", "bundle.tar.zst"]);
    import.success();
    snapshot("import_hostile_members", &import.stderr);
    assert_eq!(tree_outside_cache(consumer.root()), before);
    assert!(
        !consumer
            .root()
            .parent()
            .unwrap()
            .join("escape.txt")
            .exists()
    );
    assert!(!Path::new("/tmp/rtask-abs.txt").exists());
    assert_eq!(entries(&consumer).len(), 2);
    consumer
        .rtask(&["build"])
        .success()
        .stderr_has("build: cached");
}

#[test]
fn a_bundle_that_is_not_one_is_an_error() {
    let project = checkout();
    project.write("bundle.tar.zst", "not a bundle\n");
    let import = project.rtask(&["cache", "import", "bundle.tar.zst"]);
    import.code(1);
    snapshot("import_not_a_bundle", &import.stderr);
    let missing = project.rtask(&["cache", "import", "nowhere.tar.zst"]);
    missing.code(1);
    snapshot("import_no_file", &missing.stderr);
}

#[test]
fn signed_bundles_are_imported_only_with_the_key_they_were_signed_with() {
    let producer = producer();
    producer
        .rtask_env(
            &["cache", "export", "-o", "signed.tar.zst", "build"],
            &[("RTASK_CACHE_SIGNING_KEY", "key-a")],
        )
        .success();
    producer
        .rtask(&["cache", "export", "-o", "unsigned.tar.zst", "build"])
        .success();

    let same_key = checkout();
    hand_over(&producer, &same_key, "signed.tar.zst");
    same_key
        .rtask_env(
            &["cache", "import", "signed.tar.zst"],
            &[("RTASK_CACHE_SIGNING_KEY", "key-a")],
        )
        .success();
    assert_eq!(entries(&same_key).len(), 2);

    let other_key = checkout();
    hand_over(&producer, &other_key, "signed.tar.zst");
    let refused = other_key.rtask_env(
        &["cache", "import", "signed.tar.zst"],
        &[("RTASK_CACHE_SIGNING_KEY", "key-b")],
    );
    refused.code(1);
    snapshot("import_wrong_signature", &refused.stderr);
    assert!(entries(&other_key).is_empty());

    let unsigned = checkout();
    hand_over(&producer, &unsigned, "unsigned.tar.zst");
    let refused = unsigned.rtask_env(
        &["cache", "import", "unsigned.tar.zst"],
        &[("RTASK_CACHE_SIGNING_KEY", "key-a")],
    );
    refused.code(1);
    snapshot("import_unsigned", &refused.stderr);
    assert!(entries(&unsigned).is_empty());

    // Without a key, signatures are not asked for.
    unsigned
        .rtask(&["cache", "import", "unsigned.tar.zst"])
        .success();
    hand_over(&producer, &unsigned, "signed.tar.zst");
    unsigned
        .rtask(&["cache", "import", "signed.tar.zst"])
        .success();
    assert_eq!(entries(&unsigned).len(), 2);
}

#[test]
fn importing_twice_keeps_what_is_there() {
    let (_producer, consumer) = exported("bundle.tar.zst");
    consumer
        .rtask(&["cache", "import", "bundle.tar.zst"])
        .success();
    let manifests: Vec<Vec<u8>> = consumer
        .manifests()
        .iter()
        .map(|path| fs::read(path).unwrap())
        .collect();
    let again = consumer.rtask(&["cache", "import", "bundle.tar.zst"]);
    again.success();
    snapshot("import_again", &again.stderr);
    let after: Vec<Vec<u8>> = consumer
        .manifests()
        .iter()
        .map(|path| fs::read(path).unwrap())
        .collect();
    assert_eq!(after, manifests);
}

#[test]
fn imports_are_safe_beside_other_imports_and_runs() {
    let producer = producer();
    producer.rtask(&["other"]).success();
    producer
        .rtask(&["cache", "export", "-o", "bundle.tar.zst", "build", "other"])
        .success();
    let consumer = checkout();
    hand_over(&producer, &consumer, "bundle.tar.zst");
    let children: Vec<std::process::Child> = [
        &["cache", "import", "bundle.tar.zst"][..],
        &["cache", "import", "bundle.tar.zst"][..],
        &["other"][..],
        &["cache", "import", "bundle.tar.zst"][..],
    ]
    .iter()
    .map(|args| {
        consumer
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    })
    .collect();
    for child in children {
        Run::from(child.wait_with_output().unwrap()).success();
    }
    assert!(
        fs::read_dir(consumer.path(".rtask/cache/v1/tmp"))
            .unwrap()
            .next()
            .is_none()
    );
    consumer
        .rtask(&["build"])
        .success()
        .stderr_has("gen: cached")
        .stderr_has("build: cached");
    assert_eq!(consumer.count("gen-runs.txt"), 0);
}

#[test]
fn the_cache_commands_have_help_and_a_session_named_cache_still_runs() {
    let project =
        Project::with_tasks("[sessions.cache]\nshell = true\nrun = [\"echo ran cache\"]\n");
    project
        .rtask(&["--help"])
        .success()
        .stdout_has("rtask cache export");
    project
        .rtask(&["cache", "--help"])
        .success()
        .stdout_has("rtask cache export -o rtask-cache.tar.zst");
    project
        .rtask(&["-s", "cache"])
        .success()
        .stdout_has("ran cache");
    project
        .rtask(&["cache", "export"])
        .code(3)
        .stderr_has("--output <FILE>");
}

#[test]
fn bundles_follow_the_task_file_and_cache_dir_options() {
    let producer = Project::new();
    producer.write("sub/tasks.toml", TASKS);
    producer.write("sub/src/a.txt", "alpha\n");
    let shared = producer.path("shared-cache");
    let shared = shared.to_str().unwrap();
    producer
        .rtask_env(
            &["-f", "sub/tasks.toml", "build"],
            &[("RTASK_CACHE_DIR", shared)],
        )
        .success();
    producer
        .rtask_env(
            &[
                "cache",
                "export",
                "-f",
                "sub/tasks.toml",
                "-o",
                "bundle.tar.zst",
                "build",
            ],
            &[("RTASK_CACHE_DIR", shared)],
        )
        .success()
        .stderr_has("exported 2 entries");
    let consumer = Project::new();
    consumer.write("sub/tasks.toml", TASKS);
    hand_over(&producer, &consumer, "bundle.tar.zst");
    consumer
        .rtask(&["cache", "import", "-f", "sub/tasks.toml", "bundle.tar.zst"])
        .success();
    assert_eq!(
        fs::read_dir(consumer.path("sub/.rtask/cache/v1/entries"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn import_reads_no_further_than_the_manifests_say() {
    let (_producer, consumer) = exported("bundle.tar.zst");
    let path = consumer.path("bundle.tar.zst");
    let mut members = members(&path);
    // 64 MiB of zeros after the first blob: a few kilobytes once compressed.
    let padding = (
        raw_header("padding", tar::EntryType::Regular),
        vec![0u8; 64 * 1024 * 1024],
    );
    let first_blob = members
        .iter()
        .position(|(header, _)| name(header).starts_with("blobs/"))
        .unwrap();
    members.insert(first_blob + 1, padding);
    write_members(&path, &members);
    assert!(fs::metadata(&path).unwrap().len() < 1024 * 1024);

    let import = consumer.rtask(&["cache", "import", "bundle.tar.zst"]);
    import.code(1);
    snapshot("import_bomb", &import.stderr);
    assert!(entries(&consumer).is_empty());
}

/// A copy of the sources of `examples/python-coverage`, with a conftest that counts pytest runs.
fn python_example() -> Project {
    fn copy(from: &Path, to: &Path) {
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if [
                ".rtask",
                ".coverage",
                "coverage.xml",
                "htmlcov",
                "__pycache__",
            ]
            .iter()
            .any(|artifact| name == *artifact)
            {
                continue;
            }
            let target = to.join(&name);
            if entry.file_type().unwrap().is_dir() {
                fs::create_dir_all(&target).unwrap();
                copy(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    crate::support::require_wheelhouse();
    let project = Project::new();
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-coverage"),
        project.root(),
    );
    project.write(
        "tests/conftest.py",
        "def pytest_sessionstart(session):\n    with open('pytest-runs.txt', 'a') as runs:\n        runs.write('run\\n')\n",
    );
    project
}

#[test]
fn a_coverage_job_imports_the_test_job_s_bundle_and_runs_no_tests() {
    let tests_job = python_example();
    tests_job.rtask(&["unit_tests"]).success();
    tests_job
        .rtask(&["cache", "export", "-o", "unit-tests.tar.zst", "unit_tests"])
        .success()
        .stderr_has("exported 1 entry");

    let coverage_job = python_example();
    hand_over(&tests_job, &coverage_job, "unit-tests.tar.zst");
    coverage_job
        .rtask(&["cache", "import", "unit-tests.tar.zst"])
        .success();
    coverage_job
        .rtask(&["coverage_report"])
        .success()
        .stderr_has("unit_tests: cached")
        .stderr_has("coverage_report: running (no cache entry)");
    assert_eq!(coverage_job.count("pytest-runs.txt"), 0);
    assert!(coverage_job.exists("coverage.xml"));
}

#[test]
fn bundles_are_imported_together_and_a_missing_one_imports_none() {
    let (producer, consumer) = exported("bundle.tar.zst");
    consumer
        .rtask(&["cache", "import", "bundle.tar.zst", "missing.tar.zst"])
        .code(1)
        .stderr_has("cannot read the bundle `missing.tar.zst`");
    assert!(consumer.manifests().is_empty(), "an import was half done");
    fs::copy(
        consumer.path("bundle.tar.zst"),
        consumer.path("again.tar.zst"),
    )
    .unwrap();
    consumer
        .rtask(&["cache", "import", "bundle.tar.zst", "again.tar.zst"])
        .success();
    assert_eq!(consumer.manifests().len(), producer.manifests().len());
}

#[test]
fn an_entry_imported_without_a_signature_check_is_never_trusted_once_a_key_is_set() {
    // A job without the key takes in what anyone could have written...
    let (_producer, middle) = exported("unsigned.tar.zst");
    middle
        .rtask(&["cache", "import", "unsigned.tar.zst"])
        .success();
    // ...and a later step with the key does not vouch for it.
    let key = [("RTASK_CACHE_SIGNING_KEY", "key-a")];
    let export = middle.rtask_env(&["cache", "export", "-o", "signed.tar.zst", "build"], &key);
    export.code(4).stderr_has(
        "`gen`: it would run: its cache entry cannot be used: it came from a remote cache or a bundle without a signature check",
    );
    assert!(!middle.exists("signed.tar.zst"));
    // Nor does a run with the key restore it: it runs, and its own result is signed.
    middle
        .rtask_env(&["build"], &key)
        .success()
        .stderr_has("build: running (cache entry unusable)");
    middle
        .rtask_env(&["cache", "export", "-o", "signed.tar.zst", "build"], &key)
        .success();
}

//! The Python wheel (`pyproject.toml`, maturin): built by pip as a user's `pip wheel .` would,
//! offline, installed into a fresh virtual environment, and the `rtask` it puts on `PATH` run.
//!
//! The wheel is built with the `dev` profile in the build directory `cargo test` built this
//! binary in (`CARGO_BUILD_BUILD_DIR`; `cargo test` holds no lock on it while tests run), so the
//! nested cargo reuses what both builds share instead of compiling every dependency again, as a
//! fresh release build would for minutes. It compiles only what differs: the few crates whose
//! features the tests' dev-dependencies widen, and rtask itself when it changed. Its final
//! artifacts go to `target/wheel`, so it never replaces the `rtask` the other tests are running.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Project, RTASK, Run, require_wheelhouse, tools_path, wheelhouse};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The target directory the tests were built in: `rtask` is `<target>/debug/rtask`.
fn target_dir() -> PathBuf {
    Path::new(RTASK)
        .parent()
        .and_then(Path::parent)
        .expect("the binary under test lies in <target>/debug")
        .to_path_buf()
}

/// The Python of the tests' own virtual environment, with the pip that builds the wheel.
#[track_caller]
fn ci_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python");
    assert!(
        python.is_file(),
        "`{}` is missing: run `bash .ci/prepare` first",
        python.display()
    );
    python
}

/// Clears the variables `cargo test` sets for this test process (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_VERSION`, ...): a build script that reads one of them (ring reads
/// `CARGO_MANIFEST_DIR`) would otherwise rerun in the nested build, and again in the next
/// `cargo test`, rebuilding everything that depends on it both times.
#[allow(clippy::disallowed_methods)] // the test process's environment, to pass on less of it
fn as_from_a_shell(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(name.as_ref());
        }
    }
}

#[track_caller]
fn succeed(command: &mut Command) {
    let run = Run::from(command.output().unwrap());
    assert_eq!(run.code, 0, "{command:?} failed\n{run}");
}

/// Build the project's wheel into `dist` with pip, from the wheelhouse only; its path.
fn build_wheel(dist: &Path) -> PathBuf {
    let maturin = fs::read_dir(wheelhouse()).unwrap().any(|entry| {
        entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("maturin-")
    });
    assert!(
        maturin,
        "maturin is missing from the wheelhouse: run `bash .ci/prepare` first"
    );
    let target = target_dir();
    let mut pip = Command::new(ci_python());
    as_from_a_shell(&mut pip);
    succeed(
        pip.args(["-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w"])
            .arg(dist)
            .arg(env!("CARGO_MANIFEST_DIR"))
            // maturin comes from the wheelhouse, into pip's isolated build environment.
            .env("PIP_NO_INDEX", "1")
            .env("PIP_FIND_LINKS", wheelhouse())
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            // A `dev` binary is 150 MB: deflating it would cost more than building the wheel.
            .env(
                "MATURIN_PEP517_ARGS",
                "--profile dev --compression-method stored",
            )
            .env("CARGO_BUILD_BUILD_DIR", &target)
            .env("CARGO_TARGET_DIR", target.join("wheel")),
    );
    let wheels: Vec<PathBuf> = fs::read_dir(dist)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(wheels.len(), 1, "pip built one wheel: {wheels:?}");
    let name = wheels[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&format!("rtask_runner-{VERSION}-py3-none-")) && name.ends_with(".whl"),
        "unexpected wheel name {name}"
    );
    wheels[0].clone()
}

/// A fresh virtual environment with `wheel` installed in it; its `bin` directory.
fn install(wheel: &Path, at: &Path) -> PathBuf {
    succeed(
        Command::new(ci_python())
            .args(["-m", "venv", "--without-pip"])
            .arg(at),
    );
    let bin = at.join("bin");
    succeed(
        Command::new(ci_python())
            .args(["-m", "pip", "--python"])
            .arg(bin.join("python"))
            .args(["install", "--no-deps", "--no-index"])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .arg(wheel),
    );
    bin
}

const BUILD: &str = r#"
[sessions.build]
shell = true
run = ["echo run >> runs.txt", "cat src.txt > out.txt"]
inputs = ["src.txt"]
outputs = ["out.txt"]
"#;

#[test]
fn the_wheel_puts_a_working_rtask_on_path() {
    require_wheelhouse();
    let scratch = tempfile::tempdir().unwrap();
    let wheel = build_wheel(&scratch.path().join("dist"));
    let bin = install(&wheel, &scratch.path().join("venv"));

    // The environment's own copy of the binary, not the one the tests were built with.
    let installed = bin.join("rtask");
    let metadata = fs::symlink_metadata(&installed).unwrap();
    assert!(metadata.is_file(), "{} is not a file", installed.display());
    let built = fs::metadata(RTASK).unwrap();
    assert!(
        (metadata.dev(), metadata.ino()) != (built.dev(), built.ino()),
        "the environment's rtask is the test build's file"
    );

    // With the environment first on `PATH`, as `source venv/bin/activate` puts it.
    let project = Project::with_tasks(BUILD);
    project.write("src.txt", "alpha\n");
    let shell = |line: &str| {
        let mut command = project.shell(line, &[]);
        command.env("PATH", tools_path(std::slice::from_ref(&bin)));
        Run::from(command.output().unwrap())
    };
    let found = shell("command -v rtask");
    found.success();
    assert_eq!(found.stdout.trim_end(), installed.to_str().unwrap());
    let version = shell("rtask --version");
    version.success();
    assert_eq!(version.stdout, format!("rtask {VERSION}\n"));

    shell("rtask build")
        .success()
        .stderr_has("build: running (no cache entry)");
    shell("rtask build").success().stderr_has("build: cached");
    assert_eq!(project.count("runs.txt"), 1);
    assert_eq!(project.read("out.txt"), "alpha\n");
}

#!/usr/bin/env python3
"""Generate the benchmark fixtures of bench/run (stdlib only, deterministic).

    python3 bench/fixtures.py OUT_DIR            # every fixture that is missing or stale
    python3 bench/fixtures.py OUT_DIR --force    # regenerate all

Fixtures, under OUT_DIR:
  tree-1k/, tree-10k/, tree-100k/   N text files of 1-4 KB under src/, 100 files per folder,
                                    nested two levels (src/pNNN/dNN/fNN.txt), with the configs
                                    of rtask (tasks.toml), go-task (Taskfile.yml), turbo
                                    (turbo.json + package.json) and mise (mise.toml), all
                                    committed to git with a fixed author and date;
  small/                            a justfile and a tasks.toml of the same 5 recipes/sessions,
                                    for the listing, committed to git.

A fixture is complete when OUT_DIR/NAME.ok holds its kind's FORMAT; a fixture without it
(missing, interrupted, or made by an older generator) is deleted and made again.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Bump when a kind of fixture changes, so the old ones are regenerated.
TREE_FORMAT = "rtask-bench tree 1"
SMALL_FORMAT = "rtask-bench small 2"

TREES = {"tree-1k": 1_000, "tree-10k": 10_000, "tree-100k": 100_000}
FILES_PER_DIR = 100

GIT_ENV = {
    "GIT_AUTHOR_NAME": "rtask bench",
    "GIT_AUTHOR_EMAIL": "bench@rtask.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "rtask bench",
    "GIT_COMMITTER_EMAIL": "bench@rtask.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    # Ignore the user's and the system's git configuration: same repository everywhere.
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

# What the tools leave in a tree: ignored, so `git status` stays clean and no tool hashes it.
GITIGNORE = """\
/.rtask/
/.task/
/.turbo/
/node_modules/
/.mise-check.stamp
"""

TASKS_TOML = """\
# rtask: one cached session over every file of src/.
[sessions.check]
description = "Nothing to do, cached on every file of src/"
run = ["true"]
inputs = ["src/**"]
"""

TASKFILE = """\
# go-task: `task check` is up to date while the checksums of src/ are unchanged.
version: '3'

tasks:
  check:
    method: checksum
    sources:
      - src/**/*
    cmds:
      - 'true'
"""

# turbo: a single-package repository (no workspaces) with a `check` script.
PACKAGE_JSON = """\
{
  "name": "bench-tree",
  "version": "0.0.0",
  "private": true,
  "packageManager": "npm@10.0.0",
  "scripts": {
    "check": "true"
  }
}
"""

PACKAGE_LOCK = """\
{
  "name": "bench-tree",
  "version": "0.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "bench-tree",
      "version": "0.0.0"
    }
  }
}
"""

TURBO_JSON = """\
{
  "$schema": "https://turborepo.com/schema.json",
  "tasks": {
    "check": {
      "inputs": ["src/**"],
      "outputs": []
    }
  }
}
"""

# mise: skipped while the stamp (the output) is newer than every source.
MISE_TOML = """\
[tasks.check]
run = "touch .mise-check.stamp"
sources = ["src/**/*"]
outputs = [".mise-check.stamp"]
"""

SMALL_JUSTFILE = """\
# The same five recipes as tasks.toml, for `just --list`.

# Check formatting
fmt:
    cargo fmt --check

# Lint with clippy, warnings denied
lint:
    cargo clippy --all-targets -- -D warnings

# Run the unit and integration tests
test *args:
    cargo test {{args}}

# Build the documentation
docs:
    cargo doc --no-deps

# Build the release binary
build:
    cargo build --release
"""

SMALL_TASKS_TOML = """\
# The same five sessions as the justfile, for `rtask -l`.

[sessions.fmt]
description = "Check formatting"
run = ["cargo fmt --check"]
inputs = ["src/**/*.rs"]
tags = ["check"]

[sessions.lint]
description = "Lint with clippy, warnings denied"
run = ["cargo clippy --all-targets -- -D warnings"]
inputs = ["src/**/*.rs", "Cargo.toml"]
tags = ["check"]

[sessions.test]
description = "Run the unit and integration tests"
run = ["cargo test {posargs}"]
inputs = ["src/**/*.rs", "tests/**/*.rs", "Cargo.toml"]
tags = ["test"]

[sessions.docs]
description = "Build the documentation"
run = ["cargo doc --no-deps"]
inputs = ["src/**/*.rs"]
outputs = ["target/doc/"]

[sessions.build]
description = "Build the release binary"
run = ["cargo build --release"]
inputs = ["src/**/*.rs", "Cargo.toml"]
outputs = ["target/release/"]
"""

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega task cache input output hash session key store "
    "restore replay build test lint format check report coverage python rust file tree"
).split()


def text_pool(seed: int, size: int) -> str:
    """About `size` characters of lines of words, the same for the same seed."""
    rng = random.Random(seed)
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def git(tree: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, **GIT_ENV}
    return subprocess.Popen(["git", *args], cwd=tree, env=env, stdout=subprocess.DEVNULL, **kwargs)


def git_ok(tree: Path, *args: str) -> None:
    if git(tree, *args).wait() != 0:
        raise SystemExit(f"git {' '.join(args)} failed in {tree}")


def make_tree(tree: Path, count: int) -> None:
    """Write the files and commit them in one pass.

    `git add` of 100k files writes 100k loose objects, which on a slow file system costs as
    much as the tree itself; instead every file is streamed to `git fast-import` as it is
    written (one pack), then `git reset` builds the index from the commit and the files' stat
    data, so the work tree is clean.
    """
    git_ok(tree, "init", "-q", "-b", "main")
    git_ok(tree, "config", "gc.auto", "0")
    importer = git(
        tree,
        "-c", "pack.compression=1",
        "fast-import", "--quiet", "--depth=0",
        stdin=subprocess.PIPE,
    )
    stream = importer.stdin
    assert stream is not None
    paths: list[bytes] = []

    def add(rel: str, data: bytes) -> None:
        paths.append(rel.encode())
        stream.write(b"blob\nmark :%d\ndata %d\n" % (len(paths), len(data)))
        stream.write(data)
        stream.write(b"\n")

    pool = text_pool(seed=count, size=1 << 20)
    rng = random.Random(count * 7 + 1)
    limit = len(pool) - 4096
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for i in range(count):
        d = i // FILES_PER_DIR
        rel = f"src/p{d // 100:03d}/d{d % 100:02d}/f{i % FILES_PER_DIR:02d}.txt"
        if i % FILES_PER_DIR == 0:
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        start = rng.randrange(limit)
        size = rng.randint(1024, 4096)
        # The header makes every file unique; the body is a slice of the pool.
        data = (f"file {i} of {count}\n" + pool[start : start + size]).encode()
        fd = os.open(tree / rel, flags, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        add(rel, data)
    for rel, text in CONFIGS.items():
        write(tree / rel, text)
        add(rel, text.encode())
    message = f"{count} files\n".encode()
    stream.write(b"commit refs/heads/main\n")
    stream.write(b"author rtask bench <bench@rtask.invalid> 1767225600 +0000\n")
    stream.write(b"committer rtask bench <bench@rtask.invalid> 1767225600 +0000\n")
    stream.write(b"data %d\n%s\n" % (len(message), message))
    for mark, rel in enumerate(paths, start=1):
        stream.write(b"M 100644 :%d %s\n" % (mark, rel))
    stream.write(b"\n")
    stream.close()
    if importer.wait() != 0:
        raise SystemExit(f"git fast-import failed in {tree}")
    git_ok(tree, "reset", "-q")
    git_ok(tree, "update-index", "--refresh")


CONFIGS = {
    ".gitignore": GITIGNORE,
    "tasks.toml": TASKS_TOML,
    "Taskfile.yml": TASKFILE,
    "package.json": PACKAGE_JSON,
    "package-lock.json": PACKAGE_LOCK,
    "turbo.json": TURBO_JSON,
    "mise.toml": MISE_TOML,
}


def make_small(tree: Path) -> None:
    write(tree / "justfile", SMALL_JUSTFILE)
    write(tree / "tasks.toml", SMALL_TASKS_TOML)
    # A repository of its own, so no tool reads the ignore files of the checkout around it.
    git_ok(tree, "init", "-q", "-b", "main")
    git_ok(tree, "add", "-A")
    git_ok(tree, "commit", "-q", "-m", "small")


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    force = "--force" in sys.argv[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(args[0]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(name, TREE_FORMAT, lambda t, n=n: make_tree(t, n)) for name, n in TREES.items()]
    jobs.append(("small", SMALL_FORMAT, make_small))
    for name, fmt, make in jobs:
        tree, marker = out / name, out / f"{name}.ok"
        if not force and marker.is_file() and marker.read_text().strip() == fmt and tree.is_dir():
            print(f"fixture {name}: present")
            continue
        marker.unlink(missing_ok=True)
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        print(f"fixture {name}: generating", end="", flush=True)
        started = time.monotonic()
        make(tree)
        marker.write_text(fmt + "\n")
        print(f" ({time.monotonic() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Benchmark: rtask against `nox -R` on the bundled example, side by side in one run.
#   1. environment reuse: each tool reuses its virtual environment and runs the test suite;
#   2. the report: `rtask coverage_report` restores everything from its cache, while
#      `nox -R -s coverage_report` runs the suite again (nox has no output cache).
# Needs hyperfine (Debian package), nox and uv (PyPI: `bash .ci/prepare` installs them).
# Writes bench/results/python-envs.md and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 2; }
command -v nox >/dev/null || { echo "nox is needed: bash .ci/prepare" >&2; exit 2; }
cargo build --release --quiet
rtask="$PWD/target/release/rtask"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/python-coverage "$work/example"
rm -rf "$work/example/.rtask" "$work/example/.nox"
cd "$work/example"
# Environments made once, outside the measurements.
"$rtask" -q coverage_report
nox -s coverage_report >/dev/null 2>&1
mkdir -p "$OLDPWD/bench/results"
out="$OLDPWD/bench/results/python-envs.md"
{
  echo "# rtask vs nox -R on examples/python-coverage"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -sm), rtask $("$rtask" --version | cut -d' ' -f2), $(nox --version 2>&1 | tail -1 | sed 's/^/nox /'), $(uv --version 2>/dev/null || echo 'no uv')"
  echo
} > "$out"
hyperfine --warmup 2 --runs 10 -N \
  --command-name "rtask --force unit_tests (reuse env, run suite)" "$rtask -q --force unit_tests" \
  --command-name "nox -R -s unit_tests (reuse env, run suite)" "nox -R -s unit_tests" \
  --export-markdown "$work/reuse.md"
hyperfine --warmup 2 --runs 10 -N \
  --command-name "rtask coverage_report (cached)" "$rtask -q coverage_report" \
  --command-name "nox -R -s coverage_report (runs the suite again)" "nox -R -s coverage_report" \
  --export-markdown "$work/cached.md"
{
  echo "## Environment reuse"; echo; cat "$work/reuse.md"; echo
  echo "## A fully cached run"; echo; cat "$work/cached.md"
} >> "$out"
cat "$out"

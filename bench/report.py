#!/usr/bin/env python3
"""Render bench/run's measurements as one markdown table (stdlib only).

    python3 bench/report.py --manifest M.tsv --facts F.tsv [--notes N.txt] --out latest.md
                            [--runs 10] [--warmup 3] [--rounds 2] [--append extra.md]
    python3 bench/report.py --pool OUT.json ROUND1.json ROUND2.json ...

The manifest has one line per measurement, tab-separated:
    id, title, target, JSON file, subject command name, yardstick command name
where the JSON file is a hyperfine `--export-json` export (times in seconds), one that
`--pool` made of the exports of several rounds (each command's runs put together), or
bench/run's memory export: {"results": [{"command": ..., "unit": "KiB", "values": [...]}]}.
Each command gets its median, min-max and its ratio to the yardstick's median; the subject
(rtask) also gets its target and whether it is met. The facts file holds `name<TAB>value`
lines (tool versions, load), printed under the table with the machine's own facts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys
from pathlib import Path


def fmt_time(seconds: float, unit: str | None = None) -> str:
    unit = unit or time_unit(seconds)
    if unit == "s":
        return f"{seconds:.2f} s"
    if unit == "ms":
        ms = seconds * 1e3
        return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{seconds * 1e6:.0f} µs"


def time_unit(seconds: float) -> str:
    return "s" if seconds >= 1 else "ms" if seconds >= 1e-3 else "µs"


def number(text: str) -> str:
    """'1.0 ms' -> '1.0' (for the low end of a range printed with one unit)."""
    return text.rsplit(" ", 1)[0]


class Row:
    def __init__(self, name: str, median: float, low: float, high: float, kind: str):
        self.name, self.median, self.low, self.high, self.kind = name, median, low, high, kind

    def cells(self) -> tuple[str, str]:
        if self.kind == "memory":
            return f"{self.median:.1f} MiB", f"{self.low:.1f}–{self.high:.1f} MiB"
        unit = time_unit(self.high)
        return fmt_time(self.median), f"{number(fmt_time(self.low, unit))}–{fmt_time(self.high, unit)}"


def load_rows(path: Path) -> list[Row]:
    data = json.loads(path.read_text())
    rows = []
    for result in data["results"]:
        if "values" in result:  # memory, in KiB
            values = [v / 1024 for v in result["values"]]
            rows.append(Row(result["command"], statistics.median(values), min(values), max(values), "memory"))
        else:  # hyperfine
            times = result.get("times") or [result["mean"]]
            median = result.get("median", statistics.median(times))
            rows.append(Row(result["command"], median, result.get("min", min(times)), result.get("max", max(times)), "time"))
    return rows


def pool(out: Path, rounds: list[Path]) -> None:
    """One export of several rounds' hyperfine exports: each command's runs, in the order the
    commands first appear. A command missing from a round, or named twice in one, is an error."""
    pooled: dict[str, list[float]] = {}
    first: set[str] | None = None
    for path in rounds:
        results = json.loads(path.read_text())["results"]
        names = [result["command"] for result in results]
        if len(set(names)) != len(names):
            raise SystemExit(f"report.py: {path} names a command twice")
        if first is not None and set(names) != first:
            raise SystemExit(f"report.py: {path} has other commands than the first round")
        first = set(names)
        for result in results:
            pooled.setdefault(result["command"], []).extend(result["times"])
    out.write_text(json.dumps({"results": [{"command": name, "times": times} for name, times in pooled.items()]}))


def verdict(target: str, row: Row, ratio: float | None) -> str:
    """'≤ 1.20×' against the ratio, '≤ 100 MiB' and '≤ 1 s' against the median."""
    match = re.fullmatch(r"\s*≤\s*([0-9.]+)\s*(×|MiB|s)\s*", target)
    if not match:
        return target
    limit, unit = float(match.group(1)), match.group(2)
    value = ratio if unit == "×" else row.median
    if value is None:
        return f"{target} (no yardstick)"
    return f"{target} {'✅ met' if value <= limit else '❌ missed'}"


def table(manifest: Path) -> list[str]:
    lines = [
        "| Measurement | Command | Median | Min–max | × yardstick | Target |",
        "|:---|:---|---:|---:|---:|:---|",
    ]
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        _id, title, target, path, subject, yardstick = (line.split("\t") + [""] * 6)[:6]
        try:
            rows = load_rows(Path(path))
        except (OSError, ValueError, KeyError) as error:
            lines.append(f"| {title} | (no data: {error}) | | | | |")
            continue
        names = [r.name for r in rows]
        # Fall back on position when a name changed (python-envs.sh names its own commands).
        if subject not in names:
            subject = names[0]
        if yardstick not in names:
            yardstick = names[-1] if len(names) > 1 and names[-1] != subject else ""
        base = next((r for r in rows if r.name == yardstick), None)
        ordered = [r for r in rows if r.name == subject] + [r for r in rows if r.name == yardstick]
        ordered += [r for r in rows if r.name not in (subject, yardstick)]
        for i, row in enumerate(ordered):
            ratio = row.median / base.median if base and base.median > 0 else None
            median, spread = row.cells()
            name = f"`{row.name}`"
            if row.name == subject:
                name = f"**{name}**"
            elif row.name == yardstick:
                name += " (yardstick)"
            ratio_cell = f"{ratio:.2f}×" if ratio is not None else "—"
            goal = verdict(target, row, ratio) if row.name == subject else ""
            lines.append(f"| {title if i == 0 else ''} | {name} | {median} | {spread} | {ratio_cell} | {goal} |")
    return lines


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    return "? RAM"


def main() -> int:
    if sys.argv[1:2] == ["--pool"] and len(sys.argv) > 3:
        pool(Path(sys.argv[2]), [Path(arg) for arg in sys.argv[3:]])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--facts", type=Path, required=True)
    parser.add_argument("--notes", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", default="10")
    parser.add_argument("--warmup", default="3")
    parser.add_argument("--rounds", default="2")
    parser.add_argument("--append", type=Path, action="append", default=[])
    parser.add_argument("--by", default="bench/run", help="the script that measured")
    args = parser.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = [l.split("\t", 1) for l in args.facts.read_text().splitlines() if "\t" in l]
    out = [
        "# rtask benchmarks: latest results" + ("" if args.by == "bench/run" else f" of {args.by}"),
        "",
        f"{now}, by `{args.by}`: hyperfine, {args.runs} runs per command in {args.rounds} rounds"
        f" (`--warmup {args.warmup}` in each; the commands' order reversed in every other round)"
        " after a priming run of each command; the median, the range of the runs, and the median over the yardstick's"
        " median. The first row of each measurement is rtask (bold), the second the yardstick."
        " The rows from python-envs.sh are its own runs (one round), peak memory GNU time's.",
        "",
        *table(args.manifest),
        "",
        "Machine and tools:",
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, {ram()}, "
        f"{platform.system()} {platform.release()} {platform.machine()}",
        *(f"- {name}: {value}" for name, value in facts),
    ]
    notes = args.notes.read_text().splitlines() if args.notes and args.notes.is_file() else []
    if notes:
        out += ["", "Skipped and noted:", "", *(f"- {n}" for n in notes if n.strip())]
    for extra in args.append:
        if extra.is_file():
            out += ["", f"## Included: {extra}", ""]
            # Its headings go two levels down, under this one.
            out += [re.sub(r"^(#+) ", r"##\1 ", l) for l in extra.read_text().splitlines()]
    text = "\n".join(out) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""`ferry test` on the bundled samples' suites: wall time per run (median of --rounds, each
case compiling its own configuration, starting its mocks and serving on its own port), and,
with valgrind installed, the instructions one whole run executes (callgrind, every thread).

Writes the `test-suites` section of docs/benchmarks.md with --out (see sections.py).

    python3 tests/bench/test_suites.py --ferry target/release/ferry [--rounds 5] [--out docs/benchmarks.md]
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
import sections  # noqa: E402


def run_once(cmd):
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"ferry test failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    cases = re.search(r"^(\d+) cases?: ", proc.stdout, re.M)
    return elapsed, int(cases.group(1)) if cases else 0


def instructions(cmd):
    """Instructions of one run under callgrind (all threads), or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        # Cases time out under callgrind's slowdown at their usual timeouts: one at a time.
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
                              + cmd + ["--jobs", "1"], capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or not found:
            print(f"callgrind run failed ({proc.returncode}); instructions not counted",
                  file=sys.stderr)
            return None
        return int(found.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--samples", type=Path, default=ROOT / "config/samples")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-instructions", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    cmd = [str(args.ferry), "test", str(args.samples)]
    run_once(cmd)  # warm the page cache
    times, cases = [], 0
    for _ in range(args.rounds):
        elapsed, cases = run_once(cmd)
        times.append(elapsed)
    median = statistics.median(times)
    count = None if args.no_instructions else instructions(cmd)
    lines = [
        "## `ferry test` on the samples' suites",
        "",
        f"`make bench-test-suites` (tests/bench/test_suites.py): `ferry test config/samples`, "
        f"{cases} cases, median of {args.rounds} runs.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| wall time per run | {median * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
        f"max {max(times) * 1000:.0f}) |",
        f"| per case | {median * 1000 / max(cases, 1):.1f} ms |",
    ]
    if count is not None:
        lines.append(f"| instructions per run (callgrind, `--jobs 1`) | {count:,} |")
        lines.append(f"| instructions per case | {count // max(cases, 1):,} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        sections.replace(args.out, "test-suites", "`make bench-test-suites`", text)


if __name__ == "__main__":
    main()

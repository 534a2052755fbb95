#!/usr/bin/env python3
"""Splitting a large array: `make bench-split`, and a section of `make bench`.

One 1,000-item JSON array (`[{"sku": "SKU-0000", "qty": 1}, ...]`, about 30 KiB) goes
through the flows of tests/bench/apis that take every item apart and put the results
together again, each per item turning `qty` into `total`:

- `iterate + aggregate`: `iterate` makes 1,000 copies, `aggregate` joins their payloads;
- `foreach`: the 4.4 `foreach` rewrites the array in place;
- beside them, as the reference in the same run, the same body through Ferry's plain
  passthrough to the echo backend and straight to the echo backend.

Each row is a fresh Ferry process (so its peak RSS, VmHWM, is that scenario's own), loaded
by wrk with BENCH_SPLIT_CONNECTIONS connections for BENCH_SECONDS after a warm-up; every
flow's answer is checked first. With valgrind present (BENCH_INSTRUCTIONS != 0), the
instructions per request of each Ferry flow are counted under callgrind as well.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import instructions as ins  # noqa: E402
import run as bench  # noqa: E402

ITEMS = 1000
CONNECTIONS = int(os.environ.get("BENCH_SPLIT_CONNECTIONS", "8"))
SCENARIOS = [
    ("iterate + aggregate", "/bench/iterate-aggregate"),
    ("foreach (in place)", "/bench/foreach"),
    ("passthrough (reference)", "/bench/passthrough"),
]


def log(*parts):
    print("bench-split:", *parts, file=sys.stderr, flush=True)


def body():
    items = [{"sku": f"SKU-{i:04d}", "qty": i % 7 + 1} for i in range(ITEMS)]
    return json.dumps(items, separators=(",", ":")).encode()


def check(path, answer):
    """The flows' answers: the passthrough echoes; the others give every item its total."""
    data = json.loads(answer)
    if path == "/bench/passthrough":
        return len(data) == ITEMS and data[0] == {"sku": "SKU-0000", "qty": 1}
    totals = sorted((d["sku"], d["total"]) for d in data)
    want = sorted((f"SKU-{i:04d}", (i % 7 + 1) * 2) for i in range(ITEMS))
    return totals == want


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def wrk(script, body_file, url, seconds):
    cmd = ["taskset", "-c", bench.LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}",
           f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    env = dict(os.environ, BENCH_BODY=str(body_file))
    out = bench.subprocess.run(cmd, env=env, capture_output=True, text=True,
                               check=True).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk printed no result:\n{out}")


def row(name, target, url, pid, script, body_file, seconds):
    wrk(script, body_file, url, bench.WARMUP)
    r = wrk(script, body_file, url, seconds)
    errors = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    out = {
        "scenario": name, "target": target,
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p99_ms": r["p99_us"] / 1000, "errors": errors,
        "peak_rss": peak_rss(pid) if pid else None,
    }
    log(f"{name} via {target}: {out['rps']:,.0f} req/s, p99 {out['p99_ms']:.1f} ms")
    return out


def run(ferry_bin, backend_bin, seconds):
    rows, counts = [], []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-split-") as t:
        tmp = Path(t)
        script = tmp / "post.lua"
        script.write_text(bench.WRK_SCRIPT)
        body_file = tmp / "items.json"
        body_file.write_bytes(body())
        backend, backend_port = bench.start_backend(backend_bin)
        try:
            rows.append(row("echo backend (reference)", "direct",
                            f"http://127.0.0.1:{backend_port}/echo", None, script,
                            body_file, seconds))
            for name, path in SCENARIOS:
                (tmp / "ferry-ports.json").unlink(missing_ok=True)
                ferry, port, _https = bench.start_ferry(ferry_bin, tmp, backend_port)
                try:
                    code, _, answer = bench.post(port, path, body_file.read_bytes())
                    if code != 200 or not check(path, answer):
                        raise RuntimeError(f"{path} answered {code}: {answer[:300]!r}")
                    rows.append(row(name, "ferry", f"http://127.0.0.1:{port}{path}",
                                    ferry.pid, script, body_file, seconds))
                finally:
                    bench.stop(ferry)
            if bench.INSTRUCTIONS and not ins.missing_tools():
                for name, path in SCENARIOS:
                    log(f"instructions: {name}")
                    r, e, per = ins.ferry(ferry_bin, backend_port, path, len(body()),
                                          bench.INSTRUCTION_SECONDS,
                                          tmp / f"callgrind-split-{len(counts)}", tmp,
                                          body=body())
                    counts.append((name, r, e, per))
        finally:
            bench.stop(backend)
    return rows, counts


def section(ferry_bin, backend_bin, seconds=None):
    seconds = seconds or bench.SECONDS
    rows, counts = run(ferry_bin, backend_bin, seconds)
    ref = next((r for r in rows if r["scenario"].startswith("passthrough")), None)
    lines = [
        "## Splitting a 1,000-item array (iterate + aggregate, foreach)",
        "",
        "Generated by `tests/bench/split.py` (`make bench-split`). A POST of a JSON array of "
        f"{ITEMS:,} items (about {len(body()) // 1024} KiB) through flows that take every "
        "item apart, compute a field and put the results together again "
        "(tests/bench/apis/bench-apis.yaml: `/bench/iterate-aggregate`, `/bench/foreach`), "
        "beside the same body through Ferry's passthrough and straight to the echo backend. "
        f"wrk with {CONNECTIONS} connections for {seconds} s after a {bench.WARMUP} s "
        "warm-up; a fresh Ferry process per row, so the peak RSS (VmHWM) is that flow's.",
        "",
        "| flow | via | req/s | p99 | errors | peak RSS | vs passthrough |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rss = f"{r['peak_rss'] / 2**20:.1f} MiB" if r["peak_rss"] else "—"
        vs = f"{r['rps'] / ref['rps']:.2f}×" if ref and r["target"] == "ferry" else "—"
        lines.append(f"| {r['scenario']} | {r['target']} | {r['rps']:,.0f} | "
                     f"{r['p99_ms']:.1f} ms | {r['errors']} | {rss} | {vs} |")
    if counts:
        lines += [
            "",
            "Instructions per request under callgrind (20 connections, "
            f"{bench.INSTRUCTION_SECONDS} s after a 3 s warm-up):",
            "",
            "| flow | requests counted | errors | instructions per request | per item |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r, e, per in counts:
            item = f"{per / ITEMS:,.0f}" if not name.startswith("passthrough") else "—"
            lines.append(f"| {name} | {r:,} | {e} | {per:,.0f} | {item} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--out", type=Path, help="write the section into this docs/benchmarks.md")
    args = ap.parse_args()
    text = section(args.ferry, args.backend)
    if args.out:
        import sections  # noqa: PLC0415
        sections.replace(args.out, "split", "`make bench-split` (tests/bench/split.py)", text)
    print(text)


if __name__ == "__main__":
    main()

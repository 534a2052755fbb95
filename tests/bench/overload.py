#!/usr/bin/env python3
"""The overload benchmark behind `make bench-overload` (and `make bench`): p99 of the
admitted requests at twice the load Ferry can serve.

Ferry runs tests/bench/overload (`/overload/convert`: the JSON body, an order of 279 items,
converted to XML, then a call to a backend that answers OVERLOAD_DELAY_MS late) on one CPU
with `--max-concurrent-requests OVERLOAD_LIMIT`. The conversion makes Ferry's CPU the
bottleneck: a lighter flow would have the load generator and the backend, which share the
other CPU, saturate first, and then "capacity" would be theirs.

1. Capacity: the closed loop (tests/bench/src/bin/load.rs --closed: each connection sends
   its next request when the answer came) with OVERLOAD_CONNECTIONS connections, as many
   as the limit, so every request is admitted: the req/s Ferry serves and the p99 it
   serves them with. The report shows Ferry's CPU share: near 100 % means Ferry, not the
   backend's delay or the client, set the capacity.
2. Twice that: the open loop (each request due at a fixed time, latency counted from
   then, whether it waited for a connection or not) at OVERLOAD_FACTOR x capacity over
   OVERLOAD_OPEN_CONNECTIONS connections. Ferry admits up to the limit and answers the
   rest 503 at once: the admitted requests' req/s and p50/p99, the 503s' share and
   latency, RSS.
3. The same load with the default limit (1000), to show what the limit's value does.

Pinning as `make bench`: Ferry on BENCH_FERRY_CPU (0), the load generator and the backend on
BENCH_LOAD_CPU (1). Writes the "Overload" section of docs/benchmarks.md (sections.py).

Environment: OVERLOAD_SECONDS (15), OVERLOAD_WARMUP (3), OVERLOAD_DELAY_MS (5),
OVERLOAD_LIMIT (64), OVERLOAD_CONNECTIONS (the limit), OVERLOAD_OPEN_CONNECTIONS (1200),
OVERLOAD_FACTOR (2), OVERLOAD_BODY (bytes, 16384), OVERLOAD_PATH (/overload/convert),
OVERLOAD_CAPACITY_ROUNDS (3: the capacity row is the best of them), OVERLOAD_MAX_RATIO
(3: the verdict's bound on p99 at twice capacity / p99 at capacity),
OVERLOAD_DEFAULT_LIMIT (1: also run step 3; 0 skips it).
"""

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import run
import sections

ROOT = run.ROOT
APIS = ROOT / "tests/bench/overload"

SECONDS = int(os.environ.get("OVERLOAD_SECONDS", "15"))
WARMUP = int(os.environ.get("OVERLOAD_WARMUP", "3"))
DELAY_MS = int(os.environ.get("OVERLOAD_DELAY_MS", "5"))
LIMIT = int(os.environ.get("OVERLOAD_LIMIT", "64"))
CONNECTIONS = int(os.environ.get("OVERLOAD_CONNECTIONS", str(LIMIT)))
OPEN_CONNECTIONS = int(os.environ.get("OVERLOAD_OPEN_CONNECTIONS", "1200"))
FACTOR = float(os.environ.get("OVERLOAD_FACTOR", "2"))
BODY = int(os.environ.get("OVERLOAD_BODY", "16384"))
PATH = os.environ.get("OVERLOAD_PATH", "/overload/convert")
CAPACITY_ROUNDS = max(1, int(os.environ.get("OVERLOAD_CAPACITY_ROUNDS", "3")))
MAX_RATIO = float(os.environ.get("OVERLOAD_MAX_RATIO", "3"))
DEFAULT_LIMIT = os.environ.get("OVERLOAD_DEFAULT_LIMIT", "1") != "0"
PROXY_CPU = run.PROXY_CPU
LOAD_CPU = run.LOAD_CPU

log = run.log


def order(size):
    """A JSON order of at least `size` bytes made of many small items (what makes the
    conversion to XML cost CPU), not of one long string."""
    items = []
    while True:
        i = len(items)
        items.append({"sku": f"SKU-{i:05d}", "qty": i % 7 + 1, "price": 1.5 + i,
                      "tags": ["a", "b"]})
        doc = {"kind": "a", "id": 42, "name": "Ferry overload order", "items": items}
        text = json.dumps(doc, separators=(",", ":")).encode()
        if len(text) >= size:
            return text, len(items)


def start_ferry(ferry, tmp, backend_port, limit):
    ports_file = tmp / f"ferry-ports-{limit}.json"
    cmd = [
        "taskset", "-c", PROXY_CPU, str(ferry), "run", str(APIS),
        "--host", "127.0.0.1", "--http-port", "0", "--admin-port", "0",
        "--ports-file", str(ports_file), "--no-watch", "--data-dir", str(tmp / "data"),
        "--max-concurrent-requests", str(limit),
        "--set", f"bench.backend.port={backend_port}",
        "--set", f"bench.backend.delay_ms={DELAY_MS}",
    ]
    proc, port, _ = run.launch_ferry(cmd, tmp / f"ferry-{limit}.log", ports_file)
    return proc, port


def drive(load, port, body, seconds, rate, connections, closed, pid):
    """One run of the generator against Ferry; its totals, with Ferry's CPU and peak RSS."""
    cmd = ["taskset", "-c", LOAD_CPU, str(load), "--target", f"127.0.0.1:{port}",
           "--duration", str(seconds), "--interval", str(seconds + 60), "--timeout", "10",
           "--connections", str(connections), "--scenario", f"load,{rate},{PATH},{body}"]
    if closed:
        cmd.append("--closed")
    with run.Sampler(pid) as sampler:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    final = [json.loads(line) for line in out.splitlines()
             if line.startswith("{") and json.loads(line)["final"]][0]
    final["cpu"] = sampler.cpu
    final["peak_rss"] = sampler.peak
    final["load"] = os.getloadavg()[0]
    secs = final["seconds"]
    final["offered"] = rate if not closed else final["requests"] / secs
    final["ok_rps"] = final["ok"] / secs
    final["s503_rps"] = final["s503"] / secs
    log(f"  {final['requests'] / secs:,.0f} req/s answered, {final['ok_rps']:,.0f} 2xx/s "
        f"(p50 {final['ok_p50_ms']:.2f}, p99 {final['ok_p99_ms']:.2f} ms), "
        f"{final['s503_rps']:,.0f} 503/s (p99 {final['s503_p99_ms']:.2f} ms), "
        f"other {final['other']}, errors {final['errors']}, client lag p99 "
        f"{final['lag_p99_ms']:.2f} ms, {final['connects']} connections opened, "
        f"CPU {sampler.cpu * 100:.0f}%, "
        f"RSS {sampler.peak / 2**20:.1f} MiB")
    return final


def row(label, limit, conns, loop, r):
    n = max(r["requests"], 1)
    return (
        f"| {label} | {limit} | {loop}, {conns} conns | {r['offered']:,.0f} | "
        f"{r['ok_rps']:,.0f} | {r['ok_p50_ms']:.2f} | {r['ok_p99_ms']:.2f} | "
        f"{r['ok_max_ms']:.1f} | {r['s503_rps']:,.0f} ({r['s503'] / n * 100:.0f} %) | "
        f"{r['s503_p99_ms']:.2f} | {r['other']} + {r['errors']} | {r['connects']:,} | "
        f"{r['lag_p99_ms']:.2f} | "
        f"{r['cpu'] * 100:.0f} | {r['peak_rss'] / 2**20:.1f} | {r['load']:.2f} |"
    )


def command():
    """How this run was started, with the knobs that were set."""
    knobs = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                     if k.startswith("OVERLOAD_"))
    return f"`{knobs + ' ' if knobs else ''}make bench-overload`"


def report(m, cap, over, dflt, items, size):
    ratio = over["ok_p99_ms"] / cap["ok_p99_ms"] if cap["ok_p99_ms"] else float("inf")
    ok = ratio <= MAX_RATIO
    lines = [
        "## Overload",
        "",
        f"Generated by {command()} (`tests/bench/overload.py`) on {m['date']}, "
        f"commit {m['commit']}; load average at start {m['load']}. Ferry on "
        f"`tests/bench/overload/overload-apis.yaml` (`{PATH}`: the JSON body, an order of "
        f"{items} items in {size:,} bytes, converted to XML, then a call to the echo backend "
        f"answering {DELAY_MS} ms late), "
        f"pinned to CPU {PROXY_CPU}; the load generator (`tests/bench/src/bin/load.rs`) and "
        f"the backend on CPU {LOAD_CPU}; {SECONDS} s per row after a {WARMUP} s warm-up.",
        "",
        f"- capacity: the closed loop (a connection sends its next request when the answer "
        f"came) with {CONNECTIONS} connections and `--max-concurrent-requests {LIMIT}`: "
        "every request admitted, as many as Ferry serves"
        + (f"; the best of {CAPACITY_ROUNDS} rounds" if CAPACITY_ROUNDS > 1 else ""),
        f"- {FACTOR:g}× capacity: the open loop (request k due at k / rate; latency counted "
        "from then, so waiting for a free connection counts) over "
        f"{OPEN_CONNECTIONS} connections; Ferry admits up to the limit and answers the rest "
        "503 with `Retry-After: 1` at once",
        "- 2xx = admitted; client lag p99 = how late the generator sent (a generator that "
        "cannot keep up shows here); CPU = Ferry's, % of one core",
        "",
        "| load | limit | client | offered req/s | 2xx/s | 2xx p50 ms | 2xx p99 ms | "
        "2xx max ms | 503/s | 503 p99 ms | other + no answer | connections opened | "
        "client lag p99 ms | CPU % | peak RSS MiB | load avg |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        row("capacity", LIMIT, CONNECTIONS, "closed", cap),
        row(f"{FACTOR:g}× capacity", LIMIT, OPEN_CONNECTIONS, "open", over),
    ]
    if dflt:
        lines.append(row(f"{FACTOR:g}× capacity", "1000 (default)", OPEN_CONNECTIONS, "open",
                         dflt))
    if cap["cpu"] < 0.9:
        lines += [
            "",
            f"**This run does not measure Ferry's capacity:** its CPU was at "
            f"{cap['cpu'] * 100:.0f} % in the capacity row, so something else (the other "
            "CPU's load, another tenant on Ferry's) set the limit. Run it again on a quieter "
            "machine.",
        ]
    lines += [
        "",
        f"**Verdict:** p99 of the admitted requests at {FACTOR:g}× capacity "
        f"{over['ok_p99_ms']:.2f} ms against {cap['ok_p99_ms']:.2f} ms at capacity, "
        f"{ratio:.2f}× — " + ("**bounded**" if ok else "**not bounded**")
        + f" (at most {MAX_RATIO:g}×); {over['ok_rps'] / cap['ok_rps'] * 100:.0f} % of "
        "capacity still served.",
    ]
    if dflt:
        n = max(dflt["requests"], 1)
        lines.append(
            f"With the default limit of 1000 the same load gives an admitted p99 of "
            f"{dflt['ok_p99_ms']:,.0f} ms ({dflt['ok_p99_ms'] / cap['ok_p99_ms']:,.0f}× the p99 "
            f"at capacity), {dflt['s503'] / n * 100:.0f} % refused, "
            f"{dflt['ok_rps'] / cap['ok_rps'] * 100:.0f} % of capacity served, client lag p99 "
            f"{dflt['lag_p99_ms']:,.0f} ms, peak RSS {dflt['peak_rss'] / 2**20:.0f} MiB: a limit "
            "far above the requests Ferry holds at once at its capacity bounds neither "
            "latency nor memory (tests/bench/notes.md)."
        )
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--load", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    args = ap.parse_args()
    m = run.machine()
    procs = []
    dflt = None
    with tempfile.TemporaryDirectory(prefix="ferry-overload-") as t:
        tmp = Path(t)
        body = tmp / "body.json"
        text, items = order(BODY)
        body.write_bytes(text)
        try:
            backend, backend_port = run.start_backend(args.backend)
            procs.append(backend)
            ferry, port = start_ferry(args.ferry, tmp, backend_port, LIMIT)
            code, ctype, answer = run.post(port, PATH, body.read_bytes())
            if code != 200:
                raise RuntimeError(f"{PATH} answered {code}: {answer[:200]!r}")

            log(f"capacity: closed loop, {CONNECTIONS} connections, limit {LIMIT}")
            drive(args.load, port, body, WARMUP, 1, CONNECTIONS, True, ferry.pid)
            # Capacity is a maximum, and other work on the machine only ever lowers it:
            # the best of a few rounds.
            cap = max((drive(args.load, port, body, SECONDS, 1, CONNECTIONS, True, ferry.pid)
                       for _ in range(CAPACITY_ROUNDS)), key=lambda r: r["ok_rps"])
            rate = FACTOR * cap["ok_rps"]
            log(f"{FACTOR:g}x capacity: open loop at {rate:,.0f} req/s, "
                f"{OPEN_CONNECTIONS} connections, limit {LIMIT}")
            drive(args.load, port, body, WARMUP, rate, OPEN_CONNECTIONS, False, ferry.pid)
            over = drive(args.load, port, body, SECONDS, rate, OPEN_CONNECTIONS, False,
                         ferry.pid)
            run.stop(ferry)
            if DEFAULT_LIMIT:
                ferry, port = start_ferry(args.ferry, tmp, backend_port, 1000)
                log(f"{FACTOR:g}x capacity: open loop at {rate:,.0f} req/s, limit 1000")
                drive(args.load, port, body, WARMUP, rate, OPEN_CONNECTIONS, False, ferry.pid)
                dflt = drive(args.load, port, body, SECONDS, rate, OPEN_CONNECTIONS, False,
                             ferry.pid)
                run.stop(ferry)
        finally:
            run.stop(ferry)
            for p in reversed(procs):
                run.stop(p)
    text = report(m, cap, over, dflt, items, len(text))
    sections.replace(args.out, "overload", "`make bench-overload` (tests/bench/overload.py)",
                     text)
    print(text)
    log(f"wrote the Overload section of {args.out}")


if __name__ == "__main__":
    main()

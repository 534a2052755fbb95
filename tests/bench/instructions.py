#!/usr/bin/env python3
"""Instructions Ferry executes per request, counted by callgrind: a repeatable measure.

Requests per second move 20-35 % between runs on a shared 2-CPU machine; the instructions a
request costs do not (callgrind counts them, whatever else runs). Use this to compare two
builds of a change to the request path; use `make bench` for throughput, latency and memory.

    python3 tests/bench/instructions.py --ferry target/release/ferry \\
        --backend target/release/echo-backend [--path /bench/route] [--size 1024]

Starts the echo backend and Ferry (under `valgrind --tool=callgrind`) on the bench APIs,
warms up with wrk, zeroes the counters, loads for --seconds with 20 connections, and
prints instructions per request (the whole process: server, mediation, client, runtime).
The callgrind file is kept (--out) for `callgrind_annotate`; a binary built with
`CARGO_PROFILE_RELEASE_STRIP=none` gives function names.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the harness's helpers: backend, bodies, wrk script)


def wrk(script, body, url, seconds):
    env = dict(os.environ, BENCH_BODY=str(body))
    cmd = ["taskset", "-c", bench.LOAD_CPU, "wrk", "-t1", "-c20", f"-d{seconds}s",
           "--timeout", "5s", "-s", str(script), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk printed no result:\n{out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--path", default="/bench/passthrough")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ferry.callgrind")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "wrk", "taskset"):
        if not subprocess.run(["which", tool], capture_output=True).returncode == 0:
            raise SystemExit(f"instructions: {tool} is not installed (make bench-tools)")

    with tempfile.TemporaryDirectory(prefix="ferry-instr-") as t:
        tmp = Path(t)
        script = tmp / "post.lua"
        script.write_text(bench.WRK_SCRIPT)
        body = tmp / "body.json"
        body.write_bytes(bench.json_body(args.size))
        backend, backend_port = bench.start_backend(args.backend)
        ports_file = tmp / "ports.json"
        cmd = ["taskset", "-c", bench.PROXY_CPU, "valgrind", "--tool=callgrind",
               f"--callgrind-out-file={args.out}", str(args.ferry), "run", str(bench.BENCH_APIS),
               "--host", "127.0.0.1", "--http-port", "0", "--admin-port", "0",
               "--ports-file", str(ports_file), "--no-watch",
               "--set", f"bench.backend.port={backend_port}"]
        ferry = subprocess.Popen(cmd, env=dict(os.environ, FERRY_LOG="warn"),
                                 stdout=subprocess.DEVNULL, stderr=open(tmp / "valgrind.log", "wb"))
        try:
            def ports():
                if ferry.poll() is not None:
                    raise RuntimeError((tmp / "valgrind.log").read_text())
                try:
                    return json.loads(ports_file.read_text())
                except (OSError, ValueError):
                    return None

            p = bench.wait_for(ports, "ferry's ports file", timeout=60)
            url = f"http://127.0.0.1:{int(p['http'].rsplit(':', 1)[1])}{args.path}"
            wrk(script, body, url, 3)
            subprocess.run(["callgrind_control", "-z", str(ferry.pid)], capture_output=True, check=True)
            result = wrk(script, body, url, args.seconds)
            subprocess.run(["callgrind_control", "-d", str(ferry.pid)], capture_output=True, check=True)
        finally:
            bench.stop(ferry)
            bench.stop(backend)

    dumps = sorted(args.out.parent.glob(args.out.name + ".*"), key=os.path.getmtime)
    total = None
    for line in dumps[-1].read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
    requests = result["requests"]
    errors = result["status"] + result["connect"] + result["read"] + result["write"] + result["timeout"]
    if total is None or requests == 0:
        raise SystemExit("instructions: no requests were counted")
    print(f"{args.path} {args.size} B: {requests} requests, {errors} errors, "
          f"{total / requests:,.0f} instructions per request ({dumps[-1]})")


if __name__ == "__main__":
    main()

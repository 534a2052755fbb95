#!/usr/bin/env python3
"""The training run of Ferry's profile-guided release build (`make bench-build`, `make
image-build`; docs/development.md, "Profile-guided builds").

A profile-guided build compiles Ferry twice. The first build is instrumented: it counts
how often each branch and call runs. This script runs that build on the bench APIs
(tests/bench/apis) and sends it the traffic the benchmarks and the samples send: every
resource there (passthrough, routing, JSON -> XML, XSLT, script, validation, cache,
scatter-gather, sequential calls, iterate/aggregate, foreach, JWT, a SOAP proxy), over
HTTP and HTTPS, with 1 KiB and 100 KiB bodies, and the usual refusals (no route, wrong
method, invalid body, missing token). On exit the instrumented Ferry writes its counts to
`--profiles`; `llvm-profdata merge` turns them into the profile the second build reads,
which lays out the paths these requests take together and inlines along them.

Every answer's status is checked, so that a change which breaks a flow does not silently
train the build on its error path.

    python3 tests/bench/pgo.py --ferry INSTRUMENTED_FERRY --backend ECHO_BACKEND \\
        --profiles DIR [--seconds 2]

wrk drives the load (20 connections); the backend's own counts, if it is instrumented
too, are not written (LLVM_PROFILE_FILE is set for Ferry alone). Only 127.0.0.1 is used.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the harness's helpers: backend, certificate, wrk script)

# (path, body kind, statuses wrk may see): body kinds are an order (`json`), an array of
# items (`items`), and a body the schema refuses (`invalid`).
RESOURCES = [
    ("/bench/passthrough", "json", {200}),
    ("/bench/route", "json", {200}),
    ("/bench/json-to-xml", "json", {200}),
    ("/bench/xslt", "json", {200}),
    ("/bench/script", "json", {200}),
    ("/bench/validate", "json", {200}),
    ("/bench/validate", "invalid", {400}),
    ("/bench/cached", "json", {200}),
    ("/bench/scatter-gather", "json", {200}),
    ("/bench/sequential-calls", "json", {200}),
    ("/bench/iterate-aggregate", "items", {200}),
    ("/bench/foreach", "items", {200}),
    ("/bench-jwt/passthrough", "json", {200}),
    ("/services/bench-proxy", "json", {200}),
    # Refusals: no such resource, no token.
    ("/bench/none", "json", {404}),
    ("/bench-jwt/passthrough", "json-no-token", {401}),
]
HTTPS_RESOURCES = ("/bench/passthrough", "/bench/route")
SIZES = (1024, 100 * 1024)

# wrk counts answers outside 2xx/3xx as errors; this counts each status. `response` runs in
# the load thread's Lua state and `done` in another, so `done` reads the thread's table.
STATUS_SCRIPT = bench.WRK_SCRIPT + r"""
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
local done_summary = done
done = function(summary, latency, requests)
  done_summary(summary, latency, requests)
  local parts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      parts[#parts + 1] = string.format("\"%d\":%d", status, n)
    end
  end
  io.write("BENCH_STATUSES {" .. table.concat(parts, ",") .. "}\n")
end
"""


def items_body(size):
    """A JSON array of items about `size` bytes long, at most 1,000 of them as in
    tests/bench/split.py (iterate and foreach split it)."""
    n = min(1000, max(1, size // 28))
    items = [{"sku": f"SKU-{i:04d}", "qty": i % 7 + 1} for i in range(n)]
    return json.dumps(items, separators=(",", ":")).encode()


def body_of(kind, size):
    if kind == "items":
        return items_body(size)
    if kind == "invalid":
        return b'{"orders": "not an order"}'
    return bench.json_body(size)


def load(script, body_file, url, seconds, auth):
    """wrk on `url`: (requests, {status: count})."""
    env = dict(os.environ, BENCH_BODY=str(body_file), BENCH_AUTH=auth)
    cmd = ["taskset", "-c", bench.LOAD_CPU, "wrk", "-t1", "-c20", f"-d{seconds}s",
           "--timeout", "5s", "-s", str(script), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    summary, statuses = None, None
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            summary = json.loads(line[len("BENCH_JSON "):])
        elif line.startswith("BENCH_STATUSES "):
            statuses = {int(k): v for k, v in json.loads(line[len("BENCH_STATUSES "):]).items()}
    if summary is None or statuses is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    return summary["requests"], statuses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ferry", required=True, type=Path, help="the instrumented ferry")
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--profiles", required=True, type=Path, help="where Ferry writes its counts")
    ap.add_argument("--seconds", type=int, default=2, help="load per scenario")
    args = ap.parse_args()

    args.profiles.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ferry-pgo-") as t:
        tmp = Path(t)
        # The backend first: it must not write counts of its own into the profile.
        os.environ["LLVM_PROFILE_FILE"] = str(tmp / "backend-%p.profraw")
        backend, backend_port = bench.start_backend(args.backend)
        os.environ["LLVM_PROFILE_FILE"] = str(args.profiles / "ferry-%p-%m.profraw")
        ferry = None
        try:
            cert, key = bench.make_certificate(tmp)
            ferry, http_port, https_port = bench.start_ferry(args.ferry, tmp, backend_port,
                                                              tls=(cert, key))
            script = tmp / "load.lua"
            script.write_text(STATUS_SCRIPT)
            scenarios = [(f"http://127.0.0.1:{http_port}{path}", kind, ok)
                         for path, kind, ok in RESOURCES]
            scenarios += [(f"https://127.0.0.1:{https_port}{path}", "json", {200})
                          for path in HTTPS_RESOURCES]
            failed = []
            for size in SIZES:
                for url, kind, ok in scenarios:
                    body_file = tmp / "body"
                    body_file.write_bytes(body_of(kind, size))
                    auth = "" if kind == "json-no-token" else bench.bench_auth(url)
                    requests, statuses = load(script, body_file, url, args.seconds, auth)
                    bench.log(f"pgo: {url} ({size} B): {requests} requests, statuses {statuses}")
                    if not requests or set(statuses) - ok:
                        failed.append(f"{url} ({size} B): statuses {statuses}, expected {ok}")
            if failed:
                raise SystemExit("pgo: the training load was not answered as expected:\n  "
                                 + "\n  ".join(failed))
        finally:
            if ferry is not None:
                # A clean exit writes the counts.
                ferry.send_signal(signal.SIGTERM)
                ferry.wait(timeout=30)
            bench.stop(backend)
    written = sorted(args.profiles.glob("ferry-*.profraw"))
    if not written:
        raise SystemExit(f"pgo: the instrumented ferry wrote no profile to {args.profiles}")
    bench.log(f"pgo: {len(written)} profile file(s) in {args.profiles}")


if __name__ == "__main__":
    main()

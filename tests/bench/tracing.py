#!/usr/bin/env python3
"""What tracing costs: `make bench-tracing`, and a section of `make bench`.

The same flow (`/bench/route`: a switch on the payload and a call to the echo backend, so a
server span and a client span per request) with tracing off, and on with 1 % and with
100 % of new traces sampled, exported over OTLP/HTTP to a sink collector in this script (a
Python HTTP server answering 200 to every export, on the load CPU). Each row is a fresh
Ferry process loaded by wrk for BENCH_SECONDS after a warm-up; with valgrind present
(BENCH_INSTRUCTIONS != 0) the instructions per request are counted under callgrind as well,
the repeatable measure. Requests carry no `traceparent`, so the ratio decides.
"""

import argparse
import http.server
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import instructions as ins  # noqa: E402
import run as bench  # noqa: E402
import split  # noqa: E402  (its wrk row: req/s, p99, errors, peak RSS)

PATH = "/bench/route"
SIZE = 1024
MODES = [
    ("tracing off", []),
    ("tracing on, 1 % sampled", ["--trace-sampling-ratio", "0.01"]),
    ("tracing on, 100 % sampled", ["--trace-sampling-ratio", "1"]),
]


def log(*parts):
    print("bench-tracing:", *parts, file=sys.stderr, flush=True)


class Collector(http.server.ThreadingHTTPServer):
    """Counts OTLP exports and their bytes; answers each with an empty 200."""

    daemon_threads = True
    exports = 0
    bytes = 0


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the handler's name)
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        self.server.exports += 1
        self.server.bytes += n
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_collector():
    os.sched_setaffinity(0, {int(bench.LOAD_CPU.split(",")[0].split("-")[0])})
    server = Collector(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def ferry_cmd(ferry_bin, tmp, backend_port, collector_port, extra):
    cmd = [str(ferry_bin), "run", str(bench.BENCH_APIS), "--host", "127.0.0.1",
           "--http-port", "0", "--admin-port", "0", "--ports-file",
           str(tmp / "ferry-ports.json"), "--no-watch", "--data-dir", str(tmp / "data"),
           "--set", f"bench.backend.port={backend_port}"]
    if extra:
        cmd += ["--otlp-endpoint", f"http://127.0.0.1:{collector_port}"] + extra
    return cmd


def run(ferry_bin, backend_bin, seconds):
    rows, counts = [], []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-tracing-") as t:
        tmp = Path(t)
        script = tmp / "post.lua"
        script.write_text(bench.WRK_SCRIPT)
        body_file = tmp / "order.json"
        body_file.write_bytes(bench.json_body(SIZE))
        collector = start_collector()
        backend, backend_port = bench.start_backend(backend_bin)
        try:
            for name, extra in MODES:
                (tmp / "ferry-ports.json").unlink(missing_ok=True)
                cmd = ["taskset", "-c", bench.PROXY_CPU] + ferry_cmd(
                    ferry_bin, tmp, backend_port, collector.server_address[1], extra)
                before = collector.exports
                ferry, port, _ = bench.launch_ferry(cmd, tmp / "ferry.log",
                                                    tmp / "ferry-ports.json")
                try:
                    code, _, answer = bench.post(port, PATH, body_file.read_bytes())
                    if code != 200:
                        raise RuntimeError(f"{PATH} answered {code}: {answer[:300]!r}")
                    r = split.row(name, "ferry", f"http://127.0.0.1:{port}{PATH}", ferry.pid,
                                  script, body_file, seconds)
                finally:
                    bench.stop(ferry)
                r["exports"] = collector.exports - before
                rows.append(r)
            if bench.INSTRUCTIONS and not ins.missing_tools():
                for name, extra in MODES:
                    log(f"instructions: {name}")
                    (tmp / "ferry-ports.json").unlink(missing_ok=True)
                    cmd = ferry_cmd(ferry_bin, tmp, backend_port, collector.server_address[1],
                                    extra)

                    def url_of():
                        try:
                            p = json.loads((tmp / "ferry-ports.json").read_text())
                        except (OSError, ValueError):
                            return None
                        return f"http://127.0.0.1:{int(p['http'].rsplit(':', 1)[1])}{PATH}"

                    r, e, per = ins.count(cmd, url_of, SIZE, bench.INSTRUCTION_SECONDS,
                                          tmp / f"callgrind-tracing-{len(counts)}", tmp,
                                          env=dict(os.environ, FERRY_LOG="warn"))
                    counts.append((name, r, e, per))
        finally:
            bench.stop(backend)
            collector.shutdown()
    return rows, counts


def section(ferry_bin, backend_bin, seconds=None):
    seconds = seconds or bench.SECONDS
    rows, counts = run(ferry_bin, backend_bin, seconds)
    off = rows[0]
    lines = [
        "## Tracing: off, 1 % and 100 % sampled",
        "",
        "Generated by `tests/bench/tracing.py` (`make bench-tracing`). `POST /bench/route` "
        f"({SIZE} B JSON: a switch and a call to the echo backend, a server and a client span "
        "per request) with tracing off, and exporting OTLP/HTTP to a sink collector at two "
        f"sampling ratios; wrk with {split.CONNECTIONS} connections for {seconds} s after a "
        f"{bench.WARMUP} s warm-up, a fresh Ferry process per row.",
        "",
        "| tracing | req/s | p99 | errors | peak RSS | exports | vs off |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rss = f"{r['peak_rss'] / 2**20:.1f} MiB" if r["peak_rss"] else "—"
        lines.append(f"| {r['scenario']} | {r['rps']:,.0f} | {r['p99_ms']:.1f} ms | "
                     f"{r['errors']} | {rss} | {r['exports']} | "
                     f"{r['rps'] / off['rps']:.2f}× |")
    if counts:
        base = counts[0][3]
        lines += [
            "",
            "Instructions per request under callgrind (20 connections, "
            f"{bench.INSTRUCTION_SECONDS} s after a 3 s warm-up):",
            "",
            "| tracing | requests counted | errors | instructions per request | vs off |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r, e, per in counts:
            lines.append(f"| {name} | {r:,} | {e} | {per:,.0f} | {per / base:.2f}× |")
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
        sections.replace(args.out, "tracing", "`make bench-tracing` (tests/bench/tracing.py)",
                         text)
    print(text)


if __name__ == "__main__":
    main()

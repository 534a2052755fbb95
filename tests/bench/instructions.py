#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a repeatable measure, beside nginx's.

Requests per second move 20-35 % between runs on a shared 2-CPU machine; the instructions a
request costs do not (callgrind counts them, whatever else runs). Use this to compare two
builds of a change to the request path, and Ferry with nginx on the same load; use
`make bench` for throughput, latency and memory (it also prints this table).

    python3 tests/bench/instructions.py --ferry target/release/ferry \\
        --backend target/release/echo-backend [--path /bench/route] [--size 1024] [--nginx] \\
        [--https] [--arg=--request-header-timeout=0 ...]

Starts the echo backend and Ferry (under `valgrind --tool=callgrind`) on the bench APIs,
warms up with wrk, zeroes the counters, loads for --seconds with 20 connections, and
prints instructions per request (the whole process: server, mediation, client, runtime).
With --nginx, nginx (the `make bench` configuration) is measured the same way first. The
callgrind file is kept (--out) for `callgrind_annotate`: the release profile keeps function
names.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the harness's helpers: backend, bodies, wrk script)

TOOLS = ("valgrind", "callgrind_control", "wrk", "taskset")


def wrk(script, body, url, seconds):
    env = dict(os.environ, BENCH_BODY=str(body), BENCH_AUTH=bench.bench_auth(url))
    cmd = ["taskset", "-c", bench.LOAD_CPU, "wrk", "-t1", "-c20", f"-d{seconds}s",
           "--timeout", "5s", "-s", str(script), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk printed no result:\n{out}")


def missing_tools():
    return [t for t in TOOLS if shutil.which(t) is None]


def count(cmd, url_of, size, seconds, out, tmp, env=None, body=None):
    """Runs `cmd` under callgrind on CPU PROXY_CPU; `url_of()` returns the URL to load once
    the process serves (None while it does not). The load posts `body` (bytes), or the
    benchmark's order of `size` bytes. Returns (requests, errors, instructions per
    request)."""
    script = tmp / "post.lua"
    script.write_text(bench.WRK_SCRIPT)
    body_bytes = body if body is not None else bench.json_body(size)
    body = tmp / f"instr-body-{size}.json"
    body.write_bytes(body_bytes)
    log = tmp / f"valgrind-{out.name}.log"
    for old in out.parent.glob(out.name + ".*"):
        old.unlink()
    full = ["taskset", "-c", bench.PROXY_CPU, "valgrind", "--tool=callgrind",
            f"--callgrind-out-file={out}"] + cmd
    proc = subprocess.Popen(full, env=env or os.environ, stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"))
    try:
        def ready():
            if proc.poll() is not None:
                raise RuntimeError(log.read_text())
            return url_of()

        url = bench.wait_for(ready, f"{cmd[0]} under valgrind", timeout=60)
        wrk(script, body, url, 3)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
        result = wrk(script, body, url, seconds)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
    finally:
        bench.stop(proc)

    dumps = sorted(out.parent.glob(out.name + ".*"), key=os.path.getmtime)
    total = None
    for line in dumps[-1].read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            total = int(line.split()[1])
    requests = result["requests"]
    errors = result["status"] + result["connect"] + result["read"] + result["write"] + result["timeout"]
    if total is None or requests == 0:
        raise RuntimeError(f"no requests were counted for {cmd[0]}")
    return requests, errors, total / requests


def ferry(ferry_bin, backend_port, path, size, seconds, out, tmp, body=None, extra=(),
          tls=None):
    """`tls`: (cert, key) to load over HTTPS, TLS terminated by Ferry."""
    ports_file = tmp / "instr-ports.json"
    ports_file.unlink(missing_ok=True)
    cmd = [str(ferry_bin), "run", str(bench.BENCH_APIS), "--host", "127.0.0.1",
           "--http-port", "0", "--admin-port", "0", "--ports-file", str(ports_file),
           "--no-watch", "--data-dir", str(tmp / "instr-data"),
           "--set", f"bench.backend.port={backend_port}", *extra]
    if tls:
        cmd += ["--https-port", "0", "--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]

    def url_of():
        try:
            p = json.loads(ports_file.read_text())
        except (OSError, ValueError):
            return None
        scheme = "https" if tls else "http"
        return f"{scheme}://127.0.0.1:{int(p[scheme].rsplit(':', 1)[1])}{path}"

    return count(cmd, url_of, size, seconds, out, tmp, env=dict(os.environ, FERRY_LOG="warn"),
                 body=body)


def nginx(nginx_bin, backend_port, size, seconds, out, tmp, tls=None):
    port = bench.free_port()
    https_port = bench.free_port() if tls else None
    ndir = tmp / "instr-nginx"
    shutil.rmtree(ndir, ignore_errors=True)
    ndir.mkdir()
    conf = ndir / "nginx.conf"
    https_server = (bench.NGINX_HTTPS_SERVER.format(port=https_port, cert=tls[0], key=tls[1])
                    if tls else "")
    conf.write_text(bench.NGINX_CONF.format(tmp=ndir, backend_port=backend_port, port=port,
                                            https_server=https_server))
    cmd = [nginx_bin, "-p", str(ndir), "-e", str(ndir / "error.log"), "-c", str(conf)]

    def url_of():
        if bench.status(port, "/") is None:
            return None
        return f"https://127.0.0.1:{https_port}/echo" if tls else f"http://127.0.0.1:{port}/echo"

    return count(cmd, url_of, size, seconds, out, tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--path", default="/bench/passthrough")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--nginx", action="store_true", help="measure nginx's passthrough first")
    ap.add_argument("--https", action="store_true",
                    help="load over HTTPS (TLS terminated by the proxy, self-signed certificate)")
    ap.add_argument("--arg", action="append", default=[], metavar="FLAG",
                    help="an extra `ferry run` flag, e.g. --arg=--request-timeout=0 (repeatable)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "ferry.callgrind")
    args = ap.parse_args()
    if missing_tools():
        raise SystemExit(f"instructions: {', '.join(missing_tools())} not installed (make bench-tools)")

    with tempfile.TemporaryDirectory(prefix="ferry-instr-") as t:
        tmp = Path(t)
        backend, backend_port = bench.start_backend(args.backend)
        tls = bench.make_certificate(tmp) if args.https else None
        try:
            if args.nginx:
                nginx_bin = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
                out = args.out.with_name(args.out.name.replace("ferry", "nginx"))
                r, e, per = nginx(nginx_bin, backend_port, args.size, args.seconds, out, tmp,
                                  tls=tls)
                print(f"nginx {args.size} B: {r} requests, {e} errors, "
                      f"{per:,.0f} instructions per request ({out}.*)")
            r, e, per = ferry(args.ferry, backend_port, args.path, args.size, args.seconds,
                              args.out, tmp, extra=args.arg, tls=tls)
        finally:
            bench.stop(backend)
    print(f"{args.path} {args.size} B: {r} requests, {e} errors, "
          f"{per:,.0f} instructions per request ({args.out}.*)")


if __name__ == "__main__":
    main()

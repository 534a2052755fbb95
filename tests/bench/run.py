#!/usr/bin/env python3
"""The load benchmark behind `make bench`: Ferry against nginx and the bare backend.

Starts the echo backend, nginx (a generated `proxy_pass` config in a temp dir) and Ferry
(tests/bench/apis), drives each scenario with wrk (100 keep-alive connections, a warm-up,
then a fixed measured time), samples the RSS and CPU time of the process under test from
/proc while wrk runs, measures Ferry's start-to-ready time and idle RSS on the healthcare
sample, and writes everything to docs/benchmarks.md (and prints it).

Pinning: the proxy under test (Ferry or nginx, one at a time) runs on BENCH_FERRY_CPU (0);
wrk and the backend share BENCH_LOAD_CPU (1). Only 127.0.0.1 is ever used.

Environment: BENCH_SECONDS (10), BENCH_WARMUP (3), BENCH_ROUNDS (1), BENCH_CONNECTIONS (100),
BENCH_STARTUP_RUNS (20), BENCH_FERRY_CPU (0), BENCH_LOAD_CPU (1), BENCH_INSTRUCTIONS (1: also
count instructions per request under callgrind, nginx beside Ferry; 0 skips it),
BENCH_INSTRUCTION_SECONDS (8), BENCH_HTTPS (1: also HTTPS passthrough, TLS terminated by
Ferry and by nginx with the same self-signed certificate made by openssl; 0 skips it).
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import memory
import sections

ROOT = Path(__file__).resolve().parents[2]
BENCH_APIS = ROOT / "tests/bench/apis"
NOTES = ROOT / "tests/bench/notes.md"
# The bearer token the JWT scenario sends (RS256, demo key, expires in 2100).
JWT_TOKEN_FILE = ROOT / "tests/testdata/jwt/demo-tokens.txt"


def bench_auth(url):
    """The Authorization value for a request to `url`: the demo token for /bench-jwt/."""
    if "/bench-jwt/" not in url:
        return ""
    for line in JWT_TOKEN_FILE.read_text().splitlines():
        if line.startswith("reader "):
            return "Bearer " + line.split(" ", 1)[1]
    return ""
HEALTHCARE = ROOT / "config/samples/healthcare"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "1")))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "100"))
STARTUP_RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "20"))
INSTRUCTIONS = os.environ.get("BENCH_INSTRUCTIONS", "1") != "0"
INSTRUCTION_SECONDS = int(os.environ.get("BENCH_INSTRUCTION_SECONDS", "8"))
HTTPS = os.environ.get("BENCH_HTTPS", "1") != "0"
PROXY_CPU = os.environ.get("BENCH_FERRY_CPU", "0")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "1")

WRK_SCRIPT = r"""
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d," ..
    "\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p99_us\":%d," ..
    "\"max_us\":%d}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

NGINX_CONF = """
worker_processes 1;
master_process off;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/client_body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  client_max_body_size 16m;
  # Keep 100 KiB bodies in memory both ways, as Ferry does.
  client_body_buffer_size 256k;
  proxy_buffer_size 16k;
  proxy_buffers 16 16k;
  keepalive_requests 100000000;
  upstream backend {{
    server 127.0.0.1:{backend_port};
    keepalive 128;
    keepalive_requests 100000000;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
{https_server}
}}
"""

# TLS terminated by nginx, as Ferry's HTTPS listener does, with the same certificate; wrk
# keeps its connections, so the load measures record encryption more than handshakes.
NGINX_HTTPS_SERVER = """
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
"""


def make_certificate(tmp):
    """A self-signed ECDSA P-256 certificate for 127.0.0.1 (bench only): (cert, key)."""
    cert, key = tmp / "bench.crt", tmp / "bench.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def post_https(port, path, body, cafile):
    ctx = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.getheader("Content-Type", ""), data


def log(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def json_body(size, kind="a"):
    """A JSON document of exactly `size` bytes: routing field first, padding last."""
    doc = {
        "kind": kind,
        "id": 42,
        "name": "Ferry benchmark order",
        "items": [{"sku": f"SKU-{i:04d}", "qty": i % 7 + 1} for i in range(8)],
        "pad": "",
    }
    base = len(json.dumps(doc, separators=(",", ":")).encode())
    if base > size:
        raise SystemExit(f"body size {size} is below the minimum {base}")
    doc["pad"] = "x" * (size - base)
    text = json.dumps(doc, separators=(",", ":")).encode()
    assert len(text) == size
    return text


def status(port, path, timeout=1.0):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        code = conn.getresponse().status
        conn.close()
        return code
    except OSError:
        return None


def post(port, path, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def proc_rss(pid):
    """Resident set size in bytes, from /proc (None once the process is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return None


def proc_cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            # Fields after the parenthesised command name; utime and stime are 14 and 15.
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return None


class Sampler:
    """Samples a process's RSS every 50 ms and its CPU time at start and stop."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.cpu0 = proc_cpu_seconds(self.pid)
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            rss = proc_rss(self.pid)
            if rss:
                self.peak = max(self.peak, rss)
            self._stop.wait(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.cpu_seconds = proc_cpu_seconds(self.pid) - self.cpu0
        self.cpu = self.cpu_seconds / (time.monotonic() - self.t0)


def run_wrk(script, body_file, url, seconds, connections=None):
    cmd = [
        "taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections or CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout", "5s", "-s", str(script), url,
    ]
    env = dict(os.environ, BENCH_BODY=str(body_file))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk printed no result:\n{out}")


def measure(name, target, size, pid, url, script, body_file, warmup):
    log(f"{name} via {target} ({size}): warm-up {warmup}s, measure {SECONDS}s")
    if warmup > 0:
        run_wrk(script, body_file, url, warmup)
    with Sampler(pid) as sampler:
        r = run_wrk(script, body_file, url, SECONDS)
    rps = r["requests"] / (r["duration_us"] / 1e6)
    result = {
        "scenario": name,
        "target": target,
        "size": size,
        "rps": rps,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "requests": r["requests"],
        "http_errors": r["status"],
        "socket_errors": r["connect"] + r["read"] + r["write"] + r["timeout"],
        "peak_rss": sampler.peak,
        "cpu": sampler.cpu,
        # User and system time of the process per request: unlike req/s, not lowered when
        # another tenant of the machine takes the CPU away.
        "cpu_us": sampler.cpu_seconds * 1e6 / max(r["requests"], 1),
        "load": os.getloadavg()[0],
    }
    log(
        f"  {rps:,.0f} req/s, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
        f"errors {result['http_errors']}+{result['socket_errors']}, "
        f"RSS {sampler.peak / 2**20:.1f} MiB, CPU {sampler.cpu * 100:.0f}%"
    )
    return result


def combine(rounds):
    """One scenario over its rounds: the median of each rate, latency and CPU share, the
    largest RSS, the sum of errors."""
    out = dict(rounds[0])
    for key in ("rps", "p50_ms", "p99_ms", "cpu", "cpu_us", "load"):
        out[key] = statistics.median(r[key] for r in rounds)
    out["peak_rss"] = max(r["peak_rss"] for r in rounds)
    for key in ("requests", "http_errors", "socket_errors"):
        out[key] = sum(r[key] for r in rounds)
    return out


def wait_for(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise RuntimeError(f"timed out waiting for {what}")


def start_ferry(ferry, tmp, backend_port, tls=None):
    """Ferry on the bench APIs: (process, HTTP port, HTTPS port or None); `tls` is
    (cert, key) for the HTTPS listener."""
    ports_file = tmp / "ferry-ports.json"
    cmd = [
        "taskset", "-c", PROXY_CPU, str(ferry), "run", str(BENCH_APIS),
        "--host", "127.0.0.1", "--http-port", "0", "--admin-port", "0",
        "--ports-file", str(ports_file), "--no-watch",
        "--set", f"bench.backend.port={backend_port}",
    ]
    if tls:
        cmd += ["--https-port", "0", "--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    proc, http_port, _ = launch_ferry(cmd, tmp / "ferry.log", ports_file)
    https_port = None
    if tls:
        https_port = int(json.loads(ports_file.read_text())["https"].rsplit(":", 1)[1])
    return proc, http_port, https_port


def launch_ferry(cmd, log_path, ports_file):
    """Starts `cmd` (a `ferry run` with `--ports-file ports_file`), its stderr in
    `log_path`, and waits until it is ready: (process, HTTP port, admin port)."""
    env = dict(os.environ, FERRY_LOG=os.environ.get("FERRY_LOG", "warn"))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(log_path, "wb"))

    def ports():
        if proc.poll() is not None:
            raise RuntimeError(f"ferry exited: {log_path.read_text()}")
        try:
            return json.loads(ports_file.read_text())
        except (OSError, ValueError):
            return None

    p = wait_for(ports, "ferry's ports file")
    http_port = int(p["http"].rsplit(":", 1)[1])
    admin_port = int(p["admin"].rsplit(":", 1)[1])
    wait_for(lambda: status(admin_port, "/readyz") == 200, "ferry /readyz")
    return proc, http_port, admin_port


def start_nginx(nginx, tmp, backend_port, tls=None):
    """nginx in front of the backend: (process, HTTP port, HTTPS port or None)."""
    port = free_port()
    https_port = free_port() if tls else None
    ndir = tmp / "nginx"
    ndir.mkdir()
    conf = ndir / "nginx.conf"
    https_server = (NGINX_HTTPS_SERVER.format(port=https_port, cert=tls[0], key=tls[1])
                    if tls else "")
    conf.write_text(NGINX_CONF.format(tmp=ndir, backend_port=backend_port, port=port,
                                      https_server=https_server))
    cmd = ["taskset", "-c", PROXY_CPU, nginx, "-p", str(ndir), "-e", str(ndir / "error.log"),
           "-c", str(conf)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: proc.poll() is None and status(port, "/") is not None, "nginx")
    return proc, port, https_port


def start_backend(backend):
    cmd = ["taskset", "-c", LOAD_CPU, str(backend), "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"echo-backend said {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def startup(ferry):
    """Start-to-ready times (ms) and idle RSS (bytes) of `ferry run` on the healthcare sample."""
    times, rss = [], []
    cpu = int(PROXY_CPU.split(",")[0].split("-")[0])
    for i in range(STARTUP_RUNS):
        http_port, admin_port = free_port(), free_port()
        cmd = [str(ferry), "run", str(HEALTHCARE), "--host", "127.0.0.1",
               "--http-port", str(http_port), "--admin-port", str(admin_port), "--no-watch"]
        env = dict(os.environ, FERRY_LOG="warn")
        t0 = time.perf_counter()
        # Pinned in the child before exec, so no taskset start-up is counted.
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
        try:
            while True:
                if status(admin_port, "/readyz", timeout=0.5) == 200:
                    break
                if proc.poll() is not None:
                    raise RuntimeError("ferry exited while starting on the healthcare sample")
                if time.perf_counter() - t0 > 20:
                    raise RuntimeError("ferry did not become ready in 20 s")
                time.sleep(0.0005)
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.5)
            rss.append(proc_rss(proc.pid))
        finally:
            stop(proc)
    return times, rss


def tool_version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        text = (r.stdout + r.stderr).strip().splitlines()
        return text[0] if text else "?"
    except OSError:
        return "?"


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "runtime",
                            "tests", "crds", "Cargo.toml", "Cargo.lock"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "wrk": tool_version(["wrk", "--version"]),
    }


# === report ===

def mib(b):
    return f"{b / 2**20:.1f}"


def ratio(x, ref):
    return f"{x / ref:.2f}×" if ref else "–"


def verdict(ok, how):
    return ("**met**" if ok else "**not met**") + f" ({how})"


INSTRUCTION_RUNS = [
    # (scenario, via, body size, path on Ferry)
    ("passthrough", "nginx", 1024, None),
    ("passthrough", "ferry", 1024, "/bench/passthrough"),
    ("json routing", "ferry", 1024, "/bench/route"),
    ("json → xml", "ferry", 1024, "/bench/json-to-xml"),
    ("passthrough + JWT (RS256)", "ferry", 1024, "/bench-jwt/passthrough"),
    ("passthrough", "nginx", 100 * 1024, None),
    ("passthrough", "ferry", 100 * 1024, "/bench/passthrough"),
    ("json routing", "ferry", 100 * 1024, "/bench/route"),
]


def count_instructions(ferry, nginx, backend_port, tmp):
    """Instructions per request under callgrind, nginx and Ferry on the same load; [] when
    valgrind is missing or BENCH_INSTRUCTIONS=0."""
    import instructions as ins  # noqa: PLC0415  (it imports this module)

    if not INSTRUCTIONS or ins.missing_tools():
        log("instructions: skipped (BENCH_INSTRUCTIONS=0 or valgrind missing)")
        return []
    rows = []
    for scenario, via, size, path in INSTRUCTION_RUNS:
        log(f"instructions: {scenario} via {via}, {size // 1024} KiB")
        out = tmp / f"callgrind-{via}-{len(rows)}"
        if via == "nginx":
            r, e, per = ins.nginx(nginx, backend_port, size, INSTRUCTION_SECONDS, out, tmp)
        else:
            r, e, per = ins.ferry(ferry, backend_port, path, size, INSTRUCTION_SECONDS, out, tmp)
        rows.append({"scenario": scenario, "target": via, "size": size, "requests": r,
                     "errors": e, "per_request": per})
    return rows


def instruction_lines(rows):
    if not rows:
        return []
    ref = {r["size"]: r for r in rows if r["target"] == "nginx"}
    lines = [
        "",
        "## Instructions per request (callgrind)",
        "",
        "User-space instructions the proxy executes per request (all of it: HTTP server, "
        "mediation, backend client, runtime, allocator), counted by "
        "`valgrind --tool=callgrind` over "
        f"{INSTRUCTION_SECONDS} s of wrk load with 20 connections after a 3 s warm-up, on "
        "CPU 0. Unlike req/s on this shared machine, the count repeats from run to run; "
        "kernel time (system calls, TCP) is not in it. `make bench-instructions` runs the "
        "same measurement alone.",
        "",
        "| scenario | via | body | requests counted | errors | instructions per request "
        "| vs nginx |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        n = ref.get(r["size"])
        lines.append(
            f"| {r['scenario']} | {r['target']} | {r['size'] // 1024} KiB | {r['requests']:,} | "
            f"{r['errors']} | {r['per_request']:,.0f} | "
            f"{ratio(r['per_request'], n and n['per_request'])} |"
        )
    return lines


def nginx_key(r):
    """Which nginx row a row compares with: the same body size, over TLS or not."""
    return r["size"], r["scenario"].startswith("https")


def report(m, results, times, idle, nginx_version, instructions):
    ref = {nginx_key(r): r for r in results if r["target"] == "nginx"}
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`tests/bench/run.py`); do not edit by hand. "
        "Run it again to refresh.",
        "",
        f"- date: {m['date']}, commit {m['commit']}",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['kernel']}; "
        f"load average at start {m['load']}",
        f"- tools: {m['wrk']}; {nginx_version}",
        f"- load: wrk, 1 thread, {CONNECTIONS} keep-alive connections, POST with a JSON body, "
        f"{WARMUP} s warm-up then {SECONDS} s measured per scenario"
        + (f", in {ROUNDS} rounds interleaving the scenarios of one body size: the medians "
           "of req/s, latency and CPU, the largest RSS, all errors" if ROUNDS > 1 else ""),
        f"- pinning: the proxy under test (Ferry or nginx, never both at once) on CPU {PROXY_CPU}; "
        f"wrk and the echo backend (one thread, `tests/bench/src/bin/echo-backend.rs`) "
        f"on CPU {LOAD_CPU}",
        "- nginx: `proxy_pass` with upstream keep-alive, one worker, bodies buffered in memory "
        "(generated config in `tests/bench/run.py`)",
        "- Ferry: `tests/bench/apis/bench-apis.yaml`, `FERRY_LOG=warn`",
        "- errors: HTTP errors are responses with status >= 400 (as wrk counts them); socket "
        "errors are connect, read, write and timeout errors",
        "- RSS and CPU are of the proxy process (of the backend for `direct`), sampled from "
        "/proc during the measured time; CPU is in % of one core (below 100 % for a proxy "
        "that is the bottleneck means something else ran on its CPU); CPU µs/req is the "
        "process's user and system time per request, the cost of a request that the "
        "machine's other tenants do not change as much as they change req/s; load avg is the "
        "machine's 1-minute load average after the scenario (the benchmark itself accounts "
        "for about 2; more means other work shared the 2 CPUs)",
        "",
        "## Throughput and latency",
        "",
        "| scenario | via | body | req/s | vs nginx | p50 ms | vs nginx | p99 ms | vs nginx "
        "| errors (HTTP + socket) | peak RSS MiB | vs nginx | CPU % | CPU µs/req | vs nginx "
        "| load avg |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        n = ref.get(nginx_key(r))
        lines.append(
            f"| {r['scenario']} | {r['target']} | {r['size'] // 1024} KiB | {r['rps']:,.0f} | "
            f"{ratio(r['rps'], n and n['rps'])} | {r['p50_ms']:.2f} | "
            f"{ratio(r['p50_ms'], n and n['p50_ms'])} | {r['p99_ms']:.2f} | "
            f"{ratio(r['p99_ms'], n and n['p99_ms'])} | "
            f"{r['http_errors']} + {r['socket_errors']} | {mib(r['peak_rss'])} | "
            f"{ratio(r['peak_rss'], n and n['peak_rss'])} | {r['cpu'] * 100:.0f} | "
            f"{r['cpu_us']:.1f} | {ratio(r['cpu_us'], n and n['cpu_us'])} | {r['load']:.2f} |"
        )
    lines += instruction_lines(instructions)
    med_start = statistics.median(times)
    med_idle = statistics.median(idle)
    lines += [
        "",
        "## Start-up and idle memory (healthcare sample)",
        "",
        f"`ferry run config/samples/healthcare`, pinned to CPU {PROXY_CPU}, {len(times)} runs: "
        "time from process start to the first `/readyz` 200 (polled every 0.5 ms), and RSS "
        "0.5 s after ready.",
        "",
        "| | median | min | max |",
        "|---|---:|---:|---:|",
        f"| start to ready, ms | {med_start:.1f} | {min(times):.1f} | {max(times):.1f} |",
        f"| idle RSS, MiB | {mib(med_idle)} | {mib(min(idle))} | {mib(max(idle))} |",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for r in results:
        n = ref.get(nginx_key(r))
        if r["target"] != "ferry" or not n:
            continue
        size = f"{r['size'] // 1024} KiB"
        if r["scenario"] in ("passthrough", "https passthrough"):
            t = r["rps"] / n["rps"]
            p = r["p99_ms"] / n["p99_ms"]
            ok = t >= 1.0 and p <= 1.0
            lines.append(
                f"| {r['scenario']} {size}: ≥ 1.0× nginx req/s, p99 no worse | {t:.2f}× req/s, "
                f"p99 {p:.2f}× | {verdict(ok, f'req/s {(t - 1) * 100:+.0f}%, p99 {(p - 1) * 100:+.0f}%')} |"
            )
        elif r["scenario"] == "json routing":
            t = r["rps"] / n["rps"]
            lines.append(
                f"| JSON routing {size}: ≥ 0.8× nginx passthrough req/s | {t:.2f}× | "
                f"{verdict(t >= 0.8, f'{(t - 0.8) * 100:+.0f} points vs 0.80×')} |"
            )
    peak = max(r["peak_rss"] for r in results if r["target"] == "ferry")
    lines += [
        f"| idle RSS < 10 MiB | {mib(med_idle)} MiB | "
        f"{verdict(med_idle < 10 * 2**20, f'{(med_idle - 10 * 2**20) / 2**20:+.1f} MiB')} |",
        f"| RSS under load < 30 MiB | {mib(peak)} MiB (peak over all Ferry scenarios) | "
        f"{verdict(peak < 30 * 2**20, f'{(peak - 30 * 2**20) / 2**20:+.1f} MiB')} |",
        f"| start to ready < 50 ms | {med_start:.1f} ms (median) | "
        f"{verdict(med_start < 50, f'{med_start - 50:+.1f} ms')} |",
        "",
        f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.",
    ]
    if NOTES.exists():
        lines += ["", NOTES.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    args = ap.parse_args()
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    for tool, path in (("wrk", shutil.which("wrk")), ("nginx", nginx),
                       ("taskset", shutil.which("taskset"))):
        if not path:
            raise SystemExit(f"bench: {tool} is not installed (make bench-tools installs it)")
    m = machine()
    nginx_version = tool_version([nginx, "-v"])

    results = []
    procs = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as t:
        tmp = Path(t)
        script = tmp / "post.lua"
        script.write_text(WRK_SCRIPT)
        bodies = {}
        for size in (1024, 100 * 1024):
            bodies[size] = tmp / f"body-{size}.json"
            bodies[size].write_bytes(json_body(size))
        try:
            backend, backend_port = start_backend(args.backend)
            procs.append(backend)
            tls = make_certificate(tmp) if HTTPS else None
            ngx, nginx_port, nginx_https = start_nginx(nginx, tmp, backend_port, tls)
            procs.append(ngx)
            ferry, ferry_port, ferry_https = start_ferry(args.ferry, tmp, backend_port, tls)
            procs.append(ferry)

            # Every target answers correctly before it is timed.
            small = bodies[1024].read_bytes()
            for port, path in ((backend_port, "/echo"), (nginx_port, "/echo"),
                               (ferry_port, "/bench/passthrough"), (ferry_port, "/bench/route"),
                               (ferry_port, "/bench/validate"),
                               (ferry_port, "/services/bench-proxy")):
                code, _, body = post(port, path, small)
                if code != 200 or body != small:
                    raise RuntimeError(f"{path} on :{port} answered {code} with another body")
            if tls:
                for port, path in ((nginx_https, "/echo"), (ferry_https, "/bench/passthrough")):
                    code, _, body = post_https(port, path, small, tls[0])
                    if code != 200 or body != small:
                        raise RuntimeError(f"https {path} on :{port} answered {code}")
            code, ctype, body = post(ferry_port, "/bench/json-to-xml", small)
            if code != 200 or "xml" not in ctype or not body.startswith(b"<order"):
                raise RuntimeError(f"json-to-xml answered {code} {ctype}: {body[:200]!r}")

            runs = []
            for size in (1024, 100 * 1024):
                runs += [(name, target, size, pid, url) for name, target, pid, url in [
                    ("passthrough", "direct", backend.pid, f"http://127.0.0.1:{backend_port}/echo"),
                    ("passthrough", "nginx", ngx.pid, f"http://127.0.0.1:{nginx_port}/echo"),
                    ("passthrough", "ferry", ferry.pid,
                     f"http://127.0.0.1:{ferry_port}/bench/passthrough"),
                    ("json routing", "ferry", ferry.pid,
                     f"http://127.0.0.1:{ferry_port}/bench/route"),
                ]]
                if tls:
                    # TLS terminated by the proxy, plain HTTP to the backend.
                    runs += [
                        ("https passthrough", "nginx", size, ngx.pid,
                         f"https://127.0.0.1:{nginx_https}/echo"),
                        ("https passthrough", "ferry", size, ferry.pid,
                         f"https://127.0.0.1:{ferry_https}/bench/passthrough"),
                    ]
                if size == 1024:
                    runs.append(("json → xml", "ferry", size, ferry.pid,
                                 f"http://127.0.0.1:{ferry_port}/bench/json-to-xml"))
                    # Three backend calls: scatterGather at once vs one after the other.
                    for name, path in (("scatter-gather ×3", "scatter-gather"),
                                       ("3 sequential calls", "sequential-calls"),
                                       ("json schema validate", "validate")):
                        runs.append((name, "ferry", size, ferry.pid,
                                     f"http://127.0.0.1:{ferry_port}/bench/{path}"))
                    runs.append(("proxy service", "ferry", size, ferry.pid,
                                 f"http://127.0.0.1:{ferry_port}/services/bench-proxy"))
                    # Cache hits: the first request fills the cache (checked: the echo comes
                    # back, then the same from the cache); compare with passthrough's call.
                    for _ in range(2):
                        code, _, body = post(ferry_port, "/bench/cached", small)
                        if code != 200 or body != small:
                            raise RuntimeError(f"/bench/cached answered {code} with another body")
                    runs.append(("cache hit", "ferry", size, ferry.pid,
                                 f"http://127.0.0.1:{ferry_port}/bench/cached"))
                    # xslt and script mediators on the 1 KiB order, answered without a
                    # backend call; each answers correctly before it is timed.
                    code, ctype, body = post(ferry_port, "/bench/xslt", small)
                    if code != 200 or b"<quantity>" not in body or b"pad" in body:
                        raise RuntimeError(f"xslt answered {code} {ctype}: {body[:200]!r}")
                    code, _, body = post(ferry_port, "/bench/script", small)
                    if code != 200 or json.loads(body) != {"id": 42, "lines": 8, "total": 29}:
                        raise RuntimeError(f"script answered {code}: {body[:200]!r}")
                    for name, path in (("xslt 1 KiB", "xslt"), ("script", "script")):
                        runs.append((name, "ferry", size, ferry.pid,
                                     f"http://127.0.0.1:{ferry_port}/bench/{path}"))
            # Rounds interleave the scenarios of one body size, so a burst of outside load
            # hits them alike; each is warmed up in its first round only. The 1 KiB rounds
            # all come first: a process keeps the memory the 100 KiB bodies made it take.
            rounds = [[] for _ in runs]
            for size in (1024, 100 * 1024):
                for i in range(ROUNDS):
                    for j, (name, target, s, pid, url) in enumerate(runs):
                        if s == size:
                            rounds[j].append(measure(name, target, size, pid, url, script,
                                                     bodies[size], WARMUP if i == 0 else 0))
            results = [combine(r) for r in rounds]
            instructions = count_instructions(args.ferry, nginx, backend_port, tmp)
        finally:
            for p in reversed(procs):
                stop(p)

    log(f"start-up: {STARTUP_RUNS} runs on the healthcare sample")
    times, idle = startup(args.ferry)
    text = report(m, results, times, idle, nginx_version, instructions)
    if os.environ.get("BENCH_MEMORY", "1") != "0":
        log("memory: JSON <-> XML conversions (tests/bench/memory.py)")
        text = memory.insert_before_notes(text, memory.section(args.ferry))
    # The soak and overload sections are written by their own harnesses: keep them.
    text = sections.keep(args.out, text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()

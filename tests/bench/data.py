#!/usr/bin/env python3
"""The data service benchmark behind `make bench-data`: a DataService on PostgreSQL against
the same queries answered by a minimal sqlx server (tests/bench/src/bin/data-direct.rs).

Seeds DATA_ROWS (10,000) rows into a database of its own on the machine's PostgreSQL
(127.0.0.1:5432, dropped at the end), then drives with wrk, 100 keep-alive connections:
1. GET by primary key (a random id per request): Ferry's `/services/bench/items/{id}`
   vs data-direct's `/items/{id}`;
2. the whole 10,000-row result (about 0.8 MB of JSON), fewer connections (DATA_ALL_CONNECTIONS,
   10): Ferry streams it, data-direct builds it in memory.
Reports req/s, p50/p99 and the peak RSS of the process under test; writes the
"Data services" section of docs/benchmarks.md (sections.py). Pinning as `make bench`.

Environment: DATA_SECONDS (10), DATA_WARMUP (3), DATA_ROWS (10000), DATA_ALL_CONNECTIONS (10).
"""

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import run
import sections

SECONDS = int(os.environ.get("DATA_SECONDS", "10"))
WARMUP = int(os.environ.get("DATA_WARMUP", "3"))
ROWS = int(os.environ.get("DATA_ROWS", "10000"))
ALL_CONNECTIONS = int(os.environ.get("DATA_ALL_CONNECTIONS", "10"))
DB = f"ferry_bench_data_{os.getpid()}"

log = run.log

WRK_GET = r"""
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format(os.getenv("BENCH_PATH"), math.random(1, tonumber(os.getenv("BENCH_ROWS")))))
end
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

SERVICE = """apiVersion: ferry.dev/v1alpha1
kind: DataSource
metadata: {{name: bench-db}}
spec:
  type: postgres
  url: postgres://postgres@127.0.0.1:5432/{db}
  pool: {{maxConnections: 10}}
---
apiVersion: ferry.dev/v1alpha1
kind: DataService
metadata: {{name: bench}}
spec:
  dataSource: bench-db
  queries:
    - name: one
      sql: SELECT id, name, hospital, fee::float8 AS fee FROM bench_items WHERE id = :id
      params: [{{name: id, type: integer}}]
      result: {{single: true}}
    - name: all
      sql: SELECT id, name, hospital, fee::float8 AS fee FROM bench_items ORDER BY id
      result: {{}}
  resources:
    - {{method: GET, path: "/items/{{id}}", query: one, notFound: true}}
    - {{method: GET, path: /items, query: all}}
"""


def psql(sql, db="postgres"):
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qc", sql],
                   check=True, stdout=subprocess.DEVNULL)


def wrk(url_base, path, connections, seconds, tmp):
    script = tmp / "get.lua"
    script.write_text(WRK_GET)
    cmd = ["taskset", "-c", run.LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
           "--timeout", "5s", "-s", str(script), url_base]
    env = dict(os.environ, BENCH_PATH=path, BENCH_ROWS=str(ROWS))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk printed no result:\n{out}")


def measure(name, via, pid, base, path, connections, tmp):
    wrk(base, path, connections, WARMUP, tmp)
    with run.Sampler(pid) as s:
        r = wrk(base, path, connections, SECONDS, tmp)
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    row = {"scenario": name, "via": via, "rps": r["requests"] / (r["duration_us"] / 1e6),
           "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000, "errors": errors,
           "rss": s.peak, "cpu": s.cpu}
    log(f"{name} via {via}: {row['rps']:,.0f} req/s p99 {row['p99']:.2f} ms "
        f"RSS {run.mib(s.peak)} MiB errors {errors}")
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ferry", required=True)
    ap.add_argument("--direct", required=True)
    ap.add_argument("--out", default=str(run.ROOT / "docs/benchmarks.md"))
    args = ap.parse_args()
    psql(f"DROP DATABASE IF EXISTS {DB}")
    psql(f"CREATE DATABASE {DB}")
    procs = []
    try:
        psql("CREATE TABLE bench_items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, "
             "hospital TEXT NOT NULL, fee NUMERIC(10,2) NOT NULL)", DB)
        psql(f"INSERT INTO bench_items SELECT g, 'doctor ' || g, 'hospital ' || (g % 17), "
             f"1000 + g % 900 FROM generate_series(1, {ROWS}) g", DB)
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "svc").mkdir()
            (tmp / "svc/bench.yaml").write_text(SERVICE.format(db=DB))
            ports = tmp / "ports.json"
            ferry = run.launch_ferry(
                ["taskset", "-c", run.PROXY_CPU, args.ferry, "run", str(tmp / "svc"),
                 "--http-port", "0", "--admin-port", "0", "--host", "127.0.0.1",
                 "--no-watch", "--ports-file", str(ports), "--data-dir", str(tmp / "data")],
                tmp / "ferry.log", ports)
            procs.append(ferry[0])
            direct = subprocess.Popen(["taskset", "-c", run.PROXY_CPU, args.direct,
                                       f"postgres://postgres@127.0.0.1:5432/{DB}"],
                                      stdout=subprocess.PIPE, text=True)
            procs.append(direct)
            direct_addr = direct.stdout.readline().split()[-1]
            ferry_base = f"http://127.0.0.1:{ferry[1]}"
            direct_base = f"http://{direct_addr}"
            rows = [
                measure("GET by primary key", "ferry", ferry[0].pid, ferry_base,
                        "/services/bench/items/%d", 100, tmp),
                measure("GET by primary key", "sqlx direct", direct.pid, direct_base,
                        "/items/%d", 100, tmp),
                measure(f"{ROWS:,} rows", "ferry", ferry[0].pid, ferry_base,
                        "/services/bench/items", ALL_CONNECTIONS, tmp),
                measure(f"{ROWS:,} rows", "sqlx direct", direct.pid, direct_base,
                        "/items", ALL_CONNECTIONS, tmp),
            ]
    finally:
        for p in procs:
            run.stop(p)
        psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    lines = [
        "## Data services",
        "",
        f"A DataService on the machine's PostgreSQL against the same queries answered by a "
        f"minimal sqlx server (tests/bench/src/bin/data-direct.rs, one thread); {ROWS:,} rows; "
        f"{WARMUP} s warm-up then {SECONDS} s measured; the server under test on one CPU. "
        "`make bench-data` (tests/bench/data.py).",
        "",
        "| scenario | via | connections | req/s | p50 ms | p99 ms | errors | peak RSS MiB | CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        conns = 100 if r["scenario"].startswith("GET") else ALL_CONNECTIONS
        lines.append(f"| {r['scenario']} | {r['via']} | {conns} | {r['rps']:,.0f} | "
                     f"{r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} | {run.mib(r['rss'])} | "
                     f"{r['cpu'] * 100:.0f} % |")
    text = "\n".join(lines) + "\n"
    print(text)
    sections.replace(args.out, "data-services", "`make bench-data` (tests/bench/data.py)", text)


if __name__ == "__main__":
    main()

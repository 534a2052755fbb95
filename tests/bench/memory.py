#!/usr/bin/env python3
"""Memory of JSON <-> XML conversions: `make bench-memory`, and a section of `make bench`.

Starts Ferry on the json-xml sample (config/samples/json-xml: `/convert/to-xml` and
`/convert/to-json` only change the format) and, for each scenario, a fresh process: 1 MiB
and 9 MiB bodies, JSON -> XML and XML -> JSON, one request and four at once. For each it
records the RSS when ready (idle), the peak (VmHWM from /proc/PID/status: the process is
new, so the peak is this scenario's), and the RSS a second after the last answer (what the
process keeps after a burst). Every answer is checked (status, format, content).

The bursts of four run a second time with glibc's mmap threshold fixed at 128 KiB
(GLIBC_TUNABLES, see the table's text): what glibc keeps after a burst depends on it.

Prints a markdown table; `tests/bench/run.py` includes it in docs/benchmarks.md unless
BENCH_MEMORY=0. Environment: BENCH_MEMORY_CPUS (CPUs to pin Ferry to, e.g. `0`; default
unpinned, so that four requests run at once on a multi-CPU machine), BENCH_MEMORY_SETTLE
(seconds to wait before reading the RSS after a burst, 1), BENCH_MEMORY_TUNABLES (the
GLIBC_TUNABLES of the second run of the bursts, `glibc.malloc.mmap_threshold=131072`;
empty skips it).
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "config/samples/json-xml"
MIB = 1 << 20
SIZES = (1 * MIB, 9 * MIB)
CONCURRENCY = (1, 4)
CPUS = os.environ.get("BENCH_MEMORY_CPUS", "")
SETTLE = float(os.environ.get("BENCH_MEMORY_SETTLE", "1"))
TUNABLES = os.environ.get("BENCH_MEMORY_TUNABLES", "glibc.malloc.mmap_threshold=131072")


def log(*parts):
    print("bench-memory:", *parts, file=sys.stderr, flush=True)


# === bodies ===

def record(i):
    """One order, as JSON-ready data: nested objects, an array, numbers, text to escape."""
    return {
        "id": i,
        "customer": {"name": f"Customer {i:06d}", "email": f"c{i}@example.com", "vip": i % 3 == 0},
        "items": [{"sku": f"SKU-{i % 97:04d}", "qty": i % 5 + 1, "price": 12.5 + i % 10}
                  for _ in range(2)],
        "note": "fragile & <handle> with care",
    }


def json_body(size):
    """A JSON document of about `size` bytes (an array of orders under one key)."""
    one = len(json.dumps(record(0), separators=(",", ":"))) + 1
    n = max(1, size // one)
    text = json.dumps({"orders": [record(i) for i in range(n)]}, separators=(",", ":"))
    return text.encode()


def xml_body(size):
    """An XML document of about `size` bytes: the same orders, as MI writes them."""
    def order(i):
        r = record(i)
        c = r["customer"]
        items = "".join(
            f"<items><sku>{it['sku']}</sku><qty>{it['qty']}</qty><price>{it['price']}</price></items>"
            for it in r["items"])
        return (f"<order><id>{i}</id><customer><name>{c['name']}</name><email>{c['email']}</email>"
                f"<vip>{str(c['vip']).lower()}</vip></customer>{items}"
                f"<note>fragile &amp; &lt;handle&gt; with care</note></order>")
    n = max(1, size // len(order(0)))
    return ("<orders>" + "".join(order(i) for i in range(n)) + "</orders>").encode()


def check_xml(body, n_orders):
    head = body[:200]
    if not body.startswith(b"<jsonObject><?xml-multiple orders?><orders>") or body.count(b"<customer>") != n_orders:
        raise RuntimeError(f"to-xml answered something else: {head!r}")


def check_json(body, n_orders):
    doc = json.loads(body)
    orders = doc["orders"]["order"]
    if len(orders) != n_orders or orders[0]["customer"]["name"] != "Customer 000000":
        raise RuntimeError(f"to-json answered something else: {body[:200]!r}")


# === the process ===

def proc_status(pid):
    """VmRSS and VmHWM in bytes."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


def status(port, path):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", path)
        code = conn.getresponse().status
        conn.close()
        return code
    except OSError:
        return None


def start_ferry(ferry, tmp, tunables=None):
    ports_file = tmp / "ports.json"
    if ports_file.exists():
        ports_file.unlink()
    cmd = [str(ferry), "run", str(SAMPLE), "--host", "127.0.0.1", "--http-port", "0",
           "--admin-port", "0", "--ports-file", str(ports_file), "--no-watch"]
    if CPUS and shutil.which("taskset"):
        cmd = ["taskset", "-c", CPUS] + cmd
    env = dict(os.environ, FERRY_LOG=os.environ.get("FERRY_LOG", "warn"))
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "ferry.log", "wb"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ferry exited: {(tmp / 'ferry.log').read_text()}")
        try:
            ports = json.loads(ports_file.read_text())
            http_port = int(ports["http"].rsplit(":", 1)[1])
            admin_port = int(ports["admin"].rsplit(":", 1)[1])
            if status(admin_port, "/readyz") == 200:
                return proc, http_port
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError("ferry did not become ready")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post(port, path, content_type, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", path, body=body, headers={"Content-Type": content_type})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{path} answered {resp.status}: {data[:300]!r}")
    return data


# === scenarios ===

def scenario(ferry, tmp, direction, size, at_once, bodies, tunables=None):
    body, n_orders = bodies[(direction, size)]
    path, ctype, check = {
        "json": ("/convert/to-xml", "application/json", check_xml),
        "xml": ("/convert/to-json", "application/xml", check_json),
    }[direction]
    proc, port = start_ferry(ferry, tmp, tunables)
    try:
        time.sleep(0.2)
        idle = proc_status(proc.pid)["VmRSS"]
        answers, errors = [None] * at_once, []

        def one(i):
            try:
                answers[i] = post(port, path, ctype, body)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(at_once)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        if errors:
            raise errors[0]
        for a in answers:
            check(a, n_orders)
        time.sleep(SETTLE)
        after = proc_status(proc.pid)
        return {
            "direction": direction, "size": size, "at_once": at_once, "body": len(body),
            "idle": idle, "peak": after["VmHWM"], "after": after["VmRSS"],
            "seconds": elapsed, "malloc": "mmap threshold 128 KiB" if tunables else "default",
        }
    finally:
        stop(proc)


def make_bodies():
    bodies = {}
    for size in SIZES:
        j = json_body(size)
        bodies[("json", size)] = (j, len(json.loads(j)["orders"]))
        x = xml_body(size)
        bodies[("xml", size)] = (x, x.count(b"<customer>"))
    return bodies


def run(ferry):
    bodies = make_bodies()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-memory-") as t:
        tmp = Path(t)
        for direction in ("json", "xml"):
            for size in SIZES:
                for at_once in CONCURRENCY:
                    log(f"{direction} {size // MIB} MiB x{at_once}")
                    rows.append(scenario(ferry, tmp, direction, size, at_once, bodies))
        if TUNABLES:
            for direction in ("json", "xml"):
                for size in SIZES:
                    log(f"{direction} {size // MIB} MiB x4, GLIBC_TUNABLES={TUNABLES}")
                    rows.append(scenario(ferry, tmp, direction, size, 4, bodies, TUNABLES))
    return rows


def mib(b):
    return f"{b / MIB:.1f}"


def table(rows):
    lines = [
        "| conversion | body | at once | malloc | idle RSS | peak RSS | peak − idle "
        "| per body in flight | RSS after | time |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        name = "JSON → XML" if r["direction"] == "json" else "XML → JSON"
        extra = r["peak"] - r["idle"]
        lines.append(
            f"| {name} | {mib(r['body'])} MiB | {r['at_once']} | {r['malloc']} | {mib(r['idle'])} MiB "
            f"| {mib(r['peak'])} MiB | {mib(extra)} MiB "
            f"| {extra / (r['body'] * r['at_once']):.1f}× | {mib(r['after'])} MiB "
            f"| {r['seconds'] * 1000:.0f} ms |")
    return lines


def section(ferry):
    """The markdown section `make bench` includes."""
    rows = run(ferry)
    pinned = f"pinned to CPUs {CPUS}" if CPUS else "not pinned"
    lines = [
        "## Memory per conversion (JSON ⇄ XML)",
        "",
        "Generated by `tests/bench/memory.py` (`make bench-memory`). `ferry run "
        f"config/samples/json-xml` ({pinned}), a fresh process per row: `POST "
        "/convert/to-xml` or `/convert/to-json` with an array of orders (nested objects, "
        "numbers, text to escape), one request or four at once; idle RSS when ready, peak "
        "RSS is VmHWM, RSS after is VmRSS "
        f"{SETTLE:g} s after the last answer. \"Per body in flight\" is (peak − idle) divided "
        "by the bytes of the bodies in flight. Goal (issue #12): peak ≤ 4× body + a "
        "constant, memory given back after a burst. The last rows repeat the bursts with "
        f"`GLIBC_TUNABLES={TUNABLES}`: a fixed mmap threshold, so that glibc serves "
        "every large buffer with its own mapping and unmaps it when freed (by default the "
        "threshold rises to the largest block freed, and later large buffers come from "
        "per-thread arenas that keep their memory).",
        "",
    ] + table(rows)
    return "\n".join(lines) + "\n"


def insert_before_notes(report, text):
    """Puts `text` before the hand-written analysis of docs/benchmarks.md, if any."""
    marker = "## Analysis"
    i = report.find(marker)
    if i < 0:
        return report.rstrip("\n") + "\n\n" + text
    return report[:i] + text + "\n" + report[i:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    args = ap.parse_args()
    print(section(args.ferry))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The soak benchmark behind `make soak`: mixed traffic for 30 minutes, memory, file
descriptors and latency over time.

Starts the echo backend and Ferry on tests/bench/soak (passthrough, JSON routing, JSON to
XML, a flow whose backend fails 3 requests in 10, and store-and-forward through a SQLite
store with a forwarding processor), measures the capacity of the synchronous mix (closed
loop, 64 connections), then drives it at SOAK_LOAD of that capacity, in the open loop
(tests/bench/src/bin/load.rs: each request is due at a fixed time, latency counts from
then), plus SOAK_SAF_RATE stored messages a second, for SOAK_SECONDS. Every SOAK_INTERVAL
seconds it records Ferry's RSS and high-water mark, open file descriptors, threads, CPU,
the store's backlog and file sizes, and per flow the interval's requests, errors, p50 and
p99. At the end it waits for the store to drain and checks at the backend that every
accepted message arrived (and how many twice). It writes the "Soak" section of
docs/benchmarks.md (sections.py: `make bench` keeps it), and all samples as JSON lines to
--samples.

Pinning as `make bench`: Ferry on BENCH_FERRY_CPU (0), the load generator and the backend on
BENCH_LOAD_CPU (1).

Environment: SOAK_SECONDS (1800), SOAK_INTERVAL (10), SOAK_LOAD (0.5), SOAK_RATE (the
synchronous flows' req/s; default SOAK_LOAD x the measured capacity), SOAK_SAF_RATE (50),
SOAK_CAPACITY_SECONDS (15), SOAK_CONNECTIONS (256, open loop).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import run
import sections

ROOT = run.ROOT
SOAK_APIS = ROOT / "tests/bench/soak"

SECONDS = int(os.environ.get("SOAK_SECONDS", "1800"))
INTERVAL = int(os.environ.get("SOAK_INTERVAL", "10"))
LOAD = float(os.environ.get("SOAK_LOAD", "0.5"))
RATE = float(os.environ.get("SOAK_RATE", "0"))
SAF_RATE = float(os.environ.get("SOAK_SAF_RATE", "50"))
CAPACITY_SECONDS = int(os.environ.get("SOAK_CAPACITY_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "256"))
PROXY_CPU = run.PROXY_CPU
LOAD_CPU = run.LOAD_CPU

# The synchronous flows and their shares of the mix; store-and-forward comes on top at
# SAF_RATE.
MIX = [
    ("passthrough", "/soak/passthrough", 0.4),
    ("json routing", "/soak/route", 0.25),
    ("json → xml", "/soak/json-to-xml", 0.2),
    ("fault path", "/soak/fault", 0.15),
]
SAF = ("store and forward", "/soak/orders")
PROCESSOR = "soak-forwarder"
STORE = "soak-orders"

log = run.log


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return json.loads(resp.read())


def processor(admin):
    return get_json(admin, f"/management/message-processors/{PROCESSOR}")


def start_ferry(ferry, tmp, backend_port):
    ports_file = tmp / "ferry-ports.json"
    cmd = [
        "taskset", "-c", PROXY_CPU, str(ferry), "run", str(SOAK_APIS),
        "--host", "127.0.0.1", "--http-port", "0", "--admin-port", "0",
        "--ports-file", str(ports_file), "--no-watch", "--data-dir", str(tmp / "data"),
        "--set", f"bench.backend.port={backend_port}",
    ]
    return run.launch_ferry(cmd, tmp / "ferry.log", ports_file)


def load_cmd(load, port, seconds, scenarios, connections, closed=False, interval=INTERVAL,
             timeout=10):
    cmd = ["taskset", "-c", LOAD_CPU, str(load), "--target", f"127.0.0.1:{port}",
           "--duration", str(seconds), "--interval", str(interval), "--timeout", str(timeout),
           "--connections", str(connections)]
    if closed:
        cmd.append("--closed")
    for name, rate, path, body in scenarios:
        cmd += ["--scenario", f"{name},{rate},{path},{body}"]
    return cmd


def run_load(cmd):
    """Runs the generator to its end; its JSON lines (the final ones by scenario, and all)."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["scenario"]: r for r in lines if r["final"]}, lines


def proc_status(pid):
    """VmRSS, VmHWM (bytes) and Threads from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
            elif key == "Threads":
                out[key] = int(value)
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def runq_wait_seconds(pid):
    """Seconds the process's threads waited for a CPU while runnable (/proc/PID/task/*/
    schedstat, second field): time other work on the machine took from it."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[1])
            except OSError:
                pass
    except OSError:
        return None
    return total / 1e9


def steal_seconds():
    """CPU time the hypervisor gave to other guests, all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[8]) / run.CLK_TCK


def store_bytes(tmp):
    """Bytes of the store's SQLite files (database, WAL, shared memory)."""
    total = 0
    for f in (tmp / "data").rglob(f"{STORE}.db*"):
        total += f.stat().st_size
    return total


class Sampler:
    """Takes a sample of Ferry when the generator finishes an interval."""

    def __init__(self, ferry_pid, load_pid, admin_port, backend_port, tmp, names):
        self.pid = ferry_pid
        self.load_pid = load_pid
        self.waits = (runq_wait_seconds(ferry_pid), runq_wait_seconds(load_pid),
                      steal_seconds())
        self.admin = admin_port
        self.backend = backend_port
        self.tmp = tmp
        self.names = names
        self.samples = []
        self.pending = {}
        self.cpu = run.proc_cpu_seconds(ferry_pid)
        self.clock = time.monotonic()

    def sample(self, t, flows):
        st = proc_status(self.pid)
        cpu = run.proc_cpu_seconds(self.pid)
        now = time.monotonic()
        cpu_share = (cpu - self.cpu) / max(now - self.clock, 1e-6)
        elapsed = max(now - self.clock, 1e-6)
        self.cpu, self.clock = cpu, now
        waits = (runq_wait_seconds(self.pid), runq_wait_seconds(self.load_pid), steal_seconds())
        shares = [((b or 0) - (a or 0)) / elapsed for a, b in zip(self.waits, waits)]
        self.waits = waits
        try:
            proc = get_json(self.admin, f"/management/message-processors/{PROCESSOR}")
        except OSError as e:
            proc = {"error": str(e)}
        try:
            backend = get_json(self.backend, "/stats")
        except OSError as e:
            backend = {"error": str(e)}
        s = {
            "t": t,
            "rss": st.get("VmRSS"),
            "hwm": st.get("VmHWM"),
            "rss_anon": st.get("RssAnon"),
            "rss_file": st.get("RssFile"),
            "threads": st.get("Threads"),
            "fds": fd_count(self.pid),
            "cpu": cpu_share,
            "backlog": proc.get("backlog"),
            "delivered": proc.get("delivered"),
            "processor": proc,
            "backend": backend,
            "store_bytes": store_bytes(self.tmp),
            "load": os.getloadavg()[0],
            # Shares of the interval that Ferry's and the generator's threads waited for a
            # CPU, and that the hypervisor gave the machine's CPUs to other guests.
            "ferry_wait": shares[0],
            "load_wait": shares[1],
            "steal": shares[2],
            "flows": flows,
        }
        self.samples.append(s)
        req = sum(f["requests"] for f in flows.values())
        secs = max(next(iter(flows.values()))["seconds"], 1e-6)
        log(f"t={t:6.0f}s RSS {s['rss'] / 2**20:.1f} MiB (HWM {s['hwm'] / 2**20:.1f}), "
            f"fds {s['fds']}, threads {s['threads']}, CPU {cpu_share * 100:.0f}%, "
            f"waits {shares[0] * 100:.0f}%/{shares[1] * 100:.0f}%, steal {shares[2] * 100:.0f}%, "
            f"{req / secs:,.0f} req/s, backlog {s['backlog']}, delivered {s['delivered']}, "
            + ", ".join(f"{n} p99 {f['p99_ms']:.1f}" for n, f in flows.items()))
        return s

    def line(self, r):
        """Collects the generator's interval lines; samples once all flows reported."""
        if r["final"] or r["partial"]:
            return
        self.pending[r["scenario"]] = r
        if len(self.pending) == len(self.names):
            flows, self.pending = self.pending, {}
            self.sample(r["t"], flows)


def slope_per_min(points):
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def downsample(samples, rows=12):
    if len(samples) <= rows:
        return samples
    step = (len(samples) - 1) / (rows - 1)
    return [samples[round(i * step)] for i in range(rows)]


def mib(b):
    return f"{b / 2**20:.1f}" if b is not None else "–"


def command():
    """How this run was started, with the knobs that were set."""
    knobs = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                     if k.startswith("SOAK_"))
    return f"`{knobs + ' ' if knobs else ''}make soak`"


def report(m, capacity, probe_cpu, rates, samples, totals, final, drained_after, backend, log_bytes):
    names = [n for n, _, _ in MIX] + [SAF[0]]
    half = [s for s in samples if s["t"] >= samples[-1]["t"] / 2]
    rss_slope = slope_per_min([(s["t"], s["rss"] / 1024) for s in half])
    anon_slope = slope_per_min([(s["t"], s["rss_anon"] / 1024) for s in half])
    first, last = samples[0], samples[-1]
    quarter = max(1, len(samples) // 4)
    head, tail = samples[:quarter], samples[-quarter:]

    def med(group, f):
        return statistics.median(f(s) for s in group)

    accepted = totals[SAF[0]]["ok"]
    unique = backend.get("saf_unique", 0)
    twice = backend.get("saf_requests", 0) - unique
    lost = accepted - unique
    sync_rate = sum(rates[n] for n, _, _ in MIX)
    lines = [
        "## Soak",
        "",
        f"Generated by {command()} (`tests/bench/soak.py`) on {m['date']}, commit "
        f"{m['commit']}; {m['nproc']} CPUs ({m['cpu']}); load average at start {m['load']}. "
        f"Ferry on `tests/bench/soak/soak-apis.yaml`, pinned to CPU {PROXY_CPU}, "
        f"`FERRY_LOG=warn`; the load generator (`tests/bench/src/bin/load.rs`) and the echo "
        f"backend on CPU {LOAD_CPU}.",
        "",
        f"- capacity: passthrough, routing and JSON to XML in the mix's proportions, closed "
        f"loop with 64 connections for {CAPACITY_SECONDS} s: {capacity:,.0f} req/s, with "
        f"Ferry's CPU at {probe_cpu * 100:.0f} % of its core (the generator, the backend and "
        "the machine's other tenants on the other CPU set the limit; Ferry alone would serve "
        f"about {capacity / max(probe_cpu, 1e-6):,.0f} req/s on its core)",
        f"- load for {SECONDS / 60:.0f} min, open loop (each request due at a fixed time, "
        f"latency counted from then) over {CONNECTIONS} connections: {sync_rate:,.0f} req/s "
        f"({sync_rate / capacity * 100:.0f} % of capacity) split "
        + ", ".join(f"{n} {rates[n]:,.0f}" for n, _, _ in MIX)
        + f", plus {rates[SAF[0]]:,.0f} req/s store and forward (a SQLite store, "
        "`synchronous=FULL`, drained by a forwarding processor); 1 KiB JSON bodies",
        "- the fault path's backend (`/flaky`) answers 1 request in 10 after 1 s (past the "
        "endpoint's 200 ms timeout: a fault, 502), 1 in 10 with 500, and drops 1 in 10 "
        "connections unanswered (a fault, 502), so 30 % of its answers are errors by design",
        f"- a sample every {INTERVAL} s: RSS and its high-water mark (VmHWM), open file "
        "descriptors (`/proc/PID/fd`), threads, CPU (% of one core), per flow the "
        "interval's p99 latency in ms, the generator's lag (p99 of how late it sent a "
        "request: all connections busy, or the generator starved), the store's backlog and "
        "SQLite files (database and WAL), and the machine's share in it: waits % = the "
        "interval's share that Ferry's threads / the generator's threads sat runnable "
        "without a CPU (`/proc/PID/task/*/schedstat`) / the hypervisor's steal (`/proc/stat`, "
        "both CPUs)",
        "",
        "| min | RSS MiB | HWM MiB | fds | threads | CPU % | req/s | errors | "
        + " | ".join(f"p99 {n}" for n in names)
        + " | lag p99 | backlog | store KiB | waits % | load avg |",
        "|" + "---:|" * (13 + len(names)),
    ]
    for s in downsample(samples):
        flows = s["flows"]
        secs = max(next(iter(flows.values()))["seconds"], 1e-6)
        req = sum(f["requests"] for f in flows.values())
        errors = sum(f["other"] + f["errors"] + f["s503"] for n, f in flows.items()
                     if n != MIX[3][0])
        lines.append(
            f"| {s['t'] / 60:.1f} | {mib(s['rss'])} | {mib(s['hwm'])} | {s['fds']} | "
            f"{s['threads']} | {s['cpu'] * 100:.0f} | {req / secs:,.0f} | {errors} | "
            + " | ".join(f"{flows[n]['p99_ms']:.1f}" for n in names)
            + f" | {max(f['lag_p99_ms'] for f in flows.values()):.1f}"
            + f" | {s['backlog']} | {s['store_bytes'] / 1024:,.0f} | "
            f"{s['ferry_wait'] * 100:.0f} / {s['load_wait'] * 100:.0f} / {s['steal'] * 100:.0f}"
            f" | {s['load']:.2f} |"
        )
    fault = totals[MIX[3][0]]
    fault_err = (fault["other"] + fault["errors"] + fault["s503"]) / max(fault["requests"], 1)
    other_errors = sum(t["other"] + t["errors"] + t["s503"] for n, t in totals.items()
                       if n not in (MIX[3][0], SAF[0]))
    saf_errors = totals[SAF[0]]["requests"] - accepted
    lines += [
        "",
        "Errors are answers other than 2xx and requests without an answer, the fault path "
        "left out (its errors are by design).",
        "",
        "| flow | requests | p50 ms | p99 ms | max ms | p99 first interval | p99 last interval "
        "| p99 median, first quarter | p99 median, last quarter |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in names:
        t = totals[n]
        lines.append(
            f"| {n} | {t['requests']:,} | {t['p50_ms']:.2f} | {t['p99_ms']:.2f} | "
            f"{t['max_ms']:.1f} | {first['flows'][n]['p99_ms']:.2f} | "
            f"{last['flows'][n]['p99_ms']:.2f} | "
            f"{med(head, lambda s: s['flows'][n]['p99_ms']):.2f} | "
            f"{med(tail, lambda s: s['flows'][n]['p99_ms']):.2f} |"
        )
    fd_head, fd_tail = med(head, lambda s: s["fds"]), med(tail, lambda s: s["fds"])
    p99_ratio = max(
        med(tail, lambda s: s["flows"][n]["p99_ms"])
        / max(med(head, lambda s: s["flows"][n]["p99_ms"]), 1e-3)
        for n in names)
    rss_flat = abs(rss_slope) * 60 < 1024
    fds_flat = fd_tail <= fd_head * 1.1 + 2
    p99_flat = p99_ratio <= 1.5
    delivered_all = lost <= 0
    lines += [
        "",
        "**Verdict.**",
        "",
        "| measure | first | last | verdict |",
        "|---|---:|---:|---|",
        f"| RSS, MiB (slope over the second half: {rss_slope:+.1f} KiB/min; anonymous memory "
        f"{anon_slope:+.1f} KiB/min) | {mib(first['rss'])} | {mib(last['rss'])} | "
        + ("**flat**" if rss_flat else "**growing**")
        + " (flat: under 1 MiB an hour) |",
        f"| high-water mark, MiB | {mib(first['hwm'])} | {mib(last['hwm'])} | |",
        f"| open fds (median of the first and last quarter: {fd_head:.0f} → {fd_tail:.0f}) | "
        f"{first['fds']} | {last['fds']} | " + ("**flat**" if fds_flat else "**growing**")
        + " |",
        f"| threads | {first['threads']} | {last['threads']} | |",
        f"| p99 (worst flow's median over the last quarter against the first: "
        f"{p99_ratio:.2f}×) | | | " + ("**flat**" if p99_flat else "**rising**")
        + " (flat: at most 1.5×) |",
        f"| store and forward: accepted (202) / delivered to the backend / delivered twice "
        f"| {accepted:,} | {unique:,} / {twice:,} | "
        + ("**none lost**" if delivered_all else f"**{lost:,} lost**")
        + f" (the store drained {drained_after:.0f} s after the load stopped) |",
        "",
        f"Errors outside the fault path: {other_errors:,} (store-and-forward requests not "
        f"accepted: {saf_errors:,}); the fault path's error share: {fault_err * 100:.1f} % "
        f"(30 % by design). Ferry's log (warn and above) grew to {log_bytes:,} bytes. The "
        "store's backlog and processor state at the end: "
        f"`{json.dumps({k: v for k, v in final.items() if k != 'list'})}`.",
    ]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--load", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks.md")
    ap.add_argument("--samples", type=Path, help="write every sample here, as JSON lines")
    args = ap.parse_args()
    m = run.machine()
    procs = []
    with tempfile.TemporaryDirectory(prefix="ferry-soak-") as t:
        tmp = Path(t)
        body = tmp / "body.json"
        body.write_bytes(run.json_body(1024))
        try:
            backend, backend_port = run.start_backend(args.backend)
            procs.append(backend)
            ferry, port, admin = start_ferry(args.ferry, tmp, backend_port)
            procs.append(ferry)
            small = body.read_bytes()
            for _, path, _ in MIX[:3]:
                code, _, answer = run.post(port, path, small)
                if code != 200 or (path != "/soak/json-to-xml" and answer != small):
                    raise RuntimeError(f"{path} answered {code}")
            code, _, _ = run.post(port, SAF[1], small)
            if code != 202:
                raise RuntimeError(f"{SAF[1]} answered {code}")

            log(f"capacity: closed loop, 64 connections, {CAPACITY_SECONDS} s")
            # The fault path's slow answers would hold the closed loop's connections: the
            # capacity is the fast flows'.
            scen = [(n, share, path, body) for n, path, share in MIX[:3]]
            with run.Sampler(ferry.pid) as probe:
                final, _ = run_load(load_cmd(args.load, port, CAPACITY_SECONDS, scen, 64,
                                             closed=True, interval=CAPACITY_SECONDS + 5))
            answered = sum(r["requests"] for r in final.values())
            probe_rps = answered / CAPACITY_SECONDS
            # The capacity of this setup as the machine is now: Ferry on one CPU, the
            # generator and the backend on the other, with whatever else runs there. Ferry's
            # own (the inverse of its CPU time per request) is reported beside it.
            capacity = probe_rps
            ferry_capacity = answered / max(probe.cpu_seconds, 1e-6)
            log(f"capacity: the probe answered {probe_rps:,.0f} req/s with Ferry's CPU at "
                f"{probe.cpu * 100:.0f}% ({ferry_capacity:,.0f} req/s at 100 %)")
            total = RATE or LOAD * capacity
            rates = {n: total * share for n, _, share in MIX}
            rates[SAF[0]] = SAF_RATE
            scen = [(n, rates[n], path, body) for n, path, _ in MIX]
            scen.append((SAF[0], SAF_RATE, SAF[1], body))
            # The check's stored message is delivered before the start.
            run.wait_for(lambda: processor(admin).get("delivered", 0) >= 1,
                         "the first stored message's delivery", timeout=60)

            log(f"soak: {total:,.0f} req/s + {SAF_RATE:,.0f} stored/s for {SECONDS} s")
            names = [s[0] for s in scen]
            # Two seconds more than sampled, so the last sample is taken under load (the
            # generator's cut-short last interval is left out).
            gen = subprocess.Popen(load_cmd(args.load, port, SECONDS + 2, scen, CONNECTIONS),
                                   stdout=subprocess.PIPE, text=True)
            procs.append(gen)
            sampler = Sampler(ferry.pid, gen.pid, admin, backend_port, tmp, names)
            totals = {}
            for line in gen.stdout:
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r["final"]:
                    totals[r["scenario"]] = r
                else:
                    sampler.line(r)
            if gen.wait() != 0:
                raise RuntimeError(f"the load generator exited with {gen.returncode}")
            stopped = time.monotonic()
            # Every accepted message, and the check's, delivered; or 5 minutes passed.
            accepted = totals[SAF[0]]["ok"] + 1
            while True:
                final = processor(admin)
                if final.get("delivered", 0) >= accepted or time.monotonic() - stopped > 300:
                    break
                time.sleep(0.5)
            drained_after = time.monotonic() - stopped
            # The forwarder counts a delivery after the backend answered.
            backend_stats = get_json(backend_port, "/stats")
            # The check request carried no X-Seq: counted, but not among the unique ones.
            backend_stats["saf_requests"] -= 1
            log_bytes = (tmp / "ferry.log").stat().st_size
        finally:
            for p in reversed(procs):
                run.stop(p)
    samples = sampler.samples
    if args.samples:
        args.samples.parent.mkdir(parents=True, exist_ok=True)
        with open(args.samples, "w") as f:
            for s in samples:
                f.write(json.dumps(s) + "\n")
    text = report(m, capacity, probe.cpu, rates, samples, totals, final, drained_after, backend_stats,
                  log_bytes)
    sections.replace(args.out, "soak", "`make soak` (tests/bench/soak.py)", text)
    print(text)
    log(f"wrote the Soak section of {args.out}")


if __name__ == "__main__":
    main()

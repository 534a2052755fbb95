"""RabbitMQ throughput of Ferry beside a raw lapin program in the same run (`make bench-rabbitmq`).

Two scenarios, each measured for Ferry and for `amqp-baseline` (tests/bench/src/bin), against
the machine's RabbitMQ (127.0.0.1:5672, guest) and the echo backend:

- consume -> HTTP: a queue filled with N persistent 1 KiB JSON messages is drained by a
  RabbitMQ inbound endpoint (prefetch P, `sequential: false`) whose sequence POSTs each
  message to the backend; a message is acknowledged after the backend answered. Ferry's
  time runs from its start to the management API counting N succeeded. The baseline does
  the same with lapin and hyper directly: P messages at once, ack after the answer.
- HTTP -> publish (confirms on): wrk POSTs 1 KiB JSON to an API whose `call` publishes to a
  RabbitMQ endpoint and answers once the broker confirmed; the baseline runs as many tasks as
  wrk has connections, each publishing and waiting for its confirm.

Writes its section of docs/benchmarks.md (`--out`); queues are this run's own and deleted.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the shared helpers of make bench)
import sections  # noqa: E402

BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"
MESSAGES = int(os.environ.get("BENCH_RABBITMQ_MESSAGES", "20000"))
PREFETCH = int(os.environ.get("BENCH_RABBITMQ_PREFETCH", "20"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_RABBITMQ_CONNECTIONS", "20"))

CONSUME = """apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {{name: to-backend}}
spec:
  mediators:
    - call:
        endpoint:
          http: {{uriTemplate: "http://127.0.0.1:{port}/echo", method: post}}
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata: {{name: bench-in}}
spec:
  protocol: rabbitmq
  sequence: to-backend
  sequential: false
  rabbitmq: {{host: 127.0.0.1, queue: {queue}, prefetch: {prefetch}}}
"""

PUBLISH = """apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: queue-ep}}
spec:
  address:
    uri: rabbitmq:/bench?rabbitmq.server.host.name=127.0.0.1&rabbitmq.queue.name={queue}&rabbitmq.queue.autodeclare=true
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: publish}}
spec:
  context: /publish
  resources:
    - methods: [POST]
      inSequence:
        - call: {{endpoint: {{key: queue-ep}}}}
        - property: {{name: HTTP_SC, scope: axis2, value: "202"}}
        - respond: {{}}
"""


def baseline(tool, *args):
    out = subprocess.run(["taskset", "-c", run.LOAD_CPU, str(tool), *map(str, args)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else None


def delete_queue(queue):
    subprocess.run(["rabbitmqctl", "delete_queue", queue], capture_output=True)


def admin_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def ferry_consume(ferry, tool, backend_port, tmp):
    queue = f"ferry-bench-consume-{os.getpid()}"
    delete_queue(queue)
    baseline(tool, "fill", BROKER, queue, MESSAGES)
    conf = tmp / "consume"
    conf.mkdir()
    (conf / "config.yaml").write_text(
        CONSUME.format(port=backend_port, queue=queue, prefetch=PREFETCH))
    ports = tmp / "consume-ports.json"
    start = time.monotonic()
    cmd = ["taskset", "-c", run.PROXY_CPU, str(ferry), "run", str(conf), "--host", "127.0.0.1",
           "--http-port", "0", "--admin-port", "0", "--ports-file", str(ports), "--no-watch"]
    proc, _, admin = run.launch_ferry(cmd, tmp / "consume.log", ports)
    try:
        run.wait_for(lambda: admin_json(admin, "/management/inbound-endpoints/bench-in")
                     ["succeeded"] >= MESSAGES, "every message consumed", timeout=600)
        seconds = time.monotonic() - start
    finally:
        run.stop(proc)
        delete_queue(queue)
    return {"messages": MESSAGES, "seconds": seconds}


def baseline_consume(tool, backend_port):
    queue = f"ferry-bench-baseline-consume-{os.getpid()}"
    delete_queue(queue)
    baseline(tool, "fill", BROKER, queue, MESSAGES)
    try:
        return baseline(tool, "consume", BROKER, queue, MESSAGES, PREFETCH, backend_port)
    finally:
        delete_queue(queue)


def ferry_publish(ferry, tmp):
    queue = f"ferry-bench-publish-{os.getpid()}"
    conf = tmp / "publish"
    conf.mkdir()
    (conf / "config.yaml").write_text(PUBLISH.format(queue=queue))
    ports = tmp / "publish-ports.json"
    cmd = ["taskset", "-c", run.PROXY_CPU, str(ferry), "run", str(conf), "--host", "127.0.0.1",
           "--http-port", "0", "--admin-port", "0", "--ports-file", str(ports), "--no-watch"]
    proc, http, _ = run.launch_ferry(cmd, tmp / "publish.log", ports)
    script = tmp / "post.lua"
    script.write_text(run.WRK_SCRIPT)
    body = tmp / "body.json"
    body.write_bytes(run.json_body(1024))
    try:
        saved = run.CONNECTIONS
        run.CONNECTIONS = CONNECTIONS
        r = run.run_wrk(script, body, f"http://127.0.0.1:{http}/publish", SECONDS)
        run.CONNECTIONS = saved
    finally:
        run.stop(proc)
        delete_queue(queue)
    errors = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {"messages": r["requests"] - r["status"], "seconds": r["duration_us"] / 1e6,
            "errors": errors, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000}


def baseline_publish(tool):
    queue = f"ferry-bench-baseline-publish-{os.getpid()}"
    try:
        return baseline(tool, "publish", BROKER, queue, SECONDS, CONNECTIONS)
    finally:
        delete_queue(queue)


def rate(r):
    return r["messages"] / r["seconds"] if r and r["seconds"] else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--baseline", required=True, type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-bench-rabbitmq-") as t:
        tmp = Path(t)
        backend, backend_port = run.start_backend(args.backend)
        try:
            rows = []
            base = baseline_consume(args.baseline, backend_port)
            ours = ferry_consume(args.ferry, args.baseline, backend_port, tmp)
            rows.append(("RabbitMQ consume → HTTP backend", base, ours))
            base = baseline_publish(args.baseline)
            ours = ferry_publish(args.ferry, tmp)
            rows.append(("HTTP → RabbitMQ publish (confirms)", base, ours))
        finally:
            run.stop(backend)
    lines = [
        "## RabbitMQ: Ferry beside raw lapin",
        "",
        f"`make bench-rabbitmq` (`tests/bench/rabbitmq.py`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"the machine's RabbitMQ, persistent 1 KiB JSON messages; consume: {MESSAGES:,} messages, "
        f"prefetch {PREFETCH}, each POSTed to the echo backend and acknowledged after its answer; "
        f"publish: {CONNECTIONS} wrk connections (baseline: {CONNECTIONS} tasks) for {SECONDS} s, "
        "each publish waiting for its confirm. Ferry on CPU " + run.PROXY_CPU
        + ", the baseline and the backend on CPU " + run.LOAD_CPU + ". Goal: Ferry ≥ 0.7× the baseline.",
        "",
        "| scenario | baseline msg/s | Ferry msg/s | Ferry vs baseline | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for name, base, ours in rows:
        ratio = rate(ours) / rate(base) if rate(base) else 0.0
        verdict = "meets the goal" if ratio >= 0.7 else "below the goal"
        lines.append(f"| {name} | {rate(base):,.0f} | {rate(ours):,.0f} | {ratio:.2f}× | {verdict} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        sections.replace(args.out, "rabbitmq", "`make bench-rabbitmq`", text)


if __name__ == "__main__":
    main()

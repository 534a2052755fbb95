"""RabbitMQ throughput of Ferry beside a raw lapin program in the same run (`make bench-rabbitmq`).

Two scenarios, each measured for Ferry and for `amqp-baseline` (tests/bench/src/bin), against
the machine's RabbitMQ (127.0.0.1:5672, guest) and the echo backend:

- consume -> HTTP: a queue filled with N persistent 1 KiB JSON messages is drained by a
  RabbitMQ inbound endpoint (prefetch P, `sequential: false`) whose sequence POSTs each
  message to the backend; a message is acknowledged after the backend answered. Ferry's
  time runs from its start to the management API counting N succeeded. The baseline does
  the same with lapin and hyper directly: P messages at once, ack after the answer.
- HTTP -> publish (confirms on): wrk POSTs 1 KiB JSON to an API whose `call` publishes to a
  RabbitMQ endpoint and answers 202 without a body once the broker confirmed; the baseline
  is a hyper server doing the same with lapin (`amqp-baseline serve`: publish, wait for the
  confirm, answer 202), driven by the same wrk with the same connections and pinned to the
  same CPU as Ferry. Beside it, for reference only, lapin publishing from as many tasks with
  no HTTP in front (`amqp-baseline publish`): the broker's ceiling on this machine.

Writes its section of docs/benchmarks.md (`--out`); queues are this run's own and deleted.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import inbound  # noqa: E402  (what the inbound benchmarks share)
import run  # noqa: E402  (the shared helpers of make bench)
import sections  # noqa: E402

BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"
MESSAGES = int(os.environ.get("BENCH_RABBITMQ_MESSAGES", "20000"))
PREFETCH = int(os.environ.get("BENCH_RABBITMQ_PREFETCH", "20"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_RABBITMQ_CONNECTIONS", "20"))

CONSUME = inbound.TO_BACKEND + """apiVersion: ferry.dev/v1alpha1
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
        - property: {{name: NO_ENTITY_BODY, scope: axis2, value: "true"}}
        - respond: {{}}
"""


def delete_queue(queue):
    subprocess.run(["rabbitmqctl", "delete_queue", queue], capture_output=True)


def ferry_consume(ferry, tool, backend_port, tmp):
    queue = f"ferry-bench-consume-{os.getpid()}"
    delete_queue(queue)
    inbound.baseline(tool, "fill", BROKER, queue, MESSAGES)
    start = time.monotonic()
    proc, _, admin = inbound.launch_ferry(
        ferry, "consume", CONSUME.format(port=backend_port, queue=queue, prefetch=PREFETCH), tmp)
    try:
        inbound.wait_settled(admin, "bench-in", MESSAGES, tmp / "consume.log",
                             count=lambda s: s["succeeded"])
        seconds = time.monotonic() - start
    finally:
        run.stop(proc)
        delete_queue(queue)
    return {"messages": MESSAGES, "seconds": seconds}


def baseline_consume(tool, backend_port):
    queue = f"ferry-bench-baseline-consume-{os.getpid()}"
    delete_queue(queue)
    inbound.baseline(tool, "fill", BROKER, queue, MESSAGES)
    try:
        return inbound.baseline(tool, "consume", BROKER, queue, MESSAGES, PREFETCH, backend_port)
    finally:
        delete_queue(queue)


def wrk_publish(port, tmp):
    """wrk POSTing 1 KiB JSON to /publish on `port`: a warm-up second (the first calls
    connect), then the measured run."""
    script = tmp / "post.lua"
    script.write_text(run.WRK_SCRIPT)
    body = tmp / "body.json"
    body.write_bytes(run.json_body(1024))
    url = f"http://127.0.0.1:{port}/publish"
    run.run_wrk(script, body, url, 1, connections=CONNECTIONS)
    r = run.run_wrk(script, body, url, SECONDS, connections=CONNECTIONS)
    errors = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {"messages": r["requests"] - r["status"], "seconds": r["duration_us"] / 1e6,
            "errors": errors, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000}


def ferry_publish(ferry, tmp):
    queue = f"ferry-bench-publish-{os.getpid()}"
    proc, http, _ = inbound.launch_ferry(ferry, "publish", PUBLISH.format(queue=queue), tmp)
    try:
        return wrk_publish(http, tmp)
    finally:
        run.stop(proc)
        delete_queue(queue)


def baseline_publish_http(tool, tmp):
    queue = f"ferry-bench-baseline-serve-{os.getpid()}"
    cmd = ["taskset", "-c", run.PROXY_CPU, str(tool), "serve", BROKER, queue]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"amqp-baseline serve said {line!r}")
        return wrk_publish(int(line.rsplit(":", 1)[1]), tmp)
    finally:
        run.stop(proc)
        delete_queue(queue)


def baseline_publish_raw(tool):
    queue = f"ferry-bench-baseline-publish-{os.getpid()}"
    try:
        return inbound.baseline(tool, "publish", BROKER, queue, SECONDS, CONNECTIONS)
    finally:
        delete_queue(queue)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--baseline", required=True, type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ferry-bench-rabbitmq-") as t:
        tmp = Path(t)
        backend, backend_port = run.start_backend(args.backend)
        try:
            rows = []
            base = baseline_consume(args.baseline, backend_port)
            ours = ferry_consume(args.ferry, args.baseline, backend_port, tmp)
            rows.append(("RabbitMQ consume → HTTP backend", base, ours))
            base = baseline_publish_http(args.baseline, tmp)
            ours = ferry_publish(args.ferry, tmp)
            rows.append(("HTTP → RabbitMQ publish (confirms)", base, ours))
            raw = baseline_publish_raw(args.baseline)
        finally:
            run.stop(backend)
    lines = [
        "## RabbitMQ: Ferry beside raw lapin",
        "",
        f"`make bench-rabbitmq` (`tests/bench/rabbitmq.py`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"the machine's RabbitMQ, persistent 1 KiB JSON messages; consume: {MESSAGES:,} messages, "
        f"prefetch {PREFETCH}, each POSTed to the echo backend and acknowledged after its answer "
        f"(baseline on CPU {run.LOAD_CPU}); publish: {CONNECTIONS} wrk connections for {SECONDS} s "
        "POSTing to Ferry's API or to the baseline's hyper server, each answered 202 after the "
        f"broker's confirm (both on CPU {run.PROXY_CPU}, wrk on CPU {run.LOAD_CPU}). Ferry on CPU "
        f"{run.PROXY_CPU}, the backend on CPU {run.LOAD_CPU}; load average "
        f"{load_before:.2f} before the run, {os.getloadavg()[0]:.2f} after (about 1 is this "
        "bench alone; more means other work shared the 2 CPUs). Goal: Ferry ≥ 0.7× the baseline.",
        "",
        "| scenario | baseline msg/s | Ferry msg/s | Ferry vs baseline | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for name, base, ours in rows:
        rb, ro = inbound.rate(base), inbound.rate(ours)
        ratio = ro / rb if rb else 0.0
        lines.append(f"| {name} | {rb:,.0f} | {ro:,.0f} | {ratio:.2f}× | {inbound.verdict(ratio)} |")
    lines += [
        "",
        f"Publish errors (HTTP and socket): baseline {rows[1][1]['errors']}, Ferry "
        f"{rows[1][2]['errors']}; p99 baseline {rows[1][1]['p99_ms']:.1f} ms, Ferry "
        f"{rows[1][2]['p99_ms']:.1f} ms. For reference, lapin alone with no HTTP in front "
        f"({CONNECTIONS} tasks on one channel, each waiting for its confirm) published "
        f"{inbound.rate(raw):,.0f} msg/s: what the broker takes from one client here without "
        "the cost of HTTP (wrk, parsing, answering) on the same 2 CPUs.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        sections.replace(args.out, "rabbitmq", "`make bench-rabbitmq`", text)


if __name__ == "__main__":
    main()

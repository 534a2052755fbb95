"""MQTT throughput of Ferry beside a raw rumqttc program in the same run (`make bench-mqtt`).

One scenario, measured for Ferry and for `mqtt-baseline` (tests/bench/src/bin), on a
Mosquitto of the bench's own (a free port, `max_queued_messages` raised so a consumer that
falls behind loses nothing) and the echo backend:

- consume -> HTTP: N 1 KiB JSON messages published at QoS 1 to a topic are taken by an MQTT
  inbound endpoint (QoS 1, `sequential: false`, `concurrency` C) whose sequence POSTs each
  to the backend; a message is acknowledged after the backend answered. Ferry's time runs
  from the first publish to the management API counting N succeeded. The baseline does the
  same with rumqttc and hyper directly: C messages at once, acknowledged after the answer.

Writes its section of docs/benchmarks.md (`--out`).
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the shared helpers of make bench)
import sections  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MQTT_MESSAGES", "20000"))
CONCURRENCY = int(os.environ.get("BENCH_MQTT_CONCURRENCY", "20"))

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
  protocol: mqtt
  sequence: to-backend
  sequential: false
  mqtt: {{host: 127.0.0.1, port: {broker}, topics: ['{topic}'], qos: 1, cleanSession: true,
         concurrency: {concurrency}, contentType: application/json}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp):
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 1000000\nmax_inflight_messages 100\npersistence false\n")
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False

    run.wait_for(listening, "mosquitto", timeout=10)
    return proc, port


def baseline(tool, *args):
    out = subprocess.run(["taskset", "-c", run.LOAD_CPU, str(tool), *map(str, args)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else None


def admin_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def ferry_consume(ferry, tool, broker, backend_port, tmp):
    topic = f"ferry-bench/consume/{os.getpid()}"
    conf = tmp / "consume"
    conf.mkdir()
    (conf / "config.yaml").write_text(CONSUME.format(
        port=backend_port, broker=broker, topic=topic, concurrency=CONCURRENCY))
    ports = tmp / "consume-ports.json"
    cmd = ["taskset", "-c", run.PROXY_CPU, str(ferry), "run", str(conf), "--host", "127.0.0.1",
           "--http-port", "0", "--admin-port", "0", "--ports-file", str(ports), "--no-watch"]
    proc, _, admin = run.launch_ferry(cmd, tmp / "consume.log", ports)
    try:
        run.wait_for(lambda: admin_json(admin, "/management/inbound-endpoints/bench-in")
                     ["connected"], "the subscription", timeout=30)
        start = time.monotonic()
        baseline(tool, "publish", broker, topic, MESSAGES)
        # Done when every message was settled, succeeded or failed (a failed one is
        # acknowledged too: MQTT has no negative acknowledgement). No progress for 30 s is
        # reported with the counts, rather than waiting out a long timeout.
        last, last_change = None, time.monotonic()
        while True:
            state = admin_json(admin, "/management/inbound-endpoints/bench-in")
            settled = state["succeeded"] + state["failed"]
            if settled >= MESSAGES:
                break
            if settled != last:
                last, last_change = settled, time.monotonic()
            elif time.monotonic() - last_change > 30:
                log = (tmp / "consume.log").read_text(errors="replace").splitlines()
                print("\n".join(log[-40:]), file=sys.stderr)
                raise RuntimeError(
                    f"Ferry stopped consuming: {state['succeeded']} succeeded, "
                    f"{state['failed']} failed of {MESSAGES} (log: {tmp / 'consume.log'})")
            time.sleep(0.05)
        seconds = time.monotonic() - start
    finally:
        run.stop(proc)
    return {"messages": MESSAGES, "seconds": seconds, "failed": state["failed"]}


def rate(r):
    return r["messages"] / r["seconds"] if r and r["seconds"] else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--baseline", required=True, type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-bench-mqtt-") as t:
        tmp = Path(t)
        broker, broker_port = start_broker(tmp)
        backend, backend_port = run.start_backend(args.backend)
        try:
            base = baseline(args.baseline, "consume", broker_port,
                            f"ferry-bench/baseline/{os.getpid()}", MESSAGES, CONCURRENCY,
                            backend_port)
            ours = ferry_consume(args.ferry, args.baseline, broker_port, backend_port, tmp)
        finally:
            run.stop(backend)
            run.stop(broker)
    ratio = rate(ours) / rate(base) if rate(base) else 0.0
    verdict = "meets the goal" if ratio >= 0.7 else "below the goal"
    lines = [
        "## MQTT: Ferry beside raw rumqttc",
        "",
        f"`make bench-mqtt` (`tests/bench/mqtt.py`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"a Mosquitto of the bench's own, {MESSAGES:,} 1 KiB JSON messages at QoS 1, "
        f"{CONCURRENCY} at once, each POSTed to the echo backend and acknowledged after its answer. "
        "Ferry on CPU " + run.PROXY_CPU + ", the baseline and the backend on CPU " + run.LOAD_CPU
        + ". Goal: Ferry ≥ 0.7× the baseline.",
        "",
        "| scenario | baseline msg/s | Ferry msg/s | Ferry vs baseline | Ferry failed | verdict |",
        "|---|---:|---:|---:|---:|---|",
        f"| MQTT consume → HTTP backend | {rate(base):,.0f} | {rate(ours):,.0f} | {ratio:.2f}× | {ours['failed']:,} | {verdict} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        sections.replace(args.out, "mqtt", "`make bench-mqtt`", text)


if __name__ == "__main__":
    main()

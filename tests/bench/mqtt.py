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
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import inbound  # noqa: E402  (what the inbound benchmarks share)
import run  # noqa: E402  (the shared helpers of make bench)
import sections  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MQTT_MESSAGES", "20000"))
CONCURRENCY = int(os.environ.get("BENCH_MQTT_CONCURRENCY", "20"))

CONSUME = inbound.TO_BACKEND + """apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata: {{name: bench-in}}
spec:
  protocol: mqtt
  sequence: to-backend
  sequential: false
  mqtt: {{host: 127.0.0.1, port: {broker}, topics: ['{topic}'], qos: 1, cleanSession: true,
         concurrency: {concurrency}, contentType: application/json}}
"""


def start_broker(tmp):
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = run.free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 1000000\nmax_inflight_messages 100\npersistence false\n")
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    inbound.wait_listening(port, "mosquitto")
    return proc, port


def ferry_consume(ferry, tool, broker, backend_port, tmp):
    topic = f"ferry-bench/consume/{os.getpid()}"
    proc, _, admin = inbound.launch_ferry(ferry, "consume", CONSUME.format(
        port=backend_port, broker=broker, topic=topic, concurrency=CONCURRENCY), tmp)
    try:
        run.wait_for(lambda: inbound.endpoint_state(admin, "bench-in")["connected"],
                     "the subscription", timeout=30)
        start = time.monotonic()
        inbound.baseline(tool, "publish", broker, topic, MESSAGES)
        # Done when every message was settled, succeeded or failed (a failed one is
        # acknowledged too: MQTT has no negative acknowledgement).
        state = inbound.wait_settled(admin, "bench-in", MESSAGES, tmp / "consume.log", stall=30)
        seconds = time.monotonic() - start
    finally:
        run.stop(proc)
    return {"messages": MESSAGES, "seconds": seconds, "failed": state["failed"]}


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
            base = inbound.baseline(args.baseline, "consume", broker_port,
                            f"ferry-bench/baseline/{os.getpid()}", MESSAGES, CONCURRENCY,
                            backend_port)
            ours = ferry_consume(args.ferry, args.baseline, broker_port, backend_port, tmp)
        finally:
            run.stop(backend)
            run.stop(broker)
    rate = inbound.rate
    ratio = rate(ours) / rate(base) if rate(base) else 0.0
    verdict = inbound.verdict(ratio)
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

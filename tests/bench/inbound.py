"""What the inbound benchmarks (`make bench-rabbitmq`, `bench-mqtt`, `bench-files`) share: the
sequence that POSTs each message to the echo backend, Ferry started on a configuration of
its own, its baseline program, the management API's counts of an inbound endpoint and a
server of the bench's own waited for until it listens. The load benchmark's helpers (wrk,
pinning, the backend) are in run.py.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import run

# A sequence `to-backend` that POSTs the message to the echo backend ({port}); format()
# text, so a configuration built on it doubles its own braces.
TO_BACKEND = """apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {{name: to-backend}}
spec:
  mediators:
    - call:
        endpoint:
          http: {{uriTemplate: "http://127.0.0.1:{port}/echo", method: post}}
---
"""


def launch_ferry(ferry, name, config, tmp):
    """`ferry run` on `config` (YAML text) in tmp/name, pinned to the proxy CPU, its log in
    tmp/name.log, once ready: (process, HTTP port, admin port)."""
    conf = tmp / name
    conf.mkdir()
    (conf / "config.yaml").write_text(config)
    ports = tmp / f"{name}-ports.json"
    cmd = ["taskset", "-c", run.PROXY_CPU, str(ferry), "run", str(conf), "--host", "127.0.0.1",
           "--http-port", "0", "--admin-port", "0", "--ports-file", str(ports), "--no-watch"]
    return run.launch_ferry(cmd, tmp / f"{name}.log", ports)


def baseline(tool, *args):
    """Runs a baseline program to its end on the load CPU: the JSON of its last line."""
    out = subprocess.run(["taskset", "-c", run.LOAD_CPU, str(tool), *map(str, args)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else None


def admin_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def endpoint_state(admin, endpoint):
    """The management API's view of an inbound endpoint (its counts)."""
    return admin_json(admin, f"/management/inbound-endpoints/{endpoint}")


def wait_settled(admin, endpoint, n, log_path, stall=60.0,
                 count=lambda s: s["succeeded"] + s["failed"]):
    """Waits until `count` of the endpoint's state reaches `n` (by default every message
    settled, succeeded or failed): its last state. No progress for `stall` seconds ends the
    wait with the counts and the end of Ferry's log, rather than a long timeout."""
    last, last_change = None, time.monotonic()
    while True:
        state = endpoint_state(admin, endpoint)
        done = count(state)
        if done >= n:
            return state
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > stall:
            lines = log_path.read_text(errors="replace").splitlines()
            print("\n".join(lines[-40:]), file=sys.stderr)
            raise RuntimeError(
                f"{endpoint} stopped at {state['succeeded']} succeeded, {state['failed']} "
                f"failed of {n} (log: {log_path})")
        time.sleep(0.05)


def wait_listening(port, what, timeout=10):
    """Waits until something accepts connections on 127.0.0.1:`port`."""
    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False

    run.wait_for(listening, what, timeout=timeout)


def rate(r, key="messages"):
    return r[key] / r["seconds"] if r and r["seconds"] else 0.0


def verdict(ratio):
    return "meets the goal" if ratio >= 0.7 else "below the goal"

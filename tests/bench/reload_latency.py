#!/usr/bin/env python3
"""The parts of "a ConfigMap changed -> the new config serves" that run on one machine, for
the two ways a Deployment-mode group takes a new bundle (docs/kubernetes.md, "Reloading"):

- in place: the kubelet swaps the mounted ConfigMap's `..data` link (its AtomicWriter: a
  new timestamped folder, `..data_tmp` renamed over `..data`); measured here is the
  runtime's part, from the swap until an API answers with the new configuration;
- rollout: a new pod starts on the new bundle; measured here is the runtime's part, from
  the process start until `/readyz` answers 200 (what the readiness probe waits for).

What the cluster adds (the kubelet's sync period and ConfigMap cache for in place;
scheduling, the container start and the probe period for a rollout) cannot be measured
without one; docs/kubernetes.md adds Kubernetes' documented bounds.

Usage: reload_latency.py --ferry target/release/ferry [--rounds 20]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from run import launch_ferry, wait_for

API = """apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: version}}
spec:
  context: /version
  resources:
    - methods: [GET]
      inSequence:
        - payloadFactory: {{mediaType: json, format: '{{"version": {version}}}'}}
        - respond: {{}}
"""


def get(port, path):
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
        conn.request("GET", path)
        body = conn.getresponse().read()
        conn.close()
        return body
    except OSError:
        return None


def configmap_write(mount, stamp, version):
    """Writes version's bundle the way the kubelet updates a ConfigMap volume."""
    folder = mount / stamp
    folder.mkdir()
    (folder / "api.yaml").write_text(API.format(version=version))
    tmp_link = mount / "..data_tmp"
    os.symlink(stamp, tmp_link)
    os.replace(tmp_link, mount / "..data")
    if not (mount / "api.yaml").is_symlink():
        os.symlink("..data/api.yaml", mount / "api.yaml")


def in_place(ferry, rounds, tmp):
    mount = tmp / "bundle"
    mount.mkdir()
    configmap_write(mount, "..2026_01_01_00_00_00.0", 0)
    ports = tmp / "ports.json"
    proc, http_port, _ = launch_ferry(
        [str(ferry), "run", str(mount), "--host", "127.0.0.1", "--http-port", "0",
         "--admin-port", "0", "--ports-file", str(ports), "--data-dir", str(tmp / "data")],
        tmp / "in-place.log", ports)
    seconds = []
    try:
        for version in range(1, rounds + 1):
            previous = os.readlink(mount / "..data")
            start = time.monotonic()
            configmap_write(mount, f"..2026_01_01_00_00_{version:02d}.0", version)
            want = json.dumps({"version": version}).encode()
            wait_for(lambda: (get(http_port, "/version") or b"").replace(b" ", b"")
                     == want.replace(b" ", b""), f"version {version}")
            seconds.append(time.monotonic() - start)
            shutil.rmtree(mount / previous)
    finally:
        proc.terminate()
        proc.wait()
    return seconds


def rollout(ferry, rounds, tmp):
    bundle = tmp / "plain"
    bundle.mkdir()
    (bundle / "api.yaml").write_text(API.format(version=1))
    seconds = []
    for n in range(rounds):
        ports = tmp / f"ports-{n}.json"
        start = time.monotonic()
        proc, _, _ = launch_ferry(
            [str(ferry), "run", str(bundle), "--no-watch", "--host", "127.0.0.1",
             "--http-port", "0", "--admin-port", "0", "--ports-file", str(ports),
             "--data-dir", str(tmp / f"data-{n}")],
            tmp / "rollout.log", ports)
        seconds.append(time.monotonic() - start)
        proc.terminate()
        proc.wait()
    return seconds


def summary(name, seconds):
    ms = sorted(s * 1000 for s in seconds)
    return (f"{name}: median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms "
            f"over {len(ms)} rounds")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ferry", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(summary("in place (swap of ..data -> new answer)", in_place(args.ferry, args.rounds, tmp)))
        print(summary("rollout (process start -> /readyz 200)", rollout(args.ferry, args.rounds, tmp)))


if __name__ == "__main__":
    main()

"""Outbound endpoints beside an HTTP call in the same run (`make bench-outbound`).

wrk POSTs 1 KiB JSON to three APIs of one Ferry, each `call`ing one endpoint and answering
once it completed; the HTTP call to the echo backend is the reference the other two are set
against:

- HTTP call: an `http` endpoint to the echo backend (the ordinary case);
- file: a `file` endpoint (`overwrite`: a temporary file, fsync, rename) and one (`append`,
  a line and an fsync per message) into a directory of the run's own;
- SMTP: an `smtp` endpoint to the test SMTP server (aiosmtpd, tests/support/smtp_server.py;
  one SMTP session per email) — skipped with a reason when aiosmtpd is not installed. The
  Python server is usually the limit here, so the figure is a floor.

Writes its section of docs/benchmarks.md (`--out`).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the shared helpers of make bench)
import sections  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_OUTBOUND_CONNECTIONS", "20"))
ROOT = Path(__file__).resolve().parents[2]

CONFIG = """apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: echo}}
spec:
  http: {{uriTemplate: "http://127.0.0.1:{backend}/echo", method: post}}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: file-overwrite}}
spec:
  file: {{directory: "{out}", fileName: 'order-${{payload.kind}}.json'}}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: file-append}}
spec:
  file: {{directory: "{out}", fileName: journal.jsonl, mode: append, appendNewline: true}}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {{name: mail}}
spec:
  smtp: {{host: 127.0.0.1, port: {smtp}, security: none, from: bench@example.org,
         to: sink@example.org, subject: 'order ${{payload.kind}}'}}
  timeout: {{duration: 10000}}
"""

API = """---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {{name: {name}}}
spec:
  context: /{name}
  resources:
    - methods: [POST]
      inSequence:
        - call: {{endpoint: {{key: {name}}}}}
        - property: {{name: HTTP_SC, scope: axis2, value: "202"}}
        - payloadFactory: {{mediaType: json, format: '{{"done": true}}'}}
        - respond: {{}}
"""

SCENARIOS = [("HTTP call to the echo backend", "echo"),
             ("file, overwrite (atomic: temp + fsync + rename)", "file-overwrite"),
             ("file, append (a line + fsync)", "file-append"),
             ("SMTP, one session per email (aiosmtpd)", "mail")]


def start_smtp():
    if subprocess.run(["python3", "-c", "import aiosmtpd"], capture_output=True).returncode:
        return None, None
    proc = subprocess.Popen(["taskset", "-c", run.LOAD_CPU, "python3",
                             str(ROOT / "tests/support/smtp_server.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("port "):
        raise RuntimeError(f"smtp_server.py said {line!r}")
    # Its per-email JSON lines are not read: drain them so the pipe never fills.
    subprocess.Popen(["cat"], stdin=proc.stdout, stdout=subprocess.DEVNULL)
    return proc, int(line.split()[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-outbound-") as t:
        tmp = Path(t)
        backend, backend_port = run.start_backend(args.backend)
        smtp, smtp_port = start_smtp()
        conf = tmp / "conf"
        conf.mkdir()
        names = [n for _, n in SCENARIOS if n != "mail" or smtp]
        text = CONFIG.format(backend=backend_port, out=tmp / "out", smtp=smtp_port or 25)
        text += "".join(API.format(name=n) for n in names)
        (conf / "config.yaml").write_text(text)
        ports = tmp / "ports.json"
        cmd = ["taskset", "-c", run.PROXY_CPU, str(args.ferry), "run", str(conf), "--host",
               "127.0.0.1", "--http-port", "0", "--admin-port", "0", "--ports-file",
               str(ports), "--no-watch"]
        proc, http, _ = run.launch_ferry(cmd, tmp / "ferry.log", ports)
        script = tmp / "post.lua"
        script.write_text(run.WRK_SCRIPT)
        body = tmp / "body.json"
        body.write_bytes(run.json_body(1024))
        saved = run.CONNECTIONS
        run.CONNECTIONS = CONNECTIONS
        try:
            for label, name in SCENARIOS:
                if name not in names:
                    rows.append((label, None))
                    continue
                r = run.run_wrk(script, body, f"http://127.0.0.1:{http}/{name}", SECONDS)
                rows.append((label, r))
        finally:
            run.CONNECTIONS = saved
            run.stop(proc)
            run.stop(backend)
            if smtp:
                smtp.stdin.close()
                run.stop(smtp)
    reference = None
    lines = [
        "## Outbound endpoints: file and SMTP beside an HTTP call",
        "",
        f"`make bench-outbound` (`tests/bench/outbound.py`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"wrk, {CONNECTIONS} connections, {SECONDS} s each, 1 KiB JSON POSTed to an API whose `call` "
        "goes to the endpoint and answers once it completed. Ferry on CPU " + run.PROXY_CPU
        + ", wrk, the backend and the SMTP server on CPU " + run.LOAD_CPU + ".",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | errors | vs the HTTP call |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows:
        if r is None:
            lines.append(f"| {label} | skipped: aiosmtpd is not installed | | | | |")
            continue
        rps = r["requests"] / (r["duration_us"] / 1e6)
        reference = reference or rps
        errors = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
        lines.append(f"| {label} | {rps:,.0f} | {r['p50_us'] / 1000:.1f} | "
                     f"{r['p99_us'] / 1000:.1f} | {errors} | {rps / reference:.2f}× |")
    out = "\n".join(lines) + "\n"
    print(out)
    if args.out:
        sections.replace(args.out, "outbound", "`make bench-outbound`", out)


if __name__ == "__main__":
    main()

"""File inbound throughput, local folder beside an SFTP folder (`make bench-files`).

One scenario, run twice in the same run on the same machine: N small JSON files (default
10,000, `BENCH_FILES`) are taken by a file inbound endpoint (`content: json`, one message
per file), each POSTed to the echo backend, and the file deleted after. Once from a local
folder, once from the same kind of folder on an SFTP server the bench starts itself
(Debian's OpenSSH server on a free port of 127.0.0.1, its own config, host key and client
key in a temporary folder; `apt-get install openssh-server`). Ferry's time runs from its
start with every file in place to the management API counting N succeeded.

Writes its section of docs/benchmarks.md (`--out`).
"""

import argparse
import json
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

FILES = int(os.environ.get("BENCH_FILES", "10000"))

INBOUND = inbound.TO_BACKEND + """apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata: {{name: bench-files}}
spec:
  protocol: file
  sequence: to-backend
  file:
    directory: {directory}
{server}    interval: 200
    stableFor: 100
    content: json
    actionAfterProcess: delete
    actionAfterFailure: delete
"""


def start_sshd(tmp):
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists():
        raise SystemExit("sshd is missing: apt-get install openssh-server")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / name)],
                       check=True)
    shutil.copy(tmp / "client.pub", tmp / "authorized_keys")
    port = run.free_port()
    (tmp / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host'}\n"
        f"PidFile {tmp / 'sshd.pid'}\nAuthorizedKeysFile {tmp / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "Subsystem sftp internal-sftp\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(tmp / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    inbound.wait_listening(port, "sshd")
    return proc, port


def make_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(FILES):
        (folder / f"f{n:06}.json").write_text(json.dumps({"n": n, "item": "x" * 200}))
    # Old enough for stableFor at once (the SFTP poller still waits for a second poll).
    past = time.time() - 60
    for p in folder.iterdir():
        os.utime(p, (past, past))


def ferry_files(ferry, name, directory, server, backend_port, tmp):
    start = time.monotonic()
    proc, _, admin = inbound.launch_ferry(ferry, f"{name}-conf", INBOUND.format(
        port=backend_port, directory=directory, server=server), tmp)
    try:
        state = inbound.wait_settled(admin, "bench-files", FILES, tmp / f"{name}-conf.log")
        seconds = time.monotonic() - start
    finally:
        run.stop(proc)
    return {"files": FILES, "seconds": seconds, "failed": state["failed"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferry", required=True, type=Path)
    ap.add_argument("--backend", required=True, type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-bench-files-") as t:
        tmp = Path(t)
        sshd, sshd_port = start_sshd(tmp)
        backend, backend_port = run.start_backend(args.backend)
        try:
            make_files(tmp / "local")
            local = ferry_files(args.ferry, "local", tmp / "local", "", backend_port, tmp)
            make_files(tmp / "remote")
            user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
            server = (f"    server: {{protocol: sftp, host: 127.0.0.1, port: {sshd_port}, "
                      f"user: {user}, privateKeyFile: {tmp / 'client'}}}\n")
            sftp = ferry_files(args.ferry, "sftp", tmp / "remote", server, backend_port, tmp)
        finally:
            run.stop(backend)
            run.stop(sshd)
    def rate(r):
        return inbound.rate(r, "files")

    lines = [
        "## File inbound: local folder and SFTP",
        "",
        f"`make bench-files` (`tests/bench/files.py`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{FILES:,} JSON files of about 220 bytes, one message each, POSTed to the echo backend "
        "and deleted after; once from a local folder, once from an OpenSSH SFTP server on "
        "127.0.0.1 (one session per poll). Time from Ferry's start to the last file settled. "
        "Ferry on CPU " + run.PROXY_CPU + ", the backend and sshd on CPU " + run.LOAD_CPU + ".",
        "",
        "| folder | files | seconds | files/s | failed |",
        "|---|---:|---:|---:|---:|",
        f"| local | {local['files']:,} | {local['seconds']:.1f} | {rate(local):,.0f} | {local['failed']} |",
        f"| SFTP | {sftp['files']:,} | {sftp['seconds']:.1f} | {rate(sftp):,.0f} | {sftp['failed']} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        sections.replace(args.out, "files", "`make bench-files`", text)


if __name__ == "__main__":
    main()

"""SSH through Portal: bulk transfer and keystroke echo, next to direct loopback TCP.

Usage: .venv/bin/python bench/ssh.py [--megabytes 256] [--echo-rounds 1000]

Same setup as bench/relay.py (a sandbox of its own: database, Redis, temporary directory; a
uvicorn serving Portal as `portal server` does, a real agent process): then
- upload: `portal ssh WS -- 'cat >/dev/null'` and OpenSSH (`ssh -o ProxyCommand='portal ssh
  --stdio WS'`) fed a file of --megabytes, MB/s;
- download: `portal ssh WS -- 'head -c N /dev/zero'` into /dev/null, MB/s;
- upload again through replica B while the agent is connected to A (a relay link between them);
- keystroke echo: one byte typed into an interactive `portal ssh WS` (a PTY at both ends) until
  the remote terminal's echo of it comes back, p50 / p95.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

import portal_setup  # noqa: E402 - database, server and agent set-up
import relay  # noqa: E402 - the loopback sink
from harness import report  # noqa: E402

REPO = portal_setup.REPO


def timed(argv: list[str], env: dict, stdin=None, stdout=subprocess.DEVNULL) -> float:
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"{argv[:4]} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def direct_mbps(path: Path) -> float:
    """The loopback baseline: the same file through a local TCP socket into a sink."""
    port = portal_setup.free_port()
    relay.sink_server(port)
    size = path.stat().st_size
    with socket_to(port) as conn, path.open("rb") as f:
        began = time.perf_counter()
        conn.sendfile(f)
        conn.shutdown(1)
        conn.recv(1)
        return size / (time.perf_counter() - began) / 1e6


def socket_to(port: int):
    import socket

    return socket.create_connection(("127.0.0.1", port))


def keystroke_echo(env: dict, workspace: str, rounds: int) -> tuple[float, float]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: an interactive `portal ssh` on a terminal
        os.execve(sys.executable, [sys.executable, "-m", "portal", "ssh", workspace], env)
    try:
        _read_until(fd, b"$ ", b"# ")
        os.write(fd, b"stty -icanon; export PS1=''\n")  # every key echoes at once
        time.sleep(1.0)
        _drain(fd)
        times = []
        for i in range(rounds):
            key = b"abcdefghij"[i % 10 : i % 10 + 1]
            began = time.perf_counter()
            os.write(fd, key)
            _read_until(fd, key)
            times.append(time.perf_counter() - began)
            if i % 50 == 49:
                os.write(fd, b"\x15")  # Ctrl-U: keep the line short
                time.sleep(0.05)
                _drain(fd)
        os.write(fd, b"\nexit\n")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    q = statistics.quantiles(times, n=100)
    return q[49] * 1000, q[94] * 1000


def _read_until(fd: int, *markers: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while not any(m in seen for m in markers):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            sys.exit(f"no {markers!r} from portal ssh; saw {seen[-200:]!r}")
        seen += os.read(fd, 65536)
    return seen


def _drain(fd: int) -> None:
    while select.select([fd], [], [], 0.05)[0]:
        os.read(fd, 65536)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--echo-rounds", type=int, default=1000)
    args = parser.parse_args()
    with portal_setup.portal_with_agent("ssh") as (urls, user_token, workspace):
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}} | {
            "PORTAL_URL": urls[0],
            "PORTAL_SESSION_TOKEN": user_token,
            "TERM": "xterm",
        }
        # Replica B: the agent is connected to A, so the SSH stream crosses a relay link.
        env_b = {**env, "PORTAL_URL": urls[1]}
        size = args.megabytes * 1024 * 1024
        with tempfile.NamedTemporaryFile(
            dir="/dev/shm" if os.path.isdir("/dev/shm") else None
        ) as f:
            f.write(os.urandom(1024 * 1024) * args.megabytes)
            f.flush()
            path = Path(f.name)
            base = direct_mbps(path)
            portal = [sys.executable, "-m", "portal", "ssh", workspace, "--"]
            ssh_warm = timed([*portal, "true"], env)
            with path.open("rb") as stdin:
                up = size / timed([*portal, "cat >/dev/null"], env, stdin=stdin) / 1e6
            down = size / timed([*portal, f"head -c {size} /dev/zero"], env) / 1e6
            with path.open("rb") as stdin:
                up_b = size / timed([*portal, "cat >/dev/null"], env_b, stdin=stdin) / 1e6
            proxy = f"{sys.executable} -m portal ssh --stdio {workspace}"
            openssh = [
                "ssh", "-o", f"ProxyCommand={proxy}", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-c", "aes128-gcm@openssh.com", "portal.bench",
            ]  # fmt: skip
            env_ssh = {**env, "PYTHONPATH": str(REPO)}
            with path.open("rb") as stdin:
                up_openssh = size / timed([*openssh, "cat >/dev/null"], env_ssh, stdin=stdin) / 1e6
        e50, e95 = keystroke_echo(env, workspace, args.echo_rounds)
    print(f"SSH bulk transfer of {args.megabytes} MB (one replica unless said)")
    report("ssh", "direct loopback TCP", round(base), "MB/s")
    report("ssh", "portal ssh upload", round(up), "MB/s")
    report("ssh", "portal ssh upload, share", round(up / base, 3), "x",
           baseline="direct loopback TCP")  # fmt: skip
    report("ssh", "portal ssh download", round(down), "MB/s")
    report("ssh", "OpenSSH via --stdio upload", round(up_openssh), "MB/s")
    report("ssh", "portal ssh upload, across replicas", round(up_b), "MB/s")
    report(
        "ssh", "portal ssh -- true round trip (CLI start included)", round(ssh_warm * 1000), "ms"
    )
    report("ssh", "keystroke echo p50", round(e50, 2), "ms")
    report("ssh", "keystroke echo p95", round(e95, 2), "ms")


if __name__ == "__main__":
    main()

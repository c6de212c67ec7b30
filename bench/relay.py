"""Port-forward throughput through Portal vs direct loopback TCP, on one and across two replicas.

Usage: .venv/bin/python bench/relay.py [--megabytes 512] [--echo-rounds 2000]

Starts, in a sandbox of its own (bench/harness.py: database, Redis, temporary directory), a
uvicorn serving Portal the way `portal server` does, a real agent process (`python -m
portal_agent`) for a workspace created in the database, and `portal port-forward`; then pushes
bytes through the forward to a sink in the "workspace" and measures MB/s, and a one-byte echo
round trip. The same against the sink directly gives the loopback baseline. "Across replicas": a
second uvicorn (replica B) on the same database and Redis, and a second `portal port-forward`
against B while the agent stays connected to A, so every stream crosses the relay link
(workspaces/connectivity/relay_link.py).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import report  # noqa: E402
from portal_setup import free_port, portal_with_agent, wait_port  # noqa: E402

CHUNK = 256 * 1024


def sink_server(port: int) -> None:
    """The workspace's service: swallows bytes, echoes single bytes back."""
    srv = socket.create_server(("127.0.0.1", port))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(CHUNK):
                if len(data) == 1:
                    conn.sendall(data)

    def accept() -> None:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def throughput(port: int, megabytes: int) -> float:
    payload = os.urandom(CHUNK)
    total = megabytes * 1024 * 1024
    with socket.create_connection(("127.0.0.1", port)) as conn:
        began = time.perf_counter()
        sent = 0
        while sent < total:
            conn.sendall(payload)
            sent += len(payload)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)  # the far side closing tells us everything arrived
        return total / (time.perf_counter() - began) / 1e6


def echo_rtt(port: int, rounds: int) -> tuple[float, float]:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(rounds):
            began = time.perf_counter()
            conn.sendall(b"x")
            conn.recv(1)
            times.append(time.perf_counter() - began)
    q = statistics.quantiles(times, n=100)
    return q[49] * 1000, q[94] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--echo-rounds", type=int, default=2000)
    args = parser.parse_args()
    sink_port = free_port()
    sink_server(sink_port)
    with portal_with_agent("relay") as (urls, user_token, workspace):
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        local, across = free_port(), free_port()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "portal", "port-forward", workspace,
                 "--tcp", f"{port}:{sink_port}"],
                env={**env, "PORTAL_URL": url, "PORTAL_SESSION_TOKEN": user_token},
                stdout=subprocess.DEVNULL,
            )  # the second against replica B: every stream crosses the relay link
            for port, url in ((local, urls[0]), (across, urls[1]))
        ]  # fmt: skip
        try:
            _measure(args, sink_port, local, across)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)


def _measure(args, sink_port: int, local: int, across: int) -> None:
    wait_port(local)
    wait_port(across)
    direct = throughput(sink_port, args.megabytes)
    forwarded = throughput(local, args.megabytes)
    crossed = throughput(across, args.megabytes)
    d50, d95 = echo_rtt(sink_port, args.echo_rounds)
    f50, f95 = echo_rtt(local, args.echo_rounds)
    c50, c95 = echo_rtt(across, args.echo_rounds)
    print(f"bulk transfer of {args.megabytes} MB; one-byte echo, {args.echo_rounds} rounds")
    report("relay", "direct loopback TCP", round(direct), "MB/s")
    report("relay", "port-forward, one replica", round(forwarded), "MB/s")
    report("relay", "port-forward, one replica, share", round(forwarded / direct, 3), "x",
           baseline="direct loopback TCP")  # fmt: skip
    report("relay", "port-forward, across replicas", round(crossed), "MB/s")
    report("relay", "port-forward, across replicas, share", round(crossed / direct, 3), "x",
           baseline="direct loopback TCP")  # fmt: skip
    for label, (p50, p95) in (
        ("direct loopback TCP", (d50, d95)),
        ("port-forward, one replica", (f50, f95)),
        ("port-forward, across replicas", (c50, c95)),
    ):
        report("relay", f"echo p50, {label}", round(p50, 3), "ms")
        report("relay", f"echo p95, {label}", round(p95, 3), "ms")


if __name__ == "__main__":
    main()

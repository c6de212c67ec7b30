"""Port-forward throughput through Portal vs direct loopback TCP, on one and across two replicas.

Usage: .venv/bin/python bench/relay.py [--megabytes 512] [--echo-rounds 2000]

Starts its own database (portal_bench_relay, recreated), a uvicorn serving Portal the way
`portal server` does, a real agent process (`python -m portal.agent`) for a workspace created
in the database, and `portal port-forward`; then pushes bytes through the forward to a sink
in the "workspace" and measures MB/s, and a one-byte echo round trip. The same against the
sink directly gives the loopback baseline. "Across replicas": a second uvicorn (replica B) on
the same database and Redis, and a second `portal port-forward` against B while the agent stays
connected to A, so every stream crosses the relay link (workspaces/relay_link.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DB_SERVER = os.environ.get("PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
DB_URL = f"{DB_SERVER.rstrip('/')}/portal_bench_relay"
REDIS_URL = os.environ.get("PORTAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
DATA_DIR = Path(tempfile.mkdtemp(prefix="portal-bench-relay-"))
CHUNK = 256 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup() -> None:
    os.environ.update(
        PORTAL_DATABASE_URL=DB_URL,
        PORTAL_REDIS_URL=REDIS_URL,
        PORTAL_DATA_DIR=str(DATA_DIR),
        PORTAL_SECRET_KEY="bench-relay-secret-key-not-for-production-0123456789",
        PORTAL_STARTER_TEMPLATE="false",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    for sql in ("DROP DATABASE IF EXISTS portal_bench_relay", "CREATE DATABASE portal_bench_relay"):
        subprocess.run(["psql", DB_SERVER + "/postgres", "-qc", sql], check=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


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


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"nothing listens on {port}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--echo-rounds", type=int, default=2000)
    args = parser.parse_args()
    setup()

    from portal.accounts.services import create_token, create_user, system_actor
    from tests.agents.helpers import make_agent

    owner = create_user(
        actor=system_actor(),
        username="bench",
        email="bench@example.com",
        password="bench-password-123456",
        roles=["member"],
    )
    agent = make_agent(owner, token="bench-agent-token")
    _, user_token = create_token(owner, actor=owner, name="bench")
    web_port, sink_port = free_port(), free_port()
    url = f"http://127.0.0.1:{web_port}"
    sink_server(sink_port)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    replica_port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port),
             "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
             "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
            cwd=REPO, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        )
        for port in (web_port, replica_port)
    ]  # fmt: skip
    try:
        wait_port(web_port)
        wait_port(replica_port)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "portal.agent"],
                env={**env, "PORTAL_AGENT_URL": url, "PORTAL_AGENT_TOKEN": "bench-agent-token"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        agent.refresh_from_db()
        deadline = time.monotonic() + 30
        while agent.last_connected_at is None:
            if time.monotonic() > deadline:
                sys.exit("the agent did not connect")
            time.sleep(0.2)
            agent.refresh_from_db()
        local = free_port()
        workspace = agent.resource.job.build.workspace.name
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "portal", "port-forward", workspace,
                 "--tcp", f"{local}:{sink_port}"],
                env={**env, "PORTAL_URL": url, "PORTAL_SESSION_TOKEN": user_token},
                stdout=subprocess.DEVNULL,
            )
        )  # fmt: skip
        across = free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "portal", "port-forward", workspace,
                 "--tcp", f"{across}:{sink_port}"],
                env={**env, "PORTAL_URL": f"http://127.0.0.1:{replica_port}",
                     "PORTAL_SESSION_TOKEN": user_token},
                stdout=subprocess.DEVNULL,
            )
        )  # fmt: skip
        wait_port(local)
        wait_port(across)
        direct = throughput(sink_port, args.megabytes)
        forwarded = throughput(local, args.megabytes)
        crossed = throughput(across, args.megabytes)
        d50, d95 = echo_rtt(sink_port, args.echo_rounds)
        f50, f95 = echo_rtt(local, args.echo_rounds)
        c50, c95 = echo_rtt(across, args.echo_rounds)
        print(f"bulk transfer of {args.megabytes} MB")
        print(f"  direct loopback TCP                  {direct:8.0f} MB/s")
        print(
            f"  portal port-forward, one replica     {forwarded:8.0f} MB/s"
            f"  ({forwarded / direct:.0%} of direct)"
        )
        print(
            f"  portal port-forward, across replicas {crossed:8.0f} MB/s"
            f"  ({crossed / direct:.0%} of direct)"
        )
        print(f"one-byte echo, {args.echo_rounds} rounds: p50 / p95")
        print(f"  direct loopback TCP                  {d50:.3f} / {d95:.3f} ms")
        print(f"  portal port-forward, one replica     {f50:.3f} / {f95:.3f} ms")
        print(f"  portal port-forward, across replicas {c50:.3f} / {c95:.3f} ms")
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()

"""A Portal server with one connected agent, for the benchmarks: its own database, uvicorn as
`portal server` runs it, and a real agent process (`python -m portal_agent`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DB_SERVER = os.environ.get("PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"nothing listens on {port}")


def setup_database(name: str, redis_db: int) -> None:
    """Recreate database `name`, point this process's Django at it and migrate."""
    os.environ.update(
        PORTAL_DATABASE_URL=f"{DB_SERVER.rstrip('/')}/{name}",
        PORTAL_REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}",
        PORTAL_DATA_DIR=tempfile.mkdtemp(prefix=f"{name}-"),
        PORTAL_SECRET_KEY="bench-secret-key-not-for-production-0123456789",
        PORTAL_STARTER_TEMPLATE="false",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", DB_SERVER + "/postgres", "-qc", sql], check=True)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def uvicorn(port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--port", str(port),
         "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
         "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
        cwd=REPO, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
    )  # fmt: skip


@contextlib.contextmanager
def portal_with_agent(name: str, redis_db: int, replicas: int = 2):
    """([replica URLs], a user token, workspace name) with the workspace's agent connected to
    the first replica; streams opened on the others cross a relay link to it."""
    setup_database(name, redis_db)
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
    ports = [free_port() for _ in range(replicas)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    url = urls[0]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    procs = [uvicorn(port, env) for port in ports]
    try:
        for port in ports:
            wait_port(port)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "portal_agent"],
                env={**env, "PORTAL_AGENT_URL": url, "PORTAL_AGENT_TOKEN": "bench-agent-token"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 30
        agent.refresh_from_db()
        while agent.last_connected_at is None:
            if time.monotonic() > deadline:
                sys.exit("the agent did not connect")
            time.sleep(0.2)
            agent.refresh_from_db()
        yield urls, user_token, agent.resource.job.build.workspace.name
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

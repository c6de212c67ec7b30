"""Real server replicas (uvicorn as `portal server` runs it), a real agent, workspace services."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.1)


def base_env() -> dict[str, str]:
    """The environment of child processes: none of pytest's Django or Portal settings."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PORTAL_") and k not in {"DJANGO_SETTINGS_MODULE"}
    }


def database_url() -> str:
    """The URL of the test database (pytest-django's test_ copy), for other processes."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Replica:
    """One server process: uvicorn serving portal.asgi with its lifespan (the relay listener)."""

    def __init__(self, name: str, workers: int = 1, **env: str):
        self.name = name
        self.workers = workers
        self.extra_env = env  # PORTAL_* settings of this replica
        self.port = free_port()
        self.relay_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix=f"portal-replica-{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None
        self.uvicorn_args: list[str] = []  # more of uvicorn's options (e.g. TLS)

    def start(self) -> Replica:
        env = {
            **base_env(),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PORTAL_DATABASE_URL": database_url(),
            "PORTAL_REDIS_URL": settings.REDIS_URL,
            "PORTAL_SECRET_KEY": settings.SECRET_KEY,
            "PORTAL_DATA_DIR": tempfile.mkdtemp(prefix=f"portal-replica-{self.name}-"),
            "PORTAL_STARTER_TEMPLATE": "false",
            # Several workers: each takes an ephemeral port (the default).
            "PORTAL_RELAY_PORT": str(self.relay_port if self.workers == 1 else 0),
            **self.extra_env,
        }
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "portal.asgi:application",
                 "--port", str(self.port), "--ws", "websockets-sansio",
                 "--ws-per-message-deflate", "false", "--log-level", "warning",
                 "--timeout-graceful-shutdown", "2", "--workers", str(self.workers),
                 *self.uvicorn_args],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def wait_ready(self) -> Replica:
        # uvicorn listens once the lifespan startup (which starts the relay link) completed.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"replica {self.name} did not start:\n{self.output()}")
            time.sleep(0.1)
        if self.workers == 1:
            wait_port(self.relay_port)
        return self

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_agent(url: str, token: str) -> subprocess.Popen:
    """The real workspace agent (`python -m portal_agent`), dialing out to one replica."""
    return subprocess.Popen(
        [sys.executable, "-m", "portal_agent"],
        cwd=REPO,
        env={**base_env(), "PORTAL_AGENT_URL": url, "PORTAL_AGENT_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_connected(agent, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    agent.refresh_from_db()
    while agent.last_connected_at is None:
        assert time.monotonic() < deadline, "the agent did not connect"
        time.sleep(0.1)
        agent.refresh_from_db()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Service:
    """A TCP server on 127.0.0.1 (the workspace's service), one thread per connection."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.server.close()


class EchoService(_Service):
    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(256 * 1024):
                conn.sendall(data)


class SourceService(_Service):
    """Sends `total` bytes (a repeated random block) to whoever connects; counts what it sent."""

    BLOCK = 1024 * 1024

    def __init__(self, total: int):
        self.total = total
        self.block = os.urandom(self.BLOCK)
        self.sent = 0
        super().__init__()

    def digest(self) -> str:
        h = hashlib.sha256()
        for _ in range(self.total // self.BLOCK):
            h.update(self.block)
        return h.hexdigest()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
            view = memoryview(self.block)
            for _ in range(self.total // self.BLOCK):
                for i in range(0, self.BLOCK, 64 * 1024):
                    conn.sendall(view[i : i + 64 * 1024])
                    self.sent += 64 * 1024
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)

    def wait_stalled(self, quiet: float = 1.5, timeout: float = 120) -> int:
        """What it had sent once sending stopped progressing (the pipeline is full)."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            if self.sent != last:
                last, since = self.sent, time.monotonic()
            elif time.monotonic() - since >= quiet or self.sent >= self.total:
                return self.sent
            time.sleep(0.1)
        return self.sent

"""A high-availability deployment on loopback: `portal server` replicas behind a real HAProxy.

Each replica is a real `python -m portal server` (web process, relay link listener, embedded
Celery worker, candidate for the periodic work) on the shared PostgreSQL and Redis, with its own
data directory, HTTP port and relay port. HAProxy (Debian's /usr/sbin/haproxy) is started with a
configuration written to a temporary directory, health-checks the replicas and retries a refused
connection on another one. Everything is stopped by pid. Used by tests/ha and bench/failover.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
START_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, what: str, timeout: float, every: float = 0.1):
    """check()'s first truthy result; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def base_env() -> dict[str, str]:
    """Child processes' environment: none of the caller's Portal or Django settings."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PORTAL_") and k not in {"DJANGO_SETTINGS_MODULE", "PYTHONUNBUFFERED"}
    }


class ServerReplica:
    """One `portal server` process tree; its output collected line by line."""

    def __init__(self, name: str, *, database_url: str, redis_url: str, secret_key: str, **env):
        self.name = name
        self.port = free_port()
        self.relay_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"portal-ha-{name}-"))
        self.env = {
            **base_env(),
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_REDIS_URL": redis_url,
            "PORTAL_SECRET_KEY": secret_key,
            "PORTAL_DATA_DIR": str(self.data_dir),
            "PORTAL_HTTP_ADDRESS": f"127.0.0.1:{self.port}",
            "PORTAL_RELAY_PORT": str(self.relay_port),
            "PORTAL_STARTER_TEMPLATE": "false",
            "PORTAL_KEEP_WORKSPACES_ON_EXIT": "true",
            "PORTAL_LOG_LEVEL": "WARNING",
            **env,
        }
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.killed = False

    def start(self) -> ServerReplica:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal", "server"],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a Ctrl-C of the test run is ours to pass on, in order
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> ServerReplica:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"replica {self.name} exited:\n{self.output()[-6000:]}")
            return "Press Ctrl-C to stop." in self.output()

        try:
            wait_until(ready, f"replica {self.name} to start", timeout, every=0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.output()[-6000:]}") from None
        return self

    def pids(self) -> set[int]:
        """The supervisor and every descendant (web process, Celery worker, ...)."""
        if self.proc is None:
            return set()
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.proc.pid)
            return {root.pid, *(p.pid for p in root.children(recursive=True))}
        return set()

    def kill9(self) -> None:
        """The host is gone: SIGKILL to the whole tree at once, no graceful anything."""
        self.killed = True
        procs = []
        for pid in self.pids():
            with contextlib.suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(pid))
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        with contextlib.suppress(Exception):
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            return
        tree = [psutil.Process(pid) for pid in self.pids() if psutil.pid_exists(pid)]
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for proc in psutil.wait_procs(tree, timeout=10)[1]:  # children still alive: kill them
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)


HAPROXY_CONFIG = """\
global
    maxconn 2000

defaults
    mode http
    timeout connect 1s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    # A refused connection (a dead replica not yet marked down) is retried on another.
    retries 3
    option redispatch 1
    option http-server-close

frontend portal
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /api/v2/buildinfo
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 1
{servers}
"""


class HAProxy:
    """Debian's HAProxy in the foreground on a free port, in front of `replicas`."""

    def __init__(self, replicas: list[ServerReplica]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.name = "haproxy"
        self.dir = Path(tempfile.mkdtemp(prefix="portal-ha-haproxy-"))
        servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port} check" for r in replicas)
        self.config = self.dir / "haproxy.cfg"
        self.config.write_text(HAPROXY_CONFIG.format(port=self.port, servers=servers))
        self.log = self.dir / "haproxy.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> HAProxy:
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"haproxy exited:\n{self.log.read_text()}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            return False

        wait_until(listening, "haproxy to listen", 30)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_agent(url: str, token: str) -> subprocess.Popen:
    """The real workspace agent (`python -m portal_agent`), dialing the load balancer."""
    return subprocess.Popen(
        [sys.executable, "-m", "portal_agent"],
        cwd=REPO,
        env={**base_env(), "PORTAL_AGENT_URL": url, "PORTAL_AGENT_TOKEN": token},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_process(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def portal_cli(url: str, token: str, *args: str, timeout: float = 60):
    """The real `portal` CLI against `url`."""
    return subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=REPO,
        env={**base_env(), "PORTAL_URL": url, "PORTAL_SESSION_TOKEN": token},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Load:
    """Threads sending API requests through the load balancer; each result is recorded."""

    def __init__(self, url: str, token: str, threads: int = 3, path: str = "/api/v2/users/me"):
        import httpx

        self.clients = [
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            for _ in range(threads)
        ]
        self.path = path
        self.results: list[tuple[float, float, str]] = []  # (start, end, "ok" or why not)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(c,), daemon=True) for c in self.clients
        ]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, client) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                r = client.get(self.path)
                outcome = "ok" if r.status_code == 200 else f"HTTP {r.status_code}"
            except Exception as exc:  # noqa: BLE001 - a failed request is a figure
                outcome = f"{type(exc).__name__}: {exc}"
            self.results.append((started, time.monotonic(), outcome))
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        for client in self.clients:
            client.close()

    def failed(self) -> list[tuple[float, float, str]]:
        return [r for r in self.results if r[2] != "ok"]

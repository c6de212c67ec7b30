"""A real `portal server` on the embedded default, run as a subprocess and watched from outside."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]
PORTS = range(18100, 18200)  # the range these tests may bind
START_TIMEOUT = 180  # a first start runs initdb and every migration
_used_ports: set[int] = set()


def free_port() -> int:
    for port in PORTS:
        if port in _used_ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port in 18100-18199")


def portal_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a newcomer: no PORTAL_* settings (so everything is embedded)."""
    env = {
        k: v
        for k, v in os.environ.items()
        # DJANGO_SETTINGS_MODULE is pytest-django's tests.settings, which would reconfigure us.
        if not k.startswith("PORTAL_") and k not in {"DJANGO_SETTINGS_MODULE", "PYTHONUNBUFFERED"}
    }
    env["PORTAL_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


class ServerProcess:
    """`python -m portal server` with its combined output collected line by line."""

    def __init__(self, data_dir: Path, **env: str):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = portal_env(data_dir, PORTAL_HTTP_ADDRESS=f"127.0.0.1:{self.port}", **env)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal", "server"],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # signals come from the test only
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> bool:
        """True once `text` appears in the output; False if the output ends first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while text not in "\n".join(self.lines):
                if not self._reader.is_alive() or time.monotonic() > deadline:
                    return False
                self._changed.wait(0.2)
        return True

    def wait_ready(self) -> ServerProcess:
        if not self.wait_for("Press Ctrl-C to stop."):  # the last line of the banner
            raise AssertionError(f"portal server did not become ready:\n{self.output}")
        return self

    def wait_exit(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)  # the rest of the output
        return code

    def first_user_password(self) -> str | None:
        match = re.search(r"^\s*password: (\S+)$", self.output, re.MULTILINE)
        return match.group(1) if match else None

    def processes(self) -> list[psutil.Process]:
        """The supervisor's descendants (postgres, redis, uvicorn, worker, beat ...)."""
        return psutil.Process(self.proc.pid).children(recursive=True)

    def commands(self) -> str:
        """The command lines of the descendants, for asserting which processes run."""
        lines = []
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):  # a short-lived postgres backend
                lines.append(" ".join(proc.cmdline()))
        return "\n".join(lines)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        """Teardown: Ctrl-C, and SIGKILL if that does not work."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (zombies waiting for init to reap them count as gone)."""
    left = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
        except psutil.NoSuchProcess:
            pass
    return left


def mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line contains `text` (e.g. the data directory); their name,
    user, executable, command line and status are read once, in `.info` (a short-lived one
    may be gone later)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status", "name", "username", "exe"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
            continue
        if text in " ".join(proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def wait_gone(processes: list[psutil.Process], timeout: float = 30) -> list[psutil.Process]:
    """Wait for the processes to end; those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := alive(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def login(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v2/users/login", json={"login": username, "password": password}, timeout=30
    )


def me(url: str, token: str) -> dict:
    r = httpx.get(f"{url}/api/v2/users/me", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return r.json()

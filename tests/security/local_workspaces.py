"""A real `portal server` on the embedded default with real `local` workspaces and their agents.

For the tests of the `local` template's apps and of what its workspaces leave behind: the server
is tests.e2e.server_process's, its workspaces are built by real Terraform, their agents are the
bundle the server serves, running as host processes.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from tests.e2e.server_process import ServerProcess, login, mentioning, portal_env

OWNER = {
    "PORTAL_FIRST_USER_USERNAME": "dev",
    "PORTAL_FIRST_USER_EMAIL": "dev@example.com",
    "PORTAL_FIRST_USER_PASSWORD": "a-long-enough-passphrase-42",
}
WAIT = 180  # seconds: a generous bound on every wait, never asserted as speed
MARKER = "PORTAL_LOCAL_WORKSPACE_DIR"  # what the template gives every process of a workspace


class Deployment:
    """One server in a private temporary directory, signed in as its first owner."""

    def __init__(self, prefix: str, **env: str):
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.data_dir = self.root / "data"
        self.home = self.root / "home"
        self.home.mkdir()
        self.server = ServerProcess(self.data_dir, **OWNER, **env)
        # Off the e2e range (18100-18199), which parallel test runs walk from its bottom.
        port = private_port()
        self.server.port, self.server.url = port, f"http://127.0.0.1:{port}"
        self.server.env["PORTAL_HTTP_ADDRESS"] = f"127.0.0.1:{port}"
        self.token = ""

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> Deployment:
        self.server.start().wait_ready()
        r = login(
            self.url, OWNER["PORTAL_FIRST_USER_USERNAME"], OWNER["PORTAL_FIRST_USER_PASSWORD"]
        )
        assert r.status_code == 201, r.text
        self.token = r.json()["session_token"]
        return self

    def portal(self, *args: str) -> subprocess.CompletedProcess:
        env = {
            **portal_env(self.data_dir),
            "PORTAL_URL": self.url,
            "PORTAL_SESSION_TOKEN": self.token,
            "HOME": str(self.home),
        }
        return subprocess.run(
            [sys.executable, "-m", "portal", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    def workspace(self, name: str) -> dict:
        r = self.get(f"/api/v2/users/me/workspace/{name}")
        r.raise_for_status()
        return r.json()

    def agent(self, name: str) -> dict:
        return next(a for r in self.workspace(name)["resources"] for a in r["agents"])

    def app(self, name: str, slug: str) -> dict:
        return next(a for a in self.agent(name)["apps"] if a["slug"] == slug)

    def create(self, *names: str, template: str = "local") -> None:
        """Build the workspaces at the same time; return once each agent is ready."""
        builds = [
            subprocess.Popen(
                [sys.executable, "-m", "portal", "create", name, "--template", template, "--yes"],
                env={
                    **portal_env(self.data_dir),
                    "PORTAL_URL": self.url,
                    "PORTAL_SESSION_TOKEN": self.token,
                    "HOME": str(self.home),
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name in names
        ]
        for build in builds:
            output, _ = build.communicate(timeout=600)
            assert build.returncode == 0, output
        for name in names:
            wait_for(lambda n=name: self.agent(n)["lifecycle_state"] == "ready", f"{name} ready")

    def workspace_dir(self, name: str) -> Path:
        [found] = self.data_dir.rglob(f"workspaces/{self.workspace(name)['id']}")
        return found

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.server.stop()
        # Whatever a failing test left running: the workspaces' agents and preview servers.
        for proc in [*mentioning(str(self.root)), *marked_processes(self.root)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def private_port() -> int:
    for _ in range(200):
        port = random.randrange(30000, 32700)  # below Linux's ephemeral ports (32768-)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in 30000-32699")


def wait_for(check, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.5)
    return result


def marked_processes(inside: Path) -> list[psutil.Process]:
    """Live processes of the `local` workspaces under `inside`: the agent and all it started."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            value = proc.environ().get(MARKER, "")
            if value.startswith(str(inside)) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
    return left


def describe(processes: list[psutil.Process]) -> list[str]:
    out = []
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            out.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
    return out

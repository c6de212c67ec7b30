"""A fake Portal control endpoint (the server side of the agent protocol) for agent tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

TOKEN = "agent-secret-token-0123456789"
REPO = Path(__file__).resolve().parents[2]


class FakeServer:
    """Records every message agents send; answers hello with the manifest and ping with pong."""

    def __init__(
        self, manifest: dict | None = None, *, reject: bool = False, reject_http: bool = False
    ):
        self.manifest = {
            "type": "manifest",
            "agent_id": "6d8f4f6e-0000-4000-8000-000000000001",
            "name": "main",
            "workspace_id": "6d8f4f6e-0000-4000-8000-000000000002",
            "workspace_name": "ws",
            "owner_name": "alice",
            "directory": "",
            "env": {},
            "startup_script": "",
            "scripts": [],
            "apps": [],
            **(manifest or {}),
        }
        self.reject = reject
        self.reject_http = reject_http
        self.lifecycle_error = ""  # when set, every lifecycle message is answered with this error
        # What a gitsshkey request gets: {"public_key", "private_key"} or {"error"}.
        self.git_key: dict = {"error": "no git key in this test"}
        self.messages: list[tuple[int, dict]] = []  # (connection number, message)
        self.auth_headers: list[str | None] = []
        self.paths: list[str] = []
        self.port = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handler(self, ws) -> None:
        with self._lock:
            self._connections += 1
            number = self._connections
            self.auth_headers.append(ws.request.headers.get("Authorization"))
            self.paths.append(ws.request.path)
        if self.reject or ws.request.headers.get("Authorization") != f"Bearer {TOKEN}":
            await ws.close(4401, "invalid agent token")
            return
        with contextlib.suppress(ConnectionClosed):
            await self._serve(ws, number)

    async def _serve(self, ws, number: int) -> None:
        async for raw in ws:
            message = json.loads(raw)
            with self._lock:
                self.messages.append((number, message))
            if message.get("type") == "hello":
                await ws.send(json.dumps(self.manifest))
            elif message.get("type") == "lifecycle" and self.lifecycle_error:
                await ws.send(json.dumps({"type": "error", "message": self.lifecycle_error}))
            elif message.get("type") == "gitsshkey":
                answer = {"type": "gitsshkey", "id": message.get("id"), **self.git_key}
                await ws.send(json.dumps(answer))
            elif message.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong", "t": message["t"]}))

    def _process_request(self, ws, request):
        if self.reject_http:
            with self._lock:
                self.auth_headers.append(request.headers.get("Authorization"))
            # What a server refusing before the WebSocket accept sends.
            return ws.respond(403, "Forbidden\n")
        return None

    def start(self) -> FakeServer:
        ready = threading.Event()

        async def main():
            self._server = await serve(
                self._handler, "127.0.0.1", self.port, process_request=self._process_request
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            await self._server.wait_closed()

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(main())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(5), "fake server did not start"
        return self

    def stop(self) -> None:
        if self._loop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._server.close)
            self._thread.join(10)

    def restart(self) -> None:
        self.stop()
        self.start()  # same port: the agent must find the server again

    # -- what the agent sent --------------------------------------------------------------

    def of_type(self, kind: str) -> list[dict]:
        with self._lock:
            return [m for _, m in self.messages if m.get("type") == kind]

    def states(self) -> list[str]:
        return [m["state"] for m in self.of_type("lifecycle")]

    def logs(self) -> list[dict]:
        return [entry for m in self.of_type("logs") for entry in m["logs"]]

    def outputs(self, source: str | None = None) -> list[str]:
        return [e["output"] for e in self.logs() if source is None or e["source"] == source]

    def wait(self, predicate, timeout: float = 10, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; messages: {self.messages}")


def start_agent(
    url: str,
    tmp_path: Path,
    *,
    token: str = TOKEN,
    command=None,
    env: dict | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """The real agent as a separate process; its stderr goes to tmp_path/agent.log."""
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO),
        "PORTAL_AGENT_URL": url,
        "PORTAL_AGENT_TOKEN": token,
        **(env or {}),
    }
    (tmp_path / "home").mkdir(exist_ok=True)
    log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115 - the process owns it
    return subprocess.Popen(
        command or [sys.executable, "-m", "portal_agent"],
        env=full_env,
        cwd=cwd or tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_agent(proc: subprocess.Popen, timeout: float = 15) -> int:
    if proc.poll() is None:
        proc.terminate()
    return proc.wait(timeout)

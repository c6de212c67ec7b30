"""`portal port-forward` (a real process) against a fake server: lookup, relay, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parents[2]
TOKEN = "user-session-token-0123456789"
AGENT_ID = "11111111-2222-4333-8444-555555555555"
OTHER_AGENT_ID = "11111111-2222-4333-8444-666666666666"
WORKSPACE = {
    "id": "w1",
    "name": "dev",
    "owner_name": "alice",
    "resources": [
        {"name": "db", "agents": []},
        {
            "name": "main",
            "agents": [{"id": AGENT_ID, "name": "main"}, {"id": OTHER_AGENT_ID, "name": "side"}],
        },
    ],
}
ECHO, REFUSED, LOCAL_DOWN = 7000, 7409, 7002


class FakePortal:
    """The workspace lookup over HTTP and the client stream endpoint over WebSocket."""

    def __init__(self):
        self.streams: list[tuple[str, str, dict]] = []  # (agent id, auth header, query)
        self.lookups: list[str] = []
        self.port = 0
        self._loop = None

    def _process_request(self, ws, request):
        path = urllib.parse.urlsplit(request.path).path
        if not path.startswith("/api/v2/users/"):
            return None
        self.lookups.append(path)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json(ws, 401, {"message": "not authenticated"})
        if path == "/api/v2/users/me/workspace/dev":
            return self._json(ws, 200, WORKSPACE)
        return self._json(ws, 404, {"message": "workspace not found"})

    @staticmethod
    def _json(ws, status: int, body: dict):
        response = ws.respond(status, json.dumps(body))
        response.headers["Content-Type"] = "application/json"
        return response

    async def _handler(self, ws) -> None:
        parts = urllib.parse.urlsplit(ws.request.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        match = re.fullmatch(r"/api/v2/workspaceagents/([^/]+)/streams", parts.path)
        if not match:
            await ws.close(4404, "no such endpoint")
            return
        self.streams.append((match[1], ws.request.headers.get("Authorization"), query))
        port = int(query["port"])
        if port == REFUSED:
            await ws.close(4409, "port forwarding is not allowed by the browser-only policy")
        elif port == LOCAL_DOWN:
            message = {"type": "error", "message": f"cannot connect to 127.0.0.1:{port}: refused"}
            await ws.send(json.dumps(message))
            await ws.close()
        else:
            await self._echo(ws)

    async def _echo(self, ws) -> None:
        """What an agent in front of an echo server does: echo, then a last line after EOF."""
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, bytes):
                    await ws.send(message)
                elif json.loads(message).get("type") == "eof":
                    await ws.send(b"bye after eof\n")
                    await ws.send(json.dumps({"type": "eof"}))
            await ws.wait_closed()

    def start(self) -> FakePortal:
        ready = threading.Event()

        async def main():
            async with serve(
                self._handler, "127.0.0.1", 0, process_request=self._process_request
            ) as server:
                self._server = server
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await server.wait_closed()

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(main())

        threading.Thread(target=run, daemon=True).start()
        assert ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)


class Forward:
    """A running `portal port-forward` process and the local ports it announced."""

    def __init__(self, proc: subprocess.Popen, ports: dict[int, int]):
        self.proc = proc
        self.ports = ports  # remote -> local

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(15)
        return code, self.proc.stderr.read()


@pytest.fixture
def portal_server():
    server = FakePortal().start()
    yield server
    server.stop()


@pytest.fixture
def forward(portal_server, tmp_path):
    procs = []

    def start(*args: str) -> Forward:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update(
            HOME=str(tmp_path),
            XDG_CONFIG_HOME=str(tmp_path / "xdg"),
            PORTAL_URL=f"http://127.0.0.1:{portal_server.port}",
            PORTAL_SESSION_TOKEN=TOKEN,
            PYTHONUNBUFFERED="1",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "portal", "port-forward", *args],
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        wanted = sum(1 for a in args if a == "--tcp")
        ports = {}
        while len(ports) < wanted:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"port-forward exited: {proc.wait(5)} {proc.stderr.read()}")
            found = re.fullmatch(r"Forwarding 127\.0\.0\.1:(\d+) -> workspace:(\d+)\n", line)
            assert found, line
            ports[int(found[2])] = int(found[1])
        return Forward(proc, ports)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def exchange(port: int, payload: bytes) -> bytes:
    """Send payload, half-close, and read until the far side closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        sender = threading.Thread(target=lambda: (conn.sendall(payload), conn.shutdown(1)))
        sender.start()
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        sender.join()
        return received


def test_forwards_parallel_connections_with_half_close(forward, portal_server):
    fwd = forward("dev", "--tcp", f"0:{ECHO}")
    payloads = [os.urandom(200_000 + n) for n in range(10)]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda p: exchange(fwd.ports[ECHO], p), payloads))
    # All bytes came back, plus what the far side wrote after seeing our EOF.
    assert results == [p + b"bye after eof\n" for p in payloads]
    assert portal_server.lookups == ["/api/v2/users/me/workspace/dev"]
    assert len(portal_server.streams) == 10
    assert {s[0] for s in portal_server.streams} == {AGENT_ID}  # the first agent
    assert all(s[1] == f"Bearer {TOKEN}" for s in portal_server.streams)
    assert all(s[2] == {"kind": "tcp", "port": str(ECHO)} for s in portal_server.streams)
    code, stderr = fwd.stop()
    assert code == 0, stderr
    assert TOKEN not in stderr


def test_refusal_and_agent_side_error_are_reported(forward, portal_server):
    fwd = forward("dev", "--agent", "side", "--tcp", f"0:{REFUSED}", "--tcp", f"0:{LOCAL_DOWN}")
    for remote in (REFUSED, LOCAL_DOWN):
        with socket.create_connection(("127.0.0.1", fwd.ports[remote]), timeout=10) as conn:
            assert conn.recv(10) == b""  # the local connection is closed
    # Still listening after a refusal: the next connection gets a stream too.
    deadline = time.monotonic() + 5
    while len(portal_server.streams) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {s[0] for s in portal_server.streams} == {OTHER_AGENT_ID}
    code, stderr = fwd.stop()
    assert code == 0
    assert (
        f"error: workspace:{REFUSED}: port forwarding is not allowed by the browser-only policy "
        "(code 4409)" in stderr
    )
    assert f"error: workspace:{LOCAL_DOWN}: cannot connect to 127.0.0.1:{LOCAL_DOWN}" in stderr


def test_unknown_workspace_agent_or_mapping(forward, portal_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        HOME=str(tmp_path),
        PORTAL_URL=f"http://127.0.0.1:{portal_server.port}",
        PORTAL_SESSION_TOKEN=TOKEN,
    )

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "portal", "port-forward", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )

    result = run("nope", "--tcp", "0:80")
    assert result.returncode == 1 and "workspace not found" in result.stderr
    result = run("dev", "--agent", "ghost", "--tcp", "0:80")
    assert result.returncode == 1
    assert "has no agent named 'ghost' (agents: main, side)" in result.stderr
    result = run("dev", "--tcp", "eighty")
    assert result.returncode == 2 and "LOCAL:REMOTE" in result.stderr


def test_ctrl_c_with_an_open_connection_stops_cleanly(forward, portal_server):
    fwd = forward("dev", "--tcp", f"0:{ECHO}")
    with socket.create_connection(("127.0.0.1", fwd.ports[ECHO]), timeout=10) as conn:
        conn.sendall(b"ping")
        assert conn.recv(10) == b"ping"
        code, stderr = fwd.stop()
        assert code == 0, stderr
        assert conn.recv(10) == b""  # the forwarder closed it on the way out

"""Apps on a unix socket (http+unix:// URLs): the agent relays and health-checks them only while
a process it started serves the socket, at any path length."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from urllib.parse import quote_plus

import pytest
import websockets

from tests.agent.fakeserver import stop_agent
from tests.agent.test_streams import StreamServer, read_all

# A unix-socket HTTP server answering every GET with the text given; bound from its directory,
# as a socket path may be longer than a socket address holds.
SERVER = r"""
import http.server, os, socketserver, sys

path, text = sys.argv[1], sys.argv[2].encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def address_string(self):
        return "unix"


os.chdir(os.path.dirname(path))
name = os.path.basename(path)
if os.path.lexists(name):
    os.unlink(name)
server = socketserver.UnixStreamServer(name, Handler)
print("serving", flush=True)
server.serve_forever()
"""
REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@pytest.fixture
def app_socket(tmp_path, run_agent):
    """An agent whose start script serves app `web` on a socket whose path passes 107 bytes."""
    directory = tmp_path / ("a-directory-deep-enough-for-the-socket-path-to-pass-sun-path-" * 2)
    directory.mkdir()
    socket_path = directory / "web.sock"
    assert len(str(socket_path)) > 107
    program = tmp_path / "server.py"
    program.write_text(SERVER)
    pid_file = tmp_path / "server.pid"
    url = "http+unix://" + quote_plus(str(socket_path))
    server = StreamServer(
        {
            "scripts": [
                {
                    "display_name": "Serve",
                    "script": f"{sys.executable} {program} {socket_path} ours >/dev/null 2>&1 &"
                    f" echo $! > {pid_file}",
                    "run_on_start": True,
                }
            ],
            "apps": [
                {
                    "slug": "web",
                    "url": url,
                    "healthcheck_url": url + "/",
                    "healthcheck_interval": 1,
                    "healthcheck_threshold": 1,
                }
            ],
        }
    ).start()
    agent = run_agent(server.url)
    server.wait(lambda: ("web", "healthy") in health(server), timeout=60, what="healthy")
    yield server, socket_path, int(pid_file.read_text())
    stop_agent(agent)  # it stops the app server its script started
    server.stop()


def health(server) -> list[tuple[str, str]]:
    return [(m["slug"], m["health"]) for m in server.of_type("app_health")]


def fetch(server, **fields) -> tuple[bytes, list[dict]]:
    async def scenario():
        _, ws = await server.open(None, kind="app", **fields)
        reading = asyncio.ensure_future(read_all(ws))
        # An agent that refuses the stream may close it before the request is sent.
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(REQUEST)
            await ws.send(json.dumps({"type": "eof"}))  # our half: the request is all there is
        return await asyncio.wait_for(reading, 60)

    return server.call(scenario(), timeout=90)


def test_an_app_on_a_long_socket_path_is_relayed_and_healthy(app_socket):
    server, _, _ = app_socket
    data, controls = fetch(server, app="web")
    assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"\r\n\r\nours"), data
    assert not [c for c in controls if c.get("type") == "error"]

    data, controls = fetch(server, app="nope")
    assert data == b""
    assert controls == [{"type": "error", "message": "this agent has no app 'nope'"}]


def test_a_socket_served_by_a_process_the_agent_did_not_start_is_refused(app_socket):
    server, socket_path, ours = app_socket
    os.kill(ours, 9)
    impostor = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(socket_path), "impostor"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert impostor.stdout.readline().strip() == "serving"
        data, controls = fetch(server, app="web")
        assert b"impostor" not in data
        [error] = controls
        assert f"served by process {impostor.pid}" in error["message"]
        assert "this workspace did not start" in error["message"]
        server.wait(lambda: health(server)[-1] == ("web", "unhealthy"), timeout=60, what="down")
    finally:
        impostor.kill()
        impostor.wait(10)

"""The agent process relaying streams: data sockets it dials, to a local TCP server, both ways."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from tests.agent.fakeserver import TOKEN, FakeServer, stop_agent

STREAMS = "/api/v2/workspaceagents/me/streams/"


class StreamServer(FakeServer):
    """The fake control endpoint plus the data-socket endpoint the agent dials per stream."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.control = None
        self.data_auth: dict[str, str | None] = {}
        self._sockets: dict[str, asyncio.Future] = {}

    def _socket(self, stream: str) -> asyncio.Future:
        if stream not in self._sockets:
            self._sockets[stream] = self._loop.create_future()
        return self._sockets[stream]

    async def _handler(self, ws) -> None:
        path = ws.request.path
        if not path.startswith(STREAMS):
            await super()._handler(ws)
            return
        stream = path[len(STREAMS) :]
        self.data_auth[stream] = ws.request.headers.get("Authorization")
        self._socket(stream).set_result(ws)
        await ws.wait_closed()  # the test talks to it; returning would close it

    async def _serve(self, ws, number: int) -> None:
        self.control = ws
        await super()._serve(ws, number)

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def open(self, port, kind: str = "tcp", **fields):
        """Ask the agent for a stream (as the server does) and wait for its data socket."""
        stream = str(uuid.uuid4())
        future = self._socket(stream)
        message = {"type": "open_stream", "stream": stream, "kind": kind, "port": port, **fields}
        await self.control.send(json.dumps(message))
        ws = await asyncio.wait_for(future, 10)
        return stream, ws


async def read_all(ws) -> tuple[bytes, list[dict]]:
    """Every byte until the agent closes the socket, and the control frames it sent."""
    data, controls = b"", []
    try:
        async for message in ws:
            if isinstance(message, bytes):
                data += message
            else:
                controls.append(json.loads(message))
    except ConnectionClosed:
        pass
    return data, controls


async def send_chunks(ws, payload: bytes, size: int = 256 * 1024) -> None:
    for start in range(0, len(payload), size):
        await ws.send(payload[start : start + size])


@pytest.fixture
def echo_port():
    """A TCP server echoing as data arrives; after the client's EOF it says bye and shuts down."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def serve_one(conn):
        with conn:
            while chunk := conn.recv(65536):
                conn.sendall(chunk)
            conn.sendall(b"bye after eof\n")
            conn.shutdown(socket.SHUT_WR)

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


@pytest.fixture
def agent_server(run_agent):
    server = StreamServer().start()
    agent = run_agent(server.url)
    server.wait(lambda: server.control is not None and server.of_type("hello"), what="hello")
    yield server
    stop_agent(agent)  # while its server is up: it says goodbye and is gone at once
    server.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bytes_round_trip_with_half_close_both_ways(agent_server, echo_port):
    payload = os.urandom(1024 * 1024 + 17)  # several 256 KiB frames each way

    async def scenario():
        stream, ws = await agent_server.open(echo_port)
        reading = asyncio.ensure_future(read_all(ws))
        await send_chunks(ws, payload)
        await ws.send(json.dumps({"type": "eof"}))  # our half-close: the echo server sees EOF
        data, controls = await asyncio.wait_for(reading, 20)
        return stream, data, controls, ws.close_code

    stream, data, controls, code = agent_server.call(scenario())
    # The agent dialed the stream's own path with its token.
    assert agent_server.data_auth[stream] == f"Bearer {TOKEN}"
    # Everything came back, then what the local server wrote after our EOF, then its EOF; with
    # both directions finished the agent closed the socket normally.
    assert data == payload + b"bye after eof\n"
    assert controls == [{"type": "eof"}]
    assert code == 1000


def test_local_connection_refused_sends_an_error_frame(agent_server, tmp_path):
    port = closed_port()

    async def scenario():
        _, ws = await agent_server.open(port)
        return await asyncio.wait_for(read_all(ws), 20)

    data, controls = agent_server.call(scenario())
    assert data == b""
    assert len(controls) == 1 and controls[0]["type"] == "error"
    assert f"cannot connect to 127.0.0.1:{port}" in controls[0]["message"]
    assert "refused" in controls[0]["message"].lower()

    # The agent carries on: the control connection is still alive and answers a new stream.
    async def again():
        _, ws = await agent_server.open(port)
        return await asyncio.wait_for(read_all(ws), 20)

    assert agent_server.call(again())[1][0]["type"] == "error"
    assert TOKEN not in (tmp_path / "agent.log").read_text()


def test_unsupported_kind_is_refused(agent_server, echo_port):
    async def scenario():
        _, ws = await agent_server.open(echo_port, kind="udp")
        return await asyncio.wait_for(read_all(ws), 20)

    _, controls = agent_server.call(scenario())
    assert controls[0]["type"] == "error" and "unsupported" in controls[0]["message"]


def test_ten_parallel_streams(agent_server, echo_port):
    async def one(n: int):
        _, ws = await agent_server.open(echo_port)
        payload = bytes([n]) * (300_000 + n)
        reading = asyncio.ensure_future(read_all(ws))
        await send_chunks(ws, payload, 64 * 1024)
        await ws.send(json.dumps({"type": "eof"}))
        data, controls = await asyncio.wait_for(reading, 30)
        return data == payload + b"bye after eof\n" and controls == [{"type": "eof"}]

    async def scenario():
        return await asyncio.gather(*(one(n) for n in range(10)))

    assert agent_server.call(scenario(), timeout=60) == [True] * 10


def test_closing_the_data_socket_closes_the_local_connection(agent_server):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.settimeout(10)

    async def scenario():
        _, ws = await agent_server.open(port)
        return ws

    ws = agent_server.call(scenario())
    conn, _ = listener.accept()
    conn.settimeout(10)
    conn.sendall(b"hello")

    async def receive_then_close():
        first = await asyncio.wait_for(ws.recv(), 10)
        await ws.close()
        return first

    assert agent_server.call(receive_then_close()) == b"hello"
    assert conn.recv(10) == b""  # the agent closed its side of the local connection
    conn.close()
    listener.close()


def test_a_stalled_stream_applies_backpressure_without_blocking_others(agent_server, echo_port):
    # A local server that accepts but never reads: the agent must stop taking our frames
    # (bounded buffers) while other streams and the control connection carry on.
    listener = socket.create_server(("127.0.0.1", 0))
    stalled_port = listener.getsockname()[1]

    async def scenario():
        _, stalled = await agent_server.open(stalled_port)
        sending = asyncio.ensure_future(send_chunks(stalled, b"x" * (64 * 1024 * 1024)))
        await asyncio.sleep(2)
        blocked = not sending.done()
        pings = len(agent_server.of_type("ping"))
        _, ws = await agent_server.open(echo_port)
        reading = asyncio.ensure_future(read_all(ws))
        await ws.send(b"still flowing")
        await ws.send(json.dumps({"type": "eof"}))
        data, _ = await asyncio.wait_for(reading, 10)
        sending.cancel()
        # The local side goes away (its pending connection is reset): the agent ends the stream.
        listener.close()
        await asyncio.wait_for(stalled.wait_closed(), 10)
        return blocked, pings, data

    blocked, pings, data = agent_server.call(scenario())
    assert blocked
    assert data == b"still flowing" + b"bye after eof\n"
    agent_server.wait(lambda: len(agent_server.of_type("ping")) > pings, what="a later ping")

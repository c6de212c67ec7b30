"""A raw ASGI driver with bounded outboxes, and a fake agent that echoes its streams."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from portal.asgi import application
from tests.agents.helpers import FakeAgent, agent_headers
from tests.workspaces.test_websocket import WAIT

STREAMS = "/api/v2/workspaceagents/me/streams/"


def client_path(agent, port: int = 8080, kind: str = "tcp") -> str:
    return f"/api/v2/workspaceagents/{agent.pk}/streams?kind={kind}&port={port}"


class Socket:
    """One WebSocket into the real ASGI app. Its outbox is bounded like a socket buffer: while
    the test does not read, the server's sends block (unlike ApplicationCommunicator's)."""

    def __init__(self, path: str, headers=None, outbox: int = 4):
        parts = urlsplit(path)
        scope = {
            "type": "websocket",
            "path": parts.path,
            "query_string": parts.query.encode(),
            "headers": headers or [],
            "subprotocols": [],
        }
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.outbox: asyncio.Queue = asyncio.Queue(maxsize=outbox)
        self.task = asyncio.create_task(application(scope, self.inbox.get, self.outbox.put))

    async def connect(self) -> None:
        await self.inbox.put({"type": "websocket.connect"})
        accepted = await self.next()
        assert accepted["type"] == "websocket.accept", accepted

    async def next(self, timeout: float = WAIT) -> dict:
        return await asyncio.wait_for(self.outbox.get(), timeout)

    async def refused(self) -> dict:
        """The close that follows the accept of a refused socket."""
        await self.connect()
        message = await self.next()
        assert message["type"] == "websocket.close", message
        return message

    async def send_bytes(self, data: bytes) -> None:
        await self.inbox.put({"type": "websocket.receive", "bytes": data})

    async def send_json(self, body: dict) -> None:
        await self.inbox.put({"type": "websocket.receive", "text": json.dumps(body)})

    async def hang_up(self) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, WAIT)

    async def finished(self) -> None:
        await asyncio.wait_for(self.task, WAIT)


async def read_until_close(sock: Socket) -> tuple[bytes, list[dict], dict]:
    """(bytes, control messages, close) received until the server closes."""
    data, control = bytearray(), []
    while True:
        message = await sock.next()
        if message["type"] == "websocket.close":
            return bytes(data), control, message
        if message.get("bytes") is not None:
            data += message["bytes"]
        else:
            control.append(json.loads(message["text"]))


class EchoAgent:
    """A connected agent: its control socket, and on each open_stream a data socket that echoes
    bytes and answers an eof with an eof."""

    def __init__(self, token: str):
        self.token = token
        self.control = FakeAgent(token)
        self.opened: list[dict] = []
        self.received: list[dict] = []  # control messages its data sockets got
        self.closes: list[dict] = []
        self.data: Socket | None = None
        self.pause = asyncio.Event()
        self.pause.set()

    async def open(self) -> None:
        assert await self.control.open() is None

    async def serve_one(self, dial_token: str | None = None, *, error: str = "") -> None:
        message = await self.control.receive()
        assert message["type"] == "open_stream", message
        self.opened.append(message)
        self.data = sock = Socket(
            STREAMS + message["stream"], agent_headers(dial_token or self.token), outbox=2
        )
        await sock.connect()
        if error:
            await sock.send_json({"type": "error", "message": error})
            return await sock.hang_up()
        while True:
            await self.pause.wait()
            message = await sock.next()
            if message["type"] == "websocket.close":
                self.closes.append(message)
                return await sock.hang_up()
            assert message["type"] == "websocket.send", message
            if message.get("bytes") is not None:
                await sock.send_bytes(message["bytes"])
            else:
                body = json.loads(message["text"])
                self.received.append(body)
                if body["type"] == "eof":
                    await sock.send_json({"type": "eof"})

    async def hang_up(self) -> None:
        await self.control.hang_up()

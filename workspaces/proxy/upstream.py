"""The agent stream to an app: where the app listens, HTTP/1.1 over the stream, agent errors."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import h11

from portal.observability import metrics
from workspaces.connectivity import agent_json, relay
from workspaces.models import WorkspaceApp

CHUNK = relay.MAX_FRAME_BYTES


def app_port(app: WorkspaceApp) -> int | None:
    try:
        parts = urlsplit(app.url)
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def app_dial(app: WorkspaceApp) -> tuple[str, int | None, str] | None:
    """(stream kind, port, Host header) of the agent stream to the app; None if there is none.

    An `http+unix://` app listens on a unix socket in its workspace: the agent finds the socket
    by the app's slug in its own manifest and checks that its own workspace serves it.
    """
    if app.url.lower().startswith("http+unix://"):
        return "app", None, "localhost"
    port = app_port(app)
    if port is None:
        return None
    return "tcp", port, urlsplit(app.url).netloc or f"localhost:{port}"


class AppUnreachable(Exception):
    """The agent could not reach the app, or lost it before it answered; the message says why."""


async def agent_error(side: relay.Side, timeout: float = 2.0) -> str:
    """The reason the agent gave (its {"type": "error"} message) for a stream it closed."""

    async def read() -> str:
        while True:
            message = await side.receive()
            if message["type"] == "websocket.disconnect":
                return ""
            if message.get("text") is not None:
                with contextlib.suppress(ValueError, AttributeError):
                    control = agent_json.control(message["text"], "app proxy")
                    if control.get("type") == "error":
                        return str(control.get("message") or "")

    try:
        return await asyncio.wait_for(read(), timeout)
    except Exception:  # noqa: BLE001 - no reason is a reason too
        return ""


# The app proxy's traffic counts in the relay's bytes (portal/observability/metrics.py).
_TO_AGENT = metrics.RELAY_BYTES.labels("client_to_agent")
FROM_AGENT = metrics.RELAY_BYTES.labels("agent_to_client")


async def send_to_agent(side: relay.Side, data: bytes) -> None:
    """Write to the agent's side of a stream; AppUnreachable (with its reason) once it is gone."""
    try:
        for i in range(0, len(data), CHUNK):
            await side.send({"type": "websocket.send", "bytes": data[i : i + CHUNK]})
            _TO_AGENT.inc(len(data[i : i + CHUNK]))
    except (OSError, RuntimeError):  # uvicorn's ClientDisconnected is an OSError
        reason = await agent_error(side)
        raise AppUnreachable(reason or "the workspace agent closed the connection") from None


class Upstream:
    """HTTP/1.1 over one agent stream."""

    def __init__(self, stream: relay.Stream):
        self.side = stream.agent
        self.conn = h11.Connection(h11.CLIENT)
        self.ended = False

    async def write(self, event) -> None:
        await send_to_agent(self.side, self.conn.send(event) or b"")

    async def next_event(self):
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.ended:
                raise h11.RemoteProtocolError("the app closed the connection early")
            message = await self.side.receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                self.ended = True
                self.conn.receive_data(b"")
            elif kind == "websocket.receive" and message.get("bytes") is not None:
                FROM_AGENT.inc(len(message["bytes"]))
                self.conn.receive_data(message["bytes"])
            elif kind == "websocket.receive" and message.get("text") is not None:
                try:
                    control = agent_json.control(message["text"], "app proxy")
                except agent_json.BadAgentMessage as e:
                    raise AppUnreachable(f"the workspace agent sent {e}") from None
                if control.get("type") == "error":
                    raise AppUnreachable(control.get("message") or "the agent refused")
                if control.get("type") == "eof":
                    self.ended = True
                    self.conn.receive_data(b"")

    async def body_as_received(self, length: int):
        """The rest of a response body of `length` bytes (its Content-Length), as the agent's
        frames bring it: h11 hands over what it holds, then frames pass on unparsed (h11 would
        copy each twice and parse nothing: the length is all it needs). AppUnreachable or
        h11.RemoteProtocolError when the body ends early."""
        while True:  # what arrived with the head
            event = self.conn.next_event()
            if isinstance(event, h11.Data):
                length -= len(event.data)
                yield event.data
            elif event is h11.NEED_DATA:
                break
            else:  # EndOfMessage: the whole body came with the head
                return
        received = 0
        try:
            while length > 0:
                if self.ended:
                    raise h11.RemoteProtocolError("the app closed the connection early")
                message = await self.side.receive()
                data = message.get("bytes")
                if data is not None:
                    received += len(data)
                    if len(data) > length:  # more than the app announced: not forwarded
                        data = data[:length]
                    length -= len(data)
                    yield data
                elif message["type"] == "websocket.disconnect":
                    self.ended = True
                elif message.get("text") is not None:
                    self._control(message["text"])
        finally:
            FROM_AGENT.inc(received)  # once per response, not once per frame

    def _control(self, text: str) -> None:
        """A control message of the agent in the middle of a body: an error, or its end."""
        try:
            control = agent_json.control(text, "app proxy")
        except agent_json.BadAgentMessage as e:
            raise AppUnreachable(f"the workspace agent sent {e}") from None
        if control.get("type") == "error":
            raise AppUnreachable(control.get("message") or "the agent refused")
        if control.get("type") == "eof":
            self.ended = True

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.side.send({"type": "websocket.close", "code": 1000})


def request_target(target: str) -> bytes:
    """The request target as HTTP/1.1 allows it: bytes outside printable ASCII percent-encoded
    (a client may send them raw; h11 would refuse them)."""
    try:
        raw = target.encode("latin1")  # the raw path, as the client sent it
    except UnicodeEncodeError:
        raw = target.encode()  # a decoded path
    return "".join(chr(b) if 0x21 <= b <= 0x7E else f"%{b:02X}" for b in raw).encode("ascii")

"""Streams between a user's client and a workspace agent: two WebSockets paired in this process.

Raw ASGI apps, not Channels consumers: every frame of a tunnel passes through here, and a
consumer's dispatch costs several coroutine hops per frame.

- Client side: /api/v2/workspaceagents/<agent uuid>/streams?kind=tcp&port=N (or
  ?kind=pty&reconnect=<uuid>&rows=R&cols=C[&command=...]: a web terminal), user token or
  session (the scope's `user`, set by portal.asgi.WebSocketAuth). After authorize_connection the
  stream is registered here and the agent is asked, over its control connection (Channels group
  "agent-ctl-<agent hex>"), to dial back.
- Agent side: /api/v2/workspaceagents/me/streams/<stream uuid>, agent token. When the dial-back
  lands on another server process (replica or worker), that process joins it to the stream's
  home over the relay link (workspaces/connectivity/relay_link.py).

Frames are relayed unchanged (binary = bytes, text = JSON control such as eof and error).
Backpressure: each side has a bounded outbound queue; while it is full, the other side's socket
is not read, so a slow reader slows the writer instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from portal.audit import context as audit_context
from portal.client_ip import client_ip_from_scope
from portal.errors import ServiceError, ValidationFailed
from portal.observability import metrics
from portal.revocation import tracking
from portal.ws_scope import bearer_token, close_reason
from workspaces import schedule_activity
from workspaces.connectivity import agents, connections, relay_link, revocable

log = logging.getLogger(__name__)

CLIENT_PATH = re.compile(r"^/api/v2/workspaceagents/(?P<agent>[0-9a-fA-F-]{32,36})/streams/?$")
AGENT_PATH = re.compile(r"^/api/v2/workspaceagents/me/streams/(?P<stream>[0-9a-fA-F-]{32,36})/?$")
PATH_PREFIX = "/api/v2/workspaceagents/"

# Seconds the agent has to dial back before the client is told it did not.
AGENT_DIAL_TIMEOUT = 10.0
# Frames queued per direction: with 256 KiB frames at most 4 MiB per direction per stream.
QUEUE_FRAMES = 16
MAX_FRAME_BYTES = 256 * 1024
# Seconds to deliver what is queued for one side after the other hung up.
FLUSH_TIMEOUT = 5.0
STREAM_KINDS = {"tcp": "port-forward", "pty": "terminal", "ssh": "ssh"}  # kind: authorized kind
PTY_ROWS, PTY_COLS = 24, 80
MAX_COMMAND = 4096

_CLOSE = object()


def control_group(agent_id) -> str:
    """The Channels group an agent's control connection listens on."""
    hex_id = agent_id.hex if hasattr(agent_id, "hex") else str(agent_id).replace("-", "")
    return f"agent-ctl-{hex_id}"


class Side:
    """One WebSocket of a stream, with the bounded queue of frames waiting to be sent to it."""

    def __init__(self, name: str, receive, send):
        self.name = name
        self.receive = receive
        self.send = send
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_FRAMES)
        self.max_depth = 0  # the deepest the queue has been, for tests and diagnostics
        self.bytes_received = 0
        self.gone = False  # its socket disconnected: nothing more may be sent to it

    async def put(self, item) -> None:
        await self.queue.put(item)
        depth = self.queue.qsize()
        if depth > self.max_depth:
            self.max_depth = depth


@dataclass
class Stream:
    id: uuid.UUID
    agent_id: uuid.UUID
    kind: str
    port: int | None
    client: Side
    options: dict = field(default_factory=dict)  # pty: reconnect, rows, cols, command
    agent: Side | None = None
    paired: asyncio.Future = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    registered: bool = False  # its home is recorded in Redis for agents dialing other processes


# Streams waiting for, or relaying to, their agent in this process.
streams: dict[uuid.UUID, Stream] = {}
# Seconds a stream's home stays recorded in Redis if this process dies before forgetting it.
HOME_TTL = AGENT_DIAL_TIMEOUT + 5
_forgetting: set[asyncio.Task] = set()


async def _register(stream: Stream) -> None:
    if stream.id not in streams:
        metrics.RELAY_STREAMS_OPEN.labels(stream.kind).inc()
    streams[stream.id] = stream
    stream.registered = await relay_link.register(stream.id, HOME_TTL)


def _forget(stream: Stream) -> None:
    """Drop the stream here and (in the background: nothing waits for it) its Redis record."""
    if streams.pop(stream.id, None) is not None:
        metrics.RELAY_STREAMS_OPEN.labels(stream.kind).dec()
    if stream.registered:
        stream.registered = False
        task = asyncio.get_running_loop().create_task(relay_link.unregister(stream.id))
        _forgetting.add(task)
        task.add_done_callback(_forgetting.discard)


async def _accept(send) -> None:
    # No subprotocol, no compression: tunnel traffic is binary or already encrypted.
    await send({"type": "websocket.accept"})


async def _refuse(send, code: int, reason: str) -> None:
    await send({"type": "websocket.close", "code": code, "reason": close_reason(reason)})


async def _wait_connect(receive) -> bool:
    message = await receive()
    return message["type"] == "websocket.connect"


def _size(query: dict, name: str, default: int) -> int:
    raw = (query.get(name) or [""])[0]
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise ValidationFailed.field(name, f"Give {name} as a number 1-1000.")
    return value


def _parse_pty(query: dict) -> dict:
    try:
        reconnect = str(uuid.UUID((query.get("reconnect") or [""])[0]))
    except ValueError:
        raise ValidationFailed.field(
            "reconnect", "Give the terminal's reconnect id (a UUID) to resume it later."
        ) from None
    command = (query.get("command") or [""])[0]
    if len(command) > MAX_COMMAND:
        raise ValidationFailed.field("command", f"The command is at most {MAX_COMMAND} characters.")
    return {
        "reconnect": reconnect,
        "rows": _size(query, "rows", PTY_ROWS),
        "cols": _size(query, "cols", PTY_COLS),
        "command": command,
    }


def _parse_client(scope) -> tuple[str, int | None, dict]:
    """(kind, port, pty options) of the client's query."""
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    kind = (query.get("kind") or ["tcp"])[0]
    if kind not in STREAM_KINDS:
        raise ValidationFailed.field(
            "kind", f"Unknown stream kind {kind[:20]!r}: use tcp, pty or ssh."
        )
    if kind == "pty":
        return kind, None, _parse_pty(query)
    if kind == "ssh":  # the agent's own SSH server, on no port
        return kind, None, {}
    raw = (query.get("port") or [""])[0]
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValidationFailed.field("port", "Give the port to forward, 1-65535.")
    return kind, port, {}


def _open_session(user, agent_id, kind: str, port: int | None) -> connections.Session:
    agent = connections.agent_for_connection(user, agent_id)
    connections.authorize_connection(user, agent, STREAM_KINDS[kind])
    return connections.Session(user=user, agent=agent, kind=STREAM_KINDS[kind], port=port)


def _audit_context(scope) -> None:
    """Who connects, for the audit entries (the task's context reaches the DB threads)."""
    headers = dict(scope.get("headers", []))
    audit_context.set_current(
        audit_context.RequestContext(
            ip=client_ip_from_scope(scope),
            user_agent=headers.get(b"user-agent", b"").decode("latin1")[:255],
        )
    )


async def client_app(scope, receive, send) -> None:
    """The user's side. Needs scope["user"] (None when unauthenticated) and scope["auth_error"]."""
    if not await _wait_connect(receive):
        return
    await _accept(send)
    user = scope.get("user")
    if user is None:
        reason = scope.get("auth_error") or "Sign in: send 'Authorization: Bearer <token>'."
        return await _refuse(send, 4401, reason)
    try:
        agent_id = uuid.UUID(CLIENT_PATH.match(scope["path"])["agent"])
    except ValueError:
        return await _refuse(send, 4404, "No such workspace agent.")
    _audit_context(scope)
    try:
        kind, port, options = _parse_client(scope)
        session = await database_sync_to_async(_open_session)(user, agent_id, kind, port)
    except ServiceError as e:
        return await _refuse(send, 4000 + e.status_code, e.message)

    stream = Stream(
        id=uuid.uuid4(),
        agent_id=agent_id,
        kind=kind,
        port=port,
        client=Side("client", receive, send),
        options=options,
    )
    try:
        await _register(stream)
        await get_channel_layer().group_send(
            control_group(agent_id),
            {
                "type": "agent.open_stream",
                "stream": str(stream.id),
                "kind": kind,
                "port": port,
                **options,
            },
        )
        try:
            await asyncio.wait_for(asyncio.shield(stream.paired), AGENT_DIAL_TIMEOUT)
        except TimeoutError:
            if not stream.paired.done():  # else it dialed at the very last moment
                _forget(stream)
                stream.paired.cancel()
                error = {"type": "error", "message": "the agent did not open the stream"}
                await send({"type": "websocket.send", "text": json.dumps(error)})
                return await _refuse(send, 4504, "The agent did not open the stream.")
        # Until the user loses access (suspended, token revoked, workspace deleted...).
        await tracking.guard(
            revocable.stream(scope, session),
            _relay(stream, session),
            on_revoked=functools.partial(_close_revoked, stream),
        )
    finally:
        _forget(stream)
        if not stream.paired.done():
            stream.paired.cancel()
        stream.finished.set()


async def _close_revoked(stream: Stream, code: int, reason: str) -> None:
    """The user lost access: tell the client why, and end the agent's side."""
    with contextlib.suppress(Exception):
        await stream.client.send({"type": "websocket.close", "code": code, "reason": reason})
    if stream.agent is not None:
        with contextlib.suppress(Exception):
            await stream.agent.send({"type": "websocket.close", "code": 1000})


async def agent_app(scope, receive, send) -> None:
    """The agent's side: its token must be the agent the stream was opened to."""
    if not await _wait_connect(receive):
        return
    await _accept(send)
    token = bearer_token(scope)
    if token is None:
        return await _refuse(send, 4401, "Send 'Authorization: Bearer <agent token>'.")
    agent = await database_sync_to_async(agents.authenticate_agent)(token)
    if agent is None:
        return await _refuse(send, 4401, "The agent token is not valid.")
    try:
        stream_id = uuid.UUID(AGENT_PATH.match(scope["path"])["stream"])
    except ValueError:
        return await _refuse(send, 4404, "No such stream on this server.")
    if stream_id not in streams:
        # The client's request may have landed on another server process: join it there.
        try:
            home = await relay_link.home_of(stream_id)
        except relay_link.Refused as e:
            return await _refuse(send, e.code, e.reason)
        if home is not None and not relay_link.is_here(home):
            return await relay_link.visit(home, stream_id, agent.pk, receive, send)
    await attach_agent(stream_id, agent.pk, receive, send)


async def attach_agent(stream_id: uuid.UUID, agent_id: uuid.UUID, receive, send) -> None:
    """Pair an agent's socket (here, or a relay link from another process) with its stream.

    Refusals are closes sent to it; returns when the stream has ended.
    """
    stream = streams.get(stream_id)
    if stream is None:
        return await _refuse(send, 4404, "No such stream on this server.")
    if stream.agent_id != agent_id:
        return await _refuse(send, 4403, "This stream was opened to another agent.")
    if stream.paired.done():
        return await _refuse(send, 4409, "This stream is already open.")
    stream.agent = Side("agent", receive, send)
    stream.paired.set_result(True)
    # The client's task relays both sockets; this task only keeps the agent's socket open.
    await stream.finished.wait()


async def _read(src: Side, dst: Side) -> None:
    """Frames from src's socket into dst's queue; returns when src disconnects."""
    while True:
        message = await src.receive()
        kind = message["type"]
        if kind == "websocket.disconnect":
            src.gone = True
            return
        if kind != "websocket.receive":
            continue
        data = message.get("bytes")
        if data is not None:
            if len(data) > MAX_FRAME_BYTES:
                reason = f"Frames carry at most {MAX_FRAME_BYTES // 1024} KiB."
                await src.send({"type": "websocket.close", "code": 1009, "reason": reason})
                src.gone = True
                return
            src.bytes_received += len(data)
            await dst.put(data)  # blocks while dst is behind: stop reading src
        elif message.get("text") is not None:
            await dst.put(message["text"])


async def _write(side: Side) -> None:
    """Frames from side's queue to its socket; returns after sending a close."""
    while True:
        item = await side.queue.get()
        if item is _CLOSE:
            await side.send({"type": "websocket.close", "code": 1000})
            return
        if isinstance(item, bytes):
            await side.send({"type": "websocket.send", "bytes": item})
        else:
            await side.send({"type": "websocket.send", "text": item})


async def _relay(stream: Stream, session: connections.Session) -> None:
    client, agent = stream.client, stream.agent
    started = time.monotonic()
    await database_sync_to_async(session.audit_connect)()
    # An open stream keeps its workspace in use (last_used_at, the autostop deadline).
    workspace_id = session.agent.resource.job.build.workspace_id  # loaded by audit_connect
    schedule_activity.opened(workspace_id)
    readers = {
        asyncio.create_task(_read(client, agent)): client,
        asyncio.create_task(_read(agent, client)): agent,
    }
    writers = {
        client: asyncio.create_task(_write(client)),
        agent: asyncio.create_task(_write(agent)),
    }
    tasks = [*readers, *writers.values()]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # A reader ends when its socket disconnected; a writer only when sending failed.
        first = next(iter(done))
        gone = readers.get(first) or (client if first is writers[client] else agent)
        gone.gone = True
        other = agent if gone is client else client
        for task in (*readers, writers[gone]):
            task.cancel()
        # Either side closing closes the other, after what is already queued for it.
        writer = writers[other]
        if not other.gone and not writer.done():
            try:
                await asyncio.wait_for(other.put(_CLOSE), FLUSH_TIMEOUT)
                await asyncio.wait_for(asyncio.shield(writer), FLUSH_TIMEOUT)
            except Exception:
                writer.cancel()
                with contextlib.suppress(Exception):
                    await other.send({"type": "websocket.close", "code": 1011})
    finally:
        schedule_activity.closed(workspace_id)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        metrics.RELAY_BYTES.labels("client_to_agent").inc(client.bytes_received)
        metrics.RELAY_BYTES.labels("agent_to_client").inc(agent.bytes_received)
        try:
            await database_sync_to_async(session.audit_disconnect)(
                duration_seconds=time.monotonic() - started,
                bytes_in=client.bytes_received,
                bytes_out=agent.bytes_received,
            )
        except Exception:
            log.exception("could not audit the end of stream %s", stream.id)


async def dial_agent(
    agent_id: uuid.UUID, kind: str, port: int | None, *, app: str = ""
) -> Stream | None:
    """Ask the agent to open a stream and wait for its data socket; None if it did not dial.

    For in-process users (the app proxy) that speak to `stream.agent` themselves: the caller
    must `release(stream)` when done, which lets the agent's socket task end. `app` names the
    app's slug (kind "app": the agent reaches the app as its manifest says).
    """
    stream = Stream(
        id=uuid.uuid4(), agent_id=agent_id, kind=kind, port=port, client=Side("proxy", None, None)
    )
    message = {"type": "agent.open_stream", "stream": str(stream.id), "kind": kind, "port": port}
    if app:
        message["app"] = app
    try:
        await _register(stream)
        await get_channel_layer().group_send(control_group(agent_id), message)
        await asyncio.wait_for(asyncio.shield(stream.paired), AGENT_DIAL_TIMEOUT)
    except TimeoutError:
        if not stream.paired.done():  # else it dialed at the very last moment
            release(stream)
            return None
    except BaseException:
        release(stream)
        raise
    return stream


def release(stream: Stream) -> None:
    """Forget a stream opened with dial_agent; its agent socket task returns."""
    _forget(stream)
    if not stream.paired.done():
        stream.paired.cancel()
    stream.finished.set()

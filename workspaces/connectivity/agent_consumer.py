"""The control WebSocket each workspace agent dials: /api/v2/workspaceagents/me/rpc.

Authenticated by the agent token only (`Authorization: Bearer <agent token>`), never by a user's
token or session: this route is dispatched before the user authentication middleware. JSON text
frames with a "type": hello -> manifest, ping -> pong, lifecycle,
logs, app_health, listening_ports. A message the server cannot accept is answered with
{"type": "error", "message": ...}; the connection stays open. A refused token closes with 4401
and a reason.

A raw ASGI app, not a Channels consumer: one server process holds thousands of these idle
sockets, and a consumer costs two tasks, a channel-layer receive and an ORM row per socket.
Here a socket is one small object; per process (and event loop) one ControlHub routes the
control group messages ("agent-ctl-<agent hex>", sent by connectivity/relay.py) to the sockets
and writes last_seen_at for all of them in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time

import orjson
from channels import DEFAULT_CHANNEL_LAYER
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.urls import path
from django.utils import timezone

from portal.errors import ServiceError
from portal.revocation import tracking
from portal.ws_scope import bearer_token, close_reason
from workspaces.connectivity import agent_json, agents, listening_ports, relay
from workspaces.models import WorkspaceAgent

log = logging.getLogger(__name__)

PATH = "api/v2/workspaceagents/me/rpc"
_PONG_HEAD = b'{"type":"pong","t":'


class AgentSocket:
    """One connected agent: just what its messages need, no ORM row."""

    __slots__ = ("agent_id", "connected_at", "send", "channel", "seen_at", "group_added", "ended")

    def __init__(self, agent_id, connected_at, send):
        self.agent_id = agent_id
        self.connected_at = connected_at
        self.send = send
        self.channel: str | None = None  # its name in the channel layer, set by the hub
        self.seen_at = time.monotonic()  # when last_seen_at was last due for it
        self.group_added = 0.0
        self.ended = False

    def stub(self) -> WorkspaceAgent:
        # The service functions read only the primary key of the agent they are given.
        return WorkspaceAgent(id=self.agent_id)

    async def send_json(self, body: dict) -> None:
        if not self.ended:
            await self.send({"type": "websocket.send", "text": json.dumps(body, default=str)})

    async def error(self, message: str, *, detail: str = "", about: str = "") -> None:
        body = {"type": "error", "message": message}
        if detail:
            body["detail"] = detail
        if about:
            body["about"] = about
        await self.send_json(body)

    async def refuse(self, reason: str) -> None:
        """Hang up with 4401 (the workspace is gone), the disconnection recorded first."""
        if self.ended:
            return
        await end(self)
        await self.send({"type": "websocket.close", "code": 4401, "reason": reason})

    async def on_group_message(self, event: dict) -> None:
        if event.get("type") == "agent.open_stream":
            # A user opened a stream: the agent dials it back on its streams path. Every field
            # but the routing ones goes through (a terminal's session, size and command...).
            await self.send_json(
                {
                    **{k: v for k, v in event.items() if not k.startswith("__")},
                    "type": "open_stream",
                }
            )


class ControlHub:
    """One event loop's agent sockets: control group messages in, batched last_seen_at out."""

    GROUP_REFRESH_SECONDS = 3600.0  # channels_redis expires group members after a day
    REFRESH_CHECK_SECONDS = 300.0
    # Group adds and discards at once: a mass reconnect must not exhaust the Redis pool (100).
    REDIS_CONCURRENCY = 16
    # last_seen_at waits at most this long (and inactive/8) to be written with others.
    FLUSH_DELAY = 1.0
    # See _tend_gc: from this many sockets on, garbage is collected on a timer.
    GC_FREEZE_MIN_SOCKETS = 1000
    # Checking is a len(): often, so tending begins before a full collection can come due.
    GC_CHECK_SECONDS = 1.0
    GC_COLLECT_SECONDS = 60.0
    # Connections ending within this many seconds are recorded together.
    GONE_DELAY = 0.02

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        # Its own layer instance: one receive loop reads all of this instance's process-local
        # channels (one per socket); consumers sharing the default instance would race it.
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.direct = hasattr(self.layer, "receive_single")
        self.sockets: dict[str, AgentSocket] = {}
        self.redis = asyncio.Semaphore(self.REDIS_CONCURRENCY)
        self.due: set[AgentSocket] = set()
        self.due_since = None
        self.tasks: set[asyncio.Task] = set()
        self.readers: dict[str, asyncio.Task] = {}  # per socket, for layers without receive_single
        self.started = False  # its loops: receiving, renewing groups, tending the GC
        self.flusher: asyncio.Task | None = None
        self.left_since_thaw = 0
        self.gone: list[tuple] = []  # (agent id, connected_at) of connections that just ended
        self.gone_done: asyncio.Future | None = None

    async def join(self, sock: AgentSocket) -> None:
        sock.channel = await self.layer.new_channel()
        self.sockets[sock.channel] = sock
        if not self.direct:
            self.readers[sock.channel] = self.loop.create_task(self._read_one(sock))
        if not self.started:
            self.started = True
            if self.direct:
                self._spawn(self._receive_all())
            self._spawn(self._refresh_groups())
            self._spawn(self._tend_gc())
            self._spawn(tracking.subscribe(self._on_revocation))
        await self._group_add(sock)

    async def _on_revocation(self, event: dict) -> None:
        """A deleted workspace's agents: their token died with it, so their sockets close now."""
        gone = set(event.get("agents") or ())
        if event.get("kind") != "workspace" or not gone:
            return
        for sock in list(self.sockets.values()):
            if str(sock.agent_id) in gone and not sock.ended:
                self._spawn(sock.refuse("This agent's workspace was deleted."))

    async def leave(self, sock: AgentSocket) -> None:
        self.due.discard(sock)
        if self.sockets.pop(sock.channel, None) is None:
            return
        self.left_since_thaw += 1
        reader = self.readers.pop(sock.channel, None)
        if reader is not None:
            reader.cancel()
        try:
            async with self.redis:
                await self.layer.group_discard(relay.control_group(sock.agent_id), sock.channel)
        except Exception:
            log.exception("agent %s: could not leave its control group", sock.agent_id)

    async def disconnected(self, sock: AgentSocket) -> None:
        """Record that sock's connection ended, in one statement with the others ending now."""
        # A heartbeat written after this would undo it (record_seen): forget a pending one.
        # One already being written runs first: both go through the one database thread.
        self.due.discard(sock)
        if self.gone_done is None:
            self.gone, self.gone_done = [], self.loop.create_future()
            self._spawn(self._flush_gone())
        self.gone.append((sock.agent_id, sock.connected_at))
        await asyncio.shield(self.gone_done)

    async def _flush_gone(self) -> None:
        await asyncio.sleep(self.GONE_DELAY)
        batch, done = self.gone, self.gone_done
        self.gone, self.gone_done = [], None
        try:
            await database_sync_to_async(agents.record_disconnections)(batch)
        except Exception:
            log.exception("could not record the disconnection of %d agents", len(batch))
        finally:
            done.set_result(None)

    def saw(self, sock: AgentSocket) -> None:
        """A message came in: last_seen_at is due every half timeout, written in batches."""
        now = time.monotonic()
        if now - sock.seen_at < agents.inactive_seconds() / 2:
            return
        sock.seen_at = now
        if not self.due:
            # Stamped when the batch opened: never later than the agent was really seen.
            self.due_since = timezone.now()
        self.due.add(sock)
        if self.flusher is None or self.flusher.done():
            self.flusher = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(min(self.FLUSH_DELAY, agents.inactive_seconds() / 8))
            if not self.due:
                return
            batch, at = self.due, self.due_since
            self.due, self.due_since = set(), None
            try:
                live = await database_sync_to_async(agents.record_seen)(
                    {sock.agent_id for sock in batch}, at
                )
            except Exception:
                log.exception("could not record that %d agents were seen", len(batch))
                continue
            for sock in batch:
                if sock.agent_id not in live and not sock.ended:
                    self._spawn(sock.refuse("This agent's workspace was deleted."))

    async def _group_add(self, sock: AgentSocket) -> None:
        async with self.redis:
            await self.layer.group_add(relay.control_group(sock.agent_id), sock.channel)
        sock.group_added = time.monotonic()

    async def _refresh_groups(self) -> None:
        while True:
            await asyncio.sleep(self.REFRESH_CHECK_SECONDS)
            cutoff = time.monotonic() - self.GROUP_REFRESH_SECONDS
            for sock in [s for s in self.sockets.values() if s.group_added < cutoff]:
                if not sock.ended:
                    try:
                        await self._group_add(sock)
                    except Exception:
                        log.exception("agent %s: could not renew its control group", sock.agent_id)

    async def _tend_gc(self) -> None:
        """Keep the cyclic garbage collector from stalling thousands of heartbeats.

        Each ping replaces a dozen objects per socket (the futures and coroutines it waits on,
        the parser's frame): the young generations then hold tens of thousands of live objects
        and the old one hundreds of thousands, and collections traverse them all. Measured with
        10,000 agents: full collections stalled the event loop 0.7-1 s every few seconds, and
        even with those gone, young ones took 27 ms every second and 150 ms every 12 s, while
        finding no garbage: these objects die by reference counting. So from
        GC_FREEZE_MIN_SOCKETS sockets on, automatic collection is off and this loop collects
        every GC_COLLECT_SECONDS (and soon after many sockets arrived), then gc.freeze() hides
        the survivors (the sockets) from later collections, which traverse only what is new
        (about 150 ms with 10,000 agents here). Reference cycles among frozen objects are found
        only after gc.unfreeze(), done when many sockets have left since.

        Tending begins with a freeze and no collection: a collection then would traverse
        everything the process holds (the application too, when it was not preloaded and
        frozen), the one stall of 0.85 s that issue 16 measured at 10,000 agents. What is alive
        at that moment is the application and the first sockets; garbage cycles among them
        wait for a thaw.
        """
        enabled = gc.isenabled()
        tending, last, frozen_at = False, time.monotonic(), 0
        while True:
            await asyncio.sleep(self.GC_CHECK_SECONDS)
            if not tending and len(self.sockets) >= self.GC_FREEZE_MIN_SOCKETS:
                gc.disable()
                gc.freeze()
                tending, last, frozen_at = True, time.monotonic(), len(self.sockets)
                continue
            if tending and len(self.sockets) < self.GC_FREEZE_MIN_SOCKETS // 2:
                gc.unfreeze()
                if enabled:
                    gc.enable()
                tending = False
            if not tending:
                continue
            grown = len(self.sockets) > frozen_at * 3 // 2
            if not grown and time.monotonic() - last < self.GC_COLLECT_SECONDS:
                continue
            last, frozen_at = time.monotonic(), len(self.sockets)
            if self.left_since_thaw > len(self.sockets) // 4:
                gc.unfreeze()
                self.left_since_thaw = 0
            gc.collect()
            gc.freeze()

    async def _receive_all(self) -> None:
        # channels_redis keeps every process-local channel of an instance in one Redis list;
        # receive_single pops the next message of any of them with the channel it is for.
        local = self.layer.non_local_name(await self.layer.new_channel())
        while True:
            try:
                channels, message = await self.layer.receive_single(local)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("agent control: reading the channel layer failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for name in channels if isinstance(channels, list) else (channels,):
                sock = self.sockets.get(name)
                if sock is not None:
                    self._spawn(sock.on_group_message(message))

    async def _read_one(self, sock: AgentSocket) -> None:
        while True:
            message = await self.layer.receive(sock.channel)
            self._spawn(sock.on_group_message(message))

    def _spawn(self, coro) -> None:
        task = self.loop.create_task(_logged(coro))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


async def _logged(coro) -> None:
    try:
        await coro
    except Exception:
        log.exception("agent control: a message could not be delivered")


_hub: ControlHub | None = None


def hub() -> ControlHub:
    """This event loop's hub (tests run one loop after another in a process)."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub.loop is not loop:
        _hub = ControlHub(loop)
    return _hub


async def end(sock: AgentSocket) -> None:
    """Record the disconnection and leave the control group, once."""
    if sock.ended:
        return
    sock.ended = True
    current = hub()
    await current.disconnected(sock)
    await current.leave(sock)


async def app(scope, receive, send):
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    # Accept first: a close before accepting reaches the client as a bare HTTP 403.
    await send({"type": "websocket.accept"})
    token = bearer_token(scope)
    if token is None:
        reason = "Send 'Authorization: Bearer <agent token>'."
        return await send({"type": "websocket.close", "code": 4401, "reason": reason})
    connected = await database_sync_to_async(agents.connect_agent)(token)
    if connected is None:
        reason = close_reason(
            "The agent token is not valid: its workspace was deleted or rebuilt without this agent."
        )
        return await send({"type": "websocket.close", "code": 4401, "reason": reason})
    sock = AgentSocket(*connected, send)
    try:
        await hub().join(sock)
        await _serve(sock, receive)
    finally:
        # Cancelled: the server is stopping past its grace period; the inactivity sweep
        # (agents.mark_inactive) marks what could not be recorded here.
        with contextlib.suppress(asyncio.CancelledError):
            await end(sock)


async def _serve(sock: AgentSocket, receive) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.disconnect":
            return
        if kind != "websocket.receive" or sock.ended:
            continue
        text = message.get("text")
        if text is None:
            await sock.error("Send JSON text frames.")
            continue
        try:
            # Bounded nesting: what the agent sends is stored, dumped and rendered again.
            body = agent_json.loads(text, max_bytes=None)
        except agent_json.BadAgentMessage as e:
            await sock.error(f"The message is refused: {e}.")
            continue
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            await sock.error('Each message must be an object with a "type".')
            continue
        hub().saw(sock)
        if body["type"] == "ping":
            # The hot path: thousands a second per process. The agent's "t" comes back as is.
            await sock.send({"type": "websocket.send", "text": _pong(body)})
            continue
        await _handle(sock, body)


def _pong(body: dict) -> str:
    try:
        return (_PONG_HEAD + orjson.dumps(body.get("t")) + b"}").decode()
    except TypeError:  # a number beyond 64 bits: let json handle it
        return json.dumps({"type": "pong", "t": body.get("t")})


async def _handle(sock: AgentSocket, body: dict) -> None:
    kind = body["type"]
    handler = HANDLERS.get(kind)
    if handler is None:
        return await sock.error(f"Unknown message type {kind[:40]!r}.")
    try:
        await handler(sock, body)
    except ServiceError as e:
        await sock.error(e.message, detail=e.detail, about=kind)
    except Exception:
        log.exception("agent %s: handling a %r message failed", sock.agent_id, kind)
        await sock.error(f"The server could not handle this {kind[:40]} message.")


async def _on_hello(sock: AgentSocket, body: dict) -> None:
    manifest = await database_sync_to_async(agents.hello_manifest)(
        sock.agent_id, version=str(body.get("version") or "")
    )
    await sock.send_json(manifest)


async def _on_lifecycle(sock: AgentSocket, body: dict) -> None:
    await database_sync_to_async(agents.report_lifecycle)(
        sock.stub(),
        str(body.get("state") or ""),
        str(body.get("reason") or ""),
        directory=body.get("directory"),
    )


async def _on_logs(sock: AgentSocket, body: dict) -> None:
    _, dropped = await database_sync_to_async(agents.append_logs)(sock.stub(), body.get("logs"))
    if dropped:
        await sock.error(
            f"Only {agents.MAX_LOG_LINES_PER_MESSAGE} log lines are accepted per message: "
            f"{dropped} were dropped. Send smaller batches.",
            about="logs",
        )


async def _on_app_health(sock: AgentSocket, body: dict) -> None:
    await database_sync_to_async(agents.report_app_health)(
        sock.stub(), str(body.get("slug") or ""), str(body.get("health") or "")
    )


async def _on_listening_ports(sock: AgentSocket, body: dict) -> None:
    await database_sync_to_async(listening_ports.report_listening_ports)(
        sock.stub(), body.get("ports")
    )


async def _on_gitsshkey(sock: AgentSocket, body: dict) -> None:
    """The workspace owner's git key for the agent's ssh-agent socket (portal_agent/gitssh.py)."""
    request = body.get("id")
    try:
        key = await database_sync_to_async(agents.git_ssh_key)(sock.agent_id)
    except ServiceError as e:
        return await sock.send_json({"type": "gitsshkey", "id": request, "error": e.message})
    await sock.send_json({"type": "gitsshkey", "id": request, **key})


async def _on_external_auth(sock: AgentSocket, body: dict) -> None:
    """The owner's git credentials for a URL or provider, for the askpass helper (or the link
    to follow when there are none); portal_agent/gitaskpass.py."""
    request = body.get("id")
    try:
        answer = await database_sync_to_async(agents.external_auth)(
            sock.agent_id,
            match=str(body.get("match") or ""),
            provider=str(body.get("provider") or ""),
        )
    except ServiceError as e:
        return await sock.send_json({"type": "external_auth", "id": request, "error": e.message})
    await sock.send_json({"type": "external_auth", "id": request, **answer})


HANDLERS = {
    "hello": _on_hello,
    "external_auth": _on_external_auth,
    "gitsshkey": _on_gitsshkey,
    "lifecycle": _on_lifecycle,
    "logs": _on_logs,
    "app_health": _on_app_health,
    "listening_ports": _on_listening_ports,
}

websocket_urlpatterns = [path(PATH, app)]

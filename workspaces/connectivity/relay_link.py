"""The relay link: joins a stream whose client and agent reached different server processes.

Every server process listens on a small TCP port (PORTAL_RELAY_BIND_ADDRESS / PORTAL_RELAY_PORT)
and, while one of its streams waits for its agent, records in Redis which address holds it
(`portal:relay:stream:<uuid>` = "host:port", "the stream's home"). When the agent's dial-back
lands on another process, that process opens a TCP connection to the home, authenticates with
an HMAC (key derived from the secret key) over stream, agent, time and a nonce, and pumps frames
between the agent's WebSocket and the link. At the home the link is the agent's side of the
stream (ASGI-like receive()/send()), so the relay, terminals and the app proxy work unchanged.

Why not the Channels layer: measured 34-54 MB/s with no backpressure; a TCP link carries frames
at socket speed, and TCP's own flow control is the backpressure (a full link is not written to,
so the agent's socket is not read).

Frames: 1 type byte, 4 length bytes (big endian), payload. Types: bytes, text (a JSON control
message of the stream), close (2-byte code + reason) and hello (the handshake, first frame only).
The link is not encrypted: bind it to a private network (tunnel payloads are the workspace's).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import socket
import struct
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.ws_scope import close_reason

log = logging.getLogger(__name__)

KEY_PREFIX = "portal:relay:stream:"
HEADER = struct.Struct(">BI")
BYTES, TEXT, CLOSE, HELLO = 0, 1, 2, 3
VERSION = 1
HELLO_BODY = struct.Struct(">B16s16sQ16s")  # version, stream, agent, unix time in ms, nonce
MAC_BYTES = 32
# uvicorn's default WebSocket message limit: a frame the agent's socket accepted fits a link frame.
MAX_PAYLOAD = 16 * 1024 * 1024
# A hello older or newer than this is refused (clock skew between hosts stays well below).
MAX_SKEW_MS = 30_000
HANDSHAKE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0
REDIS_TIMEOUT = 3.0
# Bytes the kernel may not yet have taken before a writer waits: bounds memory per link.
HIGH_WATER = 1024 * 1024
READ_LIMIT = 256 * 1024
# Seconds the agent's side waits for the home to close the link after the agent hung up.
CLOSE_GRACE = 5.0


class Refused(Exception):
    """A close code and reason for the agent's socket."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


# --- frames ---------------------------------------------------------------------------------


def _frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def write_frame(writer: asyncio.StreamWriter, kind: int, payload: bytes) -> None:
    if len(payload) < 65536:
        writer.write(HEADER.pack(kind, len(payload)) + payload)
    else:  # no copy of a large payload: two writes
        writer.write(HEADER.pack(kind, len(payload)))
        writer.write(payload)


def close_payload(code: int, reason: str) -> bytes:
    return struct.pack(">H", code) + close_reason(reason).encode()


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(type, payload); IncompleteReadError at the end of the link, ValueError if malformed."""
    kind, size = HEADER.unpack(await reader.readexactly(HEADER.size))
    if kind > HELLO or size > MAX_PAYLOAD:
        raise ValueError(f"bad relay link frame: type {kind}, {size} bytes")
    return kind, (await reader.readexactly(size) if size else b"")


def parse_close(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return 1000, ""
    return struct.unpack(">H", payload[:2])[0], payload[2:].decode(errors="replace")


# --- the handshake ----------------------------------------------------------------------------


@functools.cache
def _key(secret: str) -> bytes:
    # Its own key, so link MACs never use the raw session-signing secret.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal relay link")
    return hkdf.derive(secret.encode())


def _secret() -> str:
    from django.conf import settings

    return settings.SECRET_KEY


def hello(
    stream_id: uuid.UUID, agent_id: uuid.UUID, *, secret: str | None = None, now_ms=None
) -> bytes:
    """The handshake payload: who dials which stream, when, signed with the shared key."""
    stamp = int(time.time() * 1000) if now_ms is None else now_ms
    body = HELLO_BODY.pack(VERSION, stream_id.bytes, agent_id.bytes, stamp, os.urandom(16))
    mac = hmac.new(_key(secret or _secret()), body, hashlib.sha256).digest()
    return body + mac


class _Nonces:
    """Nonces of accepted hellos, kept as long as their hello would be fresh: no replays."""

    def __init__(self):
        self.seen: dict[bytes, float] = {}
        self.next_prune = 0.0

    def add(self, nonce: bytes) -> bool:
        now = time.monotonic()
        if now >= self.next_prune:  # at most once a second: many streams must not cost O(n^2)
            self.seen = {n: t for n, t in self.seen.items() if t > now}
            self.next_prune = now + 1
        if self.seen.get(nonce, 0) > now:
            return False
        self.seen[nonce] = now + 2 * MAX_SKEW_MS / 1000
        return True


_nonces = _Nonces()


def verify(payload: bytes) -> tuple[uuid.UUID, uuid.UUID]:
    """(stream id, agent id) of a valid hello; Refused if forged, stale or replayed."""
    body, mac = payload[:-MAC_BYTES], payload[-MAC_BYTES:]
    if len(body) != HELLO_BODY.size:
        raise Refused(4400, "Malformed relay link handshake.")
    expected = hmac.new(_key(_secret()), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise Refused(4401, "Relay link handshake refused: bad signature (check the secret key).")
    version, stream, agent, stamp, nonce = HELLO_BODY.unpack(body)
    if version != VERSION:
        raise Refused(4400, f"Relay link version {version} is not supported.")
    if abs(time.time() * 1000 - stamp) > MAX_SKEW_MS:
        raise Refused(4401, "Relay link handshake refused: stale (check the hosts' clocks).")
    if not _nonces.add(nonce):
        raise Refused(4401, "Relay link handshake refused: replayed.")
    return uuid.UUID(bytes=stream), uuid.UUID(bytes=agent)


# --- where streams live (Redis) ---------------------------------------------------------------

_redis: tuple[asyncio.AbstractEventLoop, object] | None = None


def _client():
    """A redis.asyncio client of the running loop (tests run one loop per test)."""
    global _redis
    loop = asyncio.get_running_loop()
    if _redis is None or _redis[0] is not loop:
        import redis.asyncio
        from django.conf import settings

        # No socket timeout: redis-py wraps reads in wait_for when it has one, which on
        # Python 3.11 can swallow a cancellation; asyncio.timeout below bounds each call.
        client = redis.asyncio.from_url(settings.REDIS_URL, socket_connect_timeout=REDIS_TIMEOUT)
        _redis = (loop, client)
    return _redis[1]


async def register(stream_id: uuid.UUID, ttl: float) -> bool:
    """Record that this process holds the stream; False (logged) when it cannot."""
    if _listener.address is None:
        return False  # no listener (tests without lifespan): the stream pairs in-process only
    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            await _client().set(KEY_PREFIX + str(stream_id), _listener.address, px=int(ttl * 1000))
        return True
    except Exception as exc:
        log.warning("relay link: cannot record stream %s in Redis: %s", stream_id, exc)
        return False


async def unregister(stream_id: uuid.UUID) -> None:
    if _listener.address is None:
        return
    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            await _client().delete(KEY_PREFIX + str(stream_id))
    except Exception as exc:  # the key's TTL removes it anyway
        log.warning("relay link: cannot forget stream %s in Redis: %s", stream_id, exc)


async def home_of(stream_id: uuid.UUID) -> str | None:
    """The "host:port" holding the stream, None if no process does; Refused if Redis fails."""
    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            home = await _client().get(KEY_PREFIX + str(stream_id))
    except Exception as exc:
        raise Refused(4503, f"Cannot look up the stream: {exc}") from exc
    return home.decode() if home else None


def is_here(home: str) -> bool:
    return home == _listener.address


# --- the home: the listener, and the link as the agent's side ---------------------------------


class LinkSide:
    """The agent's socket as seen by the home process: ASGI-like receive() and send()."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.ended = False

    async def receive(self) -> dict:
        if self.ended:
            return {"type": "websocket.disconnect", "code": 1006}
        try:
            kind, payload = await read_frame(self.reader)
        except (asyncio.IncompleteReadError, OSError, ValueError):
            kind, payload = CLOSE, struct.pack(">H", 1006)
        if kind == BYTES:
            return {"type": "websocket.receive", "bytes": payload}
        if kind == TEXT:
            return {"type": "websocket.receive", "text": payload.decode(errors="replace")}
        self.ended = True  # a close from the agent's side, or the link broke
        code = parse_close(payload)[0] if kind == CLOSE else 1002
        return {"type": "websocket.disconnect", "code": code}

    async def send(self, message: dict) -> None:
        if self.writer.is_closing():
            raise ConnectionResetError("the relay link is closed")
        kind = message["type"]
        if kind == "websocket.send":
            if message.get("bytes") is not None:
                write_frame(self.writer, BYTES, message["bytes"])
            else:
                write_frame(self.writer, TEXT, message["text"].encode())
        elif kind == "websocket.close":
            code, reason = message.get("code", 1000), message.get("reason") or ""
            write_frame(self.writer, CLOSE, close_payload(code, reason))
        await self.writer.drain()  # waits while the link is above its high-water mark


def _tune(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # one-byte echoes must not wait for Nagle
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    writer.transport.set_write_buffer_limits(high=HIGH_WATER)


class _Listener:
    def __init__(self):
        self.server: asyncio.Server | None = None
        self.address: str | None = None  # "host:port" advertised to other processes
        self.attach = None
        self.links: set[asyncio.Task] = set()


_listener = _Listener()


def _advertise_host(bind: str, configured: str) -> str:
    if configured:
        return configured
    if bind in {"0.0.0.0", "::", ""}:  # noqa: S104 - a name, not a bind
        # In a pod, the host name resolves to the pod's address.
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError as exc:
            raise OSError(
                f"relay link: cannot find this host's address ({exc}): "
                "set PORTAL_RELAY_ADVERTISE_HOST to the address other replicas reach it on"
            ) from exc
    return bind


async def start(attach) -> str:
    """Listen for links; `attach(stream_id, agent_id, receive, send)` pairs one with its stream.

    Returns the advertised "host:port". OSError if no port could be bound.
    """
    from portal import config

    cfg = config.load()
    host = _advertise_host(cfg.relay_bind_address, cfg.relay_advertise_host)
    ports = [0] if not cfg.relay_port else range(cfg.relay_port, cfg.relay_port + cfg.http_workers)
    error: OSError | None = None
    for port in ports:  # with several workers per host, each takes the next free port
        try:
            server = await asyncio.start_server(
                _serve, cfg.relay_bind_address, port, limit=READ_LIMIT
            )
            break
        except OSError as exc:
            error = exc
    else:
        where = f"{cfg.relay_bind_address}:{ports[0]}" + (f"-{ports[-1]}" if len(ports) > 1 else "")
        raise OSError(f"relay link: cannot listen on {where} (PORTAL_RELAY_PORT): {error}")
    bound = server.sockets[0].getsockname()[1]
    _listener.server, _listener.attach = server, attach
    _listener.address = f"{host}:{bound}"
    log.debug("relay link: listening, advertised as %s", _listener.address)
    return _listener.address


async def stop() -> None:
    server, _listener.server, _listener.address = _listener.server, None, None
    if server is not None:
        server.close()
    for task in list(_listener.links):
        task.cancel()
    await asyncio.gather(*_listener.links, return_exceptions=True)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One link from another process: the handshake, then the stream until it ends."""
    task = asyncio.current_task()
    _listener.links.add(task)
    _tune(writer)
    try:
        try:
            kind, payload = await asyncio.wait_for(read_frame(reader), HANDSHAKE_TIMEOUT)
            if kind != HELLO:
                raise Refused(4400, "The relay link must start with its handshake.")
            stream_id, agent_id = verify(payload)
        except Refused as refused:
            peer = writer.get_extra_info("peername")
            log.warning("relay link from %s refused: %s", peer, refused.reason)
            write_frame(writer, CLOSE, close_payload(refused.code, refused.reason))
            await writer.drain()
            return
        except (TimeoutError, asyncio.IncompleteReadError, ValueError, OSError):
            return
        side = LinkSide(reader, writer)
        await _listener.attach(stream_id, agent_id, side.receive, side.send)
    except (OSError, asyncio.IncompleteReadError):
        pass  # the other process went away: the relay saw it as the agent leaving
    except Exception:
        log.exception("relay link from %s failed", writer.get_extra_info("peername"))
    finally:
        _listener.links.discard(task)
        await _linger(reader, writer)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close after the other end did: closing with unread data in the socket sends a reset,
    which can destroy our last frames (a refusal's close) before the other end reads them."""
    with contextlib.suppress(Exception):
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(CLOSE_GRACE):
            while await reader.read(READ_LIMIT):
                pass
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


# --- the agent's side: its WebSocket pumped to the home ---------------------------------------


async def visit(home: str, stream_id: uuid.UUID, agent_id: uuid.UUID, receive, send) -> None:
    """Relay the agent's accepted WebSocket (receive/send) to the stream's home process."""
    host, _, port = home.rpartition(":")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port), limit=READ_LIMIT),
            CONNECT_TIMEOUT,
        )
    except (OSError, TimeoutError, ValueError) as exc:
        log.warning(
            "relay link to %s for stream %s failed: %s (%s)",
            home, stream_id, exc, await _describe_home(home),
        )  # fmt: skip
        reason = "The server process holding this stream cannot be reached."
        return await send({"type": "websocket.close", "code": 4502, "reason": reason})
    _tune(writer)
    write_frame(writer, HELLO, hello(stream_id, agent_id))
    up = asyncio.create_task(_agent_to_link(receive, writer))
    down = asyncio.create_task(_link_to_agent(reader, send))
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if down not in done:
            # The agent hung up (a close frame is on the link): let the home finish with it.
            await asyncio.wait({down}, timeout=CLOSE_GRACE)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _describe_home(home: str) -> str:
    """Which replica advertised `home`, and whether it still heartbeats (the replicas table)."""
    from asgiref.sync import sync_to_async

    from portal.replicas.queries import describe_relay_address

    try:
        async with asyncio.timeout(REDIS_TIMEOUT):
            return await sync_to_async(describe_relay_address, thread_sensitive=False)(home)
    except Exception as exc:  # the database is away too: say so, the link error stands
        return f"replicas table unreadable: {exc}"


async def _agent_to_link(receive, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                write_frame(writer, CLOSE, close_payload(message.get("code", 1000), ""))
                await writer.drain()
                return
            if kind != "websocket.receive":
                continue
            if message.get("bytes") is not None:
                write_frame(writer, BYTES, message["bytes"])
            elif message.get("text") is not None:
                write_frame(writer, TEXT, message["text"].encode())
            await writer.drain()  # the link is full: stop reading the agent's socket
    except OSError:
        return  # the home went away; the other pump tells the agent


async def _link_to_agent(reader: asyncio.StreamReader, send) -> None:
    """Frames from the home to the agent's socket, until the home closes it."""
    while True:
        try:
            kind, payload = await read_frame(reader)
        except (asyncio.IncompleteReadError, OSError, ValueError):
            reason = "The server process holding this stream went away."
            with contextlib.suppress(Exception):  # the agent may be gone as well
                await send({"type": "websocket.close", "code": 1011, "reason": reason})
            return
        if kind == BYTES:
            await send({"type": "websocket.send", "bytes": payload})
        elif kind == TEXT:
            await send({"type": "websocket.send", "text": payload.decode(errors="replace")})
        elif kind == CLOSE:
            code, reason = parse_close(payload)
            if code < 1000 or code in {1005, 1006, 1015}:  # codes no endpoint may send
                code = 1011
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": code, "reason": reason})
            return

"""The agent's side of streams: one data WebSocket per stream, relayed to a local TCP port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid

STREAMS_PATH = "/api/v2/workspaceagents/me/streams/"
MAX_FRAME = 256 * 1024  # the protocol's largest frame; also the TCP read size
CONNECT_TIMEOUT = 10.0
EOF = json.dumps({"type": "eof"})
CLOSE_GRACE = 1.0  # after the WebSocket closed, how long its reader may finish what arrived


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} portal agent: {message}", file=sys.stderr, flush=True)


def stream_url(rpc_url: str, rpc_path: str, stream: str) -> str:
    """The data-socket URL of a stream, on the same host (and path prefix) as the control URL."""
    base = rpc_url[: -len(rpc_path)] if rpc_url.endswith(rpc_path) else rpc_url.rstrip("/")
    return base + STREAMS_PATH + stream


def parse_open(message: dict) -> tuple[str, str, int | None]:
    """(stream id, kind, port) of an open_stream message; ValueError if the id is unusable."""
    stream = str(uuid.UUID(str(message.get("stream"))))  # goes into a URL: only a real uuid
    kind = str(message.get("kind") or "")
    port = message.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        port = None
    return stream, kind, port


def dial(url: str, token: str, *, user_agent: str):
    """The data socket of a stream (an async context manager)."""
    from websockets.asyncio.client import connect

    return connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        user_agent_header=user_agent,
        open_timeout=15,
        # Pings keep idle tunnels alive through proxies; no timeout, because a stream stalled by
        # a slow local reader (backpressure) stops reading pongs too, and must not be killed.
        ping_interval=20,
        ping_timeout=None,
        close_timeout=3,
        max_size=MAX_FRAME,
        compression=None,  # tunnel traffic is binary or encrypted: deflate only burns CPU
    )


async def run_stream(
    url: str, token: str, kind: str, port: int | None, *, user_agent: str, pty_session=None
):
    """Dial the data socket, connect to 127.0.0.1:port, and pump both ways until both ends close.

    kind "pty": pty_session() gives the terminal session (portal.agent.pty) to attach instead.
    """
    from websockets.exceptions import ConnectionClosed

    async with dial(url, token, user_agent=user_agent) as ws:
        if kind == "pty" and pty_session is not None:
            from portal.agent import pty

            try:
                session = pty_session()
            except (ValueError, OSError) as exc:
                await _refuse(ws, f"cannot start the terminal: {exc}")
                return
            with contextlib.suppress(ConnectionClosed):
                await pty.serve(ws, session)
            return
        if kind != "tcp" or port is None:
            await _refuse(ws, f"unsupported stream: kind {kind!r}, port {port!r}")
            return
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, limit=MAX_FRAME), CONNECT_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError) as exc:  # noqa: UP041 - distinct before 3.11
            # asyncio's own text ("Connect call failed ...") hides the cause the errno names.
            errno = getattr(exc, "errno", None)
            reason = os.strerror(errno) if errno else str(exc) or "timed out"
            await _refuse(ws, f"cannot connect to 127.0.0.1:{port}: {reason}")
            return
        try:
            with contextlib.suppress(ConnectionClosed):
                await _pump(ws, reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):  # the peer may already be gone
                await writer.wait_closed()


async def _refuse(ws, message: str) -> None:
    from websockets.exceptions import ConnectionClosed

    _log(f"stream refused: {message}")
    with contextlib.suppress(ConnectionClosed):
        await ws.send(json.dumps({"type": "error", "message": message}))


async def _pump(ws, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Both directions; the stream ends when both have sent EOF, or either side drops."""
    upstream = asyncio.ensure_future(_tcp_to_ws(ws, reader))
    downstream = asyncio.ensure_future(_ws_to_tcp(ws, writer))
    await _until_finished(ws, upstream, downstream)


async def _until_finished(ws, upstream: asyncio.Future, downstream: asyncio.Future) -> None:
    """Wait until every pump ended with a clean EOF (half-closes), or any failed, or ws closed.

    Watching the close too matters after a half-close: the remaining pump may sit in a read
    that a dropped WebSocket would never interrupt.
    """
    pumps = (upstream, downstream)
    closed = asyncio.ensure_future(ws.wait_closed())
    pending = set(pumps)
    try:
        while pending:
            done, _ = await asyncio.wait(pending | {closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                # Let the WebSocket's reader take what already arrived (data, an error, the
                # close reason); the other pump has nowhere left to send.
                if downstream in pending:
                    await asyncio.wait({downstream}, timeout=CLOSE_GRACE)
                return
            for task in done:
                pending.discard(task)
                if task.exception() is not None or not task.result():
                    return
    finally:
        for task in (*pumps, closed):
            task.cancel()
        for task in (*pumps, closed):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _tcp_to_ws(ws, reader: asyncio.StreamReader) -> bool:
    """True when the local side half-closed (EOF sent on); False when it failed."""
    try:
        while True:
            chunk = await reader.read(MAX_FRAME)
            if not chunk:
                break
            await ws.send(chunk)
    except OSError:
        return False
    await ws.send(EOF)
    return True


async def _ws_to_tcp(ws, writer: asyncio.StreamWriter) -> bool:
    """True when the remote side sent EOF (our write side is shut); False on any other end."""
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in ws:
            if isinstance(message, bytes):
                writer.write(message)
                await writer.drain()
                continue
            try:
                control = json.loads(message)
            except ValueError:
                continue
            if not isinstance(control, dict):
                continue
            if control.get("type") == "eof":
                if writer.can_write_eof():
                    writer.write_eof()
                return True
            if control.get("type") == "error":
                _log(f"stream error from the server: {control.get('message')}")
                return False
    except ConnectionClosed as exc:
        if exc.rcvd is not None and exc.rcvd.code >= 4000:  # e.g. 4404: unknown stream
            _log(f"stream closed by the server: {exc.rcvd.code} {exc.rcvd.reason}")
        return False
    except OSError:
        return False
    return False

"""The agent's side of streams: one data WebSocket per stream, relayed to a local TCP port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid

from portal_agent import tunnel

STREAMS_PATH = "/api/v2/workspaceagents/me/streams/"
MAX_FRAME = tunnel.MAX_FRAME
CONNECT_TIMEOUT = 10.0


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
    url: str,
    token: str,
    kind: str,
    port: int | None,
    *,
    user_agent: str,
    pty_session=None,
    ssh_server=None,
    open_app=None,
):
    """Dial the data socket, connect to 127.0.0.1:port, and pump both ways until both ends close.

    kind "pty": pty_session() gives the terminal session (portal_agent.pty) to attach instead;
    kind "ssh": ssh_server (portal_agent.ssh.Server) serves one SSH connection on it;
    kind "app": `await open_app(limit)` connects to the app (portal_agent.apps.Apps.open).
    """
    from websockets.exceptions import ConnectionClosed

    async with dial(url, token, user_agent=user_agent) as ws:
        if kind == "pty" and pty_session is not None:
            from portal_agent import pty

            try:
                session = pty_session()
            except (ValueError, OSError) as exc:
                await _refuse(ws, f"cannot start the terminal: {exc}")
                return
            with contextlib.suppress(ConnectionClosed):
                await pty.serve(ws, session)
            return
        if kind == "ssh" and ssh_server is not None:
            with contextlib.suppress(ConnectionClosed):
                await ssh_server.serve(ws, lambda message: _refuse(ws, message))
            return
        if kind == "app" and open_app is not None:
            try:
                reader, writer = await open_app(MAX_FRAME)
            except ConnectionError as exc:  # apps.Unreachable: not there, or not ours
                await _refuse(ws, str(exc))
                return
        elif kind != "tcp" or port is None:
            await _refuse(ws, f"unsupported stream: kind {kind!r}, port {port!r}")
            return
        else:
            try:
                reader, writer = await asyncio.wait_for(
                    tunnel.open_connection("127.0.0.1", port), CONNECT_TIMEOUT
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


def _pump(ws, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    return tunnel.pump(
        ws,
        reader,
        writer,
        on_error=lambda message: _log(f"stream error from the server: {message}"),
        on_refused=lambda code, reason: _log(f"stream closed by the server: {code} {reason}"),
    )

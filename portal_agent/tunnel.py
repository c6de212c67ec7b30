"""The byte pump of one stream, shared by the agent and `portal port-forward` (no Django).

Binary frames carry bytes; text frames carry control: {"type":"eof"} is a half-close and
{"type":"error"} ends the stream with a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

MAX_FRAME = 256 * 1024  # the protocol's largest frame; also the TCP read size
EOF = json.dumps({"type": "eof"})
CLOSE_GRACE = 1.0  # after the WebSocket closed, how long its reader may finish what arrived


async def pump(ws, reader, writer, on_error, on_refused) -> None:
    """Both directions; the stream ends when both have sent EOF, or either side drops.

    `on_error(message)` gets an error frame's message; `on_refused(code, reason)` a 4xxx close.
    """
    upstream = asyncio.ensure_future(tcp_to_ws(ws, reader))
    downstream = asyncio.ensure_future(ws_to_tcp(ws, writer, on_error, on_refused))
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


async def tcp_to_ws(ws, reader: asyncio.StreamReader) -> bool:
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


async def ws_to_tcp(ws, writer: asyncio.StreamWriter, on_error, on_refused) -> bool:
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
                on_error(str(control.get("message") or "the stream failed"))
                return False
    except ConnectionClosed as exc:
        # Refusals arrive as close codes 4xxx with a reason (forbidden, not found, conflict).
        if exc.rcvd is not None and exc.rcvd.code >= 4000:
            on_refused(exc.rcvd.code, exc.rcvd.reason)
        return False
    except OSError:
        return False
    return False

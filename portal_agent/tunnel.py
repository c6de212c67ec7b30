"""The byte pump of one stream, shared by the agent and `portal port-forward` (no Django).

Binary frames carry bytes; text frames carry control: {"type":"eof"} is a half-close and
{"type":"error"} ends the stream with a message.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json

MAX_FRAME = 256 * 1024  # the protocol's largest frame; also the TCP read size
EOF = json.dumps({"type": "eof"})
CLOSE_GRACE = 1.0  # after the WebSocket closed, how long its reader may finish what arrived


class ChunkReader(asyncio.StreamReader):
    """A StreamReader for `read()` alone, which hands over each chunk as the socket gave it.

    The default one copies every chunk into its buffer and out again: a fifth of the agent's
    time in a download (py-spy, bench/proxy_vs_chp.py). Reading pauses past 2 x `limit`
    buffered and resumes below `limit`, as the default's does. Other reads (readexactly,
    readline, iteration) are not supported: the tunnel never uses them.
    """

    def __init__(self, limit: int = MAX_FRAME):
        super().__init__(limit=limit)
        self._chunks: collections.deque = collections.deque()
        self._size = 0

    def feed_data(self, data: bytes) -> None:
        if not data:
            return
        self._chunks.append(data)
        self._size += len(data)
        self._wakeup_waiter()
        if self._transport is not None and not self._paused and self._size > 2 * self._limit:
            self._transport.pause_reading()
            self._paused = True

    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    async def read(self, n: int = -1) -> bytes:
        if self._exception is not None:
            raise self._exception
        if not self._chunks and not self._eof:
            await self._wait_for_data("read")
        if not self._chunks:
            return b""
        data = self._chunks.popleft()
        if 0 <= n < len(data):
            self._chunks.appendleft(data[n:])
            data = data[:n]
        self._size -= len(data)
        if self._paused and self._size <= self._limit:
            self._paused = False
            self._transport.resume_reading()
        return data


async def open_connection(host: str, port: int, limit: int = MAX_FRAME):
    """asyncio.open_connection with a ChunkReader: (reader, writer) of a TCP connection."""
    loop = asyncio.get_running_loop()
    reader = ChunkReader(limit)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


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

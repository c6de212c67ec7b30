"""The tunnel's TCP reader: whole chunks as the socket gave them, every byte in order, and
reading paused while the tunnel does not keep up (no unbounded buffering)."""

from __future__ import annotations

import asyncio
import os

from portal_agent import tunnel


async def _pair(limit: int):
    """(reader, writer) of a tunnel connection, and the peer's writer."""
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_connect(reader, writer):
        accepted.set_result(writer)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await tunnel.open_connection("127.0.0.1", port, limit=limit)
    peer = await accepted
    server.close()
    return reader, writer, peer


def test_every_byte_arrives_in_order_in_chunks_of_at_most_n():
    payload = os.urandom(3 * 1024 * 1024 + 17)

    async def go():
        reader, writer, peer = await _pair(limit=tunnel.MAX_FRAME)
        peer.write(payload)
        peer.write_eof()
        got, sizes = bytearray(), []
        while chunk := await reader.read(100_000):
            got += chunk
            sizes.append(len(chunk))
        assert reader.at_eof()
        writer.close()
        peer.close()
        return bytes(got), sizes

    got, sizes = asyncio.run(asyncio.wait_for(go(), 30))
    assert got == payload
    assert max(sizes) <= 100_000


def test_reading_pauses_while_nobody_reads_and_resumes_after():
    async def go():
        reader, writer, peer = await _pair(limit=64 * 1024)
        peer.write(os.urandom(8 * 1024 * 1024))  # far more than the reader may hold
        for _ in range(100):
            await asyncio.sleep(0.02)
            if not writer.transport.is_reading():
                break
        paused = not writer.transport.is_reading()
        total = 0
        while total < 8 * 1024 * 1024:
            total += len(await reader.read(tunnel.MAX_FRAME))
        resumed = writer.transport.is_reading()
        writer.close()
        peer.close()
        return paused, resumed, total

    paused, resumed, total = asyncio.run(asyncio.wait_for(go(), 30))
    assert paused and resumed and total == 8 * 1024 * 1024

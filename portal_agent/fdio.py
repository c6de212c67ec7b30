"""Reading and writing a non-blocking file descriptor (a PTY, our stdio) from asyncio."""

from __future__ import annotations

import asyncio
import os


class AsyncFD:
    """read() and write() that wait on the event loop instead of blocking it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int):
        self.loop, self.fd = loop, fd

    async def _wait(self, add, remove) -> None:
        ready = self.loop.create_future()
        try:
            add(self.fd, lambda: ready.done() or ready.set_result(None))
        except PermissionError:  # a regular file (e.g. `< input.txt`): always ready
            return
        try:
            await ready
        finally:
            remove(self.fd)

    async def read(self, size: int) -> bytes:
        """Up to size bytes; b"" at the end, and on EIO (a PTY whose last holder exited)."""
        while True:
            try:
                return os.read(self.fd, size)
            except BlockingIOError:
                await self._wait(self.loop.add_reader, self.loop.remove_reader)
            except OSError:
                return b""

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                await self._wait(self.loop.add_writer, self.loop.remove_writer)

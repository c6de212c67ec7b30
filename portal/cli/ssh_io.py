"""Local terminal plumbing for `portal ssh`: raw mode, and non-blocking stdio in asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import tty


@contextlib.contextmanager
def raw_terminal(enabled: bool):
    """Keystrokes go to the remote terminal as typed (Ctrl-C included); restored on exit."""
    if not enabled or not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class FD:
    """Reads or writes one of our standard file descriptors without blocking the event loop.

    O_NONBLOCK is set on the open file, which a terminal shares with the shell that started us,
    so restore() puts back what was there.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int):
        self.loop, self.fd = loop, fd
        try:
            self._was_blocking = os.get_blocking(fd)
            os.set_blocking(fd, False)
            self.pollable = True
        except OSError:
            self._was_blocking = None
            self.pollable = False
        self._closed = False

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
        while True:
            try:
                return os.read(self.fd, size)
            except BlockingIOError:
                await self._wait(self.loop.add_reader, self.loop.remove_reader)
            except OSError:  # EIO: the terminal went away
                return b""

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                await self._wait(self.loop.add_writer, self.loop.remove_writer)

    def restore(self) -> None:
        if self._was_blocking is not None and not self._closed:
            with contextlib.suppress(OSError):
                os.set_blocking(self.fd, self._was_blocking)
            self._closed = True

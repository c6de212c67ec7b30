"""Local terminal plumbing for `portal ssh`: raw mode, and non-blocking stdio in asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import tty

from portal_agent.fdio import AsyncFD


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


class FD(AsyncFD):
    """One of our standard file descriptors, non-blocking for asyncio.

    O_NONBLOCK is set on the open file, which a terminal shares with the shell that started us,
    so restore() puts back what was there.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int):
        super().__init__(loop, fd)
        try:
            self._was_blocking = os.get_blocking(fd)
            os.set_blocking(fd, False)
        except OSError:
            self._was_blocking = None

    def restore(self) -> None:
        if self._was_blocking is not None:
            with contextlib.suppress(OSError):
                os.set_blocking(self.fd, self._was_blocking)
            self._was_blocking = None

"""A script's outcome, and its output cut into log lines the server accepts."""

from __future__ import annotations

READ_CHUNK = 65536
# The server keeps at most 8192 characters of a line; longer lines are sent in pieces instead.
LINE_MAX = 8192


class ScriptResult:
    def __init__(self, source: str, exit_code: int | None, timed_out: bool, timeout: float):
        self.source, self.exit_code, self.timed_out, self.timeout = (
            source,
            exit_code,
            timed_out,
            timeout,
        )

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.exit_code == 0


async def pump_lines(stream, emit) -> None:
    """emit(text) for each line of `stream` until EOF; a very long line goes out in pieces."""
    pending = b""
    while True:
        chunk = await stream.read(READ_CHUNK)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _emit(emit, line.rstrip(b"\r"))
        while len(pending) > LINE_MAX:  # an unfinished very long line goes out in pieces
            piece, pending = pending[:LINE_MAX], pending[LINE_MAX:]
            _emit(emit, piece)
    if pending:
        _emit(emit, pending.rstrip(b"\r"))


def _emit(emit, line: bytes) -> None:
    for start in range(0, max(len(line), 1), LINE_MAX):
        emit(line[start : start + LINE_MAX].decode("utf-8", "replace"))

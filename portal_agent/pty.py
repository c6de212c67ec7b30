"""Reconnecting PTY sessions (the web terminal): a shell per reconnect id, outliving its stream."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import subprocess
import termios
import uuid

RECONNECT_ENV = "PORTAL_AGENT_PTY_RECONNECT_SECONDS"
RECONNECT_SECONDS = 300.0
RING_BYTES = 64 * 1024  # output replayed to a stream that reattaches
READ_CHUNK = 64 * 1024
QUEUE_CHUNKS = 64  # output chunks queued for a slow client before the PTY stops being read
WRITE_BUFFER = 1024 * 1024  # keystrokes (pastes) waiting for the shell before we stop reading ws
DEFAULT_ROWS, DEFAULT_COLS = 24, 80
_EXIT = object()


def reconnect_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(RECONNECT_ENV) or RECONNECT_SECONDS))
    except ValueError:
        return RECONNECT_SECONDS


def _size(value, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if 1 <= number <= 1000 else default


def parse_options(message: dict) -> dict:
    """reconnect (a uuid string), rows, cols, command of an open_stream; ValueError without a
    usable reconnect id."""
    reconnect = str(uuid.UUID(str(message.get("reconnect"))))
    command = message.get("command")
    return {
        "reconnect": reconnect,
        "rows": _size(message.get("rows"), DEFAULT_ROWS),
        "cols": _size(message.get("cols"), DEFAULT_COLS),
        "command": command.strip() if isinstance(command, str) else "",
    }


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _controlling_tty() -> None:  # runs in the child, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def spawn(argv: list, *, env: dict, cwd: str, rows: int, cols: int, executable=None):
    """(process, PTY master fd): argv in a new session whose controlling terminal is the PTY.

    Shared by web terminals and SSH sessions with a terminal. The master is non-blocking.
    """
    master, slave = os.openpty()
    try:
        set_size(slave, rows, cols)
        proc = subprocess.Popen(  # noqa: S603 - the user's own shell, in their own workspace
            argv,
            executable=executable,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_controlling_tty,  # noqa: PLW1509 - setsid then take the tty: job control
            close_fds=True,
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return proc, master


class Session:
    """One shell on a PTY; at most one stream attached at a time."""

    def __init__(self, manager: Sessions, key: str, argv: list, env: dict, cwd: str, rows, cols):
        self.manager = manager
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.ring = bytearray()
        self.queue: asyncio.Queue | None = None  # the attached stream's output
        self.exit_code: int | None = None
        self._pending = bytearray()  # keystrokes not yet taken by the PTY
        self._writable = asyncio.Event()
        self._writable.set()
        self._reading = False
        self._expiry: asyncio.TimerHandle | None = None
        self.proc, self.fd = spawn(argv, env=env, cwd=cwd, rows=rows, cols=cols)
        self._resume_reading()

    # -- output ------------------------------------------------------------------------------

    def _resume_reading(self) -> None:
        if not self._reading and self.fd >= 0 and self.exit_code is None:
            self.loop.add_reader(self.fd, self._on_readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading:
            self.loop.remove_reader(self.fd)
            self._reading = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: every holder of the slave side is gone
            data = b""
        if not data:
            self._pause_reading()
            asyncio.ensure_future(self._finish())
            return
        self.ring += data
        if len(self.ring) > RING_BYTES:
            del self.ring[: len(self.ring) - RING_BYTES]
        if self.queue is not None:
            self.queue.put_nowait(data)
            if self.queue.qsize() >= QUEUE_CHUNKS:
                self._pause_reading()  # a slow client slows the shell, not our memory

    async def _finish(self) -> None:
        code = await self.loop.run_in_executor(None, self.proc.wait)
        self.exit_code = 128 - code if code < 0 else code  # killed by a signal: 128 + signal
        self._close_fd()
        self.manager.forget(self)
        if self.queue is not None:
            self.queue.put_nowait(_EXIT)

    # -- input -------------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        await self._writable.wait()
        if self.fd < 0:
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        try:
            while self._pending:
                written = os.write(self.fd, self._pending)
                del self._pending[:written]
        except BlockingIOError:
            pass
        except OSError:
            self._pending.clear()
        with contextlib.suppress(Exception):
            self.loop.remove_writer(self.fd)
        if self._pending and self.fd >= 0:
            self.loop.add_writer(self.fd, self._flush)
        if len(self._pending) >= WRITE_BUFFER:
            self._writable.clear()
        else:
            self._writable.set()

    def resize(self, rows, cols) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                set_size(self.fd, _size(rows, DEFAULT_ROWS), _size(cols, DEFAULT_COLS))

    # -- attach / detach ---------------------------------------------------------------------

    def attach(self) -> asyncio.Queue:
        """A queue for a new stream: first the buffered output, then what comes. A stream still
        attached is displaced (it gets no more output)."""
        if self.queue is not None:
            self.queue.put_nowait(None)  # tell the displaced stream to close
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self.queue = asyncio.Queue()
        if self.ring:
            self.queue.put_nowait(bytes(self.ring))
        if self.exit_code is not None:
            self.queue.put_nowait(_EXIT)
        self._resume_reading()
        return self.queue

    def detach(self, queue: asyncio.Queue) -> None:
        if self.queue is not queue:
            return  # already displaced by a newer stream
        self.queue = None
        self._resume_reading()  # nobody reads: the ring buffer keeps the tail
        if self.exit_code is None:
            self._expiry = self.loop.call_later(reconnect_seconds(), self.kill)

    def drained(self, queue: asyncio.Queue) -> None:
        if queue is self.queue and queue.qsize() < QUEUE_CHUNKS // 2:
            self._resume_reading()

    def kill(self, sig: int = signal.SIGHUP) -> None:
        """End the shell (its whole session): a detached session timed out, or the agent stops."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            if sig != signal.SIGKILL:
                self.loop.call_later(3.0, self.kill, signal.SIGKILL)

    def _close_fd(self) -> None:
        if self.fd >= 0:
            self._pause_reading()
            with contextlib.suppress(Exception):
                self.loop.remove_writer(self.fd)
            os.close(self.fd)
            self.fd = -1
            self._writable.set()


class Sessions:
    """The agent's PTY sessions by reconnect id."""

    def __init__(self):
        self.sessions: dict[str, Session] = {}

    def forget(self, session: Session) -> None:
        if self.sessions.get(session.key) is session:
            del self.sessions[session.key]

    def get_or_start(self, options: dict, env: dict, cwd: str) -> Session:
        session = self.sessions.get(options["reconnect"])
        if session is not None and session.exit_code is None:
            session.resize(options["rows"], options["cols"])
            return session
        shell = env.get("SHELL") or "/bin/sh"
        argv = [shell, "-c", options["command"]] if options["command"] else [shell]
        env = {**env, "TERM": "xterm-256color"}
        rows, cols = options["rows"], options["cols"]
        session = Session(self, options["reconnect"], argv, env, cwd, rows, cols)
        self.sessions[session.key] = session
        return session

    def kill_all(self, sig: int = signal.SIGHUP) -> None:
        for session in list(self.sessions.values()):
            session.kill(sig)


async def serve(ws, session: Session) -> None:
    """Relay one stream to a session until the stream closes or the shell exits."""
    from websockets.exceptions import ConnectionClosed

    queue = session.attach()
    outgoing = asyncio.ensure_future(_output(ws, session, queue))
    incoming = asyncio.ensure_future(_input(ws, session))
    try:
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait({outgoing, incoming}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        session.detach(queue)
        for task in (outgoing, incoming):
            task.cancel()
        for task in (outgoing, incoming):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _output(ws, session: Session, queue: asyncio.Queue) -> None:
    while True:
        item = await queue.get()
        session.drained(queue)
        if item is None:  # displaced by a newer stream for the same session
            await ws.close(1000, "reattached elsewhere")
            return
        if item is _EXIT:
            await ws.send(json.dumps({"type": "exit", "code": session.exit_code}))
            await ws.close(1000)
            return
        await ws.send(item)


async def _input(ws, session: Session) -> None:
    async for message in ws:
        if isinstance(message, bytes):
            await session.write(message)
            continue
        try:
            control = json.loads(message)
        except ValueError:
            continue
        if isinstance(control, dict) and control.get("type") == "resize":
            session.resize(control.get("rows"), control.get("cols"))

"""How the agent reaches its apps: a loopback port, or a unix socket its own processes serve."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import struct
import time
from collections.abc import Callable
from urllib.parse import unquote_plus, urlsplit

UNIX_SCHEME = "http+unix"
# Every process the agent starts carries this variable; the value is new for each agent process.
INSTANCE_ENV = "PORTAL_AGENT_INSTANCE"
SUN_PATH_MAX = 107  # bytes of a socket path bind/connect accept (108 with the NUL)
CONNECT_TIMEOUT = 10.0
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


class Unreachable(ConnectionError):
    """The app cannot be reached, or is not served by this workspace; the message says why."""


def unix_target(url: str) -> tuple[str, str] | None:
    """(socket path, request target) of an http+unix:// URL; None for any other URL.

    The socket path is the URL's host, percent-encoded as Terraform's urlencode() does:
    http+unix://%2Fhome%2Fdev%2Fapp.sock/healthz is /healthz on /home/dev/app.sock.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != UNIX_SCHEME:
        return None
    path = unquote_plus(parts.netloc)
    if not path.startswith("/"):
        raise ValueError(f"{url!r} names no absolute socket path")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return path, target


def connect_unix(path: str, timeout: float) -> socket.socket:
    """A socket connected to `path` (any length: a long one goes by its directory)."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        while True:
            try:
                _connect(sock, path)
                return sock
            except BlockingIOError:
                # The server's backlog is full: unlike TCP, a unix connect does not wait.
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path} accepts no more connections") from None
                time.sleep(0.01)
    except BaseException:
        sock.close()
        raise


def _connect(sock: socket.socket, path: str) -> None:
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        sock.connect(path)
        return
    # Workspace directories under a deep data directory pass sun_path's 107 bytes: connect
    # through /proc's link to an open descriptor of the socket's directory.
    directory, name = os.path.split(path)
    fd = os.open(directory, getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{name}")
    finally:
        os.close(fd)


class Apps:
    """Connections to apps, refused when another process than the workspace's own answers.

    `instance` is the value of INSTANCE_ENV the agent gives everything it starts; `sessions()`
    gives the sessions of its scripts, for servers that rewrite their environment in memory
    (setproctitle does).
    """

    def __init__(self, instance: str, sessions: Callable[[], set[int]], manifest: Callable):
        self.instance = instance
        self._sessions = sessions
        self._manifest = manifest

    def app_url(self, slug: str) -> str:
        for app in (self._manifest() or {}).get("apps") or []:
            if isinstance(app, dict) and app.get("slug") == slug and app.get("url"):
                return str(app["url"])
        raise Unreachable(f"this agent has no app {slug!r}")

    def impostor(self, sock: socket.socket) -> str | None:
        """Why the process serving `sock` is not this workspace's; None when it is.

        The kernel names the process that listens (SO_PEERCRED, Linux); where it cannot (macOS),
        the socket's directory in the workspace is the only guard.
        """
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        except (AttributeError, OSError):
            return None
        pid, uid, _ = _PEERCRED.unpack(raw)
        if uid != os.geteuid():
            return f"it is served by another user (uid {uid})"
        if pid <= 0:
            return "its server runs where this agent cannot see it (another PID namespace)"
        marker = f"{INSTANCE_ENV}={self.instance}".encode()
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    return None
            if os.getsid(pid) in self._sessions():
                return None
        except OSError:
            return f"its server (process {pid}) is gone or cannot be inspected"
        return f"it is served by process {pid}, which this workspace did not start"

    def open_unix_sync(self, path: str, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
        try:
            sock = connect_unix(path, timeout)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc) or "timed out"
            raise Unreachable(f"cannot connect to {path}: {reason}") from exc
        reason = self.impostor(sock)
        if reason is not None:
            sock.close()
            raise Unreachable(f"refusing {path}: {reason}")
        return sock

    async def open(self, slug: str, limit: int):
        """(reader, writer) to app `slug` of the manifest: its unix socket or loopback port."""
        url = self.app_url(slug)
        try:
            target = unix_target(url)
        except ValueError as exc:
            raise Unreachable(str(exc)) from exc
        if target is None:
            port = _port(url)
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, limit=limit), CONNECT_TIMEOUT
                )
            except (OSError, asyncio.TimeoutError) as exc:  # noqa: UP041 - distinct before 3.11
                errno = getattr(exc, "errno", None)
                reason = os.strerror(errno) if errno else str(exc) or "timed out"
                raise Unreachable(f"cannot connect to 127.0.0.1:{port}: {reason}") from exc
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, self.open_unix_sync, target[0])
        sock.setblocking(False)
        return await asyncio.open_unix_connection(sock=sock, limit=limit)

    def probe(self, url: str, timeout: float) -> tuple[bool, str]:
        """(healthy, why not) of an http+unix:// health check: below 500 from our own server."""
        path, target = unix_target(url)
        try:
            sock = self.open_unix_sync(path, timeout)
        except Unreachable as exc:
            return False, str(exc)
        conn = http.client.HTTPConnection("localhost", timeout=timeout)
        conn.sock = sock
        try:
            conn.request("GET", target)
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            return False, f"{path}: {type(exc).__name__}: {exc}"
        finally:
            conn.close()
        return status < 500, "" if status < 500 else f"{path} answered HTTP {status}"


def _port(url: str) -> int:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        port = None
    if not port:
        raise Unreachable(f"the app's URL {url!r} names no port")
    return port

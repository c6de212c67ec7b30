"""An ssh-agent socket that signs with the owner's git key, held in memory only.

git in the workspace runs `ssh -o IdentityAgent=<socket>` (GIT_SSH_COMMAND, set for scripts,
terminals and SSH sessions), so the private key is never written to the workspace's disk, as
Coder's gitssh intends. The agent asks the server for the key over its control connection when
a client first needs it and forgets it after KEY_TTL seconds. Only the two requests git's ssh
makes are answered (list identities, sign with ed25519); everything else is SSH_AGENT_FAILURE.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import tempfile
import time

KEY_TTL = 300.0
FETCH_TIMEOUT = 15.0
MAX_MESSAGE = 256 * 1024

# RFC draft-miller-ssh-agent message numbers.
FAILURE = 5
REQUEST_IDENTITIES = 11
IDENTITIES_ANSWER = 12
SIGN_REQUEST = 13
SIGN_RESPONSE = 14

SOCKET_ENV = "PORTAL_GIT_SSH_AUTH_SOCK"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(buf: bytes, at: int) -> tuple[bytes, int]:
    if at + 4 > len(buf):
        raise ValueError("truncated")
    (n,) = struct.unpack(">I", buf[at : at + 4])
    end = at + 4 + n
    if end > len(buf):
        raise ValueError("truncated")
    return buf[at + 4 : end], end


def key_blob(public_line: str) -> bytes:
    return base64.b64decode(public_line.split()[1])


class GitSSHAgent:
    """Serves one unix socket; `fetch()` returns (public key line, OpenSSH private key text)."""

    def __init__(self, fetch, crypto_ready, log):
        self._fetch = fetch  # async () -> (public_line, seed), raises on refusal
        self._crypto_ready = crypto_ready  # async (): makes `cryptography` importable
        self._log = log
        self._key = None  # (public_line, seed, fetched_at)
        self._lock = asyncio.Lock()
        self._server = None
        self._sock = None
        self.path = ""

    def bind(self) -> str:
        """Create the socket now (clients queue until serve() runs); its path."""
        directory = tempfile.mkdtemp(prefix="portal-gitssh-")  # 0700: only this user
        self.path = os.path.join(directory, "agent.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self._sock.listen(16)
        return self.path

    async def serve(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, sock=self._sock)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for path in (self.path, os.path.dirname(self.path)):
            with contextlib.suppress(OSError):
                os.rmdir(path) if os.path.isdir(path) else os.unlink(path)

    async def _key_now(self):
        async with self._lock:
            if self._key is None or time.monotonic() - self._key[2] > KEY_TTL:
                public, private = await asyncio.wait_for(self._fetch(), FETCH_TIMEOUT)
                self._key = (public, private, time.monotonic())
            return self._key

    async def _serve(self, reader, writer) -> None:
        try:
            while True:
                header = await reader.readexactly(4)
                (length,) = struct.unpack(">I", header)
                if not 0 < length <= MAX_MESSAGE:
                    return
                body = await reader.readexactly(length)
                answer = await self._answer(body)
                writer.write(struct.pack(">I", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, body: bytes) -> bytes:
        kind = body[0]
        try:
            if kind == REQUEST_IDENTITIES:
                public, _, _ = await self._key_now()
                comment = " ".join(public.split()[2:]) or "portal"
                return (
                    bytes([IDENTITIES_ANSWER])
                    + struct.pack(">I", 1)
                    + _string(key_blob(public))
                    + _string(comment.encode())
                )
            if kind == SIGN_REQUEST:
                blob, at = _read_string(body, 1)
                data, _ = _read_string(body, at)
                public, private, _ = await self._key_now()
                if blob != key_blob(public):
                    return bytes([FAILURE])
                return bytes([SIGN_RESPONSE]) + _string(await self._sign(private, data))
        except Exception as exc:  # noqa: BLE001 - a failed request is SSH_AGENT_FAILURE, logged
            self._log(f"git ssh key: {type(exc).__name__}: {exc}")
        return bytes([FAILURE])

    async def _sign(self, private_key: str, data: bytes) -> bytes:
        await self._crypto_ready()  # SSH's dependencies, fetched from the server if need be
        import asyncssh

        return asyncssh.import_private_key(private_key).sign(data, b"ssh-ed25519")

"""Git credentials from the owner's external auth links, served to `GIT_ASKPASS` in memory.

The agent listens on a unix socket in a private directory; the askpass helper (`portal
gitaskpass`, which the agent's GIT_ASKPASS launcher runs) sends one JSON line, {"match": URL}
or {"provider": ID}, and reads one JSON line back: the server's answer, asked over the agent's
control connection. Tokens only pass through memory: nothing is written to the workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sys
import tempfile
import time

SOCKET_ENV = "PORTAL_AGENT_EXTERNAL_AUTH_SOCK"
ASKPASS_ENV = "GIT_ASKPASS"
TIMEOUT_ENV = "PORTAL_GITASKPASS_TIMEOUT"  # seconds to wait for the user to link; default 600
FETCH_TIMEOUT = 30.0
POLL_SECONDS = 2.0
MAX_LINE = 16 * 1024


class Server:
    """One unix socket; `fetch(request) -> dict` asks the Portal server."""

    def __init__(self, fetch, log):
        self._fetch = fetch
        self._log = log
        self._server = None
        self._sock = None
        self.path = ""

    def bind(self) -> str:
        directory = tempfile.mkdtemp(prefix="portal-extauth-")  # 0700: only this user
        self.path = os.path.join(directory, "auth.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self._sock.listen(16)
        return self.path

    async def serve(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, sock=self._sock, limit=MAX_LINE)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for path in (self.path, os.path.dirname(self.path)):
            with contextlib.suppress(OSError):
                os.rmdir(path) if os.path.isdir(path) else os.unlink(path)

    async def _serve(self, reader, writer) -> None:
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError
                request = {
                    k: str(request[k])[:2048] for k in ("match", "provider") if request.get(k)
                }
                if not request:
                    raise ValueError
            except ValueError:
                answer = {"error": 'Send one JSON line: {"match": URL} or {"provider": ID}.'}
            else:
                try:
                    answer = await asyncio.wait_for(self._fetch(request), FETCH_TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - the helper prints why
                    answer = {"error": f"The agent could not ask the server: {exc}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


def ask(request: dict, path: str | None = None) -> dict:
    """One question to the agent's socket (blocking; for the helper)."""
    path = path or os.environ.get(SOCKET_ENV, "")
    if not path:
        return {"error": f"{SOCKET_ENV} is not set: run this inside a Portal workspace."}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(FETCH_TIMEOUT + 5)
        try:
            s.connect(path)
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            return {"error": f"The workspace agent did not answer ({exc})."}
    try:
        return json.loads(data)
    except ValueError:
        return {"error": "The workspace agent sent an invalid answer."}


_PROMPT = re.compile(r"^(Username|Password) for '([^']+)'", re.IGNORECASE)


def parse_prompt(prompt: str) -> tuple[str, str]:
    """git's prompt -> ("username" | "password", URL without its user part)."""
    m = _PROMPT.match(prompt.strip())
    if not m:
        return "", ""
    url = re.sub(r"^([a-z+]+://)[^@/]*@", r"\1", m.group(2))
    return m.group(1).lower(), url


def wait_for_credentials(request: dict, *, err=sys.stderr, timeout: float | None = None) -> dict:
    """Ask until linked: a missing link prints "Authenticate with X at URL" once, then asks
    every POLL_SECONDS until the user has linked (or the wait ends)."""
    if timeout is None:
        try:
            timeout = float(os.environ.get(TIMEOUT_ENV) or 600)
        except ValueError:
            timeout = 600.0
    deadline = time.monotonic() + timeout
    told = False
    while True:
        answer = ask(request)
        if "error" in answer or "access_token" in answer:
            return answer
        if not told:
            print(
                f"Authenticate with {answer.get('provider')} at {answer.get('url')}",
                file=err,
                flush=True,
            )
            told = True
        if time.monotonic() >= deadline:
            return {"error": f"Not linked to {answer.get('provider')} in time."}
        time.sleep(POLL_SECONDS)


def askpass_main(prompt: str) -> int:
    """GIT_ASKPASS: print the user name or the password git asked for."""
    which, url = parse_prompt(prompt)
    if not which:
        print(f"portal gitaskpass: unexpected prompt {prompt!r}", file=sys.stderr)
        return 1
    answer = wait_for_credentials({"match": url})
    if "error" in answer:
        print(f"portal gitaskpass: {answer['error']}", file=sys.stderr)
        return 1
    print(answer.get(which, ""))
    return 0

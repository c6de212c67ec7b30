"""`portal login URL` through the browser: a loopback listener, /cli-auth, and a paste fallback.

The CLI listens on 127.0.0.1 at a random port with a random state and opens
`<URL>/cli-auth?port=&state=&host=` (or prints it when it cannot open a browser). After the
signed-in user clicks Authorize there, the page posts the new token and the state to
`http://127.0.0.1:<port>/callback`; a token with another state is refused. The page also shows
the token, so where the browser cannot reach this listener (a remote shell) the user pastes it.
"""

from __future__ import annotations

import hmac
import os
import queue
import secrets
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode

import click

from portal_cli.client import CLIError

MAX_BODY = 4096
DONE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Portal CLI</title>"
    "<body style='font-family:sans-serif'><p>{text}</p></body>"
)


class _Listener(HTTPServer):
    state: str
    tokens: queue.Queue


class _Callback(BaseHTTPRequestHandler):
    server: _Listener

    def _answer(self, status: int, text: str) -> None:
        body = DONE_PAGE.format(text=text).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        host = self.headers.get("Host", "").rsplit(":", 1)[0]
        if self.path.split("?", 1)[0] != "/callback" or host not in {"127.0.0.1", "localhost"}:
            self._answer(404, "Not found.")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, "Too large.")
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        state, token = form.get("state", [""])[0], form.get("token", [""])[0]
        if not token or not hmac.compare_digest(state.encode(), self.server.state.encode()):
            self._answer(
                400, "This sign-in does not belong to the waiting CLI; run portal login again."
            )
            return
        self.server.tokens.put(token)
        self._answer(200, "The Portal CLI received its token. You can close this tab.")

    def do_GET(self) -> None:  # noqa: N802
        self._answer(405, "The Portal CLI only accepts the sign-in page's form here.")

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet: it is a terminal
        pass


def _can_open_browser() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open(url: str) -> bool:
    import webbrowser

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def _read_paste(deadline: float, tokens: queue.Queue) -> str | None:
    """A pasted line, or the callback's token if it comes first; None at the deadline."""
    while time.monotonic() < deadline:
        try:
            return tokens.get_nowait()
        except queue.Empty:
            pass
        ready, _, _ = select.select([sys.stdin], [], [], 0.2)
        if ready:
            line = sys.stdin.readline()
            if not line:
                raise CLIError("no token pasted (stdin closed).")
            if line.strip():
                return line.strip()
    return None


def obtain_token(url: str, *, open_browser: bool, timeout: float) -> str:
    """The token the browser hands over (or the user pastes); a CLIError after `timeout`."""
    server = _Listener(("127.0.0.1", 0), _Callback)
    server.state = secrets.token_urlsafe(24)
    server.tokens = queue.Queue()
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="login-callback")
    thread.start()
    query = urlencode({"port": port, "state": server.state, "host": socket.gethostname()})
    page = f"{url}/cli-auth?{query}"
    try:
        opened = open_browser and _can_open_browser() and _open(page)
        if opened:
            click.echo(f"Opened your browser to authorize the CLI. If it did not, visit:\n  {page}")
        else:
            click.echo(f"Open this page in a browser signed in to Portal and authorize:\n  {page}")
        deadline = time.monotonic() + timeout
        # select() on a console works on POSIX only; elsewhere the callback alone is awaited.
        if sys.stdin.isatty() and sys.platform != "win32":
            click.echo("Paste your token (shown on the page if this CLI cannot be reached): ")
            token = _read_paste(deadline, server.tokens)
        else:
            try:
                token = server.tokens.get(timeout=timeout)
            except queue.Empty:
                token = None
        if not token:
            raise CLIError(
                f"no token arrived within {int(timeout)} seconds; run `portal login {url}` again "
                "(or pass --token, or --username for a password)."
            )
        return token
    finally:
        server.shutdown()
        server.server_close()

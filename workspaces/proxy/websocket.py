"""Workspace app proxy, WebSockets: the app's own WebSocket over an agent stream, frames both ways.

The same paths and app hosts as the HTTP proxy (workspaces.proxy.http), authorized the same way.
The ASGI server ends the browser's WebSocket; towards the app this module is a WebSocket client
(the sans-I/O `websockets` ClientProtocol) speaking over one agent stream: the HTTP/1.1 Upgrade
with the browser's key, subprotocols and headers (less Portal's credentials), then frames.
Refusals come as a close after the accept (code 4000 + HTTP status, and a reason), as the relay
does, because a browser sees nothing of an HTTP answer to a WebSocket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.request import validate_host
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.frames import BINARY, CLOSE, CONT, EXTERNAL_CLOSE_CODES, TEXT
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.uri import parse_uri

from portal.revocation import tracking
from portal.ws_scope import close_reason
from workspaces.connectivity import agent_json, relay, revocable
from workspaces.models import WorkspaceApp
from workspaces.proxy import hosts
from workspaces.proxy.access import (
    NOT_FOUND,
    audit_open,
    authorize,
    set_audit_context,
    subdomain_location,
    user_from_scope,
)
from workspaces.proxy.answers import Refusal
from workspaces.proxy.headers import forward_headers, sets_portal_cookie
from workspaces.proxy.resolve import APP_PATH
from workspaces.proxy.upstream import (
    FROM_AGENT,
    AppUnreachable,
    app_dial,
    request_target,
    send_to_agent,
)

log = logging.getLogger(__name__)

# Like uvicorn's default ws_max_size: one message from the app, assembled, before 1009.
MAX_MESSAGE = 16 * 1024 * 1024
HANDSHAKE_TIMEOUT = 30.0  # seconds for the app to answer the Upgrade
# Set by the ClientProtocol from what it negotiates, never copied from the browser's request.
OWN_HEADERS = frozenset(
    {
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    }
)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin1")
    return None


def origin_allowed(scope, host_match: dict | None) -> bool:
    """A browser's WebSocket must come from a page of the app's own origin: else any site could
    open it with the visitor's cookies (cross-site WebSocket hijacking)."""
    origin = _header(scope, b"origin")
    if origin is None:
        return True  # not a browser, so no cookies sent on someone else's behalf
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        return False  # "null": a sandboxed or file page
    if parts.netloc.lower() == hosts.request_host(scope):
        return True
    if host_match is not None:
        return False  # an app host's pages are its only origin
    if hosts.match_host(parts.netloc) is not None:
        return False  # other apps are other sites, even under a shared parent domain
    # Portal's own pages, as portal.asgi._same_site accepts them for its WebSockets.
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    return validate_host(parts.hostname, settings.ALLOWED_HOSTS)


def _prepare(scope, host_match: dict | None, user) -> tuple[WorkspaceApp, str]:
    """(app, target path) or a Refusal; runs in a DB thread."""
    query = scope.get("query_string", b"").decode("latin1")
    if host_match is not None:
        match = host_match
        raw = scope.get("raw_path")
        target = raw.decode("latin1") if raw else scope["path"]
    else:
        match = APP_PATH.match(scope["path"])
        if match is None:
            raise Refusal(404, NOT_FOUND)
        raw = APP_PATH.match(scope.get("raw_path", b"").decode("latin1")) or match
        target = raw["rest"] or "/"
    app, unreachable = authorize(match, user)
    if host_match is None and app.subdomain:
        url = subdomain_location(app, None, target, "")  # a Refusal without a wildcard domain
        raise Refusal(409, f"This app is served on its own host: connect to {url}")
    if unreachable is not None:
        raise unreachable
    if query:
        target += "?" + query
    audit_open(user, app, target)
    return app, target


class _AppSocket:
    """The app's side: a ClientProtocol whose bytes travel over one agent stream."""

    def __init__(self, stream: relay.Stream, protocol: ClientProtocol):
        self.side = stream.agent
        self.protocol = protocol
        self.lock = asyncio.Lock()  # both directions write: frames must not interleave

    async def flush(self) -> None:
        async with self.lock:
            for data in self.protocol.data_to_send():
                # b"" asks for a half-close; the stream is closed as a whole at the end instead.
                await send_to_agent(self.side, data)

    async def feed(self) -> bool:
        """Read one message of the stream into the protocol; False once the app hung up."""
        message = await self.side.receive()
        kind = message["type"]
        if kind == "websocket.receive" and message.get("bytes") is not None:
            FROM_AGENT.inc(len(message["bytes"]))
            self.protocol.receive_data(message["bytes"])
            return True
        if kind == "websocket.receive" and message.get("text") is not None:
            # A bad one is agent_json.BadAgentMessage, a ConnectionError: the stream is closed.
            control = agent_json.control(message["text"], "app WebSocket proxy")
            if control.get("type") == "error":
                raise ConnectionError(control.get("message") or "the agent refused")
            if control.get("type") != "eof":
                return True
        elif kind != "websocket.disconnect":
            return True
        self.protocol.receive_eof()
        return False

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.side.send({"type": "websocket.close", "code": 1000})


def _upgrade_request(scope, app: WorkspaceApp, target: str, protocol: ClientProtocol) -> Request:
    netloc = app_dial(app)[2]
    own = protocol.connect().headers  # Upgrade, Connection, key, version, subprotocols
    key = _header(scope, b"sec-websocket-key")
    with contextlib.suppress(ValueError, TypeError):
        if key and len(base64.b64decode(key, validate=True)) == 16:
            # The browser's key, so the app sees the handshake the browser made.
            protocol.key = key
            del own["Sec-WebSocket-Key"]  # Headers keep every value set: replace, not add
            own["Sec-WebSocket-Key"] = key
    headers = Headers()
    for name, value in forward_headers(scope, netloc):
        if name.decode("latin1").lower() not in OWN_HEADERS:
            headers[name.decode("latin1")] = value.decode("latin1")
    for name, value in own.raw_items():
        if name.lower() != "host":
            headers[name] = value
    return Request(request_target(target).decode("ascii"), headers)


async def _handshake(app_socket: _AppSocket) -> tuple[Response | None, list]:
    """(the app's answer or None if it sent none, frames that came with it)."""
    protocol = app_socket.protocol
    while True:
        alive = await app_socket.feed()
        events = protocol.events_received()
        for i, event in enumerate(events):
            if isinstance(event, Response):
                return event, events[i + 1 :]
        if protocol.handshake_exc is not None or not alive:
            return None, []


def _refusal_of(response: Response | None, protocol: ClientProtocol) -> tuple[int, str] | None:
    """(close code, reason) when the app did not accept the WebSocket, else None."""
    error = protocol.handshake_exc
    if response is None:
        return 4502, "The app closed the connection instead of answering the WebSocket upgrade."
    if isinstance(error, InvalidStatus) or response.status_code != 101:
        status = response.status_code
        code = 4000 + status if 400 <= status <= 599 else 4502
        return code, f"The app refused the WebSocket: HTTP {status} {response.reason_phrase}"
    if error is not None:
        return 4502, f"The app's WebSocket handshake is not valid: {error}"
    return None


def _client_code(code: int) -> int:
    if code in EXTERNAL_CLOSE_CODES or 3000 <= code <= 4999:
        return code
    return 1000 if code == 1005 else 1011  # 1005: the app gave no code


async def _client_to_app(receive, app_socket: _AppSocket) -> None:
    protocol = app_socket.protocol
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.disconnect":
            if protocol.state is State.OPEN:
                code = message.get("code") or 1000
                code = code if code in EXTERNAL_CLOSE_CODES or 3000 <= code <= 4999 else 1000
                protocol.send_close(code, close_reason(message.get("reason") or ""))
                await app_socket.flush()
            return
        if kind != "websocket.receive" or protocol.state is not State.OPEN:
            continue  # after the app's close, the browser's last messages go nowhere
        if message.get("bytes") is not None:
            protocol.send_binary(message["bytes"])
        elif message.get("text") is not None:
            protocol.send_text(message["text"].encode())
        # Awaited before the next receive: a slow app stops the reading of the browser.
        await app_socket.flush()


async def _app_to_client(send, app_socket: _AppSocket, events: list) -> None:
    protocol = app_socket.protocol
    opcode, parts = None, []
    while True:
        for frame in events:
            if frame.opcode is TEXT or frame.opcode is BINARY:
                opcode, parts = frame.opcode, [frame.data]
            elif frame.opcode is CONT:
                parts.append(frame.data)
            elif frame.opcode is CLOSE:
                await app_socket.flush()  # the close reply
                close = protocol.close_rcvd
                await send(
                    {
                        "type": "websocket.close",
                        "code": _client_code(close.code),
                        "reason": close_reason(close.reason),
                    }
                )
                return
            if frame.opcode in (TEXT, BINARY, CONT) and frame.fin:
                data = b"".join(parts)
                parts = []
                if opcode is BINARY:
                    await send({"type": "websocket.send", "bytes": data})
                else:
                    await send({"type": "websocket.send", "text": data.decode()})
        await app_socket.flush()  # pongs to its pings
        if protocol.state is State.CLOSED or protocol.parser_exc is not None:
            broken = protocol.parser_exc
            reason = f"The app broke the WebSocket protocol: {broken}" if broken else ""
            reason = reason or "The app's connection ended without a WebSocket close."
            await send({"type": "websocket.close", "code": 1011, "reason": close_reason(reason)})
            return
        await app_socket.feed()
        events = protocol.events_received()


async def _relay(receive, send, app_socket: _AppSocket, events: list) -> None:
    to_app = asyncio.create_task(_client_to_app(receive, app_socket))
    to_client = asyncio.create_task(_app_to_client(send, app_socket, events))
    try:
        done, _ = await asyncio.wait({to_app, to_client}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = task.exception()
            if error is not None and to_client in done:
                # The app's side broke (the agent's stream failed): say so to the browser.
                with contextlib.suppress(Exception):
                    reason = close_reason(f"The app's connection broke: {error}")
                    await send({"type": "websocket.close", "code": 1011, "reason": reason})
            elif error is not None:
                log.warning("app WebSocket relay: %s", error)
    finally:
        for task in (to_app, to_client):
            task.cancel()
        await asyncio.gather(to_app, to_client, return_exceptions=True)


async def _refuse(send, code: int, reason: str) -> None:
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": close_reason(reason)})


async def app(scope, receive, send, host_match: dict | None = None) -> None:
    """The ASGI app for WebSockets to /@... paths, or to an app host (`host_match`)."""
    if (await receive())["type"] != "websocket.connect":
        return
    set_audit_context(scope)
    if not origin_allowed(scope, host_match):
        origin = _header(scope, b"origin") or ""
        return await _refuse(send, 4403, f"Cross-site WebSocket from {origin[:60]} refused.")
    user = await user_from_scope(scope, app_host=host_match["host"] if host_match else None)
    try:
        app_row, target = await database_sync_to_async(_prepare)(scope, host_match, user)
    except Refusal as e:
        return await _refuse(send, 4000 + e.status, e.message)
    dial = app_dial(app_row)
    if dial is None:
        return await _refuse(send, 4502, "The app's URL names no port to reach it on.")
    kind, port, app_host = dial
    stream = await relay.dial_agent(app_row.agent_id, kind, port, app=app_row.slug)
    if stream is None:
        return await _refuse(send, 4502, "The workspace agent did not open a connection.")
    protocol = ClientProtocol(
        parse_uri(f"ws://{app_host}/"),
        subprotocols=scope.get("subprotocols") or None,
        max_size=MAX_MESSAGE,
    )
    app_socket = _AppSocket(stream, protocol)
    try:
        protocol.send_request(_upgrade_request(scope, app_row, target, protocol))
        try:
            await app_socket.flush()  # AppUnreachable when the agent could not reach the app
            response, events = await asyncio.wait_for(_handshake(app_socket), HANDSHAKE_TIMEOUT)
        except TimeoutError:
            return await _refuse(send, 4504, "The app did not answer the WebSocket upgrade.")
        except (ConnectionError, AppUnreachable) as e:
            return await _refuse(send, 4502, f"Cannot reach the app: {e}")
        refusal = _refusal_of(response, protocol)
        if refusal is not None:
            return await _refuse(send, *refusal)
        # The app's own cookies only: never Portal's, whatever the app's page says.
        cookies = [
            (b"set-cookie", value.encode("latin1"))
            for value in response.headers.get_all("Set-Cookie")
            if not sets_portal_cookie(value, on_app_host=host_match is not None)
        ]
        await send(
            {"type": "websocket.accept", "subprotocol": protocol.subprotocol, "headers": cookies}
        )
        # Until the visitor loses access (suspended, token revoked, workspace deleted...).
        await tracking.guard(
            revocable.app_socket(scope, user, app_row, host_match),
            _relay(receive, send, app_socket, events),
            on_revoked=lambda code, reason: send(
                {"type": "websocket.close", "code": code, "reason": reason}
            ),
        )
    finally:
        await app_socket.close()
        relay.release(stream)

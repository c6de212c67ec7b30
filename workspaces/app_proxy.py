"""Path-based workspace app proxy: HTTP to /@<user>/<workspace>[.<agent>]/apps/<slug>/<path>.

A raw ASGI app (no Django request cycle: bodies stream both ways). Each request opens one agent
stream (workspaces.relay.dial_agent) to the app's port and speaks HTTP/1.1 over it with h11,
`Connection: close`. WebSocket upgrades through the proxy are not handled yet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

import h11
from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http.cookie import parse_cookie
from django.http.request import HttpHeaders
from rest_framework.exceptions import AuthenticationFailed

from portal import hooks
from portal.accounts.authentication import TOKEN_HEADER, token_from_request, user_for_token
from portal.audit import context as audit_context
from portal.audit.choices import AuditAction, ResourceType
from portal.audit.services import record
from portal.errors import Conflict, ServiceError
from workspaces import agents, connections, relay
from workspaces.choices import AppShareLevel, BuildTransition
from workspaces.models import Workspace, WorkspaceApp

log = logging.getLogger(__name__)

PREFIX = "/@"
APP_PATH = re.compile(
    r"^/@(?P<user>[^/]+)/(?P<workspace>[^/.]+)(?:\.(?P<agent>[^/]+))?/apps/(?P<slug>[^/]+)(?P<rest>/.*)?$"
)
# Connection-level headers (RFC 9110 7.6.1) never cross a proxy; Expect because the body is
# streamed anyway, Host because the app is addressed as itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "host",
    }
)
# Portal's own credentials must never reach a workspace app.
CREDENTIAL_HEADERS = frozenset({"authorization", TOKEN_HEADER.lower(), "cookie"})
AUDIT_EVERY = 300.0  # seconds: one "open" audit entry per (user, app) in this window
_audited: dict[tuple, float] = {}
CHUNK = relay.MAX_FRAME_BYTES


class Refusal(Exception):
    def __init__(self, status: int, message: str, headers: list | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


async def _plain(send, status: int, text: str, headers: list | None = None) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _headers(scope) -> HttpHeaders:
    meta = {
        "HTTP_" + name.decode("latin1").upper().replace("-", "_"): value.decode("latin1")
        for name, value in scope.get("headers", [])
    }
    return HttpHeaders(meta)


async def _user(scope):
    """The signed-in user from a Bearer token or the session cookie, else None."""
    headers = _headers(scope)
    raw = token_from_request(SimpleNamespace(headers=headers))
    if raw is not None:
        try:
            user, _ = await database_sync_to_async(user_for_token)(raw)
        except AuthenticationFailed:
            return None
        return user if user.is_active else None
    session_key = parse_cookie(headers.get("Cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = await get_user({"session": session})
    return user if user.is_authenticated and user.is_active else None


def _resolve(match) -> WorkspaceApp:
    """The app of the workspace's latest start build, else Refusal 404."""
    owner = get_user_model().objects.filter(username__iexact=match["user"]).first()
    workspace = (
        Workspace.objects.filter(
            owner=owner, name__iexact=match["workspace"], deleted_at__isnull=True
        )
        .select_related("latest_build")
        .first()
        if owner
        else None
    )
    build = workspace.latest_build if workspace else None
    if build is None or build.transition != BuildTransition.START:
        raise Refusal(404, "No such app.")
    apps = WorkspaceApp.objects.filter(
        agent__resource__job_id=build.job_id, slug=match["slug"]
    ).select_related("agent__resource__job__build__workspace__owner")
    if match["agent"]:
        apps = apps.filter(agent__name=match["agent"])
    found = list(apps[:2])
    if not found:
        raise Refusal(404, "No such app.")
    if len(found) > 1:
        raise Refusal(404, "Several agents have this app: name one, as /@user/workspace.agent/.")
    return found[0]


def _authorize(user, app: WorkspaceApp) -> None:
    agent = app.agent
    if app.share == AppShareLevel.OWNER:
        connections.authorize_connection(user, agent, "app")
        return
    if user is not None:
        for handler in hooks.connection_policy.handlers():
            handler(user, "app")
    status = agents.agent_status(agent)
    if status != agents.AgentStatus.CONNECTED:
        raise Conflict(f"The workspace agent is not connected (it is {status}).")


def _audit(user, app: WorkspaceApp, path: str) -> None:
    key = (getattr(user, "pk", None), app.pk)
    now = time.monotonic()
    if now - _audited.get(key, -AUDIT_EVERY) < AUDIT_EVERY:
        return
    _audited[key] = now
    workspace = app.agent.resource.job.build.workspace
    record(
        actor=user,
        action=AuditAction.OPEN,
        resource_type=ResourceType.WORKSPACE_APP,
        resource_id=app.pk,
        resource_target=f"{workspace.owner.username}/{workspace.name}/{app.slug}",
        additional_fields={"share": app.share, "path": path[:200], "agent": app.agent.name},
    )


def _prepare(scope, user) -> tuple[WorkspaceApp, str]:
    """(app, target path) or a Refusal; runs in a DB thread."""
    match = APP_PATH.match(scope["path"])
    if match is None:
        raise Refusal(404, "No such app.")
    try:
        app = _resolve(match)
    except Refusal:
        if user is None:
            # Anonymous visitors learn nothing about which apps exist: sign in first.
            raise Refusal(401, "Sign in to open this app.") from None
        raise
    if user is None and app.share != AppShareLevel.PUBLIC:
        raise Refusal(401, "Sign in to open this app.")
    unreachable = None
    try:
        _authorize(user, app)
    except Conflict as e:  # allowed in, but the agent cannot be reached now
        unreachable = Refusal(502, f"Cannot reach the app: {e.message}")
    except ServiceError as e:
        # NotFound for who may not know the app exists, Forbidden for platform owners.
        raise Refusal(e.status_code, e.message) from None
    if match["rest"] is None:
        # Relative links of the app resolve against the directory: add the slash (only for
        # those allowed in, so the redirect tells nobody else the app exists).
        location = scope["path"] + "/"
        if scope.get("query_string"):
            location += "?" + scope["query_string"].decode("latin1")
        raise Refusal(308, "Moved.", [(b"location", quote(location, safe="/@?&=%.").encode())])
    if unreachable is not None:
        raise unreachable
    target = match["rest"] or "/"
    # scope["path"] is percent-decoded: forward the path as the client wrote it.
    raw = APP_PATH.match(scope.get("raw_path", b"").decode("latin1"))
    if raw is not None and raw["rest"]:
        target = raw["rest"]
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin1")
    _audit(user, app, target)
    return app, target


def _app_port(app: WorkspaceApp) -> int | None:
    try:
        parts = urlsplit(app.url)
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def _forward_headers(scope, app_host: str) -> list[tuple[bytes, bytes]]:
    out = [(b"host", app_host.encode())]
    forwarded_for = ""
    host = ""
    for name, value in scope.get("headers", []):
        lower = name.lower().decode("latin1")
        if lower == "cookie":
            # Drop Portal's session cookie only; the app's own cookies pass.
            kept = [
                part.strip()
                for part in value.decode("latin1").split(";")
                if part.strip()
                and part.strip().split("=", 1)[0].strip() != settings.SESSION_COOKIE_NAME
            ]
            if kept:
                out.append((b"cookie", "; ".join(kept).encode("latin1")))
            continue
        if lower == "x-forwarded-for":
            forwarded_for = value.decode("latin1")
            continue
        if lower == "host":
            host = value.decode("latin1")
        if lower in HOP_BY_HOP or lower in CREDENTIAL_HEADERS or lower.startswith("x-forwarded-"):
            continue
        out.append((name, value))
    client = scope.get("client")
    if client:
        forwarded_for = f"{forwarded_for}, {client[0]}" if forwarded_for else client[0]
    if forwarded_for:
        out.append((b"x-forwarded-for", forwarded_for.encode("latin1")))
    out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
    if host:
        out.append((b"x-forwarded-host", host.encode("latin1")))
    out.append((b"connection", b"close"))
    return out


class _Upstream:
    """HTTP/1.1 over one agent stream."""

    def __init__(self, stream: relay.Stream):
        self.side = stream.agent
        self.conn = h11.Connection(h11.CLIENT)
        self.ended = False

    async def write(self, event) -> None:
        data = self.conn.send(event)
        for i in range(0, len(data or b""), CHUNK):
            await self.side.send({"type": "websocket.send", "bytes": data[i : i + CHUNK]})

    async def next_event(self):
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.ended:
                raise h11.RemoteProtocolError("the app closed the connection early")
            message = await self.side.receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                self.ended = True
                self.conn.receive_data(b"")
            elif kind == "websocket.receive" and message.get("bytes") is not None:
                self.conn.receive_data(message["bytes"])
            elif kind == "websocket.receive" and message.get("text") is not None:
                control = json.loads(message["text"])
                if control.get("type") == "error":
                    raise ConnectionError(control.get("message") or "the agent refused")
                if control.get("type") == "eof":
                    self.ended = True
                    self.conn.receive_data(b"")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.side.send({"type": "websocket.close", "code": 1000})


async def _proxy(scope, receive, send, app: WorkspaceApp, target: str) -> None:
    port = _app_port(app)
    if port is None:
        return await _plain(send, 502, "The app's URL names no port to reach it on.")
    stream = await relay.dial_agent(app.agent_id, "tcp", port)
    if stream is None:
        return await _plain(send, 502, "The workspace agent did not open a connection to the app.")
    upstream = _Upstream(stream)
    started = False
    try:
        headers = _forward_headers(scope, urlsplit(app.url).netloc or f"localhost:{port}")
        has_length = any(n.lower() == b"content-length" for n, _ in scope.get("headers", []))
        chunked = any(n.lower() == b"transfer-encoding" for n, _ in scope.get("headers", []))
        if chunked and not has_length:
            headers.append((b"transfer-encoding", b"chunked"))
        await upstream.write(h11.Request(method=scope["method"], target=target, headers=headers))
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            if body:
                await upstream.write(h11.Data(data=body))
            if not message.get("more_body"):
                break
        await upstream.write(h11.EndOfMessage())
        while True:
            event = await upstream.next_event()
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                break
        response_headers = [
            (name, value)
            for name, value in event.headers
            if name.decode() not in HOP_BY_HOP - {"host"}
        ]
        await send(
            {
                "type": "http.response.start",
                "status": event.status_code,
                "headers": response_headers,
            }
        )
        started = True
        while True:
            event = await upstream.next_event()
            if isinstance(event, h11.Data):
                await send(
                    {"type": "http.response.body", "body": bytes(event.data), "more_body": True}
                )
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                await send({"type": "http.response.body", "body": b""})
                return
    except (h11.ProtocolError, ConnectionError) as e:
        if started:
            raise  # the head is out: aborting the connection is the only way to say it broke
        await _plain(send, 502, f"The app did not answer with HTTP: {e}")
    finally:
        await upstream.close()
        relay.release(stream)


async def app(scope, receive, send) -> None:
    """The ASGI app for HTTP paths starting with /@."""
    client = scope.get("client")
    audit_context.set_current(
        audit_context.RequestContext(
            ip=client[0] if client else None,
            user_agent=_headers(scope).get("User-Agent", "")[:255],
        )
    )
    user = await _user(scope)
    try:
        app_row, target = await database_sync_to_async(_prepare)(scope, user)
    except Refusal as e:
        if e.status == 401 and "text/html" in _headers(scope).get("Accept", ""):
            path = scope["path"]
            location = f"{settings.LOGIN_URL}?next={quote(path)}"
            return await _plain(send, 302, "Sign in.", [(b"location", location.encode())])
        return await _plain(send, e.status, e.message, e.headers)
    await _proxy(scope, receive, send, app_row, target)

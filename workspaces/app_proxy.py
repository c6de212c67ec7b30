"""Workspace app proxy, HTTP: /@<user>/<workspace>[.<agent>]/apps/<slug>/<path>, and app hosts.

A raw ASGI app (no Django request cycle: bodies stream both ways). Each request opens one agent
stream (connectivity.relay.dial_agent) to the app's port and speaks HTTP/1.1 over it with h11,
`Connection: close`. Apps are also served at the root of their own host when
PORTAL_WILDCARD_ACCESS_URL is set (workspaces.app_hosts); WebSockets: workspaces.app_proxy_ws.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import parse_qs, quote, urlsplit

import h11
from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import F
from django.http.cookie import parse_cookie
from django.http.request import HttpHeaders
from django.utils.html import escape
from rest_framework.exceptions import AuthenticationFailed

from portal import config, hooks, revocation
from portal.accounts.authentication import token_from_request, user_for_token
from portal.api.errors import error_body
from portal.audit import context as audit_context
from portal.audit.choices import AuditAction, ResourceType
from portal.audit.services import record
from portal.client_ip import client_ip_from_scope
from portal.errors import Conflict, Forbidden, ServiceError
from workspaces import app_hosts, permissions
from workspaces.app_proxy_headers import forward_headers, response_headers
from workspaces.choices import AppShareLevel, BuildTransition
from workspaces.connectivity import agent_json, agents, connections, relay, revocable
from workspaces.models import WorkspaceApp

log = logging.getLogger(__name__)

PREFIX = "/@"
APP_PATH = re.compile(
    r"^/@(?P<user>[^/]+)/(?P<workspace>[^/.]+)(?:\.(?P<agent>[^/]+))?/apps/(?P<slug>[^/]+)(?P<rest>/.*)?$"
)
# Every refusal to whom may not open an app, whether it exists or not (and whichever part of
# its name is wrong), is the same answer.
NOT_FOUND = "No such app."
SIGN_IN = "Sign in to open this app."
AUDIT_EVERY = 300.0  # seconds: one "open" audit entry per (user, app) in this window
_audited: dict[tuple, float] = {}
CHUNK = relay.MAX_FRAME_BYTES


class Refusal(Exception):
    def __init__(self, status: int, message: str, headers: list | None = None, detail: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
        self.detail = detail


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


_TITLES = {
    400: "Bad request",
    401: "Sign in to open this app",
    403: "Not allowed",
    404: "Not found",
    502: "The app is not answering",
    504: "The app is not answering",
}
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Portal</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;
color:#1f2328}}h1{{font-size:1.5rem}}.detail{{color:#59636e}}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{message}</p>
{detail}<p><a href="{home}">Back to your workspaces</a></p>
</main>
</body>
</html>
"""


async def _error(
    scope, send, status: int, message: str, detail: str = "", headers: list | None = None
) -> None:
    """An error answer: a page for browsers, the API's error JSON for JSON clients, else text.

    It depends on the request's Accept header only, so two refusals that must look the same do.
    """
    accept = _headers(scope).get("Accept", "")
    if "text/html" in accept:
        page = _PAGE.format(
            title=escape(_TITLES.get(status, "Cannot open this app")),
            message=escape(message),
            detail=f'<p class="detail">{escape(detail)}</p>\n' if detail else "",
            home=escape(config.load().access_url + "/"),
        )
        body = page.encode()
        kind = b"text/html; charset=utf-8"
    elif "application/json" in accept:
        body = json.dumps(error_body(message, detail)).encode()
        kind = b"application/json"
    else:
        body = (message + (f"\n{detail}" if detail else "") + "\n").encode()
        kind = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                # The page is served on app hosts too: nothing but its own inline style runs.
                (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse(scope, send, refusal: Refusal) -> None:
    if 300 <= refusal.status < 400:
        return await _plain(send, refusal.status, refusal.message, refusal.headers)
    await _error(
        scope, send, refusal.status, refusal.message, refusal.detail, headers=refusal.headers
    )


def _headers(scope) -> HttpHeaders:
    meta = {
        "HTTP_" + name.decode("latin1").upper().replace("-", "_"): value.decode("latin1")
        for name, value in scope.get("headers", [])
    }
    return HttpHeaders(meta)


async def user_from_scope(scope, app_host: str | None = None):
    """The signed-in user from a Bearer token, else the session cookie on the main host or the
    app host's own cookie on an app host; None when there is none or it is not valid."""
    headers = _headers(scope)
    raw = token_from_request(SimpleNamespace(headers=headers))
    if raw is not None:
        try:
            user, _ = await database_sync_to_async(user_for_token)(raw)
        except AuthenticationFailed:
            return None
        return user if user.is_active else None
    if app_host is not None:
        value = parse_cookie(headers.get("Cookie", "")).get(app_hosts.COOKIE_NAME)
        if not value:
            return None
        return await database_sync_to_async(app_hosts.cookie_user)(value, app_host)
    session_key = parse_cookie(headers.get("Cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = await get_user({"session": session})
    return user if user.is_authenticated and user.is_active else None


def _lookup(match) -> list[WorkspaceApp]:
    """Up to two apps `match` names in its workspace's latest build, if that is a start.

    One query whichever part of the name is wrong (user, workspace, agent or slug), so that
    how long a refusal takes tells nothing about what exists."""
    parts = [match["user"], match["workspace"], match["agent"] or "", match["slug"]]
    if any("\x00" in part for part in parts):
        return []  # PostgreSQL text cannot hold NUL, so nothing is named so
    build = "agent__resource__job__build"
    apps = WorkspaceApp.objects.filter(
        slug=match["slug"],
        **{
            f"{build}__transition": BuildTransition.START,
            f"{build}__workspace__latest_build": F(build),
            f"{build}__workspace__deleted_at__isnull": True,
            f"{build}__workspace__name__iexact": match["workspace"],
            f"{build}__workspace__owner__username__iexact": match["user"],
        },
    ).select_related(f"{build}__workspace__owner")
    if match["agent"]:
        # Host names are lowercase: an agent called "Main" is "main" there.
        lookup = "agent__name__iexact" if _by_host(match) else "agent__name"
        apps = apps.filter(**{lookup: match["agent"]})
    return list(apps.order_by("pk")[:2])


def _by_host(match) -> bool:
    return isinstance(match, dict)  # app_hosts.match_host's, not APP_PATH's


def _authorize(user, app: WorkspaceApp, *, by_host: bool) -> None:
    """Raise a ServiceError unless `user` (None: anonymous) may open `app` now.

    The policy decides who (workspaces.permissions.app_refusal); then, as for any connection,
    the connection_policy handlers and the agent's state."""
    refusal = permissions.app_refusal(user, app, by_host=by_host)
    if refusal is not None:
        raise refusal
    agent = app.agent
    path_app = not by_host and not app.subdomain
    if permissions.app_share_level(app, by_path=path_app) == AppShareLevel.OWNER:
        connections.authorize_connection(user, agent, "app", path_app=path_app)
        return
    if user is not None:
        for handler in hooks.connection_policy.handlers():
            handler(user, "app")
    status = agents.agent_status(agent)
    if status != agents.AgentStatus.CONNECTED:
        raise Conflict(f"The workspace agent is not connected (it is {status}).")


def audit_open(user, app: WorkspaceApp, path: str) -> None:
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


def authorize(match, user) -> tuple[WorkspaceApp, Refusal | None]:
    """(the app, a Refusal to give if its agent cannot be reached now) or a Refusal (DB thread).

    `match` names the app: a match of APP_PATH, or app_hosts.match_host's dict. Who may not
    open it gets the same refusal whether it exists or not: anonymous visitors are asked to
    sign in, others told there is no such app; only who may see every workspace (and so
    knows) is told why not.
    """
    by_host = _by_host(match)
    allowed: list[tuple[WorkspaceApp, Refusal | None]] = []
    refusal = Refusal(401, SIGN_IN) if user is None else Refusal(404, NOT_FOUND)
    for app in _lookup(match):
        try:
            _authorize(user, app, by_host=by_host)
        except Conflict as e:  # allowed in, but the agent cannot be reached now
            allowed.append((app, Refusal(502, f"Cannot reach the app: {e.message}")))
        except Forbidden as e:
            refusal = Refusal(e.status_code, e.message, detail=e.detail)
        except ServiceError:
            pass  # NotFound: for who may not know the app exists
        else:
            allowed.append((app, None))
    if not allowed:
        raise refusal
    if len(allowed) > 1:
        how = "<slug>--<agent>--<workspace>--<user>" if by_host else "/@user/workspace.agent/"
        raise Refusal(404, f"Several agents have this app: name one, as {how}.")
    return allowed[0]


def names(app: WorkspaceApp) -> tuple[str, str, str, str]:
    """(slug, agent, workspace, owner username) of an app loaded by _lookup."""
    workspace = app.agent.resource.job.build.workspace
    return app.slug, app.agent.name, workspace.name, workspace.owner.username


def subdomain_location(app: WorkspaceApp, user, path: str, query: str) -> str:
    """The URL of `path` on the app's host, with a one-time token for `user`; else a Refusal
    saying why this subdomain app cannot be served (DB thread)."""
    if app_hosts.wildcard() is None:
        raise Refusal(
            409,
            # Short first sentence: a WebSocket close reason keeps 120 bytes.
            "This app is served on its own subdomain: the operator must set "
            "PORTAL_WILDCARD_ACCESS_URL. Portal has no domain for apps yet; set it to e.g. "
            "*.apps.example.com, with a wildcard DNS record for that domain pointing at Portal.",
        )
    host = app_hosts.app_host(*names(app))
    if host is None:
        raise Refusal(
            409,
            "This app is served on its own subdomain, but its names do not fit a host name. "
            "The app slug, agent, workspace and user names joined by '--' must use only "
            f"letters, digits and single '-', {app_hosts.MAX_LABEL} characters in all.",
        )
    token = app_hosts.issue_token(user, app, host) if user else None
    return app_hosts.wildcard().url(host) + app_hosts.with_token(path, query, token)


def _prepare(scope, user) -> tuple[WorkspaceApp, str]:
    """(app, target path) or a Refusal; runs in a DB thread."""
    match = APP_PATH.match(scope["path"])
    if match is None:
        raise Refusal(404, "No such app.")
    app, unreachable = authorize(match, user)
    if app.subdomain:
        # Served at its host's root (it expects to be): send the browser there, signed in.
        raw = APP_PATH.match(scope.get("raw_path", b"").decode("latin1")) or match
        query = scope.get("query_string", b"").decode("latin1")
        location = subdomain_location(app, user, raw["rest"] or "/", query)
        raise Refusal(302, "Moved to the app's own host.", _to(location))
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
    audit_open(user, app, target)
    return app, target


def app_port(app: WorkspaceApp) -> int | None:
    try:
        parts = urlsplit(app.url)
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def app_dial(app: WorkspaceApp) -> tuple[str, int | None, str] | None:
    """(stream kind, port, Host header) of the agent stream to the app; None if there is none.

    An `http+unix://` app listens on a unix socket in its workspace: the agent finds the socket
    by the app's slug in its own manifest and checks that its own workspace serves it.
    """
    if app.url.lower().startswith("http+unix://"):
        return "app", None, "localhost"
    port = app_port(app)
    if port is None:
        return None
    return "tcp", port, urlsplit(app.url).netloc or f"localhost:{port}"


class AppUnreachable(Exception):
    """The agent could not reach the app, or lost it before it answered; the message says why."""


async def agent_error(side: relay.Side, timeout: float = 2.0) -> str:
    """The reason the agent gave (its {"type": "error"} message) for a stream it closed."""

    async def read() -> str:
        while True:
            message = await side.receive()
            if message["type"] == "websocket.disconnect":
                return ""
            if message.get("text") is not None:
                with contextlib.suppress(ValueError, AttributeError):
                    control = agent_json.control(message["text"], "app proxy")
                    if control.get("type") == "error":
                        return str(control.get("message") or "")

    try:
        return await asyncio.wait_for(read(), timeout)
    except Exception:  # noqa: BLE001 - no reason is a reason too
        return ""


async def send_to_agent(side: relay.Side, data: bytes) -> None:
    """Write to the agent's side of a stream; AppUnreachable (with its reason) once it is gone."""
    try:
        for i in range(0, len(data), CHUNK):
            await side.send({"type": "websocket.send", "bytes": data[i : i + CHUNK]})
    except (OSError, RuntimeError):  # uvicorn's ClientDisconnected is an OSError
        reason = await agent_error(side)
        raise AppUnreachable(reason or "the workspace agent closed the connection") from None


class _Upstream:
    """HTTP/1.1 over one agent stream."""

    def __init__(self, stream: relay.Stream):
        self.side = stream.agent
        self.conn = h11.Connection(h11.CLIENT)
        self.ended = False

    async def write(self, event) -> None:
        await send_to_agent(self.side, self.conn.send(event) or b"")

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
                try:
                    control = agent_json.control(message["text"], "app proxy")
                except agent_json.BadAgentMessage as e:
                    raise AppUnreachable(f"the workspace agent sent {e}") from None
                if control.get("type") == "error":
                    raise AppUnreachable(control.get("message") or "the agent refused")
                if control.get("type") == "eof":
                    self.ended = True
                    self.conn.receive_data(b"")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.side.send({"type": "websocket.close", "code": 1000})


def request_target(target: str) -> bytes:
    """The request target as HTTP/1.1 allows it: bytes outside printable ASCII percent-encoded
    (a client may send them raw; h11 would refuse them)."""
    try:
        raw = target.encode("latin1")  # the raw path, as the client sent it
    except UnicodeEncodeError:
        raw = target.encode()  # a decoded path
    return "".join(chr(b) if 0x21 <= b <= 0x7E else f"%{b:02X}" for b in raw).encode("ascii")


async def _until_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Sending:
    """The ASGI `send` of a response, which knows whether its head is out."""

    __slots__ = ("send", "started")

    def __init__(self, send):
        self.send = send
        self.started = False

    async def __call__(self, message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


async def _proxy(
    scope, receive, send, app: WorkspaceApp, target: str, *, user, host_match=None
) -> None:
    """Forward the request to the app and its response back, until the visitor loses access
    (suspended, token revoked, workspace deleted...): then the pull from the app stops, and the
    visitor gets the refusal, or, once the head is out, a cut connection (the server closes it
    when a response ends unfinished)."""
    sending = _Sending(send)

    async def cut(code: int, reason: str) -> None:
        if not sending.started:
            await _error(scope, sending, code - 4000, reason)

    await revocation.guard(
        revocable.app_response(scope, user, app, host_match, target),
        _forward(scope, receive, sending, app, target),
        on_revoked=cut,
        reread=False,  # a registry entry is all a request costs
    )


async def _forward(scope, receive, send, app: WorkspaceApp, target: str) -> None:
    dial = app_dial(app)
    if dial is None:
        return await _error(scope, send, 502, "The app's URL names no port to reach it on.")
    kind, port, app_host = dial
    stream = await relay.dial_agent(app.agent_id, kind, port, app=app.slug)
    if stream is None:
        return await _error(
            scope,
            send,
            502,
            "The workspace agent did not open a connection to the app.",
            "The agent is connected but did not answer in time. Try again in a moment.",
        )
    upstream = _Upstream(stream)
    try:
        headers = forward_headers(scope, app_host)
        has_length = any(n.lower() == b"content-length" for n, _ in scope.get("headers", []))
        chunked = any(n.lower() == b"transfer-encoding" for n, _ in scope.get("headers", []))
        if chunked and not has_length:
            headers.append((b"transfer-encoding", b"chunked"))
        try:
            request = h11.Request(
                method=scope["method"], target=request_target(target), headers=headers
            )
        except h11.LocalProtocolError as e:
            return await _error(
                scope, send, 400, "This request cannot be passed to the app.", str(e)
            )
        await upstream.write(request)
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
        # The client may leave while the app thinks or streams: stop pulling from the app then.
        on_app_host = app_hosts.match_scope(scope) is not None
        respond = asyncio.ensure_future(_respond(send, upstream, on_app_host))
        gone = asyncio.ensure_future(_until_disconnect(receive))
        try:
            done, _ = await asyncio.wait({respond, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (respond, gone):
                task.cancel()  # nothing to a finished one
            await asyncio.gather(respond, gone, return_exceptions=True)
        if respond in done:
            respond.result()  # its AppUnreachable or h11.ProtocolError, answered below
    except AppUnreachable as e:
        await _error(
            scope,
            send,
            502,
            "The app is not answering.",
            f"The workspace agent could not reach it: {e}. Start the app in the workspace (or "
            "check its port in the template), then reload this page.",
        )
    except h11.ProtocolError as e:
        await _error(scope, send, 502, f"The app did not answer with HTTP: {e}")
    finally:
        await upstream.close()
        relay.release(stream)


async def _respond(send, upstream: _Upstream, on_app_host: bool) -> None:
    """The app's response to the client; AppUnreachable or h11.ProtocolError before its head."""
    while True:
        event = await upstream.next_event()
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            break
    await send(
        {
            "type": "http.response.start",
            "status": event.status_code,
            "headers": response_headers(event.headers, on_app_host=on_app_host),
        }
    )
    try:
        while True:
            event = await upstream.next_event()
            if isinstance(event, h11.Data):
                await send(
                    {"type": "http.response.body", "body": bytes(event.data), "more_body": True}
                )
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                await send({"type": "http.response.body", "body": b""})
                return
    except (AppUnreachable, h11.ProtocolError) as e:
        # The head is out: leaving the response unfinished is the only way left to say it broke
        # (the server cuts the connection).
        log.info("app response broke after its head: %s", e)


def _ascii_url(url: str) -> bytes:
    """`url` with what is not printable ASCII percent-encoded (latin1: raw bytes as received)."""
    return quote(url, safe="!#$%&'()*+,/:;=?@[]~", encoding="latin1", errors="replace").encode()


def _to(location: str) -> list[tuple[bytes, bytes]]:
    """Redirect headers for a location that may carry a token: kept out of caches and Referers."""
    return [
        # Percent-encoded where it is not printable ASCII: a header value cannot hold the rest.
        (b"location", _ascii_url(location)),
        (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"),
    ]


def set_audit_context(scope) -> None:
    audit_context.set_current(
        audit_context.RequestContext(
            ip=client_ip_from_scope(scope),
            user_agent=_headers(scope).get("User-Agent", "")[:255],
        )
    )


def _wants_html(scope) -> bool:
    return "text/html" in _headers(scope).get("Accept", "")


def _raw_path(scope) -> str:
    raw = scope.get("raw_path")
    return raw.decode("latin1") if raw else quote(scope["path"])


def _auth_redirect(scope, user) -> str:
    """/@/app-auth?to=<URL on an app host>: that URL with a one-time token (DB thread)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin1"), encoding="latin1")
    parts = urlsplit("")
    with contextlib.suppress(ValueError):  # e.g. an unclosed [IPv6 address
        given = urlsplit((query.get("to") or [""])[0])
        if given.hostname is not None:  # hostname raises ValueError too
            parts = given
    match = (
        app_hosts.match_host(parts.hostname or "") if parts.scheme in ("http", "https") else None
    )
    if match is None:
        raise Refusal(400, "Give `to`: the URL of an app on this Portal's app domain.")
    app, _ = authorize(match, user)
    token = app_hosts.issue_token(user, app, match["host"]) if user else None
    location = app_hosts.with_token(parts.path or "/", parts.query, token)
    return app_hosts.wildcard().url(match["host"]) + location


def _exchange(match, token: str, location: str) -> tuple[str, str]:
    """(the app host's cookie, where to go) for a one-time token; else a Refusal (DB thread)."""
    found = _lookup(match)
    if len(found) != 1:  # no such app: said as of a forged token, so it tells nobody what exists
        raise Refusal(401, f"Cannot sign in to this app: {app_hosts.NOT_VALID}")
    try:
        user = app_hosts.redeem_token(token, found[0], match["host"])
    except app_hosts.AppTokenError as e:
        raise Refusal(401, f"Cannot sign in to this app: {e}") from None
    authorize(match, user)  # still allowed in
    return app_hosts.cookie_value(user, match["host"]), location


def _prepare_host(scope, match, user) -> tuple[WorkspaceApp, str]:
    """(app, target path) of a request on an app host, or a Refusal (DB thread)."""
    app, unreachable = authorize(match, user)
    if unreachable is not None:
        raise unreachable
    target = _raw_path(scope)
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin1")
    audit_open(user, app, target)
    return app, target


async def host_app(scope, receive, send, match: dict) -> None:
    """The ASGI app for HTTP on an app host: the app at its root, signed in by its own cookie."""
    set_audit_context(scope)
    token, query = app_hosts.strip_token(scope.get("query_string", b"").decode("latin1"))
    clean = app_hosts.with_token(_raw_path(scope), query)
    try:
        if token is not None:
            value, location = await database_sync_to_async(_exchange)(match, token, clean)
            headers = [*_to(location), app_hosts.cookie_header(value)]
            return await _plain(send, 302, "Signed in to the app.", headers)
        user = await user_from_scope(scope, app_host=match["host"])
        app_row, target = await database_sync_to_async(_prepare_host)(scope, match, user)
    except Refusal as e:
        if e.status == 401 and token is None and _wants_html(scope):
            # Sign in on the main host, which sends the browser back here with a token.
            to = app_hosts.wildcard().url(match["host"]) + clean
            location = f"{config.load().access_url}{app_hosts.AUTH_PATH}?to={quote(to, safe='')}"
            return await _plain(send, 302, "Sign in.", _to(location))
        return await _refuse(scope, send, e)
    await _proxy(scope, receive, send, app_row, target, user=user, host_match=match)


async def app(scope, receive, send) -> None:
    """The ASGI app for HTTP paths starting with /@ on the main host."""
    set_audit_context(scope)
    if "\x00" in scope["path"]:
        # No user, workspace or app is named with a NUL: nothing to look up.
        return await _error(scope, send, 400, "The path contains a NUL character (%00).")
    user = await user_from_scope(scope)
    try:
        if scope["path"] == app_hosts.AUTH_PATH:
            location = await database_sync_to_async(_auth_redirect)(scope, user)
            return await _plain(send, 302, "To the app.", _to(location))
        app_row, target = await database_sync_to_async(_prepare)(scope, user)
    except Refusal as e:
        if e.status == 401 and _wants_html(scope):
            path = scope["path"]
            if path == app_hosts.AUTH_PATH:  # back here after signing in
                path += "?" + scope.get("query_string", b"").decode("latin1")
            location = f"{settings.LOGIN_URL}?next={quote(path)}"
            return await _plain(send, 302, "Sign in.", [(b"location", location.encode())])
        return await _refuse(scope, send, e)
    await _proxy(scope, receive, send, app_row, target, user=user)

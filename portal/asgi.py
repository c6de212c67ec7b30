"""ASGI entry point served by `portal server`: HTTP through Django's WSGI handler on a thread.

Every HTTP view is synchronous, and Django's own ASGI handler hops between the event loop and
threads several times per request: measured on the API list endpoint it served about half the
requests per second of the same views run on one dedicated thread per process (bench/api_list.py).
So HTTP requests go to the WSGI handler through a2wsgi, one hop each, and the event loop stays
free for long-lived connections: WebSockets, routed by Channels to consumers.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from portal import config  # noqa: E402

# One thread per process by default: more threads per process fight over the GIL and
# multiplied tail latency; run more processes (PORTAL_HTTP_WORKERS) for parallelism.
http = WSGIMiddleware(get_wsgi_application(), workers=config.load().http_threads)

# Django is set up from here on.
from importlib import import_module  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from urllib.parse import parse_qsl, urlsplit  # noqa: E402

from channels.auth import get_user  # noqa: E402
from channels.db import database_sync_to_async  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http.cookie import parse_cookie  # noqa: E402
from django.http.request import HttpHeaders, validate_host  # noqa: E402
from django.urls import re_path  # noqa: E402
from rest_framework.exceptions import AuthenticationFailed  # noqa: E402

from portal.accounts.authentication import token_from_request, user_for_token  # noqa: E402
from portal.api.errors import bad_request_content  # noqa: E402
from portal.errors import NUL_DETAIL, NUL_MESSAGE  # noqa: E402
from workspaces import app_hosts, app_proxy, app_proxy_ws  # noqa: E402
from workspaces.connectivity import (  # noqa: E402
    agent_consumer,  # noqa: E402
    consumers,  # noqa: E402
    event_consumers,  # noqa: E402
    relay,  # noqa: E402
    relay_link,  # noqa: E402
)


def _same_site(origin: str) -> bool:
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = urlsplit(origin).netloc
    return bool(host) and validate_host(host.rsplit("@", 1)[-1], settings.ALLOWED_HOSTS)


async def _websocket_user(scope) -> tuple[object | None, str]:
    """(user, "") from a Bearer token or the session cookie; (None, why) when they are refused."""
    meta = {
        "HTTP_" + name.decode("latin1").upper().replace("-", "_"): value.decode("latin1")
        for name, value in scope.get("headers", [])
    }
    headers = HttpHeaders(meta)
    raw = token_from_request(SimpleNamespace(headers=headers))
    if raw is not None:
        try:
            user, _ = await database_sync_to_async(user_for_token)(raw)
        except AuthenticationFailed as e:
            return None, str(e.detail)
        return user, ""
    session_key = parse_cookie(headers.get("Cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None, ""
    # Browsers send cookies with any page's WebSocket: only our own pages may use them.
    origin = headers.get("Origin")
    if origin and not _same_site(origin):
        return None, f"Cross-site WebSocket from {origin[:60]} refused."
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = await get_user({"session": session})
    return (user, "") if user.is_authenticated else (None, "")


class WebSocketAuth:
    """Puts `user` (or None) and `auth_error` in the scope; consumers decide what to refuse."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        user, error = await _websocket_user(scope)
        return await self.inner({**scope, "user": user, "auth_error": error}, receive, send)


user_websocket = WebSocketAuth(
    URLRouter(
        [
            *consumers.websocket_urlpatterns,
            *event_consumers.websocket_urlpatterns,
            re_path(r"", consumers.not_found),
        ]
    )
)
# Agents authenticate with their own token, which must never reach the user authentication.
agent_websocket = URLRouter(agent_consumer.websocket_urlpatterns)
AGENT_WEBSOCKET_PATHS = frozenset({"/" + agent_consumer.PATH})
# Streams (port-forward, later ssh and terminals) skip Channels: raw ASGI apps relay every frame.
relay_client = WebSocketAuth(relay.client_app)


async def websocket(scope, receive, send):
    path = scope["path"]
    # An app host (PORTAL_WILDCARD_ACCESS_URL) serves its app only, every path of it.
    if (host_match := app_hosts.match_scope(scope)) is not None:
        return await app_proxy_ws.app(scope, receive, send, host_match)
    if path.startswith(app_proxy.PREFIX):
        return await app_proxy_ws.app(scope, receive, send)
    if path.startswith(relay.PATH_PREFIX):
        # The agent's side takes its agent token only, never the user authentication.
        if relay.AGENT_PATH.match(path):
            return await relay.agent_app(scope, receive, send)
        if relay.CLIENT_PATH.match(path):
            return await relay_client(scope, receive, send)
    if scope["path"] in AGENT_WEBSOCKET_PATHS:
        return await agent_websocket(scope, receive, send)
    return await user_websocket(scope, receive, send)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # The relay link: agents whose dial-back lands on another process reach us here.
            try:
                await relay_link.start(relay.attach_agent)
            except OSError as e:
                await send({"type": "lifespan.startup.failed", "message": str(e)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await relay_link.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _nul_input(scope) -> tuple[str, str] | None:
    """(field, where) of a NUL character in what Portal reads of a request, else None.

    PostgreSQL text cannot hold NUL, and no path, query, header or cookie of Portal's needs one:
    refused here, once for every route (Django, the app proxy, WebSockets), rather than as a
    500 wherever it reaches a query. What the app proxy relays (the app's own path after
    /apps/<slug>, its query, the whole of an app host's URL) is the app's business.
    """
    path = scope["path"]
    query = scope.get("query_string") or b""
    nul_in_query = b"%00" in query or b"\x00" in query
    if "\x00" in path or nul_in_query:  # rare: only then is it worth asking who reads what
        on_app_host = app_hosts.match_scope(scope) is not None
        own_path = "" if on_app_host else path
        if path.startswith(app_proxy.PREFIX) and (match := app_proxy.APP_PATH.match(path)):
            own_path = path[: match.end("slug")]
        if "\x00" in own_path:
            return "path", "the URL path"
        if nul_in_query and not on_app_host and not path.startswith(app_proxy.PREFIX):
            for name, value in parse_qsl(query.decode("latin1"), keep_blank_values=True):
                if "\x00" in name + value:
                    name = name.replace("\x00", "")
                    return name, f"the query parameter {name!r}"
            return "query", "the query string"
    for name, value in scope.get("headers") or []:
        header = name.decode("latin1")
        if b"\x00" in value:
            return header, f"the {header} header"
        # A quoted cookie value may spell NUL as an octal escape, which Django decodes.
        if name == b"cookie" and b"\\" in value:
            for key, text in parse_cookie(value.decode("latin1")).items():
                if "\x00" in key + text:
                    return f"cookie {key}", f"the cookie {key!r}"
    return None


async def _refuse_bad_input(scope, receive, send, field: str, where: str) -> None:
    content_type, body = bad_request_content(
        scope["path"],
        NUL_MESSAGE,
        f"Remove it from {where}.",
        [{"field": field, "detail": NUL_DETAIL}],
        plain=scope["type"] == "websocket"
        or scope["path"].startswith(app_proxy.PREFIX)
        or app_hosts.match_scope(scope) is not None,
    )
    start = {
        "status": 400,
        "headers": [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    if scope["type"] == "http":
        await send({"type": "http.response.start", **start})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", **start})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # a server without the extension answers 403
        await send({"type": "websocket.close", "code": 1008})


async def application(scope, receive, send):
    if scope["type"] in ("http", "websocket") and (bad := _nul_input(scope)) is not None:
        return await _refuse_bad_input(scope, receive, send, *bad)
    if scope["type"] == "http":
        # Workspace apps stream their bodies: a raw ASGI app, not a WSGI view. An app host
        # (PORTAL_WILDCARD_ACCESS_URL) serves its app only, every path of it.
        if (host_match := app_hosts.match_scope(scope)) is not None:
            return await app_proxy.host_app(scope, receive, send, host_match)
        if scope["path"].startswith(app_proxy.PREFIX):
            return await app_proxy.app(scope, receive, send)
        return await http(scope, receive, send)
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")

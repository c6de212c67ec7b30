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
import contextlib  # noqa: E402
from urllib.parse import parse_qsl  # noqa: E402

from channels.routing import URLRouter  # noqa: E402
from django.http.cookie import parse_cookie  # noqa: E402
from django.urls import re_path  # noqa: E402
from django.utils.module_loading import autodiscover_modules  # noqa: E402

from portal.accounts import requester  # noqa: E402
from portal.api.errors import bad_request_content  # noqa: E402
from portal.errors import NUL_DETAIL, NUL_MESSAGE  # noqa: E402
from portal.registry import registry  # noqa: E402

# Each app's `asgi_routes` module registers its routes (portal.registry); only this process
# needs them, so the others never import the consumers, the relay or the app proxy.
autodiscover_modules("asgi_routes")


class WebSocketAuth:
    """Puts `user` (or None) and `auth_error` in the scope; consumers decide what to refuse."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        # Cross-site cookies refused; a suspended user stays known, for the consumer to refuse.
        asking = await requester.identify(scope, check_origin=True)
        scope = {**scope, "user": asking.user, "auth_error": asking.error}
        return await self.inner(scope, receive, send)


async def not_found(scope, receive, send) -> None:
    """Any other WebSocket path: refused before accepting, as there is nothing to talk to."""
    with contextlib.suppress(Exception):
        await receive()  # websocket.connect
    await send({"type": "websocket.close", "code": 4404})


# Tried in order: hosts an app serves whole, then the prefixes apps relay, then (HTTP) Django or
# (WebSocket) the raw routes, then the Channels consumers behind the user authentication.
HOST_ROUTES = tuple(registry["host_routes"])
RELAYED_PREFIXES = tuple(registry["relayed_prefixes"])
WEBSOCKET_ROUTES = tuple(
    (route.matches, WebSocketAuth(route.app) if route.authenticate else route.app)
    for route in registry["websocket_routes"]
)
user_websocket = WebSocketAuth(
    URLRouter([*registry["websocket_consumers"], re_path(r"", not_found)])
)


def _host_route(scope):
    """(route, match) of the app host the request is for, else None."""
    for route in HOST_ROUTES:
        if (match := route.match(scope)) is not None:
            return route, match
    return None


def _relayed_prefix(path: str):
    return next((route for route in RELAYED_PREFIXES if path.startswith(route.prefix)), None)


async def websocket(scope, receive, send):
    path = scope["path"]
    if (host := _host_route(scope)) is not None:
        route, match = host
        return await route.websocket(scope, receive, send, match)
    if (relayed := _relayed_prefix(path)) is not None:
        return await relayed.websocket(scope, receive, send)
    for matches, app in WEBSOCKET_ROUTES:
        if matches(path):
            return await app(scope, receive, send)
    return await user_websocket(scope, receive, send)


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                for lifespan in registry["lifespan"]:
                    await lifespan.startup()
            except OSError as e:
                await send({"type": "lifespan.startup.failed", "message": str(e)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for lifespan in reversed(registry["lifespan"]):
                await lifespan.shutdown()
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
        on_app_host = _host_route(scope) is not None
        relayed = _relayed_prefix(path)
        own_path = "" if on_app_host else path
        if relayed is not None and (relayed_own := relayed.own_path(path)) is not None:
            own_path = relayed_own
        if "\x00" in own_path:
            return "path", "the URL path"
        if nul_in_query and not on_app_host and relayed is None:
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
        or _relayed_prefix(scope["path"]) is not None
        or _host_route(scope) is not None,
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
        if (host := _host_route(scope)) is not None:
            route, match = host
            return await route.http(scope, receive, send, match)
        if (relayed := _relayed_prefix(scope["path"])) is not None:
            return await relayed.http(scope, receive, send)
        return await http(scope, receive, send)
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")

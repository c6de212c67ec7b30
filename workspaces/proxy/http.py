"""Workspace app proxy, HTTP: /@<user>/<workspace>[.<agent>]/apps/<slug>/<path>, and app hosts.

A raw ASGI app (no Django request cycle: bodies stream both ways). Each request opens one agent
stream (connectivity.relay.dial_agent) to the app's port and speaks HTTP/1.1 over it with h11,
`Connection: close` (workspaces.proxy.forward). Apps are also served at the root of their own
host when PORTAL_WILDCARD_ACCESS_URL is set (workspaces.proxy.hosts); WebSockets:
workspaces.proxy.websocket.
"""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qs, quote, urlsplit

from channels.db import database_sync_to_async
from django.conf import settings

from portal import config
from workspaces.models import WorkspaceApp
from workspaces.proxy import hosts
from workspaces.proxy.access import (
    audit_open,
    authorize,
    set_audit_context,
    subdomain_location,
    user_from_scope,
)
from workspaces.proxy.answers import Refusal, error, plain, redirect_to, refuse, wants_html
from workspaces.proxy.forward import proxy
from workspaces.proxy.resolve import APP_PATH, lookup


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
        raise Refusal(302, "Moved to the app's own host.", redirect_to(location))
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
    match = hosts.match_host(parts.hostname or "") if parts.scheme in ("http", "https") else None
    if match is None:
        raise Refusal(400, "Give `to`: the URL of an app on this Portal's app domain.")
    app, _ = authorize(match, user)
    token = hosts.issue_token(user, app, match["host"]) if user else None
    location = hosts.with_token(parts.path or "/", parts.query, token)
    return hosts.wildcard().url(match["host"]) + location


def _exchange(match, token: str, location: str) -> tuple[str, str]:
    """(the app host's cookie, where to go) for a one-time token; else a Refusal (DB thread)."""
    found = lookup(match)
    if len(found) != 1:  # no such app: said as of a forged token, so it tells nobody what exists
        raise Refusal(401, f"Cannot sign in to this app: {hosts.NOT_VALID}")
    try:
        user = hosts.redeem_token(token, found[0], match["host"])
    except hosts.AppTokenError as e:
        raise Refusal(401, f"Cannot sign in to this app: {e}") from None
    authorize(match, user)  # still allowed in
    return hosts.cookie_value(user, match["host"]), location


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
    token, query = hosts.strip_token(scope.get("query_string", b"").decode("latin1"))
    clean = hosts.with_token(_raw_path(scope), query)
    try:
        if token is not None:
            value, location = await database_sync_to_async(_exchange)(match, token, clean)
            headers = [*redirect_to(location), hosts.cookie_header(value)]
            return await plain(send, 302, "Signed in to the app.", headers)
        user = await user_from_scope(scope, app_host=match["host"])
        app_row, target = await database_sync_to_async(_prepare_host)(scope, match, user)
    except Refusal as e:
        if e.status == 401 and token is None and wants_html(scope):
            # Sign in on the main host, which sends the browser back here with a token.
            to = hosts.wildcard().url(match["host"]) + clean
            location = f"{config.load().access_url}{hosts.AUTH_PATH}?to={quote(to, safe='')}"
            return await plain(send, 302, "Sign in.", redirect_to(location))
        return await refuse(scope, send, e)
    await proxy(scope, receive, send, app_row, target, user=user, host_match=match)


async def app(scope, receive, send) -> None:
    """The ASGI app for HTTP paths starting with /@ on the main host."""
    set_audit_context(scope)
    if "\x00" in scope["path"]:
        # No user, workspace or app is named with a NUL: nothing to look up.
        return await error(scope, send, 400, "The path contains a NUL character (%00).")
    user = await user_from_scope(scope)
    try:
        if scope["path"] == hosts.AUTH_PATH:
            location = await database_sync_to_async(_auth_redirect)(scope, user)
            return await plain(send, 302, "To the app.", redirect_to(location))
        app_row, target = await database_sync_to_async(_prepare)(scope, user)
    except Refusal as e:
        if e.status == 401 and wants_html(scope):
            path = scope["path"]
            if path == hosts.AUTH_PATH:  # back here after signing in
                path += "?" + scope.get("query_string", b"").decode("latin1")
            location = f"{settings.LOGIN_URL}?next={quote(path)}"
            return await plain(send, 302, "Sign in.", [(b"location", location.encode())])
        return await refuse(scope, send, e)
    await proxy(scope, receive, send, app_row, target, user=user)

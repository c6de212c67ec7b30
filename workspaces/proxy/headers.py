"""What crosses the app proxy in each direction: the headers an app may receive and send back.

Portal's credentials never reach an app, and nothing an app answers may set or clear Portal's
cookies; the HTTP proxy and the WebSocket handshake both apply these rules.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage

from portal.accounts.authentication import TOKEN_HEADER
from workspaces.proxy import hosts

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
# Portal's cookies: never sent to an app, and never set or cleared by one (on a path app's
# origin, Portal's own, or from an app host through a parent domain).
PORTAL_COOKIES = frozenset(
    name.lower()
    for name in (
        settings.SESSION_COOKIE_NAME,
        settings.CSRF_COOKIE_NAME,
        hosts.COOKIE_NAME,
        CookieStorage.cookie_name,
    )
)
APP_HOST_COOKIES = frozenset({hosts.COOKIE_NAME.lower()})
# What an app may not send a browser: Clear-Site-Data "cookies" clears those of the whole
# registrable domain, so Portal's session too.
DROPPED_RESPONSE_HEADERS = (HOP_BY_HOP - {"host"}) | {"clear-site-data"}


def sets_portal_cookie(value: str, *, on_app_host: bool = False) -> bool:
    """Whether a Set-Cookie value could set or clear one of Portal's cookies.

    A nameless cookie counts: a browser sends its value alone, which may well read
    "sessionid=...". On an app host a cookie without a Domain stays on that host, where Portal
    keeps only its app cookie: a host-only `sessionid` there is the app's own (a Django app's,
    say) and cannot touch Portal's, which is host-only to Portal's host.
    """
    first, _, attributes = value.partition(";")
    name, equals, _ = first.partition("=")
    name = name.strip().lower()
    if not equals or not name or name == hosts.COOKIE_NAME.lower():
        return True
    if name not in PORTAL_COOKIES:
        return False
    if not on_app_host:
        return True
    return any(a.partition("=")[0].strip().lower() == "domain" for a in attributes.split(";"))


def response_headers(headers, *, on_app_host: bool = False) -> list[tuple[bytes, bytes]]:
    """An app's response headers as they may reach the browser: no hop-by-hop ones, nothing
    that could set or clear Portal's cookies."""
    kept = []
    for name, value in headers:
        lower = name.decode("latin1").lower()
        if lower in DROPPED_RESPONSE_HEADERS:
            continue
        if lower == "set-cookie" and sets_portal_cookie(
            value.decode("latin1"), on_app_host=on_app_host
        ):
            continue
        kept.append((name, value))
    return kept


def forward_headers(scope, app_host: str) -> list[tuple[bytes, bytes]]:
    out = [(b"host", app_host.encode())]
    forwarded_for = ""
    host = ""
    # On an app host the browser holds no Portal cookie but the app cookie: the others of
    # those names are the app's own.
    portal = APP_HOST_COOKIES if hosts.match_scope(scope) else PORTAL_COOKIES
    for name, value in scope.get("headers", []):
        lower = name.lower().decode("latin1")
        if lower == "cookie":
            # Drop Portal's cookies only; the app's own cookies pass.
            kept = [
                part.strip()
                for part in value.decode("latin1").split(";")
                if part.strip() and part.strip().split("=", 1)[0].strip().lower() not in portal
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
    # A WebSocket's scope says ws/wss; apps expect the page's scheme.
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme"), scope.get("scheme", "http"))
    out.append((b"x-forwarded-proto", scheme.encode()))
    if host:
        out.append((b"x-forwarded-host", host.encode("latin1")))
    out.append((b"connection", b"close"))
    return out

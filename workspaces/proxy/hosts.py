"""Subdomain app hosts (<slug>--<agent>--<workspace>--<user>.<domain>), their tokens and cookies.

Session cookies are host-only, so a browser never sends Portal's session to an app host. The
main host, once it has authenticated and authorized the user, hands the app host a short-lived
token signed for that one host and app (`?portal_app_token=...`); the app host redeems it once,
sets its own HttpOnly cookie and redirects to the clean URL, so the token leaves the address bar.
No Django or ASGI request objects here: the proxies (proxy.http, proxy.websocket) call these.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache

from portal import config

TOKEN_PARAM = "portal_app_token"
COOKIE_NAME = "portal_app_session"
AUTH_PATH = "/@/app-auth"  # on the main host; "/@/" is no user's path
TOKEN_MAX_AGE = 60  # seconds from issue to redemption: it only crosses one redirect
NOT_VALID = "This app link is not valid: open the app again from Portal."
_TOKEN_SALT = "portal.app-token"
_COOKIE_SALT = "portal.app-cookie"
_LABEL = re.compile(r"^[a-z0-9](?:-?[a-z0-9])*$")  # one part: no "--", which separates parts
MAX_LABEL = 63  # DNS


class AppTokenError(Exception):
    """A token or cookie that does not let anyone in; the message is safe to show."""


def wildcard() -> config.WildcardAccessURL | None:
    return config.load().wildcard_access_url


def request_host(scope) -> str:
    """The Host header as sent (lowercase, with its port if any)."""
    for name, value in scope.get("headers", []):
        if name == b"host":
            return value.decode("latin1").strip().lower()
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else ""


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def match_host(host: str) -> dict | None:
    """{"slug", "port", "agent", "workspace", "user", "host"} of a host on the app domain, else
    None. A port host's first part is the port (digits): 8080--agent--workspace--user; an app
    host's is its slug (one of digits only is refused at import: it would read as a port)."""
    wc = wildcard()
    if wc is None or not host:
        return None
    name = _hostname(host.lower()).rstrip(".")
    label, dot, domain = name.partition(".")
    if not dot or domain != wc.domain:
        return None
    parts = label.split("--")
    if len(parts) == 3:
        slug, workspace, user = parts
        agent = None
    elif len(parts) == 4:
        slug, agent, workspace, user = parts
    else:
        return None
    if not all(parts):
        return None
    port = None
    if slug.isdigit():
        slug, port = None, slug
    return {
        "slug": slug,
        "port": port,
        "agent": agent,
        "workspace": workspace,
        "user": user,
        "host": name,
    }


def match_scope(scope) -> dict | None:
    """match_host of an ASGI request's Host (cheap when no wildcard domain is configured)."""
    if wildcard() is None:
        return None
    return match_host(request_host(scope))


def app_host(slug: str, agent: str, workspace: str, user: str) -> str | None:
    """The app's host name, or None when a name cannot be part of a DNS label."""
    wc = wildcard()
    if wc is None:
        return None
    parts = [p.lower() for p in (slug, agent, workspace, user)]
    label = "--".join(parts)
    if len(label) > MAX_LABEL or not all(_LABEL.match(p) for p in parts):
        return None
    return f"{label}.{wc.domain}"


def port_host(port: int, agent: str, workspace: str, user: str) -> str | None:
    """A port's host name (PORT--agent--workspace--user.<domain>), or None (see app_host)."""
    return app_host(str(port), agent, workspace, user)


def port_urls(port: int, agent: str, workspace: str, user: str) -> dict:
    """{"path": the owner's path URL, "host": the port host's URL or None} of a listening port."""
    base = config.load().access_url
    path = f"{base}/@{quote(user)}/{quote(workspace)}.{quote(agent)}/ports/{port}/"
    host = port_host(port, agent, workspace, user)
    return {"path": path, "host": wildcard().url(host) + "/" if host else None}


def path_url(slug: str, agent: str, workspace: str, user: str) -> str:
    """The app's path on the main host (absolute, with the access URL)."""
    base = config.load().access_url
    return f"{base}/@{quote(user)}/{quote(workspace)}.{quote(agent)}/apps/{quote(slug)}/"


def access_url(app, *, agent_name: str, workspace_name: str, owner_username: str) -> str | None:
    """Where a browser opens the app through Portal: its subdomain URL for subdomain apps when
    a wildcard domain is configured, else its path URL; None for apps with no URL (commands)."""
    if not app.url:
        return None
    names = (app.slug, agent_name, workspace_name, owner_username)
    if app.subdomain and (host := app_host(*names)) is not None:
        return wildcard().url(host) + "/"
    return path_url(*names)


def with_token(path: str, query: str, token: str | None = None) -> str:
    """path?query (raw, as the client sent it) without any app token, plus `token` if given."""
    _, query = strip_token(query)
    if token:
        query = f"{query}&{TOKEN_PARAM}={token}" if query else f"{TOKEN_PARAM}={token}"
    return path + ("?" + query if query else "")


def strip_token(query: str) -> tuple[str | None, str]:
    """(the token if the query carries one, the query without it) - raw, as the client sent it."""
    token = None
    kept = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        if name == TOKEN_PARAM:
            token = value
        else:
            kept.append(part)
    return token, "&".join(kept)


def issue_token(user, app, host: str) -> str:
    """A one-time token letting `user` into `app` on `host`, valid TOKEN_MAX_AGE seconds."""
    payload = {"u": str(user.pk), "a": str(app.pk), "h": host, "n": secrets.token_urlsafe(12)}
    return signing.dumps(payload, salt=_TOKEN_SALT)


def redeem_token(token: str, app, host: str):
    """The active user the token was issued to, for this app on this host, once; AppTokenError
    for anything else (tampered, expired, replayed, another app or host)."""
    try:
        payload = signing.loads(token, salt=_TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise AppTokenError("This app link has expired: open the app again from Portal.") from None
    except signing.BadSignature:
        raise AppTokenError(NOT_VALID) from None
    if payload.get("a") != str(app.pk) or payload.get("h") != host:
        raise AppTokenError("This app link was issued for another app.")
    # Redis SET NX: of two redemptions, on any replica, one wins.
    if not cache.add(f"app-token:{payload['n']}", 1, timeout=TOKEN_MAX_AGE * 2):
        raise AppTokenError("This app link was already used: open the app again from Portal.")
    user = _active_user(payload.get("u"))
    if user is None:
        raise AppTokenError("This app link's user can no longer sign in.")
    return user


def _active_user(pk):
    user = get_user_model().objects.filter(pk=pk).first()
    return user if user is not None and user.is_active else None


def _cookie_max_age() -> int:
    return config.load().session_token_lifetime_hours * 3600


def cookie_value(user, host: str) -> str:
    # The session auth hash changes with the password: changing it signs out app hosts too.
    payload = {"u": str(user.pk), "h": host, "s": user.get_session_auth_hash()[:24]}
    return signing.dumps(payload, salt=_COOKIE_SALT)


def cookie_header(value: str) -> tuple[bytes, bytes]:
    secure = "; Secure" if wildcard().scheme == "https" else ""
    cookie = (
        f"{COOKIE_NAME}={value}; Path=/; Max-Age={_cookie_max_age()}; HttpOnly; SameSite=Lax"
        + secure
    )
    return (b"set-cookie", cookie.encode("latin1"))


def cookie_user(value: str, host: str):
    """The active user of an app host's cookie, or None (bad, expired, for another host)."""
    try:
        payload = signing.loads(value, salt=_COOKIE_SALT, max_age=_cookie_max_age())
    except signing.BadSignature:
        return None
    if payload.get("h") != host:
        return None
    user = _active_user(payload.get("u"))
    if user is None or user.get_session_auth_hash()[:24] != payload.get("s"):
        return None
    return user

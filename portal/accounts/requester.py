"""Who is asking: the user behind an HTTP or WebSocket ASGI scope's token or cookie.

One function, identify(), for every entry point that reads an ASGI scope itself (WebSockets
routed by portal.asgi, the app proxy's HTTP and WebSockets); Django views get theirs from
portal.accounts.authentication, which reads the token the same way (token_from_scope).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from urllib.parse import urlsplit

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import validate_host
from rest_framework.exceptions import AuthenticationFailed

from portal.accounts.authentication import scope_headers, token_from_scope, user_for_token
from portal.accounts.login_rules import must_change_refusal

SUSPENDED = "Your account is suspended."


@dataclass(frozen=True)
class Requester:
    user: object | None  # None: anonymous, or what was presented was refused
    error: str = ""  # why a presented credential was refused ("" when none was, or no reason)


@dataclass(frozen=True)
class CookieRule:
    """A cookie that signs a browser in other than Portal's session: its name and its user
    (run on a database thread; None when the value is not valid)."""

    name: str
    user_of: Callable[[str], object | None]


def same_site(origin: str) -> bool:
    """An Origin of one of Portal's own pages (a trusted origin or an allowed host)."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = urlsplit(origin).netloc
    return bool(host) and validate_host(host.rsplit("@", 1)[-1], settings.ALLOWED_HOSTS)


async def _session_user(key: str):
    session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    user = await get_user({"session": session})
    return user if user.is_authenticated else None


async def identify(
    scope,
    *,
    cookie: CookieRule | None = None,
    check_origin: bool = False,
    active_only: bool = False,
) -> Requester:
    """The requester of an HTTP or WebSocket scope: a token first (Bearer or the session-token
    header), else a cookie: Portal's session cookie, or `cookie` instead of it.

    The entry points differ on purpose, so they say what they accept:
    - check_origin: refuse a cookie sent with a cross-site Origin. Browsers send cookies with
      any page's WebSocket and WebSockets have no CORS, so Portal's own WebSocket routes set it;
      the app proxy checks origins itself (an app host is its own origin).
    - active_only: a suspended user is no requester at all (the app proxy then serves them as
      anonymous: public apps stay open). Portal's WebSocket routes leave it off so that their
      consumers can close with "suspended" (4403) rather than "sign in" (4401).
    - cookie: an app host signs browsers in with its own cookie, never Portal's session cookie.
    """
    raw = token_from_scope(scope)
    if raw is not None:
        try:
            user, token = await database_sync_to_async(user_for_token)(raw)
        except AuthenticationFailed as e:
            return Requester(None, str(e.detail))
        if active_only and not user.is_active:
            return Requester(None, SUSPENDED)
        if (refusal := must_change_refusal(user, token=token)) is not None:
            return Requester(None, refusal)  # a one-time password: only its change is allowed
        return Requester(user)
    headers = scope_headers(scope)
    name = cookie.name if cookie is not None else settings.SESSION_COOKIE_NAME
    value = parse_cookie(headers.get("Cookie", "")).get(name)
    if not value:
        return Requester(None)
    origin = headers.get("Origin")
    if check_origin and origin and not same_site(origin):
        return Requester(None, f"Cross-site WebSocket from {origin[:60]} refused.")
    if cookie is not None:
        user = await database_sync_to_async(cookie.user_of)(value)
    else:
        user = await _session_user(value)
    if user is None or (active_only and not user.is_active):
        return Requester(None)
    if cookie is None and (refusal := must_change_refusal(user)) is not None:
        return Requester(None, refusal)
    return Requester(user)

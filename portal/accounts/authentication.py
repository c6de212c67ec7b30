"""API authentication: `Authorization: Bearer <token>` (or Portal-Session-Token), or the session."""

from __future__ import annotations

import functools
from types import SimpleNamespace

from django.db import connection
from django.http.request import HttpHeaders
from django.utils import timezone
from rest_framework import authentication, exceptions

from portal import secret_hash
from portal.accounts import services, tokens
from portal.accounts.login_rules import must_change_refusal
from portal.accounts.models import APIToken, User
from portal.errors import Forbidden

TOKEN_HEADER = "Portal-Session-Token"
# What a session with a reset (one-time) password may still do: who am I, change it, sign out.
_WHILE_MUST_CHANGE = frozenset({"users-me", "user-password", "users-logout"})


def check_must_change(request, user, token) -> None:
    """403 with the sentence on every other endpoint while a reset password is in use."""
    refusal = must_change_refusal(user, token=token)
    if refusal is None:
        return
    match = getattr(getattr(request, "_request", request), "resolver_match", None)
    if match is None or match.url_name not in _WHILE_MUST_CHANGE:
        raise Forbidden(refusal)


def token_from_request(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(TOKEN_HEADER) or None


def scope_headers(scope) -> HttpHeaders:
    """An ASGI scope's headers, read as a Django request's."""
    meta = {
        "HTTP_" + name.decode("latin1").upper().replace("-", "_"): value.decode("latin1")
        for name, value in scope.get("headers", [])
    }
    return HttpHeaders(meta)


def token_from_scope(scope) -> str | None:
    """The token of an HTTP or WebSocket ASGI scope, read as token_from_request reads it."""
    return token_from_request(SimpleNamespace(headers=scope_headers(scope)))


_TOKEN_WANTED = (
    "id",
    "user_id",
    "key_id",
    "secret_hash",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "kind",
)


@functools.cache
def _token_sql() -> tuple[str, list[str], list[str]]:
    """Token + user in one statement, built once from the models' metadata.

    Authentication runs on every API request; compiling the equivalent ORM query each time
    cost more than executing it.
    """
    # from_db() wants values in concrete-field order.
    token_fields = [f.attname for f in APIToken._meta.concrete_fields if f.attname in _TOKEN_WANTED]
    user_fields = [f.attname for f in User._meta.concrete_fields]
    token_table, user_table = APIToken._meta.db_table, User._meta.db_table
    columns = [f't."{APIToken._meta.get_field(f).column}"' for f in token_fields]
    columns += [f'u."{User._meta.get_field(f).column}"' for f in user_fields]
    # Only identifiers from model metadata are interpolated; the key id is a parameter.
    select = f"SELECT {', '.join(columns)} FROM {token_table} t "  # noqa: S608
    sql = select + f'JOIN {user_table} u ON u."id" = t."user_id" WHERE t."key_id" = %s'

    return sql, token_fields, user_fields


def _load_token(key_id: str) -> APIToken | None:
    sql, token_fields, user_fields = _token_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_id])
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(token_fields)
    token = APIToken.from_db("default", token_fields, row[:n])
    token.user = User.from_db("default", user_fields, row[n:])
    return token


def user_for_token(raw: str) -> tuple[object, APIToken]:
    parts = tokens.split(raw)
    if parts is None:
        raise exceptions.AuthenticationFailed("The token is malformed. Run `portal login` again.")
    key_id, secret = parts
    token = _load_token(key_id)
    if token is None or not secret_hash.matches(secret, token.secret_hash):
        raise exceptions.AuthenticationFailed("The token is not valid. Run `portal login` again.")
    if token.revoked_at is not None:
        raise exceptions.AuthenticationFailed("The token was revoked. Run `portal login` again.")
    if token.expires_at <= timezone.now():
        raise exceptions.AuthenticationFailed("The token expired. Run `portal login` again.")
    services.touch(token)
    return token.user, token


class TokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        raw = token_from_request(request)
        if raw is None:
            return None
        user, token = user_for_token(raw)
        check_must_change(request, user, token)
        return user, token

    def authenticate_header(self, request):
        return 'Bearer realm="portal"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The browser's session cookie, with CSRF enforced on unsafe methods."""

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if not user or not user.is_authenticated:
            return None
        self.enforce_csrf(request)
        check_must_change(request, user, None)
        return (user, None)

"""API authentication: `Authorization: Bearer <token>` (or Portal-Session-Token), or the session."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from portal.accounts import services, tokens
from portal.accounts.models import APIToken

TOKEN_HEADER = "Portal-Session-Token"


def token_from_request(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(TOKEN_HEADER) or None


def user_for_token(raw: str) -> tuple[object, APIToken]:
    parts = tokens.split(raw)
    if parts is None:
        raise exceptions.AuthenticationFailed("The token is malformed. Run `portal login` again.")
    key_id, secret = parts
    token = APIToken.objects.select_related("user").filter(key_id=key_id).first()
    if token is None or not tokens.matches(secret, token.secret_hash):
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
        return user_for_token(raw)

    def authenticate_header(self, request):
        return 'Bearer realm="portal"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The browser's session cookie, with CSRF enforced on unsafe methods."""

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if not user or not user.is_authenticated:
            return None
        self.enforce_csrf(request)
        return (user, None)

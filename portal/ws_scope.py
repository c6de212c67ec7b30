"""What raw WebSocket handlers read from an ASGI scope, and what fits in a close frame."""

from __future__ import annotations


def close_reason(text: str) -> str:
    """`text` cut to what a close frame carries (123 bytes), on a character boundary."""
    return text.encode()[:120].decode(errors="ignore")


SIGN_IN = "Sign in: send 'Authorization: Bearer <token>'."


def refusal(scope) -> tuple[int, str] | None:
    """(close code, reason) for a scope whose requester may not use a user WebSocket: 4401
    unauthenticated (with the authentication's own error when it gave one), 4403 suspended."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return 4401, close_reason(scope.get("auth_error") or SIGN_IN)
    if not user.is_active:
        return 4403, "Your account is suspended."
    return None


def bearer_token(scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if the scope has one."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None

"""What raw WebSocket handlers read from an ASGI scope, and what fits in a close frame."""

from __future__ import annotations


def close_reason(text: str) -> str:
    """`text` cut to what a close frame carries (123 bytes), on a character boundary."""
    return text.encode()[:120].decode(errors="ignore")


def bearer_token(scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if the scope has one."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None

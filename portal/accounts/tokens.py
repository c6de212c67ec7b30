"""API token strings: `<key_id>-<secret>`, generated, split and hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_KEY_ALPHABET = string.ascii_lowercase + string.digits
KEY_ID_LENGTH = 10


def generate() -> tuple[str, str, str]:
    """(key_id, secret, full token)."""
    key_id = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_ID_LENGTH))
    secret = secrets.token_urlsafe(24)
    return key_id, secret, f"{key_id}-{secret}"


def split(token: str) -> tuple[str, str] | None:
    key_id, sep, secret = token.strip().partition("-")
    if not sep or len(key_id) != KEY_ID_LENGTH or not secret:
        return None
    return key_id, secret


def hash_secret(secret: str) -> str:
    # The secret has 192 bits of entropy, so a fast hash is safe and keeps auth cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)

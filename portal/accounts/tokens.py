"""API token strings: `<key_id>-<secret>`, made and split; portal.secret_hash hashes the secret."""

from __future__ import annotations

import secrets
import string

from portal import secret_hash

_KEY_ALPHABET = string.ascii_lowercase + string.digits
KEY_ID_LENGTH = 10


def generate() -> tuple[str, str, str]:
    """(key_id, secret, full token)."""
    key_id = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_ID_LENGTH))
    secret = secret_hash.make(24)
    return key_id, secret, f"{key_id}-{secret}"


def split(token: str) -> tuple[str, str] | None:
    key_id, sep, secret = token.strip().partition("-")
    if not sep or len(key_id) != KEY_ID_LENGTH or not secret:
        return None
    return key_id, secret

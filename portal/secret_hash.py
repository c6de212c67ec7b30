"""Secrets that authenticate a caller: made, hashed for storage, checked in constant time.

Used by API tokens (portal.accounts.tokens) and agent tokens (workspaces), and meant for the
provisioner keys and SCIM keys to come. A stored hash is the hex SHA-256 of the UTF-8 secret
(64 characters), the format those rows have always had, so existing rows keep working. A fast
hash is safe because every secret made here carries at least 192 bits of entropy; never use it
for a password a person chose. Standard library only: the agent and the CLI may import it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

MIN_BYTES = 24  # 192 bits: too many to guess, even at a fast hash's speed


def make(nbytes: int = 32) -> str:
    """A new URL-safe secret of `nbytes` random bytes (at least MIN_BYTES)."""
    if nbytes < MIN_BYTES:
        raise ValueError(f"A secret needs at least {MIN_BYTES} random bytes, not {nbytes}.")
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """What to store for `secret`, and what to look a row up by (an indexed column)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored: str) -> bool:
    """Whether `secret` is the one `stored` was made from, in time independent of where they
    differ (a stored hash read by another key, such as an API token's key id)."""
    return hmac.compare_digest(digest(secret).encode(), stored.encode())

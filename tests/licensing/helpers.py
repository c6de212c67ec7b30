"""Licenses signed by a throwaway test vendor key, for tests outside tests/licensing."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from django.conf import settings

from licensing import tokens, vendor
from licensing.models import License

KID = "test-helpers"


@cache
def _key_dir() -> Path:
    out = Path(tempfile.mkdtemp(prefix="portal-license-keys-"))
    vendor.keygen(out, KID)
    return out


def trust() -> None:
    """Make the helpers' key trusted (the test-only setting); tests/licensing use their own."""
    settings.PORTAL_LICENSE_TEST_KEYS_DIR = str(_key_dir())


def signed(**kwargs) -> str:
    trust()
    kwargs.setdefault("account_id", "acme")
    return tokens.sign(tokens.load_private(_key_dir() / f"{KID}.key"), kid=KID, **kwargs)


def stored(**kwargs) -> License:
    """A License row as an upload leaves it (without the service: no audit entry)."""
    text = signed(**kwargs)
    claims = tokens.decode(text, tokens.public_keys_in(_key_dir()))
    return License.objects.create(
        jwt=text,
        license_expires=datetime.fromtimestamp(claims["license_expires"], UTC),
        exp=datetime.fromtimestamp(claims["exp"], UTC),
        claims=claims,
    )

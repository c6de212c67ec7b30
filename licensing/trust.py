"""Which signing keys this deployment trusts: the vendor's, shipped in licensing/keys/.

Test keys are added only when the Django setting PORTAL_LICENSE_TESTING is True, and that
setting is never read from the environment (portal/settings.py has no such line; only
tests/settings.py sets it): a real deployment cannot be given a key of its own choosing.
With the flag on, PORTAL_LICENSE_TEST_KEYS_DIR names a directory of `<kid>.pub` files
(`python -m licensing.vendor keygen --out DIR` writes one).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings

from licensing import tokens

VENDOR_KEYS_DIR = Path(__file__).resolve().parent / "keys"


@cache
def vendor_keys() -> dict:
    return tokens.public_keys_in(VENDOR_KEYS_DIR)


def testing() -> bool:
    return getattr(settings, "PORTAL_LICENSE_TESTING", False) is True


def trusted_keys() -> dict:
    keys = dict(vendor_keys())
    directory = getattr(settings, "PORTAL_LICENSE_TEST_KEYS_DIR", None)
    if testing() and directory:
        for kid, key in tokens.public_keys_in(Path(directory)).items():
            keys.setdefault(kid, key)  # a test key never replaces a vendor key
    return keys

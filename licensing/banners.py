"""The license banner: warnings and errors of the entitlements, shown to owners on every page."""

from __future__ import annotations

from licensing.cache import gate_cache
from licensing.permissions import LICENSE_MANAGE
from portal.accounts.permissions import has_permission


def license_banners(request) -> list[tuple[str, str]]:
    if not has_permission(getattr(request, "user", None), LICENSE_MANAGE):
        return []
    snapshot = gate_cache.snapshot()
    return snapshot.banner_messages() if snapshot is not None else []

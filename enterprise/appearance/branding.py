"""The `site_appearance` provider: the stored appearance on every page while the gate is on."""

from __future__ import annotations

from enterprise.appearance.cache import appearance_cache
from enterprise.appearance.services import FEATURE
from portal import features


def site_appearance(request) -> dict:
    """Nothing (Portal's own look) with the feature off; the stored look otherwise (cached)."""
    if not features.enabled(FEATURE):
        return {}
    return appearance_cache.get().branding

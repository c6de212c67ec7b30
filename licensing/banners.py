"""The license banner: warnings and errors of the entitlements, shown to owners on every page."""

from __future__ import annotations

from licensing.cache import gate_cache
from licensing.entitlements import USER_LIMIT, active_user_count
from licensing.permissions import LICENSE_MANAGE
from portal.accounts.permissions import has_permission


def license_banners(request) -> list[tuple[str, str]]:
    if not has_permission(getattr(request, "user", None), LICENSE_MANAGE):
        return []
    snapshot = gate_cache.snapshot()
    if snapshot is None:
        return []
    # The licenses are cached; the number of users is not (one count, only under a limit).
    limited = snapshot.features[USER_LIMIT]["limit"] is not None
    return snapshot.banner_messages(active_user_count() if limited else None)


def replicas_banner(request) -> list[tuple[str, str]]:
    """Several replicas online while the license lacks high availability: tell the owners."""
    from portal import features
    from portal.replicas.queries import online_count

    if not has_permission(getattr(request, "user", None), LICENSE_MANAGE):
        return []
    if features.enabled("high_availability"):
        return []
    count = online_count()
    if count <= 1:
        return []
    return [
        (
            "error",
            f"{count} server replicas are running, but your license does not include high "
            "availability: run a single replica or add a license with the high_availability "
            "feature.",
        )
    ]

"""Banners at the top of every console and portal page, from the callables apps registered.

`portal.registry.register_banner(callable)`: `callable(request)` returns (level, message)
pairs. The context processor gives templates `portal_banners`, evaluated only where a base
template shows it; a banner that fails is logged and left out, never an error page.
"""

from __future__ import annotations

import logging

from portal.registry import registry

log = logging.getLogger(__name__)
LEVELS = ("info", "warning", "error")


def collect(request) -> list[dict]:
    shown: list[dict] = []
    for banner in registry["banners"]:
        try:
            for level, message in banner(request) or ():
                shown.append({"level": level if level in LEVELS else "info", "message": message})
        except Exception:  # noqa: BLE001 - one broken banner must not break every page
            log.exception("banner %r failed", banner)
    return shown


def context(request) -> dict:
    """Template context processor: `portal_banners` (a callable, so computed only if shown)."""
    return {"portal_banners": lambda: collect(request)}

"""The web portal's main navigation links apps registered (`registry.register_nav_link`).

The context processor gives templates `portal_nav_links`, a callable evaluated only where
`web/base.html` shows the navigation: the links this signed-in user may see, each with
whether it is the current page. A link whose `visible` fails is logged and left out.
"""

from __future__ import annotations

import logging

from portal.registry import registry

log = logging.getLogger(__name__)


def links(request) -> list[dict]:
    shown = []
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return shown
    for link in registry["nav_links"]:
        try:
            if not link.visible(request):
                continue
        except Exception:  # noqa: BLE001 - one broken link must not break every page
            log.exception("nav link %r failed", link.label)
            continue
        path = link.path.rstrip("/")
        current = request.path == path or request.path.startswith(path + "/")
        shown.append({"label": link.label, "path": link.path, "current": current})
    return shown


def context(request) -> dict:
    """Template context processor: `portal_nav_links` (computed only if shown)."""
    return {"portal_nav_links": lambda: links(request)}

"""The connection_policy handler: in browser-only mode only browser kinds of connection pass."""

from __future__ import annotations

from portal import config, features
from portal.errors import Conflict

# What a browser opens: the web terminal and apps (code-server, Jupyter). Everything else
# (ssh, port-forward, raw streams, and any kind added later) is refused: deny by default.
BROWSER_KINDS = frozenset({"terminal", "app"})

MESSAGE = (
    "Browser-only mode is on: this deployment allows no SSH, port-forwarding or other "
    "connections from outside the browser."
)
DETAIL = "Use the web terminal and the workspace's apps in the portal."


class BrowserOnly(Conflict):
    default_message = MESSAGE


def is_on() -> bool:
    """The deployment setting (PORTAL_BROWSER_ONLY), while the license has the feature."""
    return config.load().browser_only and features.enabled("browser_only")


def refuse_non_browser(user, kind: str) -> None:
    if kind not in BROWSER_KINDS and is_on():
        raise BrowserOnly(MESSAGE, detail=DETAIL)

"""The app proxy's own counters: downloads that visitors left before their end."""

from __future__ import annotations

from prometheus_client import Counter

# A visitor closing the tab mid-download is normal: counted here, never logged as an error.
CLIENT_DISCONNECTS = Counter(
    "portal_app_proxy_client_disconnects",
    "App proxy responses the visitor left before their end (closed tab, cancelled download).",
)

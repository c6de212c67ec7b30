"""The daemons' notify WebSocket: a raw ASGI route, authenticated by the provisioner key only."""

from __future__ import annotations

from enterprise.provisioner_daemons import notify
from portal.registry import register_websocket_route

register_websocket_route(notify.NOTIFY_PATH, notify.app)

"""Workspaces' ASGI routes (app proxy, relay, agent and user WebSockets), tried in this order.

portal/asgi.py loads every app's `asgi_routes` module; this one registers with portal.registry.
"""

from __future__ import annotations

from channels.routing import URLRouter

from portal.registry import (
    register_host_route,
    register_lifespan,
    register_relayed_prefix,
    register_websocket_consumers,
    register_websocket_route,
)
from portal.replicas import heartbeat
from workspaces.connectivity import agent_consumer, consumers, event_consumers, relay, relay_link
from workspaces.proxy import hosts as app_hosts
from workspaces.proxy import http as app_http
from workspaces.proxy import websocket as app_websocket
from workspaces.proxy.resolve import APP_PATH, PREFIX, own_path_end


def _app_proxy_own_path(path: str) -> str | None:
    """/@user/workspace/apps/<slug> (or /ports/<port>) is Portal's; what follows is the app's."""
    match = APP_PATH.match(path)
    return path[: own_path_end(match)] if match else None


async def _start_relay_link() -> None:
    # Agents whose dial-back lands on another process reach us through the relay link.
    address = await relay_link.start(relay.attach_agent)
    heartbeat.advertise(address)  # the replicas table tells peers (and operators) where we are


# An app host (PORTAL_WILDCARD_ACCESS_URL) serves its app only, every path of it. Workspace apps
# stream their bodies: raw ASGI apps, not WSGI views.
register_host_route(app_hosts.match_scope, http=app_http.host_app, websocket=app_websocket.app)
register_relayed_prefix(
    PREFIX, http=app_http.app, websocket=app_websocket.app, own_path=_app_proxy_own_path
)
# Streams (port-forward, ssh, terminals) skip Channels: raw ASGI apps relay every frame. The
# agent's side takes its agent token only, never the user authentication.
register_websocket_route(relay.AGENT_PATH, relay.agent_app)
register_websocket_route(relay.CLIENT_PATH, relay.client_app, authenticate=True)
# Agents authenticate with their own token, which must never reach the user authentication.
register_websocket_route("/" + agent_consumer.PATH, URLRouter(agent_consumer.websocket_urlpatterns))
register_websocket_consumers(consumers.websocket_urlpatterns)
register_websocket_consumers(event_consumers.websocket_urlpatterns)
register_lifespan(_start_relay_link, relay_link.stop)

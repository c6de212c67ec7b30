"""The control WebSocket each workspace agent dials: /api/v2/workspaceagents/me/rpc.

Authenticated by the agent token only (`Authorization: Bearer <agent token>`), never by a user's
token or session: this route is dispatched before the user authentication middleware. JSON text
frames with a "type" (see /tmp/issue4_contract.md): hello -> manifest, ping -> pong, lifecycle,
logs, app_health. A message the server cannot accept is answered with {"type": "error",
"message": ...}; the connection stays open. A refused token closes with 4401 and a reason.
"""

from __future__ import annotations

import json
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path

from portal.errors import ServiceError
from workspaces import agents, relay

log = logging.getLogger(__name__)

PATH = "api/v2/workspaceagents/me/rpc"


def _close_reason(text: str) -> str:
    # A close frame carries at most 123 bytes of reason.
    return text.encode()[:120].decode(errors="ignore")


def _bearer(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class AgentRPCConsumer(AsyncWebsocketConsumer):
    """One per connected agent. Pings are answered before any database work."""

    # Streams reach the agent through its control group, "agent-ctl-<agent hex>".
    GROUP_REFRESH_SECONDS = 3600.0

    async def connect(self):
        self.agent = None
        self.agent_id = None
        self.group = None
        self.group_added = 0.0
        self.connected_at = None
        self.seen_written = 0.0
        # Accept first: a close before accepting reaches the client as a bare HTTP 403.
        await self.accept()
        token = _bearer(self.scope)
        if token is None:
            return await self.close(code=4401, reason="Send 'Authorization: Bearer <agent token>'.")
        agent = await database_sync_to_async(agents.authenticate_agent)(token)
        if agent is None:
            return await self.close(
                code=4401,
                reason=_close_reason(
                    "The agent token is not valid: its workspace was deleted or rebuilt "
                    "without this agent."
                ),
            )
        self.connected_at = await database_sync_to_async(agents.agent_connected)(agent)
        self.seen_written = time.monotonic()
        self.agent = agent
        self.agent_id = agent.pk
        self.group = relay.control_group(agent.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.group_added = time.monotonic()

    async def disconnect(self, code):
        group = getattr(self, "group", None)
        if group is not None:
            self.group = None
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                log.exception("agent %s: could not leave its control group", self.agent_id)
        if self.agent is not None:
            agent, self.agent = self.agent, None
            try:
                await database_sync_to_async(agents.agent_disconnected)(
                    agent, connected_at=self.connected_at
                )
            except Exception:
                log.exception("could not record the disconnection of agent %s", agent.pk)

    async def receive(self, text_data=None, bytes_data=None):
        if self.agent is None:
            return
        if text_data is None:
            return await self._error("Send JSON text frames.")
        try:
            message = json.loads(text_data)
        except ValueError:
            return await self._error("The message is not valid JSON.")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return await self._error('Each message must be an object with a "type".')
        kind = message["type"]
        handler = getattr(self, f"on_{kind}", None)
        if handler is None:
            return await self._error(f"Unknown message type {kind[:40]!r}.")
        try:
            await handler(message)
            if self.agent is not None:
                await self._seen()
        except ServiceError as e:
            await self._error(e.message, detail=e.detail, about=kind)
        except Exception:
            log.exception("agent %s: handling a %r message failed", self.agent_id, kind)
            await self._error(f"The server could not handle this {kind[:40]} message.")

    # Messages from the agent.

    async def on_ping(self, message):
        await self.send_json({"type": "pong", "t": message.get("t")})
        # Group membership expires (channels_redis group_expiry, a day): renew it hourly.
        if self.group and time.monotonic() - self.group_added > self.GROUP_REFRESH_SECONDS:
            self.group_added = time.monotonic()
            await self.channel_layer.group_add(self.group, self.channel_name)

    # Messages from the server (the control group).

    async def agent_open_stream(self, event):
        """A user opened a stream: the agent dials it back on its streams path."""
        if self.agent is None:
            return
        await self.send_json(
            {
                "type": "open_stream",
                "stream": event["stream"],
                "kind": event["kind"],
                "port": event["port"],
                # A terminal (kind pty): which session, its size and command.
                **{k: event[k] for k in ("reconnect", "rows", "cols", "command") if k in event},
            }
        )

    async def on_hello(self, message):
        await database_sync_to_async(agents.agent_hello)(
            self.agent, version=str(message.get("version") or "")
        )
        body = await database_sync_to_async(agents.manifest)(self.agent)
        await self.send_json(body)

    async def on_lifecycle(self, message):
        await database_sync_to_async(agents.report_lifecycle)(
            self.agent, str(message.get("state") or ""), str(message.get("reason") or "")
        )

    async def on_logs(self, message):
        _, dropped = await database_sync_to_async(agents.append_logs)(
            self.agent, message.get("logs")
        )
        if dropped:
            await self._error(
                f"Only {agents.MAX_LOG_LINES_PER_MESSAGE} log lines are accepted per message: "
                f"{dropped} were dropped. Send smaller batches.",
                about="logs",
            )

    async def on_app_health(self, message):
        await database_sync_to_async(agents.report_app_health)(
            self.agent, str(message.get("slug") or ""), str(message.get("health") or "")
        )

    # Internals.

    async def _seen(self) -> None:
        """Write last_seen_at at most every half timeout: one UPDATE per agent per ping costs
        thousands of writes a second with many agents, and staleness stays under the timeout."""
        now = time.monotonic()
        if now - self.seen_written < agents.inactive_seconds() / 2:
            return
        self.seen_written = now
        if not await database_sync_to_async(agents.agent_seen)(self.agent):
            await self.close(code=4401, reason="This agent's workspace was deleted.")
            await self.disconnect(4401)

    async def send_json(self, body: dict) -> None:
        await self.send(text_data=json.dumps(body, default=str))

    async def _error(self, message: str, *, detail: str = "", about: str = "") -> None:
        body = {"type": "error", "message": message}
        if detail:
            body["detail"] = detail
        if about:
            body["about"] = about
        await self.send_json(body)


websocket_urlpatterns = [path(PATH, AgentRPCConsumer.as_asgi())]

"""The signed-in user's live events WebSocket (/api/v2/users/me/events): builds, agents, notices.

Protocol: once subscribed the server sends {"type": "subscribed"}; then one
{"type": "event", "event": {"kind": "build" | "agent", "workspace_id", ...ids, "status"}} per
change to a workspace the user owns (see workspaces.events), and
{"kind": "notification", "notification_id"} per notification sent to them
(portal.notifications). The client says nothing. Events are
not replayed: a client that reconnects should re-read what it shows once. Refusals close with
4401 (not signed in) or 4403 (suspended) and a reason, like the log WebSockets.
"""

from __future__ import annotations

import json

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path

from portal import user_events
from portal.audit.choices import ResourceType
from portal.revocation import tracking
from portal.ws_scope import refusal


class UserEventsConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = None
        self.revocable = None
        # Accept first: a close before accepting reaches the client as a bare HTTP 403, without
        # the code and reason that tell it what is wrong.
        await self.accept()
        if (refused := refusal(self.scope)) is not None:
            return await self.close(code=refused[0], reason=refused[1])
        user = self.scope["user"]
        self.group = user_events.group_name(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # From here on no event is missed: a client may re-read its page now.
        await self.send(text_data=json.dumps({"type": "subscribed"}))
        # Open until the user loses access (suspended, token revoked, signed out).
        self.revocable = tracking.connection(
            self.scope,
            user,
            kind="events",
            resource_type=ResourceType.USER,
            resource_id=str(user.pk),
            resource_target=user.username,
            close=self._revoke,
        )
        await tracking.register(self.revocable)

    async def _revoke(self, code: int, reason: str) -> None:
        await self.close(code=code, reason=reason)

    async def disconnect(self, code):
        if self.revocable is not None:
            tracking.unregister(self.revocable)
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def receive(self, text_data=None, bytes_data=None):
        pass  # the client has nothing to say on this socket

    async def user_event(self, message):
        await self.send(text_data=json.dumps({"type": "event", "event": message["event"]}))


websocket_urlpatterns = [
    path("api/v2/users/me/events", UserEventsConsumer.as_asgi()),
]

"""Each user's live events group: what their browser's events WebSocket joins and apps publish to.

One Channels group per user, `user-events-<user id hex>`. Messages carry ids and a status only:
the database stays the truth, and a page re-reads what it shows when told something changed.
Workspaces publishes build and agent changes (workspaces.events), notifications their arrival.
"""

from __future__ import annotations

import logging
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def group_name(user_id) -> str:
    return f"user-events-{UUID(str(user_id)).hex}"


def publish(user_id, event: dict) -> None:
    """Send one event ({"kind", ...}, plain JSON values) to the user's sockets."""
    async_to_sync(get_channel_layer().group_send)(
        group_name(user_id), {"type": "user.event", "event": event}
    )


def publish_quietly(user_id, event: dict) -> None:
    """publish(), logging a failure: the change is committed and pages catch up on refresh."""
    try:
        publish(user_id, event)
    except Exception:
        log.warning(
            "could not publish %s event to user %s", event.get("kind"), user_id, exc_info=True
        )

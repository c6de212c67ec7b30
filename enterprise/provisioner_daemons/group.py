"""The channel-layer group of the daemons' notify sockets, and publishing to it."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers

GROUP = "provisionerd-jobs"


def publish(message: dict) -> None:
    """One message to every notify socket of every server process (from sync code)."""
    async_to_sync(channel_layers[DEFAULT_CHANNEL_LAYER].group_send)(GROUP, message)

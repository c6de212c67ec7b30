"""The replicas app in the ASGI process: each web process heartbeats while it serves."""

from __future__ import annotations

import asyncio

from portal.registry import register_lifespan
from portal.replicas import heartbeat


async def _start() -> None:
    heartbeat.start()


async def _stop() -> None:
    await asyncio.to_thread(heartbeat.stop)


register_lifespan(_start, _stop)

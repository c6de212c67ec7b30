"""Telling connected daemons that a job is waiting, so they acquire at once instead of polling.

A daemon keeps one WebSocket open at NOTIFY_PATH (its provisioner key in the header, as for its
HTTPS calls); every server process subscribes its sockets to one channel-layer group, and the
`job_dispatched` hook publishes each dispatched job's tags there. The socket only wakes the
daemon: the job is still taken with an ordinary `acquire`, so a lost notice delays (until the
daemon's next poll), never loses a job. The key is rechecked every RECHECK_SECONDS: a revoked
key's socket closes with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from channels import DEFAULT_CHANNEL_LAYER
from channels.db import database_sync_to_async
from channels.layers import channel_layers

from enterprise.provisioner_daemons import keys
from enterprise.provisioner_daemons.group import GROUP, publish
from portal import features
from portal.accounts.authentication import scope_headers

log = logging.getLogger(__name__)

NOTIFY_PATH = "/api/v2/provisionerdaemons/serve/notify"
RECHECK_SECONDS = 30.0


def job_dispatched(job_id: str, tags: dict) -> None:
    """The job_dispatched handler: one publish to the daemons' group (skipped with the gate off)."""
    if not features.enabled(keys.FEATURE):
        return
    publish({"type": "job.pending", "job": job_id, "tags": tags})


@database_sync_to_async
def _check(secret: str) -> tuple[str, str]:
    """(key id, "") when the key may serve; else ("", why not)."""
    key, why = keys.authenticate(secret)
    if key is None:
        return "", why
    if not features.enabled(keys.FEATURE):
        return "", f"The {keys.FEATURE} feature is off."
    return str(key.pk), ""


async def app(scope, receive, send) -> None:
    """The raw ASGI WebSocket of one daemon."""
    if (await receive())["type"] != "websocket.connect":
        return
    secret = scope_headers(scope).get("Portal-Provisioner-Key", "")
    key_id, why = await _check(secret)
    if why:
        await send({"type": "websocket.close", "code": 4401, "reason": why[:120]})
        return
    layer = channel_layers[DEFAULT_CHANNEL_LAYER]
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    await send({"type": "websocket.accept"})

    async def forward() -> str:
        while True:
            message = await layer.receive(channel)
            if message.get("type") == "key.revoked":
                if message.get("key") == key_id:
                    return "The provisioner key was revoked."
                continue
            body = {"type": "job", "job": message.get("job"), "tags": message.get("tags") or {}}
            await send({"type": "websocket.send", "text": orjson.dumps(body).decode()})

    async def recheck() -> str:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            _, why = await _check(secret)
            if why:
                return why
            await layer.group_add(GROUP, channel)  # group membership expires otherwise

    async def closed() -> None:
        while (await receive())["type"] != "websocket.disconnect":
            pass

    tasks = [asyncio.ensure_future(t) for t in (forward(), recheck(), closed())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not tasks[2] and task.exception() is None:
                await send({"type": "websocket.close", "code": 4401, "reason": task.result()})
            elif task.exception() is not None and task is not tasks[2]:
                log.warning("daemon notify socket failed", exc_info=task.exception())
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await layer.group_discard(GROUP, channel)

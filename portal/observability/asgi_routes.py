"""The health report's WebSocket probe: /api/v2/debug/ws echoes one short message and closes.

It needs no credentials (like /healthz) and holds nothing: one message of at most 128
characters, answered within ECHO_WAIT seconds, then closed.
"""

from __future__ import annotations

import asyncio
import contextlib

from portal.observability.checks import ECHO_PATH
from portal.registry import register_websocket_route

ECHO_WAIT = 5.0
MAX_ECHO = 128


async def echo(scope, receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    try:
        async with asyncio.timeout(ECHO_WAIT):
            message = await receive()
    except TimeoutError:
        await send({"type": "websocket.close", "code": 1000})
        return
    if message["type"] != "websocket.receive":
        return
    text = message.get("text")
    if text is None or len(text) > MAX_ECHO:
        reason = f"Send one text message of at most {MAX_ECHO} characters."
        await send({"type": "websocket.close", "code": 1003, "reason": reason})
        return
    await send({"type": "websocket.send", "text": text})
    await send({"type": "websocket.close", "code": 1000})
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1):
            await receive()  # the client's close


register_websocket_route(ECHO_PATH, echo)

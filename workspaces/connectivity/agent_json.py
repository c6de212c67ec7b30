"""JSON a workspace agent sends, read within bounds: a hostile workspace writes it.

The json module recurses once per level of nesting, so `[[[[...` a few thousand deep is a
RecursionError (and a traceback) wherever it is parsed or later dumped; orjson parses without
recursion and stops at 1,024 levels, and the walk below enforces MAX_DEPTH as a loop. Bad input is
BadAgentMessage, a ConnectionError: the stream it came on is broken, and is closed.
"""

from __future__ import annotations

import logging

import orjson

log = logging.getLogger(__name__)

# No message of the agent protocol comes near these.
MAX_DEPTH = 64
MAX_CONTROL_BYTES = 64 * 1024


class BadAgentMessage(ConnectionError):
    """The agent sent what is not a message of the protocol; str() says what was wrong."""


def loads(text: str | bytes, *, max_bytes: int | None = MAX_CONTROL_BYTES):
    """`text` parsed, at most `max_bytes` long and MAX_DEPTH deep; else BadAgentMessage."""
    if max_bytes is not None and len(text) > max_bytes:
        raise BadAgentMessage(f"a message of {len(text)} characters, over {max_bytes}")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e):
            raise BadAgentMessage(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        raise BadAgentMessage(f"not valid JSON ({e})") from None
    # Nesting is at most the count of brackets: the walk only for a message that has many.
    array, obj = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    if text.count(array) + text.count(obj) > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise BadAgentMessage(f"JSON nested deeper than {MAX_DEPTH} levels")
    return data


def control(text: str | bytes, where: str) -> dict:
    """A control message of an agent stream ({"type": ...}); BadAgentMessage, logged, if not."""
    try:
        data = loads(text)
        if not isinstance(data, dict):
            raise BadAgentMessage("a control message that is not a JSON object")
    except BadAgentMessage as e:
        log.warning("%s: the workspace agent sent %s; closing the stream", where, e)
        raise
    return data


def _deeper_than(data, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((item, depth + 1) for item in value)
    return False

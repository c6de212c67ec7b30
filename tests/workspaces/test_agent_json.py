"""What a workspace agent sends on its streams is read within bounds (connectivity.agent_json)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from workspaces.connectivity import agent_json
from workspaces.connectivity.agent_json import MAX_DEPTH, BadAgentMessage

DEEP = 10_000  # under the size bound; json.loads raises RecursionError on it


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_a_message_within_bounds_is_parsed():
    assert agent_json.control('{"type": "eof"}', "test") == {"type": "eof"}
    assert agent_json.loads(_nested(MAX_DEPTH)) is not None
    # Brackets inside strings are not nesting.
    text = '{"type": "error", "message": "' + "[" * 1000 + '"}'
    assert agent_json.control(text, "test")["message"] == "[" * 1000
    assert agent_json.loads(text.encode()) == agent_json.loads(text)


@pytest.mark.parametrize(
    "text, says",
    [
        (_nested(MAX_DEPTH + 1), "nested deeper than 64"),
        (_nested(DEEP), "nested deeper than 64"),
        ('{"a": ' * 2000 + "1" + "}" * 2000, "nested deeper than 64"),
        ("{", "not valid JSON"),
        ("\x00", "not valid JSON"),
        ('"' + "x" * agent_json.MAX_CONTROL_BYTES + '"', "over"),
    ],
)
def test_bad_input_is_a_bad_agent_message_never_a_recursion_error(text, says):
    with pytest.raises(BadAgentMessage, match=says):
        agent_json.loads(text)
    with pytest.raises(ConnectionError):  # what the stream's readers close it on
        agent_json.control(text, "test")


def test_a_control_message_is_an_object_and_a_refusal_is_one_log_line(caplog):
    for text in ("[]", "1", '"eof"', "null"):
        with caplog.at_level(logging.WARNING, logger="workspaces.connectivity.agent_json"):
            caplog.clear()
            with pytest.raises(BadAgentMessage, match="not a JSON object"):
                agent_json.control(text, "app proxy")
        [record] = caplog.records
        assert record.getMessage().startswith("app proxy: the workspace agent sent ")
        assert record.exc_info is None


def test_the_agent_rpc_socket_takes_large_messages_but_not_deep_ones():
    big = '{"type": "logs", "lines": ["' + "x" * (4 * 2**20) + '"]}'
    assert agent_json.loads(big, max_bytes=None)["type"] == "logs"
    with pytest.raises(BadAgentMessage):
        agent_json.loads(_nested(DEEP), max_bytes=None)


class _Side:
    """The agent's side of a stream, saying `messages` and then hanging up."""

    def __init__(self, *messages):
        self.messages = list(messages)

    async def receive(self):
        if self.messages:
            return self.messages.pop(0)
        return {"type": "websocket.disconnect"}

    async def send(self, message):
        pass


def test_the_app_proxies_close_the_stream_on_a_bad_control_message(caplog):
    from types import SimpleNamespace

    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    from workspaces.app_proxy import AppUnreachable, _Upstream, agent_error
    from workspaces.app_proxy_ws import _AppSocket

    deep = {"type": "websocket.receive", "text": _nested(DEEP)}
    upstream = _Upstream(SimpleNamespace(agent=_Side(deep)))
    with pytest.raises(AppUnreachable, match="nested deeper than 64"):
        asyncio.run(upstream.next_event())
    assert asyncio.run(agent_error(_Side(deep))) == ""
    ws = _AppSocket(SimpleNamespace(agent=_Side(deep)), ClientProtocol(parse_uri("ws://app/")))
    with pytest.raises(ConnectionError, match="nested deeper than 64"):
        asyncio.run(ws.feed())
    assert "Traceback" not in caplog.text

"""Downloads through the app proxy: visitors who leave mid-way, and bodies the app gets wrong.

The real ASGI app with a fake agent (tests/relay/test_app_proxy.py's) that bridges streams to a
real local server; the visitor is driven as uvicorn drives the app, so it can leave mid-body.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import pytest
from uvicorn.protocols.utils import ClientDisconnected

from portal.asgi import application
from portal.observability import exposition
from tests.observability.helpers import value
from tests.relay import test_app_proxy as base
from workspaces.models import WorkspaceApp

pytestmark = pytest.mark.django_db(transaction=True)
GONE = "portal_app_proxy_client_disconnects_total"
BIG, HttpAgent, auth = base.BIG, base.HttpAgent, base.auth
# The app proxy tests' fixtures: alice's workspace "dev" with its app "preview" on a real server.
agent, alice, bob, server_port = base.agent, base.alice, base.bob, base.server_port


def _scope(method: str, path: str, headers: dict) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"portal.test")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("10.1.2.3", 5000),
        "server": ("portal.test", 80),
    }


def visit(method: str, path: str, headers: dict, *, leave_after: int | None = None):
    """(status, body bytes, whether the response ended) of a visit; with `leave_after`, the
    visitor's connection is gone after that many body messages, as uvicorn reports it."""
    messages: list[dict] = []

    async def go():
        sent_request = False

        async def receive():
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the visitor stays (or leaves through send)

        async def send(message):
            bodies = [m for m in messages if m["type"] == "http.response.body"]
            if leave_after is not None and len(bodies) >= leave_after:
                raise ClientDisconnected
            messages.append(message)

        async with HttpAgent():
            await application(_scope(method, path, headers), receive, send)

    asyncio.run(asyncio.wait_for(go(), 60))
    start = next(m for m in messages if m["type"] == "http.response.start")
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    ended = bool(bodies) and not bodies[-1].get("more_body", False)
    return start["status"], b"".join(m.get("body", b"") for m in bodies), ended


def gone_count() -> float:
    return value(exposition.render().decode(), GONE)


def test_a_visitor_leaving_mid_download_ends_it_quietly_and_is_counted(agent, alice, caplog):
    before = gone_count()
    with caplog.at_level(logging.INFO):
        status, body, ended = visit(
            "GET", "/@alice/dev/apps/preview/big", auth(alice), leave_after=2
        )
    assert status == 200 and not ended
    assert 0 < len(body) < len(BIG)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert gone_count() == before + 1
    # The proxy still serves the next visitor whole.
    status, body, ended = visit("GET", "/@alice/dev/apps/preview/big", auth(alice))
    assert (status, body, ended) == (200, BIG, True)
    assert gone_count() == before + 1


def test_another_member_still_gets_the_same_404(agent, bob):
    status, _, ended = visit("GET", "/@alice/dev/apps/preview/big", auth(bob))
    assert status == 404 and ended


@pytest.fixture
def raw_app(agent):
    """An app that answers every request with the bytes the test gives (then closes)."""
    answer = {"bytes": b""}
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answer["bytes"])

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    WorkspaceApp.objects.create(agent=agent, slug="raw", url=f"http://localhost:{port}")
    yield answer
    listener.close()


def test_a_body_shorter_than_its_content_length_is_cut_not_completed(raw_app, alice):
    raw_app["bytes"] = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000
    status, body, ended = visit("GET", "/@alice/dev/apps/raw/", auth(alice))
    assert status == 200 and body == b"x" * 5000 and not ended


def test_bytes_past_the_content_length_are_not_forwarded(raw_app, alice):
    raw_app["bytes"] = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"0123456789extra"
    assert visit("GET", "/@alice/dev/apps/raw/", auth(alice)) == (200, b"0123456789", True)


def test_chunked_and_head_responses_keep_their_framing(raw_app, alice):
    chunks = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    raw_app["bytes"] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    assert visit("GET", "/@alice/dev/apps/raw/", auth(alice)) == (200, b"hello world", True)
    raw_app["bytes"] = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    assert visit("HEAD", "/@alice/dev/apps/raw/", auth(alice)) == (200, b"", True)

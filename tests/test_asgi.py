"""The ASGI entry point: HTTP reaches Django, lifespan completes, unknown WebSockets are closed."""

import pytest
from asgiref.testing import ApplicationCommunicator

from portal.asgi import application


def _http_get(path: str) -> tuple[int, bytes]:
    import asyncio

    async def go():
        comm = ApplicationCommunicator(
            application,
            {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [(b"host", b"127.0.0.1")],
                "client": ("127.0.0.1", 5000),
                "server": ("127.0.0.1", 8000),
            },
        )
        await comm.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await comm.receive_output(10)
        body = b""
        while True:
            message = await comm.receive_output(10)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        return start["status"], body

    return asyncio.run(go())


@pytest.mark.django_db(transaction=True)
def test_http_requests_reach_django_views():
    status, body = _http_get("/api/v2/buildinfo")
    assert status == 200
    assert b'"version"' in body


def test_lifespan_and_unrouted_websocket():
    import asyncio

    async def go():
        life = ApplicationCommunicator(application, {"type": "lifespan"})
        await life.send_input({"type": "lifespan.startup"})
        assert (await life.receive_output(5))["type"] == "lifespan.startup.complete"
        await life.send_input({"type": "lifespan.shutdown"})
        assert (await life.receive_output(5))["type"] == "lifespan.shutdown.complete"

        ws = ApplicationCommunicator(application, {"type": "websocket", "path": "/nowhere"})
        await ws.send_input({"type": "websocket.connect"})
        closed = await ws.receive_output(5)
        assert closed == {"type": "websocket.close", "code": 4404}

    asyncio.run(go())

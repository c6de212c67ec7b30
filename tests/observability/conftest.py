"""A real uvicorn serving the ASGI app (as `portal server` runs it), for the health checks."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from django.db import close_old_connections

from portal.asgi import application
from portal.observability import health


@pytest.fixture(autouse=True)
def _fresh_report():
    health.forget()
    yield
    health.forget()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server_url():
    """http://127.0.0.1:PORT of uvicorn with the lifespan on (the relay link listens)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_level="error",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    close_old_connections()

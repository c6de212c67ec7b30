"""portal_cli.follow: the WebSocket path, the polling fallback, and a switch between them."""

from __future__ import annotations

import json
import threading

import pytest
from websockets.sync.server import serve

from portal_cli import follow as follow_mod
from portal_cli.follow import LogPrinter, follow


def row(n: int, stage: str = "Planning", level: str = "info") -> dict:
    return {"id": n, "stage": stage, "level": level, "output": f"line {n}", "source": "provisioner"}


class FakeClient:
    """The paged logs endpoint over a fixed list of rows, and a status that ends after N calls."""

    def __init__(self, url: str, rows: list[dict], statuses: list[str]):
        self.url = url
        self.token = "secret-token"
        self.rows = rows
        self.statuses = statuses
        self.requests: list[tuple[str, dict]] = []

    def get(self, path: str, **params):
        self.requests.append((path, params))
        after = params.get("after") or 0
        limit = params["limit"]
        rest = [r for r in self.rows if r["id"] > after]
        return {"count": len(rest), "results": rest[:limit]}

    def status(self) -> str:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.fixture
def ws_server():
    """A WebSocket server playing the given messages; records the request it got."""
    seen: dict = {}

    def start(messages: list[dict]):
        def handler(ws):
            seen["path"] = ws.request.path
            seen["auth"] = ws.request.headers.get("Authorization")
            for message in messages:
                ws.send(json.dumps(message))

        server = serve(handler, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        seen["server"] = server
        return f"http://127.0.0.1:{server.socket.getsockname()[1]}"

    yield start, seen
    if "server" in seen:
        seen["server"].shutdown()


def capture() -> tuple[LogPrinter, list[str]]:
    lines: list[str] = []
    return LogPrinter(echo=lambda text, **style: lines.append(text)), lines


def test_websocket_stream_to_its_end(ws_server, monkeypatch):
    start, seen = ws_server
    url = start(
        [
            {"type": "logs", "logs": [row(1, "Initializing"), row(2, "Initializing")]},
            {"type": "logs", "logs": [row(3)]},
            {"type": "end", "status": "failed"},
        ]
    )
    client = FakeClient(url, rows=[row(1), row(2), row(3)], statuses=["running"])
    printer, lines = capture()

    status = follow(client, "templateversions/abc", status=client.status, printer=printer)

    assert status == "failed"
    assert lines == ["==> Initializing", "line 1", "line 2", "==> Planning", "line 3"]
    assert seen["path"] == "/api/v2/templateversions/abc/logs?follow=1&after=0"
    assert seen["auth"] == "Bearer secret-token"
    # One drain after the end message, which found nothing new.
    assert client.requests == [("/templateversions/abc/logs", {"after": 3, "limit": 100})]


def test_a_dropped_websocket_falls_back_to_polling_without_repeats(ws_server, monkeypatch):
    monkeypatch.setattr(follow_mod, "POLL_INTERVAL", 0.01)
    start, _ = ws_server
    url = start([{"type": "logs", "logs": [row(1), row(2)]}])  # closes without an end
    client = FakeClient(url, rows=[row(n) for n in range(1, 6)], statuses=["succeeded"])
    printer, lines = capture()

    assert (
        follow(client, "workspacebuilds/b1", status=client.status, printer=printer) == "succeeded"
    )
    assert lines == ["==> Planning", *(f"line {n}" for n in range(1, 6))]
    assert client.requests[0] == ("/workspacebuilds/b1/logs", {"after": 2, "limit": 100})


def test_without_a_websocket_the_log_is_polled_until_the_job_ends(closed_url, monkeypatch):
    monkeypatch.setattr(follow_mod, "time", type("T", (), {"sleep": staticmethod(lambda s: None)}))
    rows = [row(n) for n in range(1, 251)]  # more than one page
    client = FakeClient(closed_url, rows=rows, statuses=["pending", "running", "canceled"])
    printer, lines = capture()

    assert (
        follow(client, "templateversions/abc", status=client.status, printer=printer) == "canceled"
    )
    assert lines[1:] == [f"line {n}" for n in range(1, 251)]
    assert [p["after"] for _, p in client.requests[:3]] == [0, 100, 200]


def test_error_lines_are_red_and_repeated_rows_are_skipped():
    shown = []
    printer = LogPrinter(after=1, echo=lambda text, **style: shown.append((text, style)))
    printer([row(1), row(2, level="error"), row(2)])
    assert shown == [("==> Planning", {"bold": True}), ("line 2", {"fg": "red"})]

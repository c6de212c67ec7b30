"""Follow a job's (or an agent's startup) log live: a WebSocket first, else the paged log.

Both paths feed one LogPrinter, which remembers the last line shown, so switching from a
dropped WebSocket to polling neither repeats nor skips a line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import click

from portal_cli.client import API_PREFIX, Client

FINISHED = frozenset({"succeeded", "failed", "canceled"})
POLL_INTERVAL = 0.5
LOG_PAGE = 100  # the page size every paged endpoint accepts (portal.api.pagination.MAX_LIMIT)
WS_OPEN_TIMEOUT = 10.0


class LogPrinter:
    """Prints log rows ({id, stage, level, output, ...}) once each, with a header per stage."""

    def __init__(
        self,
        after: int = 0,
        echo: Callable[..., None] = click.secho,
        *,
        stage_key: str = "stage",
        heading: Callable[[str], str] = "==> {}".format,
    ):
        self.last_id = after
        self.stage: str | None = None
        self.echo = echo
        # Agent log rows have a `source` (startup_script, a script's name) where jobs a stage.
        self.stage_key = stage_key
        self.heading = heading

    def __call__(self, rows: list[dict]) -> None:
        for row in rows:
            row_id = int(row.get("id") or 0)
            if row_id and row_id <= self.last_id:
                continue
            self.last_id = max(self.last_id, row_id)
            stage = row.get(self.stage_key) or ""
            if stage and stage != self.stage:
                self.stage = stage
                self.echo(self.heading(stage), bold=True)
            error = row.get("level") == "error"
            self.echo(row.get("output", ""), fg="red" if error else None)


def websocket_url(server_url: str, path: str, after: int) -> str:
    scheme, rest = server_url.split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest}{API_PREFIX}/{path.strip('/')}/logs?follow=1&after={after}"


def follow_websocket(client: Client, path: str, printer: LogPrinter) -> str | None:
    """The job's final status, or None when the WebSocket could not be used (or dropped)."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    try:
        ws = connect(
            websocket_url(client.url, path, printer.last_id),
            additional_headers=headers,
            open_timeout=WS_OPEN_TIMEOUT,
        )
    except (OSError, TimeoutError, WebSocketException, ValueError):
        return None
    with ws:
        try:
            for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "logs":
                    printer(message.get("logs") or [])
                elif message.get("type") == "end":
                    return str(message.get("status") or "")
        except (OSError, TimeoutError, WebSocketException, ValueError, AttributeError):
            pass
    return None  # closed without an end message: polling carries on from the last line shown


def drain(client: Client, path: str, printer: LogPrinter) -> None:
    """Print every line after the last one shown, page by page."""
    while True:
        page = client.get(f"/{path.strip('/')}/logs", after=printer.last_id, limit=LOG_PAGE)
        rows = page.get("results", []) if isinstance(page, dict) else page
        before = printer.last_id
        printer(rows)
        if len(rows) < LOG_PAGE or printer.last_id == before:
            return


def follow_polling(
    client: Client,
    path: str,
    printer: LogPrinter,
    status: Callable[[], str],
    interval: float = POLL_INTERVAL,
    finished: frozenset[str] = FINISHED,
) -> str:
    while True:
        # Status first: lines written before the job ended are then sure to be in the drain.
        state = status()
        drain(client, path, printer)
        if state in finished:
            return state
        time.sleep(interval)


def follow(
    client: Client,
    path: str,
    *,
    status: Callable[[], str],
    after: int = 0,
    printer: LogPrinter | None = None,
    websocket: bool = True,
    finished: frozenset[str] = FINISHED,
) -> str:
    """Print the log of the job behind `path` (e.g. `templateversions/<id>`) until it ends.

    `status()` returns the job's current status; polling uses it to know when to stop.
    Returns the final status: succeeded, failed or canceled (or, for an agent's startup log
    at `workspaceagents/<id>`, the lifecycle state among `finished` it reached).
    """
    printer = printer or LogPrinter(after)
    if websocket:
        final = follow_websocket(client, path, printer)
        if final in finished:
            drain(client, path, printer)  # anything the stream did not carry before it ended
            return final
    return follow_polling(client, path, printer, status, finished=finished)

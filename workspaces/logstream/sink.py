"""Posting lines into an agent's startup log with the agent's token, as the agent itself would.

Lines wait here while the token is refused: a start build's agent is known to Portal only once
the build ends, and what happened before that (the image build, the first crash) still matters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

LOGS_PATH = "/api/v2/workspaceagents/me/logs"
MAX_BATCH = 500  # below the server's per-message cap


@dataclass
class Line:
    output: str
    level: str = "info"
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


class AgentLogSink:
    """Queue lines and deliver them to PATCH /api/v2/workspaceagents/me/logs."""

    def __init__(self, access_url: str, token: str, source: str, *, client=None):
        import httpx

        self.url = access_url.rstrip("/") + LOGS_PATH
        self.source = source
        self._headers = {"Authorization": f"Bearer {token}"}
        self._client = client or httpx.Client(timeout=15)
        self._pending: list[Line] = []
        self._lock = threading.Lock()
        self.connected = False  # the agent has connected: nobody needs us any more
        self.accepted = False  # the token was taken at least once
        self.delivered = 0

    def add(self, output: str, level: str = "info") -> None:
        with self._lock:
            self._pending.extend(Line(text, level) for text in output.splitlines() or [""])

    def flush(self) -> bool:
        """Send what waits (or an empty batch, to learn whether the agent connected)."""
        with self._lock:
            batch = self._pending[:MAX_BATCH]
        body = {
            "source": self.source,
            "logs": [
                {"output": x.output, "level": x.level, "created_at": x.created_at} for x in batch
            ],
        }
        try:
            response = self._client.patch(self.url, json=body, headers=self._headers)
        except Exception:  # noqa: BLE001 - the server may be restarting: keep the lines, retry
            return False
        if response.status_code != 200:
            return False  # 401: the build that makes this agent known has not ended yet
        self.accepted = True
        self.connected = bool(response.json().get("connected"))
        with self._lock:
            del self._pending[: len(batch)]
            self.delivered += len(batch)
        return True

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def drain(self, timeout: float) -> bool:
        """Flush until nothing waits or `timeout` passes; whether all was delivered."""
        deadline = time.monotonic() + timeout
        while True:
            if self.flush() and not self.pending:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(1.0)

"""Listening for "a job is waiting" on Portal's notify WebSocket, to acquire without delay.

A thread keeps the socket open (reconnecting with backoff) and sets `wake` when a job whose
tags this daemon serves was dispatched; the daemon's loop waits on it between polls. A lost
socket only brings back the plain polling.
"""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

log = logging.getLogger(__name__)

PATH = "/api/v2/provisionerdaemons/serve/notify"


def ws_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + PATH, "", ""))


class Listener:
    def __init__(self, url: str, key: str, tags: dict[str, str], ssl_context=None):
        self.url = ws_url(url)
        self.key, self.tags, self.ssl = key, tags, ssl_context
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="provisionerd-notify", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def _serves(self, tags: dict) -> bool:
        # Tags unknown here (the key's, taken by default) are the server's to check: wake.
        return not self.tags or all(self.tags.get(k) == v for k, v in (tags or {}).items())

    def _run(self) -> None:
        delay = 1.0
        last_problem = ""
        while not self.stopped.is_set():
            try:
                with connect(
                    self.url,
                    additional_headers={"Portal-Provisioner-Key": self.key},
                    ssl=self.ssl if self.url.startswith("wss:") else None,
                    open_timeout=10,
                ) as socket:
                    log.info("listening for waiting jobs at %s", self.url)
                    self.connected.set()
                    delay = 1.0
                    while not self.stopped.is_set():
                        try:
                            message = json.loads(socket.recv(timeout=1.0))
                        except TimeoutError:
                            continue
                        if self._serves(message.get("tags") or {}):
                            self.wake.set()
            except (OSError, WebSocketException, InvalidStatus, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if problem != last_problem:  # once per kind of trouble, not every retry
                    log.warning("notify socket at %s: %s; polling meanwhile", self.url, problem)
                last_problem = problem
            self.connected.clear()
            self.wake.set()  # poll once now: something may have been missed meanwhile
            self.stopped.wait(delay)
            delay = min(delay * 2, 30.0)

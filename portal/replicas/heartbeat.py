"""This process's replica row: registered at start, stamped every few seconds, deleted at stop.

A thread of its own (one cheap UPDATE per HEARTBEAT_SECONDS), started by the ASGI lifespan of
each web process. Every PROBE_EVERY beats it also tries a TCP connection to each online peer's
relay address and records the ones it cannot reach in its row's `error` (what Coder's replica
sync reports), so the console and the health report show a partitioned replica.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.db import connection

from portal.replicas import queries, services
from portal.replicas.models import HEARTBEAT_SECONDS

log = logging.getLogger(__name__)
PROBE_EVERY = 5  # beats between looks at the peers
PROBE_TIMEOUT = 1.0  # seconds per peer: a live relay listener accepts at once


def probe(address: str, timeout: float = PROBE_TIMEOUT) -> str:
    """ "" if a TCP connection to "host:port" opens within `timeout`, else why not."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        return ""
    except (OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__


def unreachable_peers(exclude: uuid.UUID | None = None) -> list[tuple[object, str]]:
    """(replica, why) for each online peer whose relay address this process cannot reach."""
    peers = [r for r in queries.online().exclude(relay_address="") if r.pk != exclude]
    if not peers:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(peers))) as pool:
        results = list(pool.map(lambda r: probe(r.relay_address), peers))
    return [(r, why) for r, why in zip(peers, results, strict=True) if why]


class Heartbeat(threading.Thread):
    def __init__(self, every: float = HEARTBEAT_SECONDS):
        super().__init__(name="portal replica heartbeat", daemon=True)
        self.replica_id = uuid.uuid4()
        self.relay_address = ""
        self._every = every
        self._stop_event = threading.Event()
        self._wake = threading.Event()
        self._latency = 0.0
        self._error = ""

    def advertise(self, relay_address: str) -> None:
        """Record where peers reach this process's relay link, at the next beat (now)."""
        self.relay_address = relay_address
        self._wake.set()

    def run(self) -> None:
        beats = 0
        try:
            while not self._stop_event.is_set():
                if beats % PROBE_EVERY == PROBE_EVERY - 1:
                    self._error = self._look_at_peers()
                self._beat()
                beats += 1
                self._wake.wait(self._every)
                self._wake.clear()
        finally:
            connection.close()

    def _beat(self) -> None:
        try:
            self._latency = services.heartbeat(
                self.replica_id,
                relay_address=self.relay_address,
                latency_ms=self._latency,
                error=self._error,
            )
        except Exception as exc:  # the database is away: the row goes stale, peers see it
            log.warning("replica heartbeat failed: %s", exc)
        finally:
            connection.close()  # back to the pool: nothing held between beats

    def _look_at_peers(self) -> str:
        try:
            bad = unreachable_peers(exclude=self.replica_id)
        except Exception as exc:
            log.warning("replica heartbeat: cannot list the peers: %s", exc)
            return ""
        return "; ".join(
            f"cannot reach replica {r.hostname}:{r.pid} at {r.relay_address}: {why}"
            for r, why in bad
        )

    def stop(self, timeout: float = 5) -> None:
        """Stop beating and leave the table (a graceful stop; kill -9 leaves a stale row)."""
        self._stop_event.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)
        try:
            services.unregister(self.replica_id)
        except Exception as exc:
            log.warning("replica heartbeat: could not leave the replicas table: %s", exc)
        finally:
            connection.close()


_current: Heartbeat | None = None


def current() -> Heartbeat | None:
    """This process's heartbeat (None outside a serving web process: tests, workers)."""
    return _current


def advertise(relay_address: str) -> None:
    if _current is not None:
        _current.advertise(relay_address)


def start() -> Heartbeat:
    global _current
    if _current is None or not _current.is_alive():
        _current = Heartbeat()
        _current.start()
    return _current


def stop() -> None:
    global _current
    beat, _current = _current, None
    if beat is not None:
        beat.stop()

"""The feature gates' answer, computed once per process and kept until something changes it.

A gate check is a clock read and a dict lookup. At most every `recheck_seconds` one check also
reads a version counter in Redis (the Django cache): the license services bump it when their
transaction commits, so every replica recomputes within that interval of an upload or a
removal (the process that made the change recomputes at once). A recompute also happens when
the earliest date that changes the answer (a license starting, expiring, entering or leaving
its grace period, or its 30-day warning) has passed. If Redis cannot be read the last answer
stands; if the database cannot be read before any answer exists, the gates stay as they were
before licensing (on), unless licenses are required (then off).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.core.cache import cache as shared_store
from django.db import DatabaseError, transaction

from licensing import entitlements

log = logging.getLogger(__name__)
VERSION_KEY = "licensing:version"
_UNSET = object()


def bump_version() -> None:
    """Tell every replica's cache to recompute (called when a license change commits)."""
    try:
        shared_store.add(VERSION_KEY, 0, timeout=None)
        shared_store.incr(VERSION_KEY)
    except Exception:  # noqa: BLE001 - Redis down: replicas catch up at the next date boundary
        log.warning("licensing: could not bump the license version in Redis", exc_info=True)


class GateCache:
    def __init__(self, *, recheck_seconds: float = 1.0):
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._gates: dict[str, bool] | None = None
        self._fallback: bool | None = None  # the answer for a gate the last result lacks
        self._snapshot: entitlements.Entitlements | None = None
        self._next_check = 0.0  # monotonic: when to read the shared version again
        self._boundary = math.inf  # epoch seconds
        self._version = _UNSET
        self._dirty = True
        self._retry = False  # the last recompute failed: try again at the next recheck
        self._redis_down = False  # logged once per outage
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------ the hot path

    def gate(self, name: str) -> bool | None:
        """The feature_gate hook's handler: False turns `name` off, True leaves it on."""
        if time.monotonic() >= self._next_check or self._dirty:
            self._revalidate()
        gates = self._gates
        return None if gates is None else gates.get(name, self._fallback)

    # ------------------------------------------------------------ the rest

    def invalidate(self) -> None:
        """Recompute at the next check (this process)."""
        self._dirty = True

    def snapshot(self) -> entitlements.Entitlements | None:
        """The entitlements the gates answer from (banners), refreshed as the gates are."""
        self.gate("")
        return self._snapshot

    def forget(self) -> None:
        """Back to "no license stored" without reading the database: for tests, whose
        database is rolled back to no licenses after each test (tests/conftest.py)."""
        with self._lock:
            self._gates, self._fallback, self._snapshot = {}, None, None
            self._boundary = math.inf
            self._dirty = False
            self._version = self._read_version()
            self._next_check = time.monotonic() + self.recheck_seconds

    def _revalidate(self) -> None:
        with self._lock:
            now_mono = time.monotonic()
            if now_mono < self._next_check and not self._dirty:
                return  # another thread did it
            self._next_check = now_mono + self.recheck_seconds
            version = self._read_version()
            changed = version is not _UNSET and version != self._version
            if not (self._dirty or self._retry or changed or time.time() >= self._boundary):
                return
            self._dirty = self._retry = False
            if version is not _UNSET:
                self._version = version
            self._recompute()

    def _read_version(self):
        try:
            version = shared_store.get(VERSION_KEY)
        except Exception as exc:  # noqa: BLE001 - keep the last answer while Redis is away
            # Once per outage, not once a second: the first failure with its traceback.
            if not self._redis_down:
                log.warning(
                    "licensing: could not read the license version from Redis (%s); keeping "
                    "the last answer until it is back",
                    exc,
                    exc_info=True,
                )
            self._redis_down = True
            return _UNSET
        if self._redis_down:
            log.warning("licensing: Redis is back; license changes are followed again")
            self._redis_down = False
        return version

    def _recompute(self) -> None:
        try:
            result = self._in_sync_thread(self._compute)
        except DatabaseError:
            log.warning(
                "licensing: could not read licenses; keeping the last answer", exc_info=True
            )
            self._retry = True  # at the next recheck, not at every gate check
            if self._gates is None:
                self._gates = {}
                self._fallback = not entitlements.license_required()
            return
        self._snapshot = result
        self._gates = result.gates
        self._fallback = None
        self._boundary = result.next_boundary or math.inf

    @staticmethod
    def _compute() -> entitlements.Entitlements:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():  # a savepoint: a failed read must not break the caller's
                return entitlements.current()
        return entitlements.current()

    def _in_sync_thread(self, fn):
        """Run `fn` (database reads) off the event loop when called from async code."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="licensing")
        return self._executor.submit(fn).result()


gate_cache = GateCache()

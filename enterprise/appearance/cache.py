"""The appearance, read once per process and kept until an owner changes it (on every replica).

As licensing/cache.py does for the gates: a page view costs a clock read and, at most once
every `recheck_seconds`, one read of a version counter in Redis (the Django cache), which
`services.update_appearance` bumps when its transaction commits; a replica that sees the
counter move reads the row again. The process that made the change reloads at once. Redis
down: the last answer stands; the database down before any answer: Portal's default look.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache import cache as shared_store
from django.db import DatabaseError, transaction

from enterprise.appearance.models import SINGLETON, Appearance
from enterprise.appearance.snapshot import Snapshot, from_row

log = logging.getLogger(__name__)
VERSION_KEY = "appearance:version"
_UNSET = object()


def bump_version() -> None:
    """Tell every replica to read the appearance again (called when a change commits)."""
    try:
        shared_store.add(VERSION_KEY, 0, timeout=None)
        shared_store.incr(VERSION_KEY)
    except Exception:  # noqa: BLE001 - Redis down: replicas keep the old look until it is back
        log.warning("appearance: could not bump the version in Redis", exc_info=True)


def load() -> Snapshot:
    """The stored appearance, without the logo's bytes (served by its own view)."""
    row = Appearance.objects.defer("logo_data").filter(pk=SINGLETON).first()
    return from_row(row)


class AppearanceCache:
    def __init__(self, *, recheck_seconds: float = 1.0):
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._version = _UNSET
        self._next_check = 0.0
        self._dirty = True

    def get(self) -> Snapshot:
        if self._dirty or time.monotonic() >= self._next_check:
            self._revalidate()
        return self._snapshot or Snapshot()

    def invalidate(self) -> None:
        self._dirty = True

    def forget(self) -> None:
        """Back to "nothing stored" without a query: for tests, whose database is rolled back
        after each one (tests/conftest.py)."""
        with self._lock:
            self._snapshot = Snapshot()
            self._dirty = False
            self._version = self._read_version()
            self._next_check = time.monotonic() + self.recheck_seconds

    def _revalidate(self) -> None:
        with self._lock:
            now = time.monotonic()
            if not self._dirty and now < self._next_check:
                return  # another thread did it
            self._next_check = now + self.recheck_seconds
            version = self._read_version()
            changed = version is not _UNSET and version != self._version
            if not (self._dirty or changed or self._snapshot is None):
                return
            try:
                if transaction.get_connection().in_atomic_block:
                    with transaction.atomic():  # a savepoint: a failed read spares the caller's
                        snapshot = load()
                else:
                    snapshot = load()
            except DatabaseError:
                log.warning("appearance: could not read it; keeping the last", exc_info=True)
                self._dirty, self._version = False, _UNSET  # retry at the next recheck
                return
            self._snapshot = snapshot
            self._dirty = False
            if version is not _UNSET:
                self._version = version

    @staticmethod
    def _read_version():
        try:
            return shared_store.get(VERSION_KEY)
        except Exception:  # noqa: BLE001 - keep the last answer while Redis is away
            log.debug("appearance: could not read the version from Redis", exc_info=True)
            return _UNSET


appearance_cache = AppearanceCache()

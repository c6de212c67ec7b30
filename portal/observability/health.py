"""The health report: every registered check (portal.registry `health_checks`), run together in
threads with one deadline, cached a few seconds so that a refreshing page cannot load the
database or the network."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime

from django.db import connections

from portal.registry import HealthCheck, registry

OK, WARNING, ERROR = "ok", "warning", "error"
STATUSES = [OK, WARNING, ERROR]  # one named enum in the OpenAPI document (settings.py)
SEVERITY = {OK: 0, WARNING: 1, ERROR: 2}
DEADLINE_SECONDS = 8.0  # the whole report; each check bounds its own time below this
CACHE_SECONDS = 5.0

_lock = threading.Lock()
_cached: tuple[float, dict] | None = None


def _run(check: HealthCheck) -> dict:
    started = time.perf_counter()
    try:
        result = dict(check.check())
        status = result.get("status")
        if status not in SEVERITY:
            result = {
                "status": ERROR,
                "message": f"The check answered an unknown status {status!r}: a bug to report.",
            }
    except Exception as exc:  # noqa: BLE001 - a raise is reported as the check's error
        result = {
            "status": ERROR,
            "message": f"The check failed: {type(exc).__name__}: {exc}",
        }
    finally:
        connections.close_all()  # this thread's own connections; the pool thread is dropped
    return {
        "name": check.name,
        "title": check.title,
        "status": result["status"],
        "message": str(result.get("message") or ""),
        "details": result.get("details") or {},
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def run_checks(deadline: float = DEADLINE_SECONDS) -> dict:
    """Run every check now; a check still running at the deadline is reported as an error."""
    checks = list(registry["health_checks"].values())
    executor = ThreadPoolExecutor(max_workers=max(len(checks), 1), thread_name_prefix="health")
    try:
        futures = [executor.submit(_run, check) for check in checks]
        wait(futures, timeout=deadline)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    lines = []
    for check, future in zip(checks, futures, strict=True):
        if future.done():
            lines.append(future.result())
        else:
            lines.append(
                {
                    "name": check.name,
                    "title": check.title,
                    "status": ERROR,
                    "message": f"The check did not answer within {deadline:.0f} s: what it "
                    "checks is hanging (see its title); look at that component first.",
                    "details": {},
                    "duration_ms": round(deadline * 1000, 1),
                }
            )
    worst = max((line["status"] for line in lines), key=SEVERITY.__getitem__, default=OK)
    return {
        "status": worst,
        "healthy": worst != ERROR,
        "checked_at": datetime.now(UTC).isoformat(),
        "checks": lines,
    }


def report(*, refresh: bool = False) -> dict:
    """The last report if younger than CACHE_SECONDS (and not `refresh`), else a new one."""
    global _cached
    with _lock:
        now = time.monotonic()
        if not refresh and _cached is not None and now - _cached[0] < CACHE_SECONDS:
            return _cached[1]
        result = run_checks()
        _cached = (time.monotonic(), result)
        return result


def forget() -> None:
    """Drop the cached report (tests)."""
    global _cached
    with _lock:
        _cached = None


def line(status: str, message: str = "", **details) -> dict:
    """What a check returns."""
    return {"status": status, "message": message, "details": details}

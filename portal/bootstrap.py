"""Make PostgreSQL and Redis reachable before Django starts: configured, running or embedded."""

from __future__ import annotations

import atexit
import os
import sys

from portal import config
from portal.embedded.errors import EmbeddedError
from portal.embedded.lock import Runtime
from portal.embedded.services import EmbeddedServices


def _export(runtime: Runtime) -> None:
    cfg = config.load()
    if cfg.database_url is None and runtime.database_url:
        os.environ["PORTAL_DATABASE_URL"] = runtime.database_url
    if cfg.redis_url is None and runtime.redis_url:
        os.environ["PORTAL_REDIS_URL"] = runtime.redis_url
    config.load.cache_clear()


def start_embedded(purpose: str) -> EmbeddedServices | None:
    """Start what the configuration lacks, owned by this process; None if nothing is needed."""
    cfg = config.load()
    if not cfg.uses_embedded:
        return None
    services = EmbeddedServices(
        cfg.data_dir,
        need_postgres=cfg.database_url is None,
        need_redis=cfg.redis_url is None,
    )
    _export(services.start(purpose))
    return services


def ensure_services(purpose: str) -> None:
    """For one-off commands: use the running server's embedded services, or start our own."""
    cfg = config.load()
    if not cfg.uses_embedded:
        return
    runtime = Runtime.discover(cfg.data_dir)
    if runtime is not None:
        _export(runtime)
        return
    try:
        services = start_embedded(purpose)
    except EmbeddedError as e:
        sys.exit(f"error: {e}")
    if services is not None:
        atexit.register(services.stop)

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


def require_external(cfg: config.Config) -> None:
    """With embedded services turned off (the container image), a missing URL is an error."""
    if cfg.embedded_services or not cfg.uses_embedded:
        return
    missing = [
        name
        for name, url in (
            ("PORTAL_DATABASE_URL", cfg.database_url),
            ("PORTAL_REDIS_URL", cfg.redis_url),
        )
        if url is None
    ]
    raise EmbeddedError(
        f"{' and '.join(missing)} must be set: this installation uses an external PostgreSQL "
        "and Redis (PORTAL_EMBEDDED_SERVICES=false), e.g. "
        "PORTAL_DATABASE_URL=postgresql://portal:secret@db:5432/portal and "
        "PORTAL_REDIS_URL=redis://redis:6379/0."
    )


def start_embedded(purpose: str) -> EmbeddedServices | None:
    """Start what the configuration lacks, owned by this process; None if nothing is needed."""
    cfg = config.load()
    if not cfg.uses_embedded:
        return None
    require_external(cfg)
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
    try:
        require_external(cfg)
    except EmbeddedError as e:
        sys.exit(f"error: {e}")
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

"""Test settings: point Portal at the test PostgreSQL and Redis, then load the real settings.

PORTAL_TEST_DATABASE_URL / PORTAL_TEST_REDIS_URL default to the servers on 127.0.0.1. With none
reachable, embedded ones are started for the session, except in CI (CI=true), where a missing
database is an error.
"""

import os
import socket
import sys
import tempfile
from urllib.parse import urlsplit

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/portal"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:
        return True  # a unix socket URL: let the driver report problems
    try:
        socket.create_connection((parts.hostname, parts.port or default_port), timeout=2).close()
        return True
    except OSError:
        return False


def _configure() -> None:
    db = os.environ.get("PORTAL_TEST_DATABASE_URL") or DEFAULT_DB
    redis = os.environ.get("PORTAL_TEST_REDIS_URL") or DEFAULT_REDIS
    missing = [
        name
        for name, url, port in (("PostgreSQL", db, 5432), ("Redis", redis, 6379))
        if not _reachable(url, port)
    ]
    # Builds run in the test's process with their log writer and heartbeat threads.
    os.environ.setdefault("PORTAL_DATABASE_POOL_SIZE", "16")
    os.environ["PORTAL_DATA_DIR"] = os.environ.get(
        "PORTAL_TEST_DATA_DIR", tempfile.mkdtemp(prefix="portal-test-")
    )
    if missing and os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        sys.exit(
            f"error: {', '.join(missing)} not reachable at {db} / {redis}; CI must provide them "
            "(.ci/run starts them)."
        )
    os.environ["PORTAL_DATABASE_URL"] = "" if "PostgreSQL" in missing else db
    os.environ["PORTAL_REDIS_URL"] = "" if "Redis" in missing else redis
    if missing:
        import atexit

        from portal.bootstrap import start_embedded

        print(f"tests: {', '.join(missing)} not reachable, starting embedded", file=sys.stderr)
        services = start_embedded("pytest")
        atexit.register(services.stop)
    os.environ.setdefault("PORTAL_SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")


_configure()

from portal.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; argon2 tested apart

# Licensing: trust the test keys that tests/licensing generate (never set outside tests).
PORTAL_LICENSE_TESTING = True

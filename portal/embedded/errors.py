"""What goes wrong when the embedded services start, and what the operator can do instead."""

from __future__ import annotations

WORKAROUND = (
    "run Portal as a non-root user, or set PORTAL_DATABASE_URL to a PostgreSQL server of your own"
)


class EmbeddedError(RuntimeError):
    """The embedded database or Redis could not be started; the message says what to do."""


class DataDirInUse(EmbeddedError):
    pass

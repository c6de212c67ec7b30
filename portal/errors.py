"""Errors a user can act on, raised by services and turned into JSON by the API.

The classes live in portal_shared.errors (the CLI and the archive checks raise them too, with
no Django); this module is their name on the server, plus the logging filter for refusals.
"""

from __future__ import annotations

import logging

from portal_shared.errors import (  # noqa: F401 - the server's names for them
    NUL_DETAIL,
    NUL_MESSAGE,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    Unauthenticated,
    ValidationFailed,
)


class NoTracebackForClientErrors(logging.Filter):
    """A refused request (4xx) is the client's doing, not a bug: its log line stays, the
    traceback Django attaches to a PermissionDenied, BadRequest or SuspiciousOperation goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.security.") or (
            isinstance(status, int) and 400 <= status < 500
        ):
            record.exc_info = None
            record.exc_text = None
        return True

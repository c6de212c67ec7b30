"""One open connection and what its authorization depended on; the verdict that closes it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

# Close codes: 4000 + the HTTP status the same request would get now (clients stop retrying).
SIGN_IN_AGAIN = 4401
FORBIDDEN = 4403
GONE = 4404

USER, CREDENTIAL = "user", "credential"


class Verdict(NamedTuple):
    code: int
    reason: str
    cause: str


def roles_key(roles) -> str:
    return ",".join(sorted(roles))


def session_credential(session_key: str) -> str:
    # Hashed: announcements travel through Redis, and a session key signs a browser in.
    return "session:" + hashlib.sha256(session_key.encode()).hexdigest()


@dataclass(eq=False)
class Connection:
    """One open WebSocket or stream and what its authorization depended on."""

    kind: str  # what is open: terminal, ssh, port-forward, app, build-logs, events, ...
    user_id: uuid.UUID | None  # None: an anonymous visitor (a public app)
    username: str = ""
    roles: frozenset[str] = frozenset()  # the user's roles when authorized
    credential: str = ""  # "token:<key id>", "session:<sha256 of the key>", "" (neither)
    session_key: str = field(default="", repr=False)  # this process only, never announced
    resources: tuple[tuple[str, str], ...] = ()  # (kind, id) that must still exist
    # DB thread: a reason when the user may no longer have this open, else None. Run on the
    # user's announcements and when a sweep finds their roles changed.
    recheck: Callable[[object], str | None] | None = None
    resource_type: str = ""  # the audit entry's resource
    resource_id: str = ""
    resource_target: str = ""
    fields: dict = field(default_factory=dict)  # more for the audit entry
    close: Callable[[int, str], Awaitable[None]] | None = None
    closed: bool = False
    # The registry.Registry it is in (not imported: the registry imports this module).
    registry: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Computed once: a sweep of 10,000 connections compares them all.
        self.user_key = str(self.user_id) if self.user_id is not None else ""
        self.roles_key = roles_key(self.roles)
        self.token_key = self.credential[6:] if self.credential.startswith("token:") else ""

    def depends_on(self) -> Iterable[tuple[str, str]]:
        if self.user_key:
            yield USER, self.user_key
        if self.credential:
            yield CREDENTIAL, self.credential
        yield from self.resources

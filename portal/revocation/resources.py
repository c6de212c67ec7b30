"""Resources other apps register that connections may depend on (core never imports them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from portal.revocation.connection import Verdict


@dataclass(frozen=True)
class ResourceCheck:
    gone: Callable[[set[str]], set[str]]  # DB thread: which of these ids no longer exist
    verdict: Verdict


checks: dict[str, ResourceCheck] = {}


def register_resource(kind: str, *, gone: Callable[[set[str]], set[str]], verdict: Verdict):
    """Connections may depend on resources of `kind`; `gone(ids)` says which are no more."""
    checks[kind] = ResourceCheck(gone=gone, verdict=verdict)

"""Child processes of the data directory's owner: they die with it, and their sockets fit."""

from __future__ import annotations

import ctypes
import hashlib
import tempfile
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes, postgres appends "/.s.PGSQL.5432"


def die_with_parent(sig: int):
    def preexec():
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)

    return preexec


def short_dir(preferred: Path, tag: str) -> Path:
    """`preferred` if a unix socket fits in it, else a short directory under /tmp."""
    if len(str(preferred)) + 20 <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"portal-{tag}-{digest}"

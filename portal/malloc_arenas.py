"""Cap glibc's malloc arenas in `portal server` and its children (MALLOC_ARENA_MAX)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# glibc gives each thread that allocates concurrently an arena of its own, up to 8 per core;
# a web process's threads (Channels, the periodic runner, the database pools) then leave freed
# memory scattered over many arenas that are never given back, so a process grows after a
# burst and stays there. Two arenas cost nothing measurable in speed for a GIL-bound process.
DEFAULT_ARENAS = 2
M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)


def limit_arenas() -> int | None:
    """Apply MALLOC_ARENA_MAX (default 2) to this process and what it forks or executes.

    An operator's own MALLOC_ARENA_MAX wins. Executed children read the environment at start;
    this process (and so every child forked from it, portal/preload.py) already started, so the
    same limit is set through mallopt. Returns the limit, or None where there is no glibc.
    """
    value = os.environ.setdefault("MALLOC_ARENA_MAX", str(DEFAULT_ARENAS))
    try:
        arenas = int(value)
    except ValueError:
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is None or not libc.mallopt(M_ARENA_MAX, arenas):
            return None
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return None
    return arenas

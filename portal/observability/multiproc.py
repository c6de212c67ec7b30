"""One metrics directory per `portal server`: its children write there, any of them reads it all.

prometheus_client's multiprocess mode keeps each process's counters in a memory-mapped file of
PROMETHEUS_MULTIPROC_DIR; a scrape of any web process merges the files. The server owns the
directory (inside its locked data directory), empties it at start (values of a previous run are
not this run's) and drops a dead child's live gauges. Imported by the supervisor before any
prometheus_client import: the variable must be set before the children start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(data_dir: Path) -> Path:
    """Create (emptied) the directory for this server's children and point them at it."""
    path = data_dir / "run" / "prometheus"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    return path


def child_exited(pid: int) -> None:
    """A child died: its live gauges (open streams) no longer count."""
    path = os.environ.get(ENV)
    if not path:
        return
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid, path)

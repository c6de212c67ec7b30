"""The agent's own diagnostics, on stderr: the workspace's logs, not the build's."""

from __future__ import annotations

import sys
import time


def log(message: str) -> None:
    """The agent's own diagnostics go to stderr (the workspace's logs); never include the token."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} portal agent: {message}", file=sys.stderr, flush=True)

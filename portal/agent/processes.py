"""The process groups of the scripts an agent ran, stopped with the agent.

Each script runs in its own session (and process group). What it leaves in the background
(`server &`) stays in that group after the script exits and is no longer the agent's child:
signalling the group is the one way to reach it when the workspace stops.
"""

from __future__ import annotations

import asyncio
import os
import time

PRUNE_ABOVE = 256


class ScriptGroups:
    def __init__(self):
        self._ids: set[int] = set()

    def add(self, pgid: int) -> None:
        self._ids.add(pgid)
        if len(self._ids) > PRUNE_ABOVE:  # cron scripts add a group per run
            self.signal(0)

    def signal(self, sig: int) -> bool:
        """Signal every group; whether any still had a member (signal 0 only asks)."""
        alive = False
        for group in list(self._ids):
            try:
                os.killpg(group, sig)
                alive = True
            except (ProcessLookupError, PermissionError):
                self._ids.discard(group)  # empty: its id may be reused, never signal it again
        return alive

    async def stop(self, sigterm: int, sigkill: int, grace: float) -> None:
        """SIGTERM what is left, SIGKILL what is still there after `grace` seconds."""
        if not self.signal(sigterm):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if not self.signal(0):
                return
        self.signal(sigkill)

"""What the agent started, stopped with the agent: its scripts' process groups, and the rest.

Each script runs in its own session (and process group). What it leaves in the background
(`server &`) stays in that group after the script exits and is no longer the agent's child:
signalling the group is the one way to reach it when the workspace stops. What left the group
(a terminal's background job, a daemon that called setsid) still carries the agent's instance
variable in its environment (`marker`, NAME=value), and is found by it in /proc.
"""

from __future__ import annotations

import asyncio
import os
import time

PRUNE_ABOVE = 256


def marked(marker: bytes) -> list[int]:
    """Live processes whose environment holds `marker` (only our own user's are readable)."""
    if not marker:
        return []
    try:
        names = os.listdir("/proc")
    except OSError:  # no /proc (macOS): the process groups are all there is
        return []
    me, found = os.getpid(), []
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except OSError:  # gone, or another user's
            continue
        if marker in environ.split(b"\0"):  # a zombie's reads empty: it is gone already
            found.append(int(name))
    return found


class ScriptGroups:
    def __init__(self, marker: bytes = b""):
        self._ids: set[int] = set()
        self._marker = marker

    @property
    def ids(self) -> set[int]:
        return set(self._ids)

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

    def signal_all(self, sig: int) -> bool:
        """Signal the groups and every marked process; whether any was still there."""
        alive = self.signal(sig)
        for pid in marked(self._marker):
            try:
                os.kill(pid, sig)
                alive = True
            except (ProcessLookupError, PermissionError):
                pass
        return alive

    async def stop(self, sigterm: int, sigkill: int, grace: float) -> None:
        """SIGTERM what is left, SIGKILL what is still there after `grace` seconds."""
        if not self.signal_all(sigterm):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            if not self.signal_all(0):
                return
        self.signal_all(sigkill)

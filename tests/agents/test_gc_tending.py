"""With thousands of agent sockets, the control hub tends the garbage collector itself: it
starts with a freeze and no collection (a collection then would stall every heartbeat while it
traverses the whole process), collects only what is new after that, and hands collection back
when the sockets are gone."""

from __future__ import annotations

import asyncio

from workspaces.connectivity import agent_consumer
from workspaces.connectivity.agent_consumer import ControlHub


class RecordingGC:
    def __init__(self):
        self.calls: list[str] = []
        self.enabled = True

    def isenabled(self):
        return self.enabled

    def disable(self):
        self.enabled = False
        self.calls.append("disable")

    def enable(self):
        self.enabled = True
        self.calls.append("enable")

    def freeze(self):
        self.calls.append("freeze")

    def unfreeze(self):
        self.calls.append("unfreeze")

    def collect(self, generation=2):
        self.calls.append("collect")
        return 0


class Hub:
    GC_FREEZE_MIN_SOCKETS = 10
    GC_CHECK_SECONDS = 0.001
    GC_COLLECT_SECONDS = 3600.0

    def __init__(self):
        self.sockets: dict[str, object] = {}
        self.left_since_thaw = 0

    def connect(self, n: int) -> None:
        self.sockets = {str(i): object() for i in range(n)}


def test_tending_starts_with_a_freeze_collects_what_is_new_and_hands_back(monkeypatch):
    gc = RecordingGC()
    monkeypatch.setattr(agent_consumer, "gc", gc)
    hub = Hub()

    async def scenario():
        task = asyncio.create_task(ControlHub._tend_gc(hub))
        hub.connect(5)
        await asyncio.sleep(0.05)
        assert gc.calls == []  # few sockets: Python's own collector goes on
        hub.connect(10)
        await asyncio.sleep(0.05)
        assert gc.calls == ["disable", "freeze"]  # no collection of the whole process
        hub.connect(14)
        await asyncio.sleep(0.05)
        assert gc.calls == ["disable", "freeze"]  # not grown by half, not due yet
        hub.connect(16)
        await asyncio.sleep(0.05)
        assert gc.calls == ["disable", "freeze", "collect", "freeze"]
        hub.connect(4)
        await asyncio.sleep(0.05)
        assert gc.calls[-2:] == ["unfreeze", "enable"]
        assert gc.enabled
        task.cancel()

    asyncio.run(scenario())

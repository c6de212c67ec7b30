"""A Docker container's events as startup log lines: starts, exits with their code and reason,
OOM kills, restart loops; followed until the agent connects or the container goes away."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

LOG_TAIL = 15  # lines of the container's own output shown after an exit
LOOP_AFTER = 3  # exits before the container counts as crash looping


def _tail(container) -> list[str]:
    try:
        raw = container.logs(tail=LOG_TAIL, stdout=True, stderr=True)
    except Exception:  # noqa: BLE001 - removed meanwhile: the exit line says enough
        return []
    return raw.decode(errors="replace").splitlines()


class ContainerFollower:
    """Turns one container's event stream into lines on `sink` (see sink.AgentLogSink)."""

    def __init__(self, docker, container_id: str, sink, *, since: float | None = None):
        self.docker = docker
        self.id = container_id
        self.sink = sink
        self.since = since if since is not None else time.time() - 1
        self.exits = 0
        self.done = threading.Event()
        self._stream = None

    def handle(self, event: dict) -> None:
        action = event.get("Action") or event.get("status") or ""
        attrs = (event.get("Actor") or {}).get("Attributes") or {}
        name = attrs.get("name") or self.id[:12]
        if action == "create":
            self.sink.add(f"Container {name} created from image {attrs.get('image', '?')}")
        elif action == "start":
            if self.exits:
                self.sink.add(
                    f"Container {name} restarted by Docker (restart {self.exits})", "warn"
                )
            else:
                self.sink.add(f"Container {name} started; waiting for the agent to connect")
        elif action == "oom":
            self.sink.add(f"Container {name} ran out of memory: the kernel killed a process (OOM)",
                          "error")  # fmt: skip
        elif action == "die":
            self._died(name, attrs)
        elif action == "destroy":
            self.sink.add(f"Container {name} removed")
            self.done.set()

    def _died(self, name: str, attrs: dict) -> None:
        self.exits += 1
        code = attrs.get("exitCode", "?")
        reason, oom = "", False
        container = None
        try:
            container = self.docker.containers.get(self.id)
            state = container.attrs.get("State", {})
            oom = bool(state.get("OOMKilled"))
            reason = state.get("Error") or ""
        except Exception:  # noqa: BLE001, S110 - removed meanwhile: the exit code says enough
            pass
        why = "OOMKilled: it used more memory than its limit" if oom else _exit_meaning(code)
        text = f"Container {name} exited with code {code} ({why})"
        if reason:
            text += f": {reason}"
        self.sink.add(text, "error")
        if container is not None:
            lines = _tail(container)
            if lines:
                self.sink.add(f"Last {len(lines)} lines of its output:", "error")
                self.sink.add("\n".join("  " + x for x in lines), "error")
        if self.exits == LOOP_AFTER:
            self.sink.add(
                f"Container {name} keeps exiting ({self.exits} times): a crash loop. Docker "
                "restarts it with a growing delay; fix the cause above and start the workspace "
                "again.",
                "error",
            )

    def run(self, *, max_seconds: float, check_every: float = 2.0) -> None:
        """Follow until the container is removed, the agent connects or `max_seconds` pass."""
        watchdog = threading.Thread(
            target=self._watch, args=(max_seconds, check_every), daemon=True
        )
        self._stream = self.docker.events(
            since=datetime.fromtimestamp(self.since, UTC),
            filters={"type": "container", "container": self.id},
            decode=True,
        )
        watchdog.start()
        try:
            for event in self._stream:
                self.handle(event)
                self.sink.flush()
                if self.done.is_set():
                    break
        except Exception:  # noqa: BLE001, S110 - closed under us (the watchdog, a daemon restart)
            pass
        self.done.set()
        self.sink.drain(timeout=30)

    def _watch(self, max_seconds: float, check_every: float) -> None:
        deadline = time.monotonic() + max_seconds
        while not self.done.wait(check_every):
            self.sink.flush()
            if self.sink.connected or time.monotonic() > deadline:
                break
        self.done.set()
        if self._stream is not None:
            self._stream.close()


def _exit_meaning(code) -> str:
    try:
        code = int(code)
    except (TypeError, ValueError):
        return "unknown exit"
    if code == 0:
        return "it ended: the entrypoint must keep running (it starts the agent)"
    if code == 137:
        return "killed with SIGKILL"
    if code == 143:
        return "stopped with SIGTERM"
    if code in (126, 127):
        return "its command could not be run"
    if code > 128:
        return f"killed by signal {code - 128}"
    return "an error"

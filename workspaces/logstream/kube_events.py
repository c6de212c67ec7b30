"""Workspace pods' lives as startup log lines, as coder-logstream-kube does: scheduling, image
pulls, back-offs, OOM kills and crash loops with their reasons, posted with each pod's agent
token (from its environment or the Secret it names) until the agent connects."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable

TOKEN_ENV = "PORTAL_AGENT_TOKEN"
WATCH_SECONDS = 300  # one watch request; then it is made again from the last resourceVersion
WARN_EVENTS = {"BackOff", "FailedScheduling", "Failed", "FailedMount", "Unhealthy", "Evicted"}
# Waiting reasons that mean the pod will not get further on its own.
STUCK = {
    "CrashLoopBackOff": "the container keeps exiting; Kubernetes restarts it with a growing delay",
    "ImagePullBackOff": "the image cannot be pulled; Kubernetes retries with a growing delay",
    "ErrImagePull": "the image cannot be pulled",
    "CreateContainerConfigError": "the container's configuration is invalid",
    "InvalidImageName": "the image name is invalid",
}


class PodStreamer:
    """Feeds pods and events of one namespace into per-agent sinks (see sink.AgentLogSink)."""

    def __init__(self, core, namespace: str, sink_for: Callable[[str], object], selector=""):
        self.core = core
        self.namespace = namespace
        self.selector = selector
        self.sink_for = sink_for  # token -> sink
        self._sinks: dict[str, object] = {}  # pod name -> sink
        self._waiting: dict[str, list[tuple[str, str]]] = {}  # events of pods not seen yet
        self._seen: set[tuple] = set()  # status lines already told
        self._lock = threading.Lock()

    # -- tokens

    def token_of(self, pod) -> str | None:
        for container in [*(pod.spec.init_containers or []), *(pod.spec.containers or [])]:
            for var in container.env or []:
                if var.name != TOKEN_ENV:
                    continue
                if var.value:
                    return var.value
                ref = var.value_from.secret_key_ref if var.value_from else None
                if ref is not None:
                    return self._secret(ref.name, ref.key)
        return None

    def _secret(self, name: str, key: str) -> str | None:
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except Exception:  # noqa: BLE001 - not there yet, or not ours to read: no stream
            return None
        value = (secret.data or {}).get(key)
        return base64.b64decode(value).decode() if value else None

    # -- pods

    def on_pod(self, kind: str, pod) -> None:
        name = pod.metadata.name
        with self._lock:
            sink = self._sinks.get(name)
        if sink is None:
            token = self.token_of(pod)
            if token is None:
                return  # not a workspace pod
            sink = self.sink_for(token)
            with self._lock:
                self._sinks[name] = sink
                waiting = self._waiting.pop(name, [])
            sink.add(f"Pod {name} created in namespace {self.namespace}")
            for text, level in waiting:
                sink.add(text, level)
        if kind == "DELETED":
            sink.add(f"Pod {name} deleted")
            with self._lock:
                self._sinks.pop(name, None)
            return
        for text, level in self._status_lines(pod):
            sink.add(text, level)

    def _status_lines(self, pod) -> list[tuple[str, str]]:
        lines = []
        status = pod.status
        for cond in (status.conditions if status else None) or []:
            if cond.type == "PodScheduled" and cond.status == "False":
                key = (pod.metadata.name, "unschedulable", cond.message)
                if key not in self._seen:
                    self._seen.add(key)
                    lines.append((f"Pod cannot be scheduled ({cond.reason}): {cond.message}",
                                  "error"))  # fmt: skip
        for cs in (status.container_statuses if status else None) or []:
            last = cs.last_state.terminated if cs.last_state else None
            if last is not None:
                key = (pod.metadata.name, cs.name, "exit", cs.restart_count)
                if key not in self._seen:
                    self._seen.add(key)
                    why = last.reason or "Error"
                    if why == "OOMKilled":
                        why = "OOMKilled: it used more memory than its limit"
                    text = f"Container {cs.name} exited with code {last.exit_code} ({why})"
                    if last.message:
                        text += f": {last.message}"
                    lines.append((f"{text}; restarts: {cs.restart_count}", "error"))
            waiting = cs.state.waiting if cs.state else None
            if waiting is not None and waiting.reason in STUCK:
                key = (pod.metadata.name, cs.name, waiting.reason, cs.restart_count)
                if key not in self._seen:
                    self._seen.add(key)
                    text = f"Container {cs.name}: {waiting.reason}: {STUCK[waiting.reason]}"
                    if waiting.message:
                        text += f" ({waiting.message})"
                    lines.append((text, "error"))
        return lines

    # -- events

    def on_event(self, event) -> None:
        obj = event.involved_object
        if obj is None or obj.kind != "Pod":
            return
        level = "warn" if event.type == "Warning" or event.reason in WARN_EVENTS else "info"
        text = f"{event.reason}: {event.message}"
        if (event.count or 1) > 1:
            text += f" (x{event.count})"
        with self._lock:
            sink = self._sinks.get(obj.name)
            if sink is None:
                self._waiting.setdefault(obj.name, []).append((text, level))
                return
        sink.add(text, level)

    # -- watching

    def watch_pods_once(self, resource_version: str | None = None) -> str | None:
        from kubernetes import watch

        latest = resource_version
        for item in watch.Watch().stream(
            self.core.list_namespaced_pod, self.namespace, label_selector=self.selector,
            resource_version=latest, timeout_seconds=WATCH_SECONDS,
        ):  # fmt: skip
            self.on_pod(item["type"], item["object"])
            latest = item["object"].metadata.resource_version
        return latest

    def watch_events_once(self, resource_version: str | None = None) -> str | None:
        from kubernetes import watch

        latest = resource_version
        for item in watch.Watch().stream(
            self.core.list_namespaced_event, self.namespace,
            resource_version=latest, timeout_seconds=WATCH_SECONDS,
        ):  # fmt: skip
            self.on_event(item["object"])
            latest = item["object"].metadata.resource_version
        return latest

    def sinks(self) -> list:
        with self._lock:
            return list(self._sinks.values())


def _forever(step: Callable[[str | None], str | None]) -> None:
    version = None
    while True:
        try:
            version = step(version)
        except Exception:  # noqa: BLE001 - a dropped watch or an expired version: start again
            version = None
            time.sleep(2)


def run_cluster(*, namespace: str, access_url: str, selector: str = "") -> None:
    """The long-running process (a Deployment beside Portal's provisioners)."""
    from kubernetes import client, config

    from workspaces.logstream.sink import AgentLogSink

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    sinks: dict[str, AgentLogSink] = {}

    def sink_for(token: str) -> AgentLogSink:
        return sinks.setdefault(token, AgentLogSink(access_url, token, "kubernetes"))

    streamer = PodStreamer(client.CoreV1Api(), namespace, sink_for, selector)
    for step in (streamer.watch_pods_once, streamer.watch_events_once):
        threading.Thread(target=_forever, args=(step,), daemon=True).start()
    while True:
        time.sleep(2)
        for token, sink in list(sinks.items()):
            if sink.pending or not sink.accepted:
                sink.flush()
            if sink.connected and not sink.pending:
                sinks.pop(token, None)  # its agent is up: nothing more to tell

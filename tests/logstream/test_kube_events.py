"""The Kubernetes streamer against recorded API responses: no cluster runs here, so the API's
JSON is replayed through the real kubernetes SDK (its ApiClient, models and watch parsing) with
only the HTTP transport faked."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3

from workspaces.logstream.kube_events import PodStreamer

FIXTURE = Path(__file__).parent / "fixtures" / "kube_namespace.json"
NAMESPACE = "portal-workspaces"


class _Body(io.BytesIO):
    """A response body that closes at its end, as a socket's does (watches read until then)."""

    def read(self, size=-1):
        data = super().read(size)
        if not data and size != 0:
            self.close()
        return data

    read1 = read


class RecordedTransport:
    """Stands in for urllib3's PoolManager: answers each request from the fixture."""

    def __init__(self, responses: dict):
        self.responses = responses
        self.requests: list[str] = []

    def request(self, method, url, fields=None, **kwargs):
        parts = urlsplit(url)
        query = dict(fields or [])
        key = f"{method} {parts.path}" + (
            "?watch" if query.get("watch") or "watch=" in parts.query else ""
        )
        self.requests.append(key)
        if key not in self.responses:
            return urllib3.HTTPResponse(body=_Body(b'{"kind":"Status"}'), status=404,
                                        reason="Not Found", preload_content=True)  # fmt: skip
        recorded = self.responses[key]
        if isinstance(recorded, list):  # a watch: one JSON event per line
            body = "".join(json.dumps(e) + "\n" for e in recorded).encode()
        else:
            body = json.dumps(recorded).encode()
        return urllib3.HTTPResponse(
            body=_Body(body), status=200, reason="OK",
            headers={"Content-Type": "application/json"},
            preload_content=kwargs.get("preload_content") is not False,
        )  # fmt: skip


class Collected:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def add(self, output: str, level: str = "info") -> None:
        self.lines.append((output, level))

    @property
    def text(self) -> str:
        return "\n".join(line for line, _ in self.lines)


@pytest.fixture
def replay():
    from kubernetes import client

    api = client.ApiClient(client.Configuration(host="https://kube.example:6443"))
    transport = RecordedTransport(json.loads(FIXTURE.read_text()))
    api.rest_client.pool_manager = transport
    sinks: dict[str, Collected] = {}
    streamer = PodStreamer(client.CoreV1Api(api), NAMESPACE,
                           lambda token: sinks.setdefault(token, Collected()))  # fmt: skip
    # Events first: those of a pod not seen yet wait for it, as they do in a live cluster.
    streamer.watch_events_once()
    streamer.watch_pods_once()
    return sinks, transport


def test_only_workspace_pods_get_a_stream_each_with_its_own_agent_token(replay):
    sinks, transport = replay
    # The first pod's token came from the Secret its env names; the second's from its env.
    assert set(sinks) == {"token-of-the-crashing-agent", "token-of-the-second-agent"}
    assert "metrics-agent" not in "".join(s.text for s in sinks.values())
    assert (
        f"GET /api/v1/namespaces/{NAMESPACE}/secrets/portal-1f0c-agent-token" in transport.requests
    )


def test_scheduling_pulls_oom_kills_and_crash_loops_with_their_reasons(replay):
    sinks, _ = replay
    log = sinks["token-of-the-crashing-agent"]
    text = log.text
    assert "Pod portal-1f0c-7d9f8b6c5-x2x4q created" in log.lines[0][0]
    assert "Pod cannot be scheduled (Unschedulable): 0/3 nodes are available: 3 Insufficient " \
           "memory." in text  # fmt: skip
    assert text.count("Pod cannot be scheduled") == 1  # a repeated status is told once
    assert "FailedScheduling: 0/3 nodes are available" in text
    assert "Scheduled: Successfully assigned portal-workspaces/" in text
    assert 'Pulling: Pulling image "python:3.12-bookworm"' in text
    assert (
        "Container dev exited with code 137 (OOMKilled: it used more memory than its limit)" in text
    )
    assert "Container dev exited with code 1 (Error); restarts: 2" in text
    assert "Container dev: CrashLoopBackOff: the container keeps exiting" in text
    assert "BackOff: Back-off restarting failed container dev" in text and "(x3)" in text
    assert (
        "BackOff: Back-off restarting failed container dev in pod "
        "portal-1f0c-7d9f8b6c5-x2x4q_portal-workspaces(u-1) (x3)",
        "warn",
    ) in log.lines
    assert "SuccessfulCreate" not in text  # a ReplicaSet's event, not the pod's
    levels = dict(log.lines)
    assert levels[next(x for x, _ in log.lines if "OOMKilled" in x)] == "error"


def test_image_pull_failures_and_the_pods_end(replay):
    sinks, _ = replay
    text = sinks["token-of-the-second-agent"].text
    assert 'Failed: Failed to pull image "registry.example.com/dev:nope": not found' in text
    assert "Container dev: ErrImagePull: the image cannot be pulled" in text
    assert "ImagePullBackOff: the image cannot be pulled; Kubernetes retries" in text
    assert text.splitlines()[-1] == "Pod portal-77aa-5c6d7f8b9-k8j2m deleted"

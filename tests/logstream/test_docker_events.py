"""The container follower against the real Docker daemon: what a developer reads in the startup
log when a workspace container dies before its agent connects."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.docker_host import ensure_base_image, require_docker
from workspaces.logstream.docker_events import ContainerFollower

pytestmark = pytest.mark.slow


class Collected:
    connected = False

    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def add(self, output: str, level: str = "info") -> None:
        self.lines.extend((x, level) for x in output.splitlines())

    def flush(self) -> bool:
        return True

    def drain(self, timeout: float) -> bool:
        return True

    @property
    def text(self) -> str:
        return "\n".join(x for x, _ in self.lines)


@pytest.fixture
def docker_client():
    require_docker()
    import docker

    client = docker.from_env()
    label = f"dev.portal.test={uuid.uuid4()}"
    client.test_label = label
    yield client
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)


def follow(client, container, sink) -> tuple[ContainerFollower, threading.Thread]:
    follower = ContainerFollower(client, container.id, sink, since=time.time() - 1)
    thread = threading.Thread(target=follower.run, kwargs={"max_seconds": 60}, daemon=True)
    thread.start()
    return follower, thread


def wait_for(sink: Collected, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in sink.text:
        assert time.monotonic() < deadline, sink.text
        time.sleep(0.2)


def test_an_oom_killed_container_is_reported_with_its_reason(docker_client):
    key, value = docker_client.test_label.split("=")
    container = docker_client.containers.create(
        ensure_base_image(),
        ["python3", "-c", "print('allocating', flush=True); b = bytearray(512 * 1024 * 1024)"],
        labels={key: value},
        mem_limit="48m",
        memswap_limit="48m",  # no swap to escape to: the kernel must kill it
        restart_policy={"Name": "no"},
    )
    sink = Collected()
    follower, thread = follow(docker_client, container, sink)
    container.start()

    wait_for(sink, "exited with code 137")
    assert "(OOMKilled: it used more memory than its limit)" in sink.text
    assert "allocating" in sink.text  # the container's own last words
    assert any(level == "error" for x, level in sink.lines if "OOMKilled" in x)

    container.remove(force=True)
    thread.join(30)
    assert not thread.is_alive(), "the follower ends when the container is removed"
    assert sink.lines[-1][0].endswith("removed")


def test_a_restart_loop_is_named_after_repeated_exits(docker_client):
    key, value = docker_client.test_label.split("=")
    container = docker_client.containers.create(
        ensure_base_image(),
        ["sh", "-c", "echo 'cannot reach https://portal.example' >&2; exit 7"],
        labels={key: value},
        restart_policy={"Name": "always"},
    )
    sink = Collected()
    follower, thread = follow(docker_client, container, sink)
    container.start()

    wait_for(sink, "a crash loop")
    assert "exited with code 7 (an error)" in sink.text
    assert "cannot reach https://portal.example" in sink.text
    assert "restarted by Docker (restart 1)" in sink.text
    follower.done.set()  # as when the agent connects
    container.remove(force=True)
    thread.join(30)
    assert not thread.is_alive()

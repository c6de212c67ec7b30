"""A real Docker workspace of a real `portal server`: the docker-airgapped template builds a
container from the local Debian image, its agent dials the server through host.docker.internal;
SSH, a terminal and the preview app work; stop keeps the home volume, delete removes it. A
container that keeps exiting shows its exit code and output in the agent's startup log."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pexpect
import pytest

from tests.docker_host import ensure_base_image, require_docker
from tests.e2e.server_process import REPO, ServerProcess, login, me, portal_env

pytestmark = pytest.mark.slow

TEMPLATE = REPO / "examples" / "templates" / "docker-airgapped"
TEST_LABEL = "dev.portal.test=e2e-docker-workspace"
OWNER = {
    "PORTAL_FIRST_USER_USERNAME": "dev",
    "PORTAL_FIRST_USER_EMAIL": "dev@example.com",
    "PORTAL_FIRST_USER_PASSWORD": "a-long-enough-passphrase-42",
}
# python3 is there (so nothing is installed) but fails: the init script exits, Docker restarts.
BROKEN_DOCKERFILE = f"""FROM {{base}}
LABEL {TEST_LABEL}
RUN printf '#!/bin/sh\\necho "python3 is broken in this image" >&2\\nexit 3\\n' \\
      > /usr/local/bin/python3 && chmod 755 /usr/local/bin/python3
"""


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 or not check, done.stderr
    return done.stdout


def remove_labelled(label: str) -> None:
    for ids, rm in (
        (["ps", "-aq"], ["rm", "-f"]),
        (["volume", "ls", "-q"], ["volume", "rm", "-f"]),
        (["images", "-q"], ["rmi", "-f"]),
    ):
        found = docker(*ids, "--filter", f"label={label}", check=False).split()
        if found:
            docker(*rm, *sorted(set(found)), check=False)


class Portal:
    def __init__(self, server: ServerProcess, token: str, home: Path):
        self.server = server
        self.token = token
        self.env = {**portal_env(server.data_dir), "PORTAL_URL": server.url,
                    "PORTAL_SESSION_TOKEN": token, "HOME": str(home), "TERM": "xterm"}  # fmt: skip

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "portal", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"portal {args}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def api(self, path: str) -> dict:
        r = httpx.get(f"{self.server.url}/api/v2{path}",
                      headers={"Authorization": f"Bearer {self.token}"}, timeout=30)  # fmt: skip
        r.raise_for_status()
        return r.json()

    def agent(self, workspace: str) -> dict:
        detail = self.api(f"/users/me/workspace/{workspace}")
        return next(a for r in detail["resources"] for a in r["agents"])

    def wait_ready(self, workspace: str, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while (agent := self.agent(workspace))["lifecycle_state"] != "ready":
            assert time.monotonic() < deadline, (agent, self.startup_log(workspace))
            time.sleep(1)
        return agent

    def startup_log(self, workspace: str) -> list[dict]:
        agent = self.agent(workspace)
        return self.api(f"/workspaceagents/{agent['id']}/logs?limit=1000")["results"]


def containers(workspace_label: str) -> list[str]:
    return docker("ps", "-aq", "--filter", f"label={workspace_label}").split()


@pytest.fixture(scope="module")
def portal():
    require_docker()
    base = ensure_base_image()
    root = Path(tempfile.mkdtemp(prefix="portal-e2e-docker-"))
    # The container reaches the server at the Docker host's gateway address, so it listens on
    # every address; the access URL stays local and the template rewrites it.
    server = ServerProcess(
        root / "data",
        # The Docker socket is root's: builds that drive it run outside the build sandbox.
        PORTAL_BUILD_SANDBOX="none",
        PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS="true",
        PORTAL_ALLOWED_HOSTS="host.docker.internal",
        **OWNER,
    )
    server.env["PORTAL_HTTP_ADDRESS"] = f"0.0.0.0:{server.port}"
    server.env["PORTAL_ACCESS_URL"] = server.url
    owner_label = None
    try:
        server.start().wait_ready()
        r = login(server.url, OWNER["PORTAL_FIRST_USER_USERNAME"],
                  OWNER["PORTAL_FIRST_USER_PASSWORD"])  # fmt: skip
        assert r.status_code == 201, r.text
        token = r.json()["session_token"]
        owner_label = f"dev.portal.owner_id={me(server.url, token)['id']}"
        home = root / "home"
        home.mkdir()
        client = Portal(server, token, home)
        client.ok("templates", "push", "docker-airgapped", "--directory", str(TEMPLATE),
                  "--activate", "--yes")  # fmt: skip
        client.base_image = base
        yield client
    finally:
        server.stop()
        # Everything the workspaces made carries their owner's id; the broken image our label.
        if owner_label:
            remove_labelled(owner_label)
        remove_labelled(TEST_LABEL)
        shutil.rmtree(root, ignore_errors=True)


def test_a_docker_workspace_from_create_to_delete(portal):
    portal.ok("create", "box", "--template", "docker-airgapped", "--yes",
              "-p", f"base_image={portal.base_image}", "-p", "memory=1", "-p", "cpu=1")  # fmt: skip
    agent = portal.wait_ready("box")
    workspace_id = portal.api("/users/me/workspace/box")["id"]
    label = f"dev.portal.workspace_id={workspace_id}"
    assert len(containers(label)) == 1

    # SSH: a command runs in the container, as the owner's user, in its home on the volume.
    out = portal.ok("ssh", "box", "--", "id -un; hostname; echo kept > ~/notes.txt; pwd")
    assert out.split() == ["dev", "box", "/home/dev"]

    # A terminal: an interactive shell on a PTY.
    child = pexpect.spawn(sys.executable, ["-m", "portal", "ssh", "box"], env=portal.env,
                          dimensions=(24, 80), encoding="utf-8", timeout=60)  # fmt: skip
    try:
        child.expect(r"[#$] ")
        child.sendline("echo $((6 * 7)); tty; exit 4")
        child.expect(r"42\s+/dev/pts/\d+")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 4

    # The preview app, through the app proxy, once its health check passes.
    deadline = time.monotonic() + 90
    while True:
        app = next(a for a in portal.agent("box")["apps"] if a["slug"] == "preview")
        if app["health"] == "healthy":
            break
        assert time.monotonic() < deadline, app
        time.sleep(1)
    page = httpx.get(f"{portal.server.url}/@dev/box/apps/preview/",
                     headers={"Authorization": f"Bearer {portal.token}"}, timeout=30)  # fmt: skip
    assert page.status_code == 200 and "Hello from container workspace box" in page.text

    # What the container did before the agent connected is in the startup log.
    docker_lines = [x["output"] for x in portal.startup_log("box") if x["source"] == "docker"]
    assert any("Built image portal-workspace-" in x for x in docker_lines), docker_lines
    assert any("started; waiting for the agent" in x for x in docker_lines), docker_lines
    assert agent["lifecycle_state"] == "ready"

    portal.ok("stop", "box")
    assert containers(label) == []
    volume = f"portal-{workspace_id}-home"
    assert docker("volume", "ls", "-q", "--filter", f"label={label}").split() == [volume]

    portal.ok("start", "box")
    portal.wait_ready("box")
    assert portal.ok("ssh", "box", "--", "cat ~/notes.txt") == "kept\n"

    portal.ok("delete", "box", "--yes")
    assert containers(label) == []
    assert docker("volume", "ls", "-q", "--filter", f"label={label}").split() == []
    assert docker("images", "-q", f"portal-workspace-{workspace_id}").split() == []


def test_a_crash_looping_container_says_why_in_the_startup_log(portal, tmp_path):
    broken = "portal-test/broken-python:1"
    (tmp_path / "Dockerfile").write_text(BROKEN_DOCKERFILE.format(base=portal.base_image))
    docker("build", "-q", "-t", broken, str(tmp_path))

    portal.ok("create", "broken", "--template", "docker-airgapped", "--yes",
              "-p", f"base_image={broken}", "-p", "memory=1", "-p", "cpu=1")  # fmt: skip

    deadline = time.monotonic() + 90
    while True:
        lines = [x for x in portal.startup_log("broken") if x["source"] == "docker"]
        text = "\n".join(x["output"] for x in lines)
        if "crash loop" in text:
            break
        assert time.monotonic() < deadline, text
        time.sleep(1)
    assert "exited with code 3" in text
    assert "python3 is broken in this image" in text  # the container's own output
    assert any(x["level"] == "error" for x in lines)
    assert portal.agent("broken")["status"] != "connected"

    portal.ok("delete", "broken", "--yes")
    workspace_label = "dev.portal.workspace_id"
    assert not [c for c in docker("ps", "-a", "--format", "{{.Names}}").split()
                if c == "portal-dev-broken"], workspace_label  # fmt: skip

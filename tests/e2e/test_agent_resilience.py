"""A real agent from the `local` template against a real `portal server`: restarts, a frozen or
killed agent, and tokens the agent endpoint must refuse."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.server_process import ServerProcess, login, mentioning, portal_env

pytestmark = pytest.mark.slow

# Agents ping every 5 s: a little more than that, so a healthy agent never looks gone, and
# small enough that a silent one is noticed soon.
INACTIVE_SECONDS = "8"
WAIT = 120  # seconds: generous bounds on waits, never asserted as speed
RPC_PATH = "/api/v2/workspaceagents/me/rpc"


def private_port() -> int:
    """A port outside the range other e2e tests walk from its bottom (18100-18199): a restart
    leaves the port free for a moment, and another test's server must not take it then."""
    for _ in range(200):
        port = random.randrange(30000, 32000)  # below Linux's ephemeral ports (32768-)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in 30000-31999")


def server_on(data_dir: Path, port: int) -> ServerProcess:
    server = ServerProcess(
        data_dir,
        PORTAL_AGENT_INACTIVE_SECONDS=INACTIVE_SECONDS,
        # These tests restart the server under a running workspace, which Ctrl-C would stop.
        PORTAL_KEEP_WORKSPACES_ON_EXIT="true",
    )
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    server.env["PORTAL_HTTP_ADDRESS"] = f"127.0.0.1:{port}"
    return server


class Deployment:
    """The module's one server, its owner's token, and the workspace `dev` with its agent."""

    def __init__(self, data_dir: Path, home: Path):
        self.data_dir = data_dir
        self.home = home
        self.server = server_on(data_dir, private_port())
        self.token = ""
        self.agent_id = ""
        self.agent_pid = 0
        self.agent_token = ""

    @property
    def url(self) -> str:
        return self.server.url

    def portal(self, *args: str) -> subprocess.CompletedProcess:
        env = {
            **portal_env(self.data_dir),
            "PORTAL_URL": self.url,
            "PORTAL_SESSION_TOKEN": self.token,
            "HOME": str(self.home),
        }
        return subprocess.run(
            [sys.executable, "-m", "portal", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def api(self, path: str) -> dict:
        r = httpx.get(
            f"{self.url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        r.raise_for_status()
        return r.json()

    def agent(self) -> dict:
        return self.api(f"/workspaceagents/{self.agent_id}")

    def wait_agent(self, check, what: str) -> dict:
        deadline = time.monotonic() + WAIT
        while True:
            agent = self.agent()
            if check(agent):
                return agent
            assert time.monotonic() < deadline, f"agent never {what}: {agent}"
            time.sleep(0.5)

    def restart(self) -> None:
        """Stop the server cleanly and start it again on the same port and data directory."""
        self.server.stop()
        # The agent dials the access URL it was given: the new server must answer there.
        self.server = server_on(self.data_dir, self.server.port).start().wait_ready()


def agent_process(data_dir: Path, workspace_id: str) -> psutil.Process:
    """The agent of the `local` template: the process group leader named in its pid file."""
    [pid_file] = data_dir.rglob(f"workspaces/{workspace_id}/agent.pid")
    return psutil.Process(int(pid_file.read_text().strip()))


def refusal(url: str, token: str | None) -> ConnectionClosed:
    """How the agent endpoint closes a connection made with this token (None: no header)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    ws_url = url.replace("http://", "ws://") + RPC_PATH
    with (
        connect(ws_url, additional_headers=headers, open_timeout=30) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.send('{"type": "hello", "version": "test"}')
        while True:
            ws.recv(timeout=30)  # a manifest instead of a close fails on the code below
    return closed.value


@pytest.fixture(scope="module")
def deployment():
    data_dir = Path(tempfile.mkdtemp(prefix="portal-e2e-agents-"))  # see test_embedded_server
    home = Path(tempfile.mkdtemp(prefix="portal-e2e-agents-home-"))
    dep = Deployment(data_dir, home)
    try:
        dep.server.start().wait_ready()
        r = login(dep.url, "admin", dep.server.first_user_password())
        assert r.status_code == 201, r.text
        dep.token = r.json()["session_token"]
        created = dep.portal("create", "dev", "--template", "local", "--yes")
        assert created.returncode == 0, created.stdout + created.stderr
        workspace = dep.api("/users/me/workspace/dev")
        dep.agent_id = next(a["id"] for r in workspace["resources"] for a in r["agents"])
        dep.wait_agent(
            lambda a: a["status"] == "connected" and a["lifecycle_state"] == "ready",
            "connected and ready",
        )
        proc = agent_process(data_dir, workspace["id"])
        dep.agent_pid = proc.pid
        dep.agent_token = proc.environ()["PORTAL_AGENT_TOKEN"]
        yield dep
    finally:
        if dep.token:
            dep.portal("delete", "dev", "--yes")  # stops the agent if a test left it running
        dep.server.stop()
        # Whatever the workspace still runs (the agent, its preview server) if delete failed.
        for proc in mentioning(str(data_dir)):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def test_a_wrong_or_missing_token_is_refused(deployment):
    wrong = refusal(deployment.url, "not-an-agent-token")
    assert wrong.rcvd.code == 4401
    assert "agent token is not valid" in wrong.rcvd.reason
    missing = refusal(deployment.url, None)
    assert missing.rcvd.code == 4401
    assert "Authorization: Bearer" in missing.rcvd.reason
    # A user's session token is no agent token either.
    assert refusal(deployment.url, deployment.token).rcvd.code == 4401
    assert deployment.agent()["status"] == "connected"  # the real agent was not disturbed


def test_after_a_server_restart_the_agent_reconnects(deployment):
    before = deployment.agent()["last_connected_at"]
    deployment.restart()
    assert psutil.pid_exists(deployment.agent_pid)  # the workspace outlives the server
    agent = deployment.wait_agent(
        lambda a: a["status"] == "connected" and a["last_connected_at"] != before,
        "reconnected",
    )
    assert agent["last_connected_at"] > before
    assert agent["lifecycle_state"] == "ready"


def test_a_frozen_agent_is_shown_gone_and_comes_back(deployment):
    proc = psutil.Process(deployment.agent_pid)
    proc.suspend()  # SIGSTOP: its socket stays open, but it stops pinging
    try:
        gone = deployment.wait_agent(lambda a: a["status"] != "connected", "shown silent")
        assert gone["status"] in {"timeout", "disconnected"}
    finally:
        proc.resume()
    deployment.wait_agent(lambda a: a["status"] == "connected", "connected again")


def test_a_killed_agent_is_shown_disconnected(deployment):
    os.kill(deployment.agent_pid, signal.SIGKILL)
    psutil.Process(deployment.agent_pid).wait(30)
    agent = deployment.wait_agent(
        lambda a: a["status"] in {"disconnected", "timeout"}, "shown disconnected"
    )
    assert agent["disconnected_at"] or agent["status"] == "timeout"
    # It stays so: nothing else speaks for the dead agent.
    assert deployment.agent()["status"] != "connected"


def test_the_token_of_a_deleted_workspace_is_refused(deployment):
    token = deployment.agent_token
    deleted = deployment.portal("delete", "dev", "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    closed = refusal(deployment.url, token)
    assert closed.rcvd.code == 4401
    assert "deleted or rebuilt" in closed.rcvd.reason

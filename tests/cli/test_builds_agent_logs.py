"""`portal builds logs` shows the agents' startup logs after a start build, live with --follow."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading

import pytest

from portal.accounts import services as account_services
from tests.cli.conftest import REPO
from tests.cli.workspaces import conftest as workspaces_conftest
from tests.conftest import PASSWORD
from workspaces.connectivity import agents
from workspaces.models import WorkspaceAgent

# The workspace CLI tests' fixtures: a fake provisioner, a template and the real ASGI server.
provisioner = workspaces_conftest.provisioner
template = workspaces_conftest.template
asgi_server = workspaces_conftest.asgi_server
wait_for = workspaces_conftest.wait_for

FIRST = [
    {"source": "startup_script", "output": "installing tools"},
    {"source": "startup_script", "output": "tools installed"},
    {"source": "dotfiles", "level": "error", "output": "cloning dotfiles failed"},
]


def agent_of(name: str = "dev") -> WorkspaceAgent:
    return WorkspaceAgent.objects.filter(resource__job__build__workspace__name=name).latest(
        "created_at"
    )


def in_order(text: str, *parts: str) -> bool:
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def test_startup_logs_follow_the_build_log_with_a_header_per_source(
    cli, member, template, provisioner
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    agent = agent_of()
    agents.append_logs(agent, FIRST)
    agents.report_lifecycle(agent, "starting")
    agents.report_lifecycle(agent, "start_error", "startup script exited with 1")

    for args in (("--no-follow",), ()):  # --follow (polling here) ends: the agent has started
        result = cli.ok("builds", "logs", "dev", *args)
        assert in_order(
            result.stdout,
            "terraform_data.home: Creation complete",
            "==> Agent main (start_error)",
            "==> Agent main: startup_script\ninstalling tools\ntools installed\n",
            "==> Agent main: dotfiles\ncloning dotfiles failed\n",
        ), result.stdout
        assert "warning: agent main failed to start: startup script exited with 1" in (
            result.stderr
        )

    cli.ok("stop", "dev")
    stopped = cli.ok("builds", "logs", "dev", "--no-follow")
    assert "Agent main" not in stopped.stdout + stopped.stderr


def test_an_agent_still_starting_is_said_so_without_follow(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    agents.append_logs(agent_of(), FIRST[:1])
    result = cli.ok("builds", "logs", "dev", "--no-follow")
    assert in_order(result.stdout, "==> Agent main (created)", "installing tools")
    assert "Agent main is still created; --follow shows the rest" in result.stderr


def test_startup_logs_are_followed_live_until_the_agent_is_ready(
    cli, member, make_user, template, provisioner, asgi_server, tmp_path
):
    url, websockets = asgi_server
    live = type(cli)(url, tmp_path / "asgi-home")
    live.login(member)
    live.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    agent = agent_of()
    agents.report_lifecycle(agent, "starting")
    agents.append_logs(agent, FIRST[:1])

    proc = subprocess.Popen(
        [sys.executable, "-m", "portal", "builds", "logs", "dev"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=live.env,
        cwd=REPO,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()

    def shown(text: str | None) -> list[str]:
        seen = []
        while True:
            line = lines.get(timeout=60)
            if line is None:
                return seen
            seen.append(line)
            if text is not None and text in line:
                return seen

    try:
        before = shown("installing tools")
        assert "==> Agent main (starting)\n" in before
        wait_for(lambda: f"/api/v2/workspaceagents/{agent.id}/logs" in websockets)
        # Written after the CLI showed the first line: only a live follower can show these.
        agents.append_logs(agent, FIRST[1:])
        rest = shown("cloning dotfiles failed")
        assert rest[0] == "tools installed\n"
        assert proc.poll() is None  # still following: the agent is not ready yet
        agents.append_logs(agent, [{"source": "startup_script", "output": "all set"}])
        agents.report_lifecycle(agent, "ready")
        out = "".join(shown(None))
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert in_order(out, "==> Agent main: startup_script\nall set\n", "Agent main is ready.")
    # The build's log and the agent's, each over its WebSocket (polling would not record any).
    assert websockets.count(f"/api/v2/workspaceagents/{agent.id}/logs") == 1

    # Someone else cannot follow this agent's log.
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    make_user(username="bob")
    _, _, token = account_services.login(login="bob", password=PASSWORD)
    ws_url = url.replace("http://", "ws://") + f"/api/v2/workspaceagents/{agent.id}/logs"
    headers = {"Authorization": f"Bearer {token}"}
    with (
        connect(ws_url, additional_headers=headers) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=30)
    assert closed.value.rcvd.code == 4404
    assert "No workspace agent" in closed.value.rcvd.reason


def test_until_stopped_follows_scripts_that_write_after_the_agent_is_ready(
    cli, member, template, provisioner, asgi_server, tmp_path
):
    """The portal's startup log (`?until=stopped`): a script that does not block login writes
    after the agent is ready, and the page must still show it live."""
    import json

    from websockets.sync.client import connect

    url, _ = asgi_server
    live = type(cli)(url, tmp_path / "asgi-home")
    live.login(member)
    live.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    agent = agent_of()
    agents.report_lifecycle(agent, "starting")
    agents.append_logs(agent, FIRST[:1])
    _, _, token = account_services.login(login=member.username, password=PASSWORD)
    ws_url = url.replace("http://", "ws://") + f"/api/v2/workspaceagents/{agent.id}/logs"

    def messages(ws, until):
        seen = []
        while not seen or not until(seen[-1]):
            seen.append(json.loads(ws.recv(timeout=30)))
        return seen

    headers = {"Authorization": f"Bearer {token}"}
    with connect(ws_url + "?until=stopped", additional_headers=headers) as ws:
        first = messages(ws, lambda m: m["type"] == "logs")
        assert [row["output"] for row in first[-1]["logs"]] == ["installing tools"]
        agents.report_lifecycle(agent, "ready")
        assert messages(ws, lambda m: m["type"] != "logs")[-1] == {
            "type": "lifecycle",
            "status": "ready",
        }
        agents.append_logs(agent, [{"source": "preview", "output": "serving ~/www"}])
        later = messages(ws, lambda m: m["type"] == "logs")
        assert later[-1]["logs"][0]["output"] == "serving ~/www"
        agents.report_lifecycle(agent, "shutting_down")
        assert messages(ws, lambda m: m["type"] == "end")[-1]["status"] == "shutting_down"

    # Without it (the CLI's default), a ready agent's log has ended.
    with connect(ws_url, additional_headers=headers) as ws:
        assert messages(ws, lambda m: m["type"] == "end")[-1]["status"] == "shutting_down"

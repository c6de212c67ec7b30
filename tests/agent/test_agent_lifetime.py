"""When the agent gives up by itself, and that it then leaves nothing behind.

Its working directory or home removed (the workspace deleted under it), its server gone for
PORTAL_AGENT_GIVE_UP_SECONDS, its token refused past the grace period: each time it stops what
its scripts left running, in their process group or out of it (setsid), and exits 1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time

import pytest

from tests.agent.fakeserver import stop_agent


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
    except OSError:
        return False


def _wait_gone(pids: list[int], timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def leftovers(tmp_path):
    """A start script leaving one process in its group and a daemon out of it, and their pids."""
    pids = tmp_path / "pids"
    pids.mkdir()
    script = (
        f"sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {pids}/group\n"
        f"setsid sh -c 'echo $$ > {pids}/daemon; exec sleep 300' </dev/null >/dev/null 2>&1 &\n"
    )

    def started(server) -> list[int]:
        server.wait(lambda: len(list(pids.iterdir())) == 2, what="both pid files")
        time.sleep(0.2)  # the files are written before the processes exec sleep
        found = [int((pids / name).read_text()) for name in ("group", "daemon")]
        assert all(_alive(p) for p in found)
        return found

    manifest = {
        "scripts": [
            {"display_name": "Serve", "script": script, "run_on_start": True},
            {"display_name": "Bye", "script": f"touch {pids}/bye", "run_on_stop": True},
        ]
    }
    yield manifest, started, pids
    for name in ("group", "daemon"):
        if (pids / name).exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((pids / name).read_text()), 9)


def log_of(tmp_path) -> str:
    return (tmp_path / "agent.log").read_text()


def test_a_removed_working_directory_stops_everything_at_once(
    make_server, run_agent, tmp_path, leftovers
):
    manifest, started, pids = leftovers
    work = tmp_path / "workspace"
    work.mkdir()
    server = make_server(manifest)
    agent = run_agent(server.url, cwd=work)
    processes = started(server)

    shutil.rmtree(work)

    assert agent.wait(15) == 1
    assert _wait_gone(processes) == []
    assert "working directory" in log_of(tmp_path) and "was removed" in log_of(tmp_path)
    # Stop scripts would run in a directory that no longer exists: they are skipped.
    assert not (pids / "bye").exists()
    assert not work.exists()  # and nothing recreated it


def test_a_removed_home_stops_everything_at_once(make_server, run_agent, tmp_path, leftovers):
    manifest, started, _ = leftovers
    server = make_server(manifest)
    agent = run_agent(server.url)
    processes = started(server)

    shutil.rmtree(tmp_path / "home")

    assert agent.wait(15) == 1
    assert _wait_gone(processes) == []
    assert "home" in log_of(tmp_path) and "was removed" in log_of(tmp_path)


def test_a_server_gone_for_the_give_up_time_stops_everything(
    make_server, run_agent, tmp_path, leftovers
):
    manifest, started, pids = leftovers
    server = make_server(manifest)
    agent = run_agent(server.url, env={"PORTAL_AGENT_GIVE_UP_SECONDS": "3"})
    processes = started(server)
    server.wait(lambda: "ready" in server.states(), what="ready")

    server.stop()

    assert agent.wait(30) == 1
    assert _wait_gone(processes) == []
    assert "no working connection to the server" in log_of(tmp_path)
    assert "PORTAL_AGENT_GIVE_UP_SECONDS=3" in log_of(tmp_path)
    assert (pids / "bye").exists()  # the workspace is still there: its stop scripts ran


def test_a_server_back_within_the_give_up_time_keeps_the_agent(make_server, run_agent, leftovers):
    manifest, started, _ = leftovers
    server = make_server(manifest)
    agent = run_agent(server.url, env={"PORTAL_AGENT_GIVE_UP_SECONDS": "60"})
    processes = started(server)
    server.wait(lambda: "ready" in server.states(), what="ready")

    server.restart()

    server.wait(lambda: len(server.of_type("hello")) >= 2, timeout=30, what="a reconnection")
    assert agent.poll() is None
    assert all(_alive(p) for p in processes)
    assert stop_agent(agent) == 0
    assert _wait_gone(processes) == []  # an ordinary stop leaves nothing behind either


def test_a_token_refused_past_its_grace_stops_everything(
    make_server, run_agent, tmp_path, leftovers
):
    manifest, started, _ = leftovers
    server = make_server(manifest)
    agent = run_agent(server.url, env={"PORTAL_AGENT_TOKEN_GRACE_SECONDS": "2"})
    processes = started(server)
    server.wait(lambda: "ready" in server.states(), what="ready")

    server.reject = True  # the workspace was deleted: the server no longer knows the token
    server.restart()

    assert agent.wait(30) == 1
    assert _wait_gone(processes) == []
    assert "refused the agent token" in log_of(tmp_path)

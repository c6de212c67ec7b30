"""Issue 10 item 11: what the laptop default leaves behind.

The server's side: Ctrl-C or SIGTERM of the laptop default (`portal server` on its embedded
database) stops the workspaces its worker runs as processes on this host, through ordinary stop
builds, and says so; PORTAL_KEEP_WORKSPACES_ON_EXIT (`--keep-workspaces`) keeps them running.
"""

from __future__ import annotations

import signal

import pytest

from tests.e2e.server_process import ServerProcess
from tests.security.local_workspaces import (
    OWNER,
    WAIT,
    Deployment,
    alive,
    describe,
    marked_processes,
    wait_for,
)

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------- the server's side (Ctrl-C)


def laptop_server(dep: Deployment, **env: str) -> ServerProcess:
    """`portal server` on the deployment's data directory and port, with `env` on top."""
    server = ServerProcess(dep.data_dir, **OWNER, **env)
    server.port, server.url = dep.server.port, dep.server.url
    server.env["PORTAL_HTTP_ADDRESS"] = dep.server.env["PORTAL_HTTP_ADDRESS"]
    return server


def stopped_by_signal(server: ServerProcess, sig: int) -> str:
    server.signal(sig)
    assert server.wait_exit(WAIT) == 0, server.output
    return server.output


def test_ctrl_c_stops_the_laptop_servers_host_workspaces_and_says_so():
    dep = Deployment("portal-sec-server-stop-")
    try:
        dep.start()
        assert "stop when Portal stops; --keep-workspaces keeps them" in dep.server.output
        dep.create("dev")
        processes = marked_processes(dep.workspace_dir("dev"))
        assert processes

        output = stopped_by_signal(dep.server, signal.SIGINT)
        assert "Stopping 1 workspace(s) running as processes on this host: dev/dev" in output
        assert "Stopped the workspaces that ran on this host." in output
        # Gone when Portal said it stopped: nothing left retrying the vanished server.
        assert describe(alive(processes)) == []

        # Stopped through an ordinary build: the next server shows it stopped, and it starts.
        dep.server = laptop_server(dep).start().wait_ready()
        latest = dep.workspace("dev")["latest_build"]
        assert (latest["transition"], latest["status"]) == ("stop", "stopped"), latest
        assert latest["reason"] == "autostop"
        started = dep.portal("start", "dev")
        assert started.returncode == 0, started.stdout + started.stderr
        wait_for(lambda: dep.agent("dev")["lifecycle_state"] == "ready", "dev ready again")
        processes = marked_processes(dep.workspace_dir("dev"))
        assert processes
        stopped_by_signal(dep.server, signal.SIGTERM)
        assert describe(alive(processes)) == []
    finally:
        dep.close()


def test_keep_workspaces_leaves_them_running_until_a_server_that_stops_them():
    dep = Deployment("portal-sec-server-keep-", PORTAL_KEEP_WORKSPACES_ON_EXIT="true")
    try:
        dep.start()
        assert "keep running when Portal stops" in dep.server.output
        dep.create("dev")
        processes = marked_processes(dep.workspace_dir("dev"))

        output = stopped_by_signal(dep.server, signal.SIGTERM)
        assert "Stopping 1 workspace" not in output
        assert len(alive(processes)) == len(processes)  # kept, as asked

        # The next server (the default again) stops what an earlier one left running.
        dep.server = laptop_server(dep).start().wait_ready()
        output = stopped_by_signal(dep.server, signal.SIGINT)
        assert "Stopping 1 workspace(s) running as processes on this host: dev/dev" in output
        assert describe(alive(processes)) == []
    finally:
        dep.close()

"""Issue 10 item 11: what the laptop default leaves behind.

The agent's side (real server, Terraform and agents of the `local` template): an agent whose
workspace directory was removed exits at once, and one whose server is gone for the template's
give-up time exits; either way nothing the workspace started survives, not even a daemon that
left its script's session.

The server's side: Ctrl-C or SIGTERM of the laptop default (`portal server` on its embedded
database) stops the workspaces its worker runs as processes on this host, through ordinary stop
builds, and says so; PORTAL_KEEP_WORKSPACES_ON_EXIT (`--keep-workspaces`) keeps them running.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from pathlib import Path

import psutil
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

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "local"
GIVE_UP_SECONDS = 20
# What a user's dotfiles or start script may leave: a daemon in a session of its own.
DAEMON = """
resource "portal_script" "daemon" {
  agent_id     = portal_agent.main.id
  display_name = "A daemon"
  run_on_start = true
  script       = "setsid sh -c 'exec sleep 100000' </dev/null >/dev/null 2>&1 &"
}
"""


@pytest.fixture(scope="module")
def laptop():
    """A server with the `local` template as `laptop`: a short give-up time, and a daemon."""
    dep = Deployment("portal-sec-leftovers-")
    try:
        copy = dep.root / "laptop-template"
        shutil.copytree(TEMPLATE, copy)
        main = copy / "main.tf"
        text = main.read_text()
        assert "  default     = 3600\n" in text  # the template's agent_give_up_seconds
        text = text.replace("  default     = 3600\n", f"  default     = {GIVE_UP_SECONDS}\n", 1)
        main.write_text(text + DAEMON)
        dep.start()
        pushed = dep.portal("templates", "push", "laptop", "-d", str(copy), "--activate", "--yes")
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        yield dep
    finally:
        dep.close()


def workspace_processes(dep: Deployment, name: str) -> list[psutil.Process]:
    dep.create(name, template="laptop")
    processes = marked_processes(dep.workspace_dir(name))
    commands = " | ".join(" ".join(p.cmdline()) for p in processes)
    assert "sleep 100000" in commands and "/home/www" in commands, commands  # daemon, preview
    return processes


def remove(directory: Path) -> None:
    """rm -rf, again while a process still writes into it (the agent unpacking its wheels)."""
    while directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
        time.sleep(0.1)


def wait_gone(processes: list[psutil.Process], timeout: float) -> list[str]:
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.wait(max(1.0, timeout))
    return describe(alive(processes))


def test_an_agent_whose_workspace_directory_is_removed_stops_everything(laptop):
    processes = workspace_processes(laptop, "doomed")

    remove(laptop.workspace_dir("doomed"))

    assert wait_gone(processes, 60) == []


def test_an_agent_whose_server_is_gone_stops_everything_after_its_give_up_time(laptop):
    processes = workspace_processes(laptop, "orphaned")
    workspace_dir = laptop.workspace_dir("orphaned")

    # The server crashes (SIGKILL: nothing of it can stop the workspace on its way out).
    ours = {p.pid for p in processes}
    server = [laptop.server.proc.pid, *(p.pid for p in laptop.server.processes())]
    for pid in server:
        if pid not in ours:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()

    assert wait_gone(processes, GIVE_UP_SECONDS + WAIT) == []
    log = (workspace_dir / "agent.log").read_text()
    assert "no working connection to the server" in log


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


HOST_AGENT = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
data "portal_workspace" "me" {}
resource "portal_agent" "main" {
  os   = "linux"
  arch = "amd64"
}
resource "terraform_data" "agent" {
  count = data.portal_workspace.me.start_count
  input = portal_agent.main.id
}
"""


def test_only_host_process_workspaces_of_this_servers_worker_are_stopped(
    transactional_db, owner, member, monkeypatch
):
    """Docker, Kubernetes or VM workspaces (agent in a resource of their own) keep running, and
    so do host workspaces another worker built; a non-embedded server keeps them all."""
    from portal import config
    from tests.provisioning.conftest import make_template, tar_of
    from workspaces import services
    from workspaces.builds import jobs
    from workspaces.management.commands.stop_host_workspaces import host_workspaces

    host = make_template(owner, "host", tar_of({"main.tf": HOST_AGENT}))
    container = make_template(owner, "container", tar_of({"main.tf": HOST_AGENT}))
    # As a docker template's import records it: the agent runs in the container.
    version = container.active_version
    for resource in version.resources["start"]:
        resource["type"] = "docker_container"
    version.save(update_fields=["resources"])

    def built(name: str, template, worker: str):
        ws = services.create_workspace(
            actor=member, owner=member, template=template, name=name, parameters={}
        )
        job = jobs.acquire(worker, job_id=ws.latest_build.job_id)
        jobs.complete(job.id, worker, status="succeeded")
        return ws

    mine = built("mine", host, "embedded@here")
    built("elsewhere", host, "embedded@another-host")
    built("boxed", container, "embedded@here")
    assert [w.name for w in host_workspaces("embedded@here")] == ["mine"]
    services.create_build(mine, actor=member, transition="stop")  # a stop is its latest build
    assert host_workspaces("embedded@here") == []

    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql://db.example.com/portal")
    monkeypatch.delenv("PORTAL_KEEP_WORKSPACES_ON_EXIT", raising=False)
    config.load.cache_clear()
    try:
        assert config.load().keep_workspaces_on_exit  # production servers keep every workspace
    finally:
        monkeypatch.undo()
        config.load.cache_clear()

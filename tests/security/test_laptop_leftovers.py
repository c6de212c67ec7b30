"""Issue 10 item 11: what the laptop default leaves behind.

The agent's side (real server, Terraform and agents of the `local` template): an agent whose
workspace directory was removed exits at once, and one whose server is gone for the template's
give-up time exits; either way nothing the workspace started survives, not even a daemon that
left its script's session.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

import psutil
import pytest

from tests.security.local_workspaces import (
    WAIT,
    Deployment,
    alive,
    describe,
    marked_processes,
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

"""The `local` template's host script: detached agent, nothing left running, safe deletes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples/templates/local/scripts/workspace.sh"

# Stands in for Portal's agent: records who it is, starts a "terminal" in a session of its own
# that ignores SIGTERM, and runs until stopped.
FAKE_AGENT = r"""#!/bin/sh
echo $$ > "$HOME/.leader"
env > "$HOME/.env"
pwd > "$HOME/.cwd"
setsid sh -c 'trap "" TERM; echo $$ > "$HOME/.terminal"; while :; do sleep 1; done' &
while :; do sleep 1; done
"""


def state(pid: int) -> str | None:
    """The process's state letter, None when it no longer exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def running(pid: int) -> bool:
    return state(pid) not in (None, "Z")  # a zombie has exited; its parent may be slow to reap


def group_and_session(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[2]), int(fields[3])  # after the name: state, ppid, pgrp, session


def wait_for(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


@pytest.fixture
def workspace(tmp_path):
    """A workspace directory under a data directory whose path has spaces and quotes."""
    data_dir = tmp_path / "data dir with 'quotes' and \"more\""
    workspace_dir = data_dir / "workspaces" / "3f2a9c1e-0000-4000-8000-000000000001"
    started: list[int] = []
    yield {
        "dir": workspace_dir,
        "home": workspace_dir / "home",
        "started": started,
    }
    # Whatever a failing test left behind, by pid.
    for name in (".leader", ".terminal"):
        with contextlib.suppress(OSError, ValueError):
            started.append(int((workspace_dir / "home" / name).read_text()))
    for pid in started:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def run(command: str, workspace: dict, **env: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ.get("PATH", os.defpath),
        "WORKSPACE_DIR": str(workspace["dir"]),
        "HOME_DIR": str(workspace["home"]),
        "STOP_TIMEOUT": "1",
        # Stands in for Terraform's own variables, which must not reach the workspace.
        "TF_REATTACH_PROVIDERS": "{}",
        "PORTAL_WORKSPACE_OWNER_SSH_PUBLIC_KEY": "ssh-ed25519 AAAA",
        # ...while what the host's network needs does.
        "HTTPS_PROXY": "http://proxy.internal:3128",
        **env,
    }
    return subprocess.run(
        ["/bin/sh", str(SCRIPT), command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def start(workspace: dict) -> tuple[int, int]:
    for command, extra in (
        ("prepare", {}),
        ("stage", {"AGENT_INIT_SCRIPT": FAKE_AGENT}),
        ("launch", {"PORTAL_AGENT_TOKEN": "token-123", "AGENT_SHELL": "/bin/sh"}),
    ):
        result = run(command, workspace, **extra)
        assert result.returncode == 0, result.stderr
    leader = int(wait_for(workspace["home"] / ".leader"))
    terminal = int(wait_for(workspace["home"] / ".terminal"))
    workspace["started"] += [leader, terminal]
    return leader, terminal


def test_launch_starts_the_agent_detached_with_a_clean_environment(workspace):
    leader, terminal = start(workspace)

    pid_file = workspace["dir"] / "agent.pid"
    assert int(pid_file.read_text()) == leader
    # Leads a session and a process group: Terraform's signals to its own group don't reach it.
    assert group_and_session(leader) == (leader, leader)
    assert running(leader) and running(terminal)
    env = dict(
        line.split("=", 1)
        for line in (workspace["home"] / ".env").read_text().splitlines()
        if "=" in line
    )
    assert env["PORTAL_AGENT_TOKEN"] == "token-123"
    assert env["HOME"] == str(workspace["home"])
    assert env["SHELL"] == "/bin/sh"
    assert not [name for name in env if name.startswith(("TF_", "PORTAL_WORKSPACE_"))]
    assert env["HTTPS_PROXY"] == "http://proxy.internal:3128"
    assert (workspace["home"] / ".cwd").read_text().strip() == str(workspace["home"])
    init = workspace["dir"] / "agent-init"
    assert init.stat().st_mode & 0o777 == 0o700
    assert "token-123" not in init.read_text()


def test_stop_ends_every_process_and_keeps_the_home(workspace):
    leader, terminal = start(workspace)
    (workspace["home"] / "work.txt").write_text("keep me")

    began = time.monotonic()
    result = run("stop", workspace)

    assert result.returncode == 0, result.stderr
    assert not running(leader)
    # In a session of its own and deaf to SIGTERM: found by its environment, then killed.
    assert not running(terminal)
    assert "sending KILL" in result.stdout
    assert time.monotonic() - began < 10
    assert not (workspace["dir"] / "agent.pid").exists()
    assert (workspace["home"] / "work.txt").read_text() == "keep me"


def test_stop_with_nothing_running_succeeds_at_once(workspace):
    assert run("prepare", workspace).returncode == 0

    began = time.monotonic()
    result = run("stop", workspace)

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began < 2


def test_stop_tolerates_an_agent_that_already_died(workspace):
    leader, terminal = start(workspace)
    os.kill(terminal, signal.SIGKILL)
    os.kill(leader, signal.SIGKILL)

    result = run("stop", workspace)

    assert result.returncode == 0, result.stderr
    assert not (workspace["dir"] / "agent.pid").exists()


def test_a_stale_pid_file_never_kills_a_stranger(workspace):
    assert run("prepare", workspace).returncode == 0
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    workspace["started"].append(stranger.pid)
    (workspace["dir"] / "agent.pid").write_text(f"{stranger.pid}\n")

    result = run("stop", workspace)

    assert result.returncode == 0, result.stderr
    assert stranger.poll() is None
    assert "stale pid file" in result.stdout
    stranger.kill()
    stranger.wait()


def test_stage_stops_the_leftovers_of_an_earlier_launch(workspace):
    # A canceled build leaves its agent running but tainted; the next start must not add a
    # second one.
    old_leader, old_terminal = start(workspace)
    for name in (".leader", ".terminal"):
        (workspace["home"] / name).unlink()

    new_leader, _ = start(workspace)

    assert new_leader != old_leader
    assert not running(old_leader)
    assert not running(old_terminal)


def test_delete_stops_the_agent_and_removes_the_whole_workspace(workspace):
    leader, terminal = start(workspace)
    read_only = workspace["home"] / "go" / "pkg" / "mod"
    read_only.mkdir(parents=True)
    (read_only / "file").write_text("x")
    read_only.chmod(0o555)
    read_only.parent.chmod(0o555)

    result = run("delete", workspace)

    assert result.returncode == 0, result.stderr
    assert not running(leader) and not running(terminal)
    assert not workspace["dir"].exists()
    assert workspace["dir"].parent.is_dir()  # other workspaces' directory is untouched


@pytest.mark.parametrize(
    "directory",
    [
        "",
        "relative/workspaces/x",
        "/",
        "/tmp/elsewhere",
        "/a/workspaces/",
        "/a/workspaces/x/y",
        "/a/workspaces/..",
        "/a/b/../workspaces/x",
    ],
)
def test_refuses_to_manage_anything_but_a_workspace_directory(tmp_path, directory):
    victim = tmp_path / "victim"
    victim.mkdir()

    result = subprocess.run(
        ["/bin/sh", str(SCRIPT), "delete"],
        env={"PATH": os.environ.get("PATH", os.defpath), "WORKSPACE_DIR": directory},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode != 0
    assert "refusing" in result.stderr or "not set" in result.stderr
    assert victim.exists()

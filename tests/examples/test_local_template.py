"""The `local` template under real Terraform and the real `portal` provider, without Portal.

Each build is run as the provisioner will: the workspace's data in PORTAL_* variables, the
provider from a filesystem mirror. Start, stop, start again, then delete; the fake agent is a
real host process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from workspaces.provisioner.terraform import base_env, terraform_command, write_cli_config
from workspaces.terraform_provider import init_script_env, parameter_env
from workspaces.terraform_provider.mirror import host_platform, install_mirror

pytestmark = pytest.mark.slow

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "local"

FAKE_AGENT = """#!/bin/sh
echo $$ > "$HOME/.agent-pid"
env > "$HOME/.agent-env"
exec sleep 3600
"""


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Workspace:
    """One workspace's Terraform directory, driven build by build."""

    def __init__(self, root: Path):
        self.id = str(uuid.uuid4())
        self.data_dir = root / "data dir with 'quotes'"
        self.dir = self.data_dir / "workspaces" / self.id
        self.home = self.dir / "home"
        self.tf_dir = root / "template dir"
        shutil.copytree(TEMPLATE, self.tf_dir)
        install_mirror(root / "mirror")
        self.cli_config = write_cli_config(root / "terraformrc", root / "mirror")
        self.tf_home = root / "tf-home"
        self.tf_home.mkdir()
        self.parameters: dict[str, str] = {}
        self.pids: list[int] = []

    def env(self, transition: str) -> dict[str, str]:
        os_name, arch = host_platform().split("_", 1)
        env = {
            **base_env(self.tf_home, self.cli_config),
            "PORTAL_WORKSPACE_ID": self.id,
            "PORTAL_WORKSPACE_NAME": "dev",
            "PORTAL_WORKSPACE_TRANSITION": transition,
            "PORTAL_WORKSPACE_BUILD_ID": str(uuid.uuid4()),
            "PORTAL_WORKSPACE_ACCESS_URL": "http://127.0.0.1:1",
            "PORTAL_WORKSPACE_OWNER_ID": str(uuid.uuid4()),
            "PORTAL_WORKSPACE_OWNER_NAME": "alice",
            "PORTAL_WORKSPACE_OWNER_FULL_NAME": "Alice Example",
            "PORTAL_WORKSPACE_OWNER_EMAIL": "alice@example.com",
            "PORTAL_PROVISIONER_DATA_DIR": str(self.data_dir),
            init_script_env(os_name, arch): FAKE_AGENT,
        }
        for name, value in self.parameters.items():
            env[parameter_env(name)] = value
        return env

    def terraform(self, transition: str, *args: str) -> str:
        result = subprocess.run(
            [*terraform_command(), *args, "-no-color"],
            cwd=self.tf_dir,
            env=self.env(transition),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, (
            f"terraform {args[0]} failed:\n{result.stdout}{result.stderr}"
        )
        return result.stdout

    def build(self, transition: str) -> str:
        if transition == "delete":
            return self.terraform("delete", "apply", "-destroy", "-auto-approve", "-input=false")
        return self.terraform(transition, "apply", "-auto-approve", "-input=false")

    def agent_pid(self) -> int:
        path = self.home / ".agent-pid"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                pid = int(path.read_text())
                self.pids.append(pid)
                return pid
            time.sleep(0.05)
        raise AssertionError("the agent never started")

    def state(self) -> dict:
        return json.loads(self.terraform("start", "show", "-json"))


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path)
    ws.terraform("start", "init", "-input=false")
    yield ws
    for pid in ws.pids:  # whatever a failing test left running
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def resources(state: dict) -> dict[str, dict]:
    found = state.get("values", {}).get("root_module", {}).get("resources", [])
    return {r["address"]: r["values"] for r in found if r["mode"] == "managed"}


def test_start_stop_start_delete(workspace):
    workspace.parameters = {"stop_timeout": "3", "shell": "/bin/sh"}

    workspace.build("start")

    first = workspace.agent_pid()
    assert running(first)
    agent_env = (workspace.home / ".agent-env").read_text().splitlines()
    assert f"HOME={workspace.home}" in agent_env
    assert "SHELL=/bin/sh" in agent_env
    token = next(line for line in agent_env if line.startswith("PORTAL_AGENT_TOKEN="))
    state = resources(workspace.state())
    assert token == "PORTAL_AGENT_TOKEN=" + state["portal_agent.main"]["token"]
    assert state["portal_metadata.agent[0]"]["daily_cost"] == 1
    # The preview listens on a socket in the workspace's own directory, not on a shared port.
    socket_path = unquote_plus(state["portal_app.preview"]["url"].removeprefix("http+unix://"))
    assert socket_path == str(workspace.dir / "preview.sock")
    (workspace.home / "notes.txt").write_text("mine")

    workspace.build("stop")

    assert not running(first)
    assert (workspace.home / "notes.txt").read_text() == "mine"
    assert "terraform_data.agent[0]" not in resources(workspace.state())

    (workspace.home / ".agent-pid").unlink()
    workspace.build("start")

    second = workspace.agent_pid()
    assert second != first and running(second)

    workspace.build("delete")

    assert not running(second)
    assert not workspace.dir.exists()
    assert workspace.data_dir.joinpath("workspaces").is_dir()


def test_a_new_start_with_changed_agent_settings_restarts_the_agent(workspace):
    workspace.parameters = {"shell": "/bin/bash", "stop_timeout": "1"}
    workspace.build("start")
    first = workspace.agent_pid()
    (workspace.home / ".agent-pid").unlink()

    workspace.parameters["shell"] = "/bin/sh"
    workspace.build("start")

    second = workspace.agent_pid()
    assert second != first
    assert not running(first) and running(second)
    workspace.build("delete")
    assert not running(second)


def test_an_invalid_parameter_value_fails_the_plan(workspace):
    workspace.parameters = {"dotfiles_repo": "git@example.com:me/dotfiles.git"}

    result = subprocess.run(
        [*terraform_command(), "plan", "-no-color", "-input=false"],
        cwd=workspace.tf_dir,
        env=workspace.env("start"),
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode != 0
    assert "https://" in result.stdout + result.stderr
    assert not workspace.dir.exists()


def test_an_agent_left_by_a_canceled_build_is_stopped_by_the_next_stop(workspace):
    # A build canceled (or failed) after the agent started leaves it tainted in the state, and
    # Terraform never runs a tainted resource's destroy provisioner.
    workspace.parameters = {"stop_timeout": "1"}
    workspace.build("start")
    orphan = workspace.agent_pid()
    workspace.terraform("start", "taint", "terraform_data.agent[0]")

    workspace.build("stop")

    assert not running(orphan)
    workspace.build("delete")


def test_an_agent_left_by_a_canceled_build_is_replaced_by_the_next_start(workspace):
    workspace.parameters = {"stop_timeout": "1"}
    workspace.build("start")
    orphan = workspace.agent_pid()
    (workspace.home / ".agent-pid").unlink()
    workspace.terraform("start", "taint", "terraform_data.agent[0]")

    workspace.build("start")

    replacement = workspace.agent_pid()
    assert replacement != orphan
    assert not running(orphan) and running(replacement)
    workspace.build("delete")
    assert not running(replacement)

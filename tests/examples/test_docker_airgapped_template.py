"""The `docker-airgapped` template under real Terraform, the real `portal` provider and the real
Docker daemon, without Portal: start, stop (the home volume stays), start, delete (all gone)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.docker_host import ensure_base_image, require_docker
from workspaces.provisioner.terraform import base_env, terraform_command, write_cli_config
from workspaces.terraform_provider import init_script_env, parameter_env
from workspaces.terraform_provider.mirror import host_platform, install_mirror

pytestmark = pytest.mark.slow

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "docker-airgapped"

# Stands in for the agent: proves the token arrived, then keeps the container running.
FAKE_AGENT = """#!/bin/sh
echo "$PORTAL_AGENT_TOKEN" > "$HOME/.agent-token"
exec sleep 3600
"""


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def remove_labelled(label: str) -> None:
    """Everything a test made, found by its label, removed even when the test failed."""
    for kind, ls in (("container", ["ps", "-aq"]), ("volume", ["volume", "ls", "-q"])):
        ids = docker(*ls, "--filter", f"label={label}").split()
        if ids:
            rm = ["rm", "-f"] if kind == "container" else ["volume", "rm", "-f"]
            subprocess.run(["docker", *rm, *ids], capture_output=True, timeout=120)
    for image in docker("images", "-q", "--filter", f"label={label}").split():
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, timeout=120)


class Workspace:
    def __init__(self, root: Path, base_image: str):
        self.id = str(uuid.uuid4())
        self.owner_id = str(uuid.uuid4())
        self.tf_dir = root / "template"
        shutil.copytree(TEMPLATE, self.tf_dir)
        install_mirror(root / "mirror")
        self.cli_config = write_cli_config(root / "terraformrc", root / "mirror")
        self.tf_home = root / "tf-home"
        self.tf_home.mkdir()
        self.parameters = {"base_image": base_image, "memory": "1", "cpu": "1"}

    @property
    def label(self) -> str:
        return f"dev.portal.workspace_id={self.id}"

    def env(self, transition: str) -> dict[str, str]:
        os_name, arch = host_platform().split("_", 1)
        env = {
            **base_env(self.tf_home, self.cli_config),
            "PORTAL_WORKSPACE_ID": self.id,
            "PORTAL_WORKSPACE_NAME": "dev",
            "PORTAL_WORKSPACE_TRANSITION": transition,
            "PORTAL_WORKSPACE_BUILD_ID": str(uuid.uuid4()),
            "PORTAL_WORKSPACE_OWNER_ID": self.owner_id,
            "PORTAL_WORKSPACE_OWNER_NAME": "Alice.Example",
            "PORTAL_WORKSPACE_OWNER_EMAIL": "alice@example.com",
            init_script_env(os_name, arch): FAKE_AGENT,
        }
        for name, value in self.parameters.items():
            env[parameter_env(name)] = value
        return env

    def terraform(self, transition: str, *args: str, check: bool = True):
        result = subprocess.run(
            [*terraform_command(), *args, "-no-color"],
            cwd=self.tf_dir,
            env=self.env(transition),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, f"terraform {args}:\n{result.stdout}{result.stderr}"
        return result

    def build(self, transition: str) -> None:
        if transition == "delete":
            self.terraform("delete", "apply", "-destroy", "-auto-approve", "-input=false")
        else:
            self.terraform(transition, "apply", "-auto-approve", "-input=false")

    def plan(self, transition: str = "start") -> str:
        return self.terraform(transition, "plan", "-input=false", "-detailed-exitcode",
                              check=False).stdout  # fmt: skip

    def state(self) -> dict[str, dict]:
        state = json.loads(self.terraform("start", "show", "-json").stdout)
        found = state.get("values", {}).get("root_module", {}).get("resources", [])
        return {r["address"]: r["values"] for r in found if r["mode"] == "managed"}

    def run(self, container: str, command: str) -> str:
        return docker("exec", container, "sh", "-c", command)


@pytest.fixture
def workspace(tmp_path):
    require_docker()
    ws = Workspace(tmp_path, ensure_base_image())
    try:
        ws.terraform("start", "init", "-input=false")
        yield ws
    finally:
        remove_labelled(ws.label)


def test_start_stop_start_delete_keeps_the_home_until_delete(workspace):
    workspace.build("start")

    state = workspace.state()
    container = state["portal_docker_container.workspace[0]"]
    assert container["name"] == "portal-alice.example-dev"
    token = state["portal_agent.main"]["token"]
    home = "/home/alice-example"
    # The fake agent ran as the owner's user, in its home on the volume, with its token.
    assert workspace.run(container["id"], "id -un; echo $HOME").split() == ["alice-example", home]
    assert workspace.run(container["id"], f"cat {home}/.agent-token").strip() == token
    inspect = json.loads(docker("inspect", container["id"]))[0]
    assert inspect["Config"]["Labels"]["dev.portal.workspace_id"] == workspace.id
    assert inspect["HostConfig"]["Memory"] == 1024**3
    assert "host.docker.internal:host-gateway" in inspect["HostConfig"]["ExtraHosts"]
    volume = f"portal-{workspace.id}-home"
    assert any(m["Name"] == volume for m in inspect["Mounts"])
    workspace.run(container["id"], f"echo mine > {home}/notes.txt")
    # Nothing changed: an empty plan (exit code 0), no phantom diffs.
    assert workspace.terraform("start", "plan", "-detailed-exitcode").returncode == 0

    workspace.build("stop")

    assert docker("ps", "-aq", "--filter", f"label={workspace.label}").split() == []
    assert docker("volume", "ls", "-q", "--filter", f"label={workspace.label}").split() == [volume]

    workspace.build("start")

    again = workspace.state()["portal_docker_container.workspace[0]"]["id"]
    assert again != container["id"]
    assert workspace.run(again, f"cat {home}/notes.txt") == "mine\n"

    workspace.build("delete")

    assert docker("ps", "-aq", "--filter", f"label={workspace.label}").split() == []
    assert docker("volume", "ls", "-q", "--filter", f"label={workspace.label}").split() == []
    assert docker("images", "-q", f"portal-workspace-{workspace.id}").split() == []


def test_drift_shows_in_the_plan_and_the_next_build_repairs_it(workspace):
    workspace.build("start")
    container = workspace.state()["portal_docker_container.workspace[0]"]["id"]

    docker("stop", "-t", "1", container)
    plan = workspace.plan()
    assert "running" in plan and "~ update in-place" in plan, plan
    docker("rm", "-f", container)
    plan = workspace.plan()
    assert "portal_docker_container.workspace[0] will be created" in plan, plan

    workspace.build("start")
    again = workspace.state()["portal_docker_container.workspace[0]"]["id"]
    assert json.loads(docker("inspect", again))[0]["State"]["Running"]


def test_a_changed_memory_limit_is_updated_in_place(workspace):
    workspace.build("start")
    container = workspace.state()["portal_docker_container.workspace[0]"]["id"]

    workspace.parameters["memory"] = "2"
    workspace.build("start")

    assert workspace.state()["portal_docker_container.workspace[0]"]["id"] == container
    assert json.loads(docker("inspect", container))[0]["HostConfig"]["Memory"] == 2 * 1024**3


def test_import_of_an_existing_volume(workspace):
    volume = f"portal-{workspace.id}-home"
    docker("volume", "create", "--label", workspace.label, volume)

    imported = workspace.terraform(
        "start", "import", "-input=false", "portal_docker_volume.home", volume
    )

    assert "Import successful" in imported.stdout
    assert workspace.state()["portal_docker_volume.home"]["name"] == volume


def test_a_changed_dockerfile_rebuilds_the_image_and_replaces_the_container(workspace):
    workspace.build("start")
    before = workspace.state()
    old_image = before["portal_docker_image.workspace"]["id"]
    old_container = before["portal_docker_container.workspace[0]"]["id"]
    home = "/home/alice-example"
    workspace.run(old_container, f"echo mine > {home}/notes.txt")

    dockerfile = workspace.tf_dir / "build" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo v2 > /etc/workspace-image\n")
    plan = workspace.plan()
    assert "portal_docker_image.workspace will be updated in-place" in plan, plan
    assert "portal_docker_container.workspace[0] must be replaced" in plan, plan
    assert "portal_docker_volume.home will be" not in plan  # the home is never touched
    assert "portal_docker_volume.home must be" not in plan

    workspace.build("start")

    after = workspace.state()
    container = after["portal_docker_container.workspace[0]"]["id"]
    assert after["portal_docker_image.workspace"]["id"] != old_image
    assert workspace.run(container, "cat /etc/workspace-image") == "v2\n"
    assert workspace.run(container, f"cat {home}/notes.txt") == "mine\n"
    # The old image, nameless now, went with the container that ran it.
    images = docker("images", "-q", "--no-trunc", "--filter", f"label={workspace.label}").split()
    assert images == [after["portal_docker_image.workspace"]["id"]]
    workspace.build("delete")
    assert docker("images", "-q", "--filter", f"label={workspace.label}").split() == []

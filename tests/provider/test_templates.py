"""Templates using every data source and resource, run through real Terraform in both modes."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from workspaces.terraform_provider import init_script_env, parameter_env

FULL = """
data "portal_workspace" "me" {}
data "portal_workspace_owner" "me" {}
data "portal_provisioner" "host" {}

data "portal_parameter" "region" {
  name         = "region"
  display_name = "Region"
  default      = "eu"
  order        = 1
  option {
    name  = "Europe"
    value = "eu"
  }
  option {
    name        = "United States"
    value       = "us"
    description = "Virginia"
  }
}

data "portal_parameter" "cpus" {
  name    = "cpus"
  type    = "number"
  default = "2"
  mutable = true
  validation {
    min = 1
    max = 8
  }
}

data "portal_parameter" "repos" {
  name    = "Git repos ✓"
  type    = "list(string)"
  default = jsonencode([])
}

data "portal_parameter" "dotfiles" {
  name = "dotfiles"
}

resource "portal_agent" "dev" {
  arch           = data.portal_provisioner.host.arch
  dir            = "/home/coder"
  env            = { GREETING = "hi" }
  startup_script = "echo one"
  display_name   = "Dev box"
}

resource "terraform_data" "compute" {
  count = data.portal_workspace.me.start_count
  input = {
    token = portal_agent.dev.token
    init  = portal_agent.dev.init_script
  }
}

resource "portal_app" "code" {
  agent_id     = portal_agent.dev.id
  slug         = "code-server"
  display_name = "VS Code"
  url          = "http://localhost:13337"
  share        = "authenticated"
  subdomain    = true
  healthcheck {
    url       = "http://localhost:13337/healthz"
    interval  = 5
    threshold = 6
  }
}

resource "portal_app" "shell" {
  agent_id = portal_agent.dev.id
  slug     = "shell"
  command  = "bash -l"
}

resource "portal_metadata" "dev" {
  resource_id = portal_agent.dev.id
  daily_cost  = 7
  icon        = "/icon/box.svg"
  item {
    key   = "region"
    value = data.portal_parameter.region.value
  }
  item {
    key       = "secret"
    value     = "s3cr3t"
    sensitive = true
  }
}

resource "portal_script" "dotfiles" {
  agent_id           = portal_agent.dev.id
  display_name       = "Dotfiles"
  script             = "echo dotfiles"
  run_on_start       = true
  start_blocks_login = true
  timeout            = 300
}

resource "portal_script" "backup" {
  agent_id     = portal_agent.dev.id
  display_name = "Backup"
  script       = "echo backup"
  cron         = "0 */6 * * *"
}

resource "portal_env" "editor" {
  agent_id = portal_agent.dev.id
  name     = "EDITOR"
  value    = "vim"
}

output "start_count" {
  value = data.portal_workspace.me.start_count
}

output "repo_count" {
  value = length(jsondecode(data.portal_parameter.repos.value))
}
"""

WORKSPACE_ID = str(uuid.uuid4())
OWNER_ID = str(uuid.uuid4())

BUILD_ENV = {
    "PORTAL_WORKSPACE_ID": WORKSPACE_ID,
    "PORTAL_WORKSPACE_NAME": "dev",
    "PORTAL_WORKSPACE_TRANSITION": "start",
    "PORTAL_WORKSPACE_ACCESS_URL": "https://portal.example.com",
    "PORTAL_WORKSPACE_TEMPLATE_ID": "tpl-1",
    "PORTAL_WORKSPACE_TEMPLATE_NAME": "docker",
    "PORTAL_WORKSPACE_TEMPLATE_VERSION": "v3",
    "PORTAL_WORKSPACE_BUILD_ID": "build-9",
    "PORTAL_WORKSPACE_OWNER_ID": OWNER_ID,
    "PORTAL_WORKSPACE_OWNER_NAME": "alice",
    "PORTAL_WORKSPACE_OWNER_FULL_NAME": "Alice Liddell",
    "PORTAL_WORKSPACE_OWNER_EMAIL": "alice@example.com",
    "PORTAL_WORKSPACE_OWNER_GROUPS": '["devs", "admins"]',
    "PORTAL_WORKSPACE_OWNER_LOGIN_TYPE": "password",
    "PORTAL_WORKSPACE_OWNER_SSH_PUBLIC_KEY": "ssh-ed25519 AAAA alice",
    "PORTAL_PROVISIONER_OS": "linux",
    "PORTAL_PROVISIONER_ARCH": "arm64",
    "PORTAL_PROVISIONER_DATA_DIR": "/var/lib/portal/provisioner",
    parameter_env("region"): "us",
    parameter_env("Git repos ✓"): '["https://example.com/a.git", "https://example.com/b.git"]',
    init_script_env("linux", "arm64"): "#!/bin/sh\necho init v1\n",
}


def resources(show: dict) -> dict[str, dict]:
    return {r["address"]: r["values"] for r in show["values"]["root_module"].get("resources", [])}


@pytest.fixture(scope="module")
def applied(tf, tmp_path_factory):
    """The full template built once (start), shared by the tests below: (workdir, show -json)."""
    workdir = tf.template(tmp_path_factory.mktemp("full"), FULL)
    with tf.session(workdir, BUILD_ENV) as run:
        for args in (["init", "-no-color"], ["plan", "-no-color", "-out=plan.bin"]):
            result = run(*args)
            assert result.code == 0, result.output
        result = run("apply", "-no-color", "plan.bin")
        assert result.code == 0, result.output
        show = run("show", "-json")
    assert show.code == 0, show.output
    return workdir, show.json()


def copy_build(applied, tmp_path):
    workdir, _ = applied
    target = tmp_path / "copy"
    shutil.copytree(workdir, target, symlinks=True)
    return target


def test_data_sources_carry_the_build_environment(applied):
    _, show = applied
    values = resources(show)
    assert values["data.portal_workspace.me"] == {
        "id": WORKSPACE_ID,
        "name": "dev",
        "transition": "start",
        "start_count": 1,
        "access_url": "https://portal.example.com",
        "template_id": "tpl-1",
        "template_name": "docker",
        "template_version": "v3",
        "build_id": "build-9",
    }
    assert values["data.portal_workspace_owner.me"] == {
        "id": OWNER_ID,
        "name": "alice",
        "full_name": "Alice Liddell",
        "email": "alice@example.com",
        "groups": ["devs", "admins"],
        "login_type": "password",
        "ssh_public_key": "ssh-ed25519 AAAA alice",
    }
    assert values["data.portal_provisioner.host"] == {
        "os": "linux",
        "arch": "arm64",
        "data_dir": "/var/lib/portal/provisioner",
    }
    assert show["values"]["outputs"]["start_count"]["value"] == 1


def test_parameters_take_the_given_value_or_the_default(applied):
    _, show = applied
    values = resources(show)
    region = values["data.portal_parameter.region"]
    assert region["value"] == "us"  # from PORTAL_PARAMETER_<hex of "region">
    assert region["default"] == "eu"
    assert region["display_name"] == "Region"
    assert region["order"] == 1
    assert region["option"] == [
        {"name": "Europe", "value": "eu", "description": None, "icon": None},
        {"name": "United States", "value": "us", "description": "Virginia", "icon": None},
    ]
    cpus = values["data.portal_parameter.cpus"]
    assert cpus["value"] == "2"  # not given: the default
    assert (cpus["type"], cpus["mutable"], cpus["display_name"]) == ("number", True, "cpus")
    assert cpus["validation"]["min"] == 1 and cpus["validation"]["max"] == 8
    repos = values["data.portal_parameter.repos"]
    assert repos["name"] == "Git repos ✓"
    assert show["values"]["outputs"]["repo_count"]["value"] == 2
    required = values["data.portal_parameter.dotfiles"]
    assert (required["default"], required["value"]) == (None, "")


def test_resources_are_created_with_ids_token_and_init_script(applied):
    _, show = applied
    values = resources(show)
    agent = values["portal_agent.dev"]
    assert uuid.UUID(agent["id"])
    assert len(agent["token"]) >= 32
    assert agent["init_script"] == "#!/bin/sh\necho init v1\n"
    assert (agent["os"], agent["arch"], agent["dir"]) == ("linux", "arm64", "/home/coder")
    assert agent["env"] == {"GREETING": "hi"}
    assert agent["display_name"] == "Dev box"
    # The token is sensitive: Terraform marks it so in show output.
    sensitive = {
        r["address"]: r["sensitive_values"] for r in show["values"]["root_module"]["resources"]
    }
    assert sensitive["portal_agent.dev"]["token"] is True

    assert values["terraform_data.compute[0]"]["input"]["token"] == agent["token"]

    code = values["portal_app.code"]
    assert code["agent_id"] == agent["id"]
    assert (code["slug"], code["url"], code["command"]) == (
        "code-server",
        "http://localhost:13337",
        None,
    )
    assert (code["share"], code["subdomain"]) == ("authenticated", True)
    assert code["healthcheck"] == {
        "url": "http://localhost:13337/healthz",
        "interval": 5,
        "threshold": 6,
    }
    shell = values["portal_app.shell"]
    assert (shell["command"], shell["url"], shell["share"], shell["subdomain"]) == (
        "bash -l",
        None,
        "owner",
        False,
    )

    metadata = values["portal_metadata.dev"]
    assert metadata["resource_id"] == agent["id"]
    assert (metadata["daily_cost"], metadata["hide"], metadata["icon"]) == (
        7,
        False,
        "/icon/box.svg",
    )
    assert metadata["item"] == [
        {"key": "region", "value": "us", "sensitive": None},
        {"key": "secret", "value": "s3cr3t", "sensitive": True},
    ]

    dotfiles = values["portal_script.dotfiles"]
    assert (dotfiles["run_on_start"], dotfiles["run_on_stop"], dotfiles["cron"]) == (
        True,
        False,
        None,
    )
    assert (dotfiles["timeout"], dotfiles["start_blocks_login"]) == (300, True)
    assert values["portal_script.backup"]["cron"] == "0 */6 * * *"

    editor = values["portal_env.editor"]
    assert (editor["agent_id"], editor["name"], editor["value"]) == (agent["id"], "EDITOR", "vim")
    ids = [v["id"] for address, v in values.items() if address.startswith("portal_")]
    assert len(set(ids)) == len(ids)


def test_changing_the_startup_script_keeps_the_agent_and_its_token(tf, applied, tmp_path):
    _, show = applied
    before = resources(show)
    workdir = copy_build(applied, tmp_path)
    main = workdir / "main.tf"
    main.write_text(main.read_text().replace('"echo one"', '"echo two"'))
    env = {**BUILD_ENV, init_script_env("linux", "arm64"): "echo init v2"}
    with tf.session(workdir, env) as run:
        result = run("apply", "-auto-approve", "-no-color")
        assert result.code == 0, result.output
        assert "0 added, 2 changed, 0 destroyed" in result.output  # the agent, and compute
        after = resources(run("show", "-json").json())
    agent = after["portal_agent.dev"]
    assert agent["startup_script"] == "echo two"
    assert agent["init_script"] == "echo init v2"  # follows the provisioner's current script
    assert agent["id"] == before["portal_agent.dev"]["id"]
    assert agent["token"] == before["portal_agent.dev"]["token"]
    assert after["portal_app.code"]["id"] == before["portal_app.code"]["id"]


def test_stop_transition_has_start_count_zero(tf, applied, tmp_path):
    workdir = copy_build(applied, tmp_path)
    env = {**BUILD_ENV, "PORTAL_WORKSPACE_TRANSITION": "stop"}
    with tf.session(workdir, env) as run:
        result = run("apply", "-auto-approve", "-no-color")
        assert result.code == 0, result.output
        show = run("show", "-json").json()
    values = resources(show)
    assert values["data.portal_workspace.me"]["transition"] == "stop"
    assert values["data.portal_workspace.me"]["start_count"] == 0
    assert show["values"]["outputs"]["start_count"]["value"] == 0
    assert "terraform_data.compute[0]" not in values  # count 0: the compute is destroyed
    assert "portal_agent.dev" in values  # the agent (and its token) survive a stop


def test_delete_transition_destroys_everything(tf, applied, tmp_path):
    workdir = copy_build(applied, tmp_path)
    env = {**BUILD_ENV, "PORTAL_WORKSPACE_TRANSITION": "delete"}
    with tf.session(workdir, env) as run:
        result = run("apply", "-destroy", "-auto-approve", "-no-color")
        assert result.code == 0, result.output
        assert "Resources: 0 added, 0 changed, 8 destroyed" in result.output
        show = run("show", "-json").json()
    assert "root_module" not in show.get("values", {}) or not resources(show)


def test_state_written_before_an_attribute_existed_still_plans(tf, applied, tmp_path):
    # As if written by an older release whose schema lacked portal_app.icon and item.sensitive.
    workdir = copy_build(applied, tmp_path)
    state_file = workdir / "terraform.tfstate"
    state = json.loads(state_file.read_text())
    for resource in state["resources"]:
        for instance in resource["instances"]:
            if resource["type"] == "portal_app":
                del instance["attributes"]["icon"]
            if resource["type"] == "portal_metadata":
                del instance["attributes"]["item"][0]["sensitive"]
    state_file.write_text(json.dumps(state))
    with tf.session(workdir, BUILD_ENV) as run:
        result = run("plan", "-no-color", "-detailed-exitcode")
    assert result.code == 0, result.output  # 0: no changes

"""`portal list` and `portal show` against a live server."""

from tests.cli.workspaces.conftest import (
    SECRET,
)


def test_list_shows_your_workspaces_and_admins_see_everyone(
    cli, member, owner, template, provisioner, tmp_path
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    lines = cli.ok("list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "TEMPLATE", "STATUS", "LAST", "BUILD", "COST/DAY"]
    row = lines[1].split()
    assert row[:3] == ["dev", "dev-env", "running"]
    assert "#1 start succeeded" in lines[1] and row[-1] == "5"

    [listed] = cli.json("list")
    assert (listed["name"], listed["status"], listed["owner_name"]) == ("dev", "running", "alice")

    admin = type(cli)(cli.url, tmp_path / "admin-home")
    admin.login(owner)
    assert "No workspaces yet" in admin.ok("list").stderr
    everyone = admin.ok("list", "--all").stdout.splitlines()
    assert everyone[0].split()[:2] == ["OWNER", "NAME"]
    assert everyone[1].split()[:3] == ["alice", "dev", "dev-env"]


def test_show_has_build_resources_agents_apps_and_masks_secrets(
    cli, member, owner, template, provisioner, tmp_path
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    out = cli.ok("show", "dev").stdout
    assert "Workspace:" in out and "alice/dev" in out
    assert "Template:" in out and "dev-env (version v1)" in out
    assert "#1 start succeeded, by alice" in out
    assert "disk = 10" in out
    assert "terraform_data.home, cost/day 5" in out
    assert "path: /srv/homes/dev" in out
    assert "password: ********" in out
    assert "agent main (linux/amd64): connecting, created" in out
    assert "app code (Code Server): http://localhost:13337" in out
    assert SECRET not in out

    admin = type(cli)(cli.url, tmp_path / "admin-home")
    admin.login(owner)
    shown = admin.json("show", "alice/dev")
    assert shown["status"] == "running"
    [password] = [m for m in shown["resources"][0]["metadata"] if m["key"] == "password"]
    assert password == {"key": "password", "value": None, "sensitive": True}

    missing = cli("show", "nope")
    assert missing.returncode == 1
    assert "alice has no workspace 'nope'" in missing.stderr

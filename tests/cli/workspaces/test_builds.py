"""`portal builds` against a live server, and the CLI's own parsing of names and values."""

import pytest

from tests.cli.workspaces.conftest import (
    Outcome,
    latest_build,
)
from workspaces.models import (
    Workspace,
)


def test_builds_logs_prints_a_builds_log(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    provisioner.plan(
        "dev", "stop", Outcome(lines=[("Applying", "info", "terraform_data.home: Stopping")])
    )
    cli.ok("stop", "dev")

    latest = cli.ok("builds", "logs", "dev", "--no-follow").stdout
    assert "==> Applying" in latest
    assert "terraform_data.home: Stopping" in latest
    assert "Creation complete" not in latest

    first = cli.ok("builds", "logs", "dev", "--build", "1")
    assert "Build #1 (start) of dev, succeeded:" in first.stdout
    assert "Job picked up by provisioner fake-provisioner." in first.stdout
    assert "terraform_data.home: Creation complete after 0s" in first.stdout
    assert "Build #1 (start) of dev succeeded" in first.stdout

    missing = cli("builds", "logs", "dev", "--build", "7")
    assert missing.returncode == 1
    assert "workspace dev has no build #7 (its builds are #1 to #2)" in missing.stderr

    listed = cli.json("builds", "list", "dev")
    assert [(b["build_number"], b["transition"]) for b in listed] == [(2, "stop"), (1, "start")]


def test_the_log_is_followed_live_over_the_websocket(
    cli, member, template, provisioner, asgi_server, tmp_path
):
    url, websockets = asgi_server
    live = type(cli)(url, tmp_path / "asgi-home")
    live.login(member)
    many = [("Applying", "info", f"line {n}") for n in range(50)]
    provisioner.plan("dev", "start", Outcome(lines=many))

    out = live.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes").stdout
    build = latest_build("dev")
    assert websockets == [f"/api/v2/workspacebuilds/{build.id}/logs"]
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("line ")] == [f"line {n}" for n in range(50)]
    assert "Build #1 (start) of dev succeeded" in out


def test_an_admin_creates_and_builds_someone_elses_workspace(
    cli, owner, member, template, provisioner
):
    cli.login(owner)
    out = cli.ok("create", "alice/dev", "-t", "dev-env", "-p", "disk=10", "--yes").stdout
    assert "Created workspace alice/dev; building it" in out
    assert "Build #1 (start) of alice/dev succeeded" in out
    assert Workspace.objects.get(name="dev").owner == member
    assert "Build #2 (stop) of alice/dev succeeded" in cli.ok("stop", "alice/dev").stdout


def test_names_and_parameter_values_as_typed():
    import click

    from portal_cli import build_runs, parameters

    assert build_runs.split_name("dev") == ("me", "dev")
    assert build_runs.split_name("alice/dev") == ("alice", "dev")
    for bad in ("/dev", "alice/", "a/b/c"):
        with pytest.raises(click.BadParameter):
            build_runs.split_name(bad)

    assert parameters.parse_parameters(("a=1", "b=x=y", "c=")) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(click.BadParameter):
        parameters.parse_parameters(("novalue",))

    schema = [{"name": "tags", "type": "list(string)"}, {"name": "n", "type": "number"}]
    assert parameters.normalize_values(schema, {"tags": "a, b,,c", "n": "3"}) == {
        "tags": '["a", "b", "c"]',
        "n": "3",
    }
    assert parameters.normalize_values(schema, {"tags": '["x"]'}) == {"tags": '["x"]'}

    options = [{"value": "eu"}, {"value": "us"}]
    assert parameters._choose(options, "2", many=False) == "us"
    assert parameters._choose(options, "eu", many=False) == "eu"
    assert parameters._choose(options, "mars", many=False) is None
    assert parameters._choose(options, "1, us", many=True) == '["eu", "us"]'
    assert (
        build_runs._elapsed(5) == "5s"
        and build_runs._elapsed(125) == "2m05s"
        and build_runs._elapsed(7300) == "2h01m"
    )

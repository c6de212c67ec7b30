"""`portal open vscode|jetbrains` against a live server: the link to the workspace's folder."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from portal_shared import ide_links
from tests.factories import workspace
from workspaces.choices import BuildTransition
from workspaces.models import WorkspaceAgent, WorkspaceResource

pytestmark = pytest.mark.django_db(transaction=True)


def _with_agent(owner, name="dev", directory="/home/alice/src", **kwargs):
    ws = workspace(owner, name=name, **kwargs)
    resource = WorkspaceResource.objects.create(
        job=ws.latest_build.job, transition="start", type="terraform_data", name="vm"
    )
    WorkspaceAgent.objects.create(
        resource=resource, name="main", token_hash="t", expanded_directory=directory
    )
    return ws


def test_vscode_opens_the_agents_directory_or_a_folder_under_it(cli, make_user):
    alice = make_user(username="alice")
    _with_agent(alice)
    cli.login(alice)
    result = cli.ok("open", "vscode", "dev", "--no-open")
    assert result.stdout.strip() == "vscode://vscode-remote/ssh-remote+portal.dev/home/alice/src"
    assert "portal config-ssh" in result.stderr
    result = cli.ok("open", "vscode", "dev", "web app", "--no-open", "--host-prefix", "ws-")
    assert result.stdout.strip() == (
        "vscode://vscode-remote/ssh-remote+ws-dev/home/alice/src/web%20app"
    )


def test_jetbrains_gateway_gets_host_user_and_project(cli, make_user):
    alice = make_user(username="alice")
    _with_agent(alice)
    cli.login(alice)
    url = cli.ok("open", "jetbrains", "dev", "/srv/repo", "--no-open").stdout.strip()
    assert url.startswith("jetbrains-gateway://connect#")
    fields = dict(part.split("=", 1) for part in url.split("#", 1)[1].split("&"))
    assert {k: unquote(v) for k, v in fields.items()} == {
        "type": "ssh",
        "deploy": "false",
        "host": "portal.dev",
        "port": "22",
        "user": "alice",
        "projectPath": "/srv/repo",
    }


def test_a_stopped_or_unstarted_workspace_is_refused_clearly(cli, make_user):
    alice = make_user(username="alice")
    _with_agent(alice, name="off", transition=BuildTransition.STOP)
    _with_agent(alice, name="new", directory="")
    cli.login(alice)
    result = cli("open", "vscode", "off", "--no-open")
    assert result.returncode == 1 and "portal start off" in result.stderr
    result = cli("open", "vscode", "new", "--no-open")
    assert result.returncode == 1 and "not reported its directory" in result.stderr
    assert result.stdout == ""
    assert cli.ok("open", "vscode", "new", "/abs", "--no-open").stdout.strip().endswith("/abs")


def test_someone_elses_workspace_is_refused_without_revealing_it(cli, make_user):
    _with_agent(make_user(username="bob"), name="secret")
    cli.login(make_user(username="alice"))
    result = cli("open", "vscode", "bob/secret", "--no-open")
    assert result.returncode == 1 and "your own workspaces" in result.stderr
    result = cli("open", "vscode", "secret", "--no-open")
    assert result.returncode == 1 and "secret" in result.stderr


def test_links_refuse_relative_folders_and_unknown_ides():
    with pytest.raises(ValueError):
        ide_links.vscode("portal.dev", "src")
    with pytest.raises(ValueError):
        ide_links.link("emacs", "portal.dev", "/src", "alice")

"""The workspace page: status, log, resources, agents and apps; actions through the services."""

from __future__ import annotations

import re

import pytest

from portal.accounts.choices import Role
from tests import factories
from workspaces.choices import BuildTransition, JobStatus
from workspaces.models import (
    ProvisionerJobLog,
    WorkspaceAgent,
    WorkspaceAgentLog,
    WorkspaceApp,
    WorkspaceBuild,
    WorkspaceResource,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(member, template):
    ws = factories.workspace(member, template=template, name="dev")
    job = ws.latest_build.job
    ProvisionerJobLog.objects.create(job=job, output="Terraform apply <complete>")
    ProvisionerJobLog.objects.create(job=job, output="boom", level="error")
    resource = WorkspaceResource.objects.create(
        job=job,
        transition="start",
        type="docker_container",
        name="box",
        metadata=[
            {"key": "image", "value": "python:3.11", "sensitive": False},
            {"key": "password", "value": "hunter2", "sensitive": True},
        ],
    )
    agent = WorkspaceAgent.objects.create(resource=resource, name="main", token_hash="t")
    WorkspaceApp.objects.create(
        agent=agent, slug="preview", display_name="Web preview", url="http://localhost:1"
    )
    WorkspaceAgentLog.objects.create(agent=agent, output="Cloning dotfiles")
    return ws


def test_page_shows_status_log_resources_agents_and_apps(browser_for, member, running):
    r = browser_for(member).get("/workspaces/alice/dev")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="workspace-status" data-status="running"' in html
    assert "Terraform apply &lt;complete&gt;\nerror: boom</pre>" in html
    assert 'data-active="0"' in html
    assert "docker_container.box" in html
    assert "<dt>image</dt><dd>python:3.11</dd>" in html
    assert "hunter2" in html  # the owner sees sensitive metadata
    assert 'href="/@alice/dev/apps/preview/"' in html
    assert 'href="/workspaces/alice/dev/terminal/main"' in html
    assert "Cloning dotfiles" in html
    assert "ssh portal.dev" in html and "portal config-ssh" in html
    assert "#1 start by alice" in html  # the timeline
    assert ">Stop</button>" in html and ">Restart</button>" in html


def test_desktop_ide_links_open_the_agents_directory_once_it_has_started(
    browser_for, make_user, member, running
):
    client = browser_for(member)
    html = client.get("/workspaces/alice/dev").content.decode()
    assert "data-ide=" not in html  # no directory reported yet: no link to a wrong folder
    WorkspaceAgent.objects.filter(name="main").update(expanded_directory="/home/alice/my project")
    html = client.get("/workspaces/alice/dev").content.decode()
    assert 'href="vscode://vscode-remote/ssh-remote+portal.dev/home/alice/my%20project"' in html
    gateway = re.search(r'href="(jetbrains-gateway://connect#[^"]+)"', html).group(1)
    assert "host=portal.dev" in gateway and "projectPath=%2Fhome%2Falice%2Fmy%20project" in gateway
    assert "user=alice" in gateway
    assert "portal config-ssh" in html
    # Others who may see the workspace get no links: only its owner connects.
    html = browser_for(make_user(Role.TEMPLATE_ADMIN)).get("/workspaces/alice/dev").content
    assert b"data-ide=" not in html


def test_another_users_workspace_is_not_found(browser_for, make_user, running):
    client = browser_for(make_user(username="bob"))
    for url in (
        "/workspaces/alice/dev",
        "/workspaces/alice/dev/live",
        "/workspaces/alice/dev/terminal/main",
    ):
        assert client.get(url).status_code == 404, url
    r = client.post("/workspaces/alice/dev/builds", {"action": "stop"})
    assert r.status_code == 404
    assert running.builds.count() == 1


def test_template_admins_see_but_cannot_act_or_read_secrets(browser_for, make_user, running):
    html = browser_for(make_user(Role.TEMPLATE_ADMIN)).get("/workspaces/alice/dev").content
    html = html.decode()
    assert 'data-status="running"' in html
    assert ">Stop</button>" not in html
    assert "hunter2" not in html and "hidden (sensitive)" in html
    assert "Only the owner connects" in html


def test_stop_queues_a_build_and_says_so(browser_for, member, running):
    client = browser_for(member)
    r = client.post("/workspaces/alice/dev/builds", {"action": "stop"})
    assert r.status_code == 302 and r["Location"] == "/workspaces/alice/dev"
    build = running.builds.get(build_number=2)
    assert build.transition == BuildTransition.STOP and build.initiator == member
    html = client.get(r["Location"]).content.decode()
    assert "Build #2: dev is stopping." in html
    assert 'data-status="pending"' in html
    assert ">Cancel build</button>" in html
    assert 'data-active="1"' in html
    assert f'data-build="{build.id}"' in html


def test_a_running_build_makes_actions_fail_with_a_clear_message(browser_for, member, running):
    client = browser_for(member)
    client.post("/workspaces/alice/dev/builds", {"action": "stop"})
    r = client.post("/workspaces/alice/dev/builds", {"action": "start"}, follow=True)
    html = r.content.decode()
    assert "Could not start dev: Build #2 (stop) is pending; cancel it or wait." in html
    assert 'role="alert"' in html
    assert running.builds.count() == 2


def test_cancel_a_pending_build(browser_for, member, running):
    client = browser_for(member)
    client.post("/workspaces/alice/dev/builds", {"action": "stop"})
    r = client.post("/workspaces/alice/dev/cancel", follow=True)
    assert "Build #2 is canceled." in r.content.decode()
    assert running.builds.get(build_number=2).job.status == JobStatus.CANCELED
    again = client.post("/workspaces/alice/dev/cancel", follow=True).content.decode()
    assert "Could not cancel: Build #2 (stop) has already canceled" in again


def test_delete_needs_the_typed_name(browser_for, member, running):
    client = browser_for(member)
    r = client.post(
        "/workspaces/alice/dev/builds", {"action": "delete", "confirm_name": "de"}, follow=True
    )
    assert "Not deleted: type the workspace name &#x27;dev&#x27; exactly" in r.content.decode()
    assert running.builds.count() == 1
    client.post("/workspaces/alice/dev/builds", {"action": "delete", "confirm_name": "dev"})
    assert running.builds.get(build_number=2).transition == BuildTransition.DELETE


def test_restart_queues_a_stop_the_server_follows_with_a_start(browser_for, member, running):
    client = browser_for(member)
    r = client.post("/workspaces/alice/dev/builds", {"action": "restart"}, follow=True)
    stop = running.builds.get(build_number=2)
    assert (stop.transition, stop.then_start) == (BuildTransition.STOP, True)
    assert "dev is stopping; it starts again once stopped." in r.content.decode()
    assert "keep this page open" not in r.content.decode()


def test_update_to_the_active_version(browser_for, member, running, template):
    from templates_app.models import ImportStatus

    new = factories.TemplateVersionFactory(
        template=template, name="v-new", import_status=ImportStatus.SUCCEEDED
    )
    template.active_version = new
    template.save()
    client = browser_for(member)
    html = client.get("/workspaces/alice/dev").content.decode()
    assert "Update available:</strong> version v-new" in html and ">Update</button>" in html
    client.post("/workspaces/alice/dev/update")
    assert running.builds.get(build_number=2).template_version == new


def test_unknown_action_is_refused(browser_for, member, running):
    r = browser_for(member).post("/workspaces/alice/dev/builds", {"action": "explode"}, follow=True)
    assert "Unknown action &#x27;explode&#x27;" in r.content.decode()


def test_live_fragment_refreshes_when_told_not_on_a_timer(browser_for, member, running):
    client = browser_for(member)
    html = client.get("/workspaces/alice/dev/live").content.decode()
    assert "<html" not in html
    trigger = 'hx-trigger="build-ended from:body, workspace-changed from:body"'
    assert trigger in html
    assert f'data-workspace="{running.id}"' in html  # events of this workspace only
    assert not re.search(r'hx-trigger="[^"]*every', html)
    assert '<div id="workspace-details" hx-swap-oob="true">' in html  # agents, in one request
    assert "Agents and apps" in html
    # The starting agent's startup log: the page's WebSocket carries on after its last line.
    agent = WorkspaceAgent.objects.get(resource__job=running.latest_build.job)
    last = WorkspaceAgentLog.objects.filter(agent=agent).latest("id")
    assert f'data-agent-log="{agent.id}" data-after="{last.id}"' in html
    assert 'data-lifecycle="created"' in html
    WorkspaceAgent.objects.filter(pk=agent.pk).update(lifecycle_state="ready")
    settled = client.get("/workspaces/alice/dev/live").content.decode()
    assert 'data-lifecycle="ready"' in settled


def test_deleted_workspace_page_says_deleted(browser_for, member, running):
    from django.utils import timezone

    build = WorkspaceBuild.objects.get(workspace=running)
    build.transition = BuildTransition.DELETE
    build.save()
    running.deleted_at = timezone.now()
    running.save()
    html = browser_for(member).get("/workspaces/alice/dev").content.decode()
    assert 'data-status="deleted"' in html
    assert ">Stop</button>" not in html and "Delete workspace" not in html


def test_terminal_page_points_at_the_agents_pty_stream(browser_for, member, running):
    agent = WorkspaceAgent.objects.get(name="main")
    html = browser_for(member).get("/workspaces/alice/dev/terminal/main").content.decode()
    assert f'data-stream="/api/v2/workspaceagents/{agent.id}/streams"' in html
    assert "vendor/xterm.js" in html and "web/terminal.js" in html
    r = browser_for(member).get("/workspaces/alice/dev/terminal/nope")
    assert r.status_code == 404

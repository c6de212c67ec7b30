"""Workspaces in the console: status, cost, build history, and actions that queue builds."""

import pytest
from django.contrib.admin import helpers
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from templates_app.models import ImportStatus, TemplateVersion
from tests.admin.conftest import make_job, make_template, make_workspace
from workspaces.choices import BuildTransition, JobStatus
from workspaces.models import Workspace, WorkspaceBuild

pytestmark = pytest.mark.django_db

WORKSPACES = "/admin/workspaces/workspace/"


def _act(client, action, workspaces, **extra):
    """The action as the confirmation page posts it (apply=yes); without it, the page itself."""
    data = {
        "action": action,
        helpers.ACTION_CHECKBOX_NAME: [str(w.pk) for w in workspaces],
        "apply": "yes",
        **extra,
    }
    return client.post(WORKSPACES, data, follow=True)


def _ask(client, action, workspaces):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(w.pk) for w in workspaces]}
    return client.post(WORKSPACES, data)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def _latest(workspace) -> WorkspaceBuild:
    return WorkspaceBuild.objects.select_related("job").filter(workspace=workspace).first()


def _label(workspace) -> str:
    return f"{workspace.owner.username}/{workspace.name}"


@pytest.fixture
def template(owner):
    return make_template(owner)


def _add_build(workspace, transition, job_status, number) -> WorkspaceBuild:
    build = WorkspaceBuild.objects.create(
        workspace=workspace,
        template_version=workspace.template.active_version,
        build_number=number,
        transition=transition,
        initiator=workspace.owner,
        job=make_job(workspace.owner, job_status),
    )
    Workspace.objects.filter(pk=workspace.pk).update(latest_build=build)
    return build


def test_the_list_shows_status_cost_and_whether_the_version_is_outdated(
    console, owner, member, template
):
    running = make_workspace(member, template)
    WorkspaceBuild.objects.filter(workspace=running).update(daily_cost=42)
    stopped = make_workspace(member, template, transition=BuildTransition.STOP)
    newer = TemplateVersion.objects.create(
        template=template,
        name="newer",
        file=template.active_version.file,
        created_by=owner,
        import_status=ImportStatus.SUCCEEDED,
    )
    template.active_version = newer
    template.save(update_fields=["active_version"])
    fresh = make_workspace(member, template)  # built from the new active version

    page = console(owner).get(WORKSPACES)
    html = page.content.decode()
    assert page.status_code == 200
    assert "portal-status-running" in html and "portal-status-stopped" in html
    rows = {w.name: w for w in page.context["cl"].result_list}
    admin = page.context["cl"].model_admin
    assert admin.daily_cost(rows[running.name]) == 42
    assert "portal-status-outdated" in admin.outdated(rows[running.name])
    assert "portal-status-outdated" in admin.outdated(rows[stopped.name])
    assert admin.outdated(rows[fresh.name]) == "-"
    assert html.count('portal-status-outdated"') == 2
    assert (
        reverse("admin:workspaces_provisionerjob_log", args=[running.latest_build.job_id]) in html
    )


def test_status_filter_and_search_by_owner(console, owner, member, make_user, template):
    running = make_workspace(member, template)
    stopped = make_workspace(member, template, transition=BuildTransition.STOP)
    failed = make_workspace(make_user(username="bob"), template, job_status=JobStatus.FAILED)
    client = console(owner)

    def names(**params):
        return {w.name for w in client.get(WORKSPACES, params).context["cl"].result_list}

    assert names(status="running") == {running.name}
    assert names(status="stopped") == {stopped.name}
    assert names(status="failed") == {failed.name}
    assert names(q="bob") == {failed.name}
    assert names(q=running.name) == {running.name}


def test_the_detail_page_shows_the_build_history_with_durations_and_log_links(
    console, owner, member, template
):
    workspace = make_workspace(member, template)
    second = _add_build(workspace, BuildTransition.STOP, JobStatus.FAILED, 2)
    page = console(owner).get(reverse("admin:workspaces_workspace_change", args=[workspace.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "build history" in html.lower()
    assert reverse("admin:workspaces_provisionerjob_log", args=[second.job_id]) in html
    first = WorkspaceBuild.objects.get(workspace=workspace, build_number=1)
    assert reverse("admin:workspaces_provisionerjob_log", args=[first.job_id]) in html
    assert "portal-job-failed" in html  # build #2's status


def test_start_stop_and_delete_queue_builds_through_the_service_and_are_audited(
    console, owner, member, template
):
    stopped = make_workspace(member, template, transition=BuildTransition.STOP)
    running = make_workspace(member, template)
    client = console(owner)

    response = _act(client, "start_workspaces", [stopped])
    assert ("success", f"Starting: {_label(stopped)}.") in _messages(response)
    build = _latest(stopped)
    assert (build.build_number, build.transition, build.reason) == (2, "start", "initiator")
    assert build.initiator == owner and build.job.status == JobStatus.PENDING
    entry = AuditEntry.objects.get(action="start", resource_id=str(build.id))
    assert entry.actor == owner
    assert entry.additional_fields["reason"] == "initiator"

    _act(client, "stop_workspaces", [running])
    assert _latest(running).transition == BuildTransition.STOP
    assert AuditEntry.objects.filter(action="stop", actor=owner).count() == 1

    response = _act(client, "delete_workspaces", [running])
    error = [m for level, m in _messages(response) if level == "error"]
    assert len(error) == 1 and error[0].startswith(f"{_label(running)}: Build #2 (stop) is pending")
    assert _latest(running).transition == BuildTransition.STOP  # refused: nothing queued


def test_a_refused_build_is_an_error_message_and_the_others_still_happen(
    console, owner, member, template
):
    busy = make_workspace(member, template, job_status=JobStatus.RUNNING)
    stopped = make_workspace(member, template, transition=BuildTransition.STOP)
    response = _act(console(owner), "start_workspaces", [busy, stopped])
    assert response.status_code == 200
    messages = _messages(response)
    assert ("success", f"Starting: {_label(stopped)}.") in messages
    assert any(
        level == "error" and m.startswith(f"{_label(busy)}: Build #1 (start) is running")
        for level, m in messages
    )
    assert WorkspaceBuild.objects.filter(workspace=busy).count() == 1
    assert WorkspaceBuild.objects.filter(workspace=stopped).count() == 2


def test_cancel_cancels_the_running_build_and_is_audited(console, owner, member, template):
    pending = make_workspace(member, template, job_status=JobStatus.PENDING)
    running = make_workspace(member, template, job_status=JobStatus.RUNNING)
    idle = make_workspace(member, template)
    response = _act(console(owner), "cancel_builds", [pending, running, idle])
    messages = _messages(response)
    assert any(level == "success" and "Canceled the build of" in m for level, m in messages)
    assert _latest(pending).job.status == JobStatus.CANCELED
    assert _latest(running).job.status == JobStatus.CANCELING
    assert _latest(idle).job.status == JobStatus.SUCCEEDED
    assert any(
        level == "error" and m.startswith(f"{_label(idle)}: Build #1 (start) has already succeeded")
        for level, m in messages
    )
    entry = AuditEntry.objects.get(resource_id=str(_latest(pending).id), action="write")
    assert entry.actor == owner
    assert entry.additional_fields["cancel"] is True
    assert entry.diff["job_status"] == {"old": "pending", "new": "canceled", "secret": False}


def test_orphan_delete_asks_for_confirmation_first(console, owner, member, template):
    workspace = make_workspace(member, template)
    client = console(owner)

    confirm = _ask(client, "orphan_delete_workspaces", [workspace])
    page = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Orphan-delete workspaces" in page and _label(workspace) in page
    assert "must be removed by hand" in page
    assert WorkspaceBuild.objects.filter(workspace=workspace).count() == 1

    unticked = _act(client, "orphan_delete_workspaces", [workspace])
    assert "This field is required" in unticked.content.decode()
    assert WorkspaceBuild.objects.filter(workspace=workspace).count() == 1

    done = _act(client, "orphan_delete_workspaces", [workspace], understood="on")
    assert ("success", f"Orphan-deleting: {_label(workspace)}.") in _messages(done)
    build = _latest(workspace)
    assert build.transition == BuildTransition.DELETE
    assert build.job.input["orphan"] is True
    entry = AuditEntry.objects.get(action="delete", resource_id=str(build.id))
    assert entry.actor == owner and entry.additional_fields["orphan"] is True


def test_a_template_admin_sees_workspaces_but_gets_no_actions(console, make_user, member, template):
    workspace = make_workspace(member, template, transition=BuildTransition.STOP)
    client = console(make_user(Role.TEMPLATE_ADMIN))
    page = client.get(WORKSPACES)
    assert page.status_code == 200
    assert "start_workspaces" not in page.content.decode()
    _act(client, "start_workspaces", [workspace])
    assert WorkspaceBuild.objects.filter(workspace=workspace).count() == 1


def test_list_and_detail_queries_do_not_grow_with_workspaces_or_builds(
    console, owner, member, template
):
    client = console(owner)
    first = make_workspace(member, template)

    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    detail = reverse("admin:workspaces_workspace_change", args=[first.pk])
    few = (count(WORKSPACES), count(detail))
    for _ in range(10):
        make_workspace(member, template)
    for n in range(2, 12):
        _add_build(first, BuildTransition.STOP if n % 2 else BuildTransition.START, "failed", n)
    assert (count(WORKSPACES), count(detail)) == few


def test_an_agents_page_shows_its_connection_and_startup_logs(console, owner):
    from tests.agents.helpers import make_agent
    from workspaces.models import WorkspaceAgentLog

    agent = make_agent(owner)
    WorkspaceAgentLog.objects.create(
        agent=agent, source="startup_script", output="cloning dotfiles"
    )
    page = console(owner).get(f"/admin/workspaces/workspaceagent/{agent.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "[startup_script] cloning dotfiles" in text
    assert "connecting" in text  # never connected yet

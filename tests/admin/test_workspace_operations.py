"""Workspace operations in the console: a confirmation page, then the build services, from the
list's actions and from a workspace's own page; refused to those the policy refuses."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from templates_app.models import ImportStatus, TemplateVersion
from tests.admin.conftest import make_template, make_workspace
from workspaces.choices import BuildTransition, JobStatus
from workspaces.models import WorkspaceBuild

pytestmark = pytest.mark.django_db

WORKSPACES = "/admin/workspaces/workspace/"


@pytest.fixture
def template(owner):
    return make_template(owner)


def _label(workspace) -> str:
    return f"{workspace.owner.username}/{workspace.name}"


def _post(client, action, workspaces, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(w.pk) for w in workspaces]}
    return client.post(WORKSPACES, {**data, **extra}, follow=True)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def _builds(workspace) -> list[WorkspaceBuild]:
    return list(WorkspaceBuild.objects.filter(workspace=workspace).order_by("build_number"))


def _operation_url(workspace, operation) -> str:
    return reverse("admin:workspaces_workspace_operation", args=[workspace.pk, operation])


def _new_active_version(template, owner, name="v-new") -> TemplateVersion:
    version = TemplateVersion.objects.create(
        template=template,
        name=name,
        file=template.active_version.file,
        created_by=owner,
        import_status=ImportStatus.SUCCEEDED,
    )
    template.active_version = version
    template.save(update_fields=["active_version"])
    return version


@pytest.mark.parametrize(
    ("action", "start_as", "says"),
    [
        ("start_workspaces", BuildTransition.STOP, "A start build is queued"),
        ("stop_workspaces", BuildTransition.START, "its compute stops, its volumes stay"),
        ("restart_workspaces", BuildTransition.START, "once the stop succeeded"),
        ("delete_workspaces", BuildTransition.START, "This cannot be undone"),
        ("update_workspaces", BuildTransition.START, "template&#x27;s active version"),
        ("cancel_builds", BuildTransition.START, "is canceled"),
    ],
)
def test_every_action_asks_first_listing_the_workspaces_and_what_will_happen(
    console, owner, member, template, action, start_as, says
):
    first = make_workspace(member, template, transition=start_as)
    second = make_workspace(member, template, transition=start_as)
    page = _post(console(owner), action, [first, second])
    html = page.content.decode()
    assert page.status_code == 200
    assert "are you sure?" in html
    assert _label(first) in html and _label(second) in html
    assert says in html
    assert 'name="apply"' in html and "No, take me back" in html
    assert len(_builds(first)) == len(_builds(second)) == 1  # nothing happened yet


def test_restart_queues_a_stop_that_starts_again_and_is_audited(console, owner, member, template):
    workspace = make_workspace(member, template)
    response = _post(console(owner), "restart_workspaces", [workspace], apply="yes")
    assert ("success", f"Restarting: {_label(workspace)}.") in _messages(response)
    build = _builds(workspace)[-1]
    assert (build.transition, build.then_start, build.initiator) == ("stop", True, owner)
    entry = AuditEntry.objects.get(action="stop", resource_id=str(build.id))
    assert entry.actor == owner and entry.additional_fields["then_start"] is True


def test_update_moves_outdated_workspaces_to_the_active_version_and_reports_the_rest(
    console, owner, member, template
):
    outdated = make_workspace(member, template)
    version = _new_active_version(template, owner)
    current = make_workspace(member, template)  # built from the new version already
    confirm = _post(console(owner), "update_workspaces", [outdated])
    assert f"→ {version.name}" in confirm.content.decode()

    response = _post(console(owner), "update_workspaces", [outdated, current], apply="yes")
    messages = _messages(response)
    assert ("success", f"Updating: {_label(outdated)}.") in messages
    assert (
        "error",
        f"{_label(current)}: It is already on the template's active version {version.name}.",
    ) in messages
    build = _builds(outdated)[-1]
    assert (build.transition, build.template_version_id) == ("start", version.pk)
    assert AuditEntry.objects.get(action="start", resource_id=str(build.id)).actor == owner
    assert len(_builds(current)) == 1


def test_one_failure_among_several_is_reported_and_the_others_are_stopped(
    console, owner, member, template
):
    busy = make_workspace(member, template, job_status=JobStatus.RUNNING)
    running = [make_workspace(member, template) for _ in range(2)]
    response = _post(console(owner), "stop_workspaces", [busy, *running], apply="yes")
    messages = _messages(response)
    done = [m for level, m in messages if level == "success"]
    assert len(done) == 1 and all(_label(w) in done[0] for w in running)
    errors = [m for level, m in messages if level == "error"]
    assert len(errors) == 1 and errors[0].startswith(f"{_label(busy)}: Build #1 (start) is running")
    assert [len(_builds(w)) for w in (busy, *running)] == [1, 2, 2]
    assert AuditEntry.objects.filter(action="stop", actor=owner).count() == 2


def test_a_workspace_page_has_the_operations_behind_a_confirmation(
    console, owner, member, template
):
    workspace = make_workspace(member, template)
    client = console(owner)
    change = reverse("admin:workspaces_workspace_change", args=[workspace.pk])
    html = client.get(change).content.decode()
    for operation in ("start", "stop", "restart", "update", "delete", "orphan_delete", "cancel"):
        assert _operation_url(workspace, operation) in html

    confirm = client.get(_operation_url(workspace, "stop"))
    assert confirm.status_code == 200
    assert _label(workspace) in confirm.content.decode()
    assert len(_builds(workspace)) == 1

    done = client.post(_operation_url(workspace, "stop"), {"apply": "yes"})
    assert done.status_code == 302 and done["Location"] == change
    assert _builds(workspace)[-1].transition == BuildTransition.STOP
    assert AuditEntry.objects.get(action="stop").actor == owner

    refused = client.post(_operation_url(workspace, "stop"), {"apply": "yes"}, follow=True)
    assert any(level == "error" and "is pending" in m for level, m in _messages(refused))
    assert len(_builds(workspace)) == 2


def test_orphan_delete_from_the_page_needs_the_box_ticked(console, owner, member, template):
    workspace = make_workspace(member, template)
    client = console(owner)
    unticked = client.post(_operation_url(workspace, "orphan_delete"), {"apply": "yes"})
    assert unticked.status_code == 200 and "This field is required" in unticked.content.decode()
    assert len(_builds(workspace)) == 1
    client.post(_operation_url(workspace, "orphan_delete"), {"apply": "yes", "understood": "on"})
    build = _builds(workspace)[-1]
    assert build.transition == BuildTransition.DELETE and build.job.input["orphan"] is True


@pytest.mark.parametrize("role", [Role.TEMPLATE_ADMIN, Role.AUDITOR, Role.USER_ADMIN])
def test_admins_without_workspace_manage_all_get_403_and_no_buttons(
    console, make_user, member, template, role
):
    workspace = make_workspace(member, template)
    client = console(make_user(role))
    change = client.get(reverse("admin:workspaces_workspace_change", args=[workspace.pk]))
    if role == Role.TEMPLATE_ADMIN:  # may look (workspace.read_all), not act
        assert change.status_code == 200
        assert _operation_url(workspace, "stop") not in change.content.decode()
    assert client.get(_operation_url(workspace, "stop")).status_code == 403
    assert client.post(_operation_url(workspace, "stop"), {"apply": "yes"}).status_code == 403
    _post(client, "stop_workspaces", [workspace], apply="yes")
    assert len(_builds(workspace)) == 1
    assert not AuditEntry.objects.filter(action="stop").exists()


def test_a_member_is_sent_to_sign_in_and_nothing_happens(console, member, template):
    workspace = make_workspace(member, template)
    response = console(member).post(_operation_url(workspace, "stop"), {"apply": "yes"})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert len(_builds(workspace)) == 1


def test_unknown_operations_and_workspaces_are_404(console, owner, member, template):
    workspace = make_workspace(member, template)
    client = console(owner)
    assert client.get(_operation_url(workspace, "explode")).status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    url = reverse("admin:workspaces_workspace_operation", args=[missing, "stop"])
    assert client.post(url, {"apply": "yes"}).status_code == 404
    assert (
        client.get(_operation_url(workspace, "stop").replace(str(workspace.pk), "x")).status_code
        == 404
    )

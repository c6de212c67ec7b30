"""Deprecating templates and versions: the API, what it refuses, what it warns, who is told."""

from __future__ import annotations

import pytest

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.notifications.models import Notification
from tests import factories
from tests.workspaces import helpers
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def template():
    return helpers.buildable_template(name="python")


def _deprecate(client, template, message):
    return client.patch(
        f"/api/v2/templates/{template.name}", {"deprecation_message": message}, format="json"
    )


def test_a_deprecated_template_refuses_new_workspaces_with_the_reason(
    client_for, owner, member, template
):
    r = _deprecate(client_for(owner), template, "Use python-2.")
    assert r.status_code == 200, r.json()
    assert (r.json()["deprecated"], r.json()["deprecation_message"]) == (True, "Use python-2.")
    listed = client_for(member).get("/api/v2/templates").json()["results"]
    assert listed[0]["deprecated"] is True

    r = client_for(member).post(
        "/api/v2/workspaces", {"template_id": str(template.id), "name": "dev"}, format="json"
    )
    assert r.status_code == 403
    assert r.json()["message"] == "Template Python is deprecated: Use python-2."
    assert not Workspace.objects.filter(owner=member).exists()

    assert _deprecate(client_for(owner), template, "").json()["deprecated"] is False
    r = client_for(member).post(
        "/api/v2/workspaces", {"template_id": str(template.id), "name": "dev"}, format="json"
    )
    assert r.status_code == 201


def test_existing_workspaces_keep_starting_and_are_warned(client_for, owner, member, template):
    ws = factories.workspace(member, template=template, transition="stop")
    _deprecate(client_for(owner), template, "Moving to python-2.")
    client = client_for(member)
    shown = client.get(f"/api/v2/workspaces/{ws.id}").json()
    assert shown["template_deprecated"] is True
    assert shown["deprecation_warning"] == "Template Python is deprecated: Moving to python-2."
    listed = client.get("/api/v2/workspaces").json()["results"][0]
    assert listed["deprecation_warning"] == shown["deprecation_warning"]
    r = client.post(f"/api/v2/workspaces/{ws.id}/builds", {"transition": "start"}, format="json")
    assert r.status_code == 201, r.json()


def test_owners_are_told_once_per_deprecation(
    client_for, owner, member, make_user, template, django_capture_on_commit_callbacks
):
    factories.workspace(member, template=template, name="one")
    factories.workspace(member, template=template, name="two")
    factories.workspace(make_user(username="carol"))  # another template: not told
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        _deprecate(client, template, "Use python-2.")
    with django_capture_on_commit_callbacks(execute=True):
        _deprecate(client, template, "Use python-2 (see the wiki).")  # same deprecation
    told = Notification.objects.filter(kind="template_deprecated")
    assert sorted(n.user.username for n in told) == ["alice", "alice"]
    assert {n.link for n in told} == {"/workspaces/alice/one", "/workspaces/alice/two"}
    assert "was deprecated: Use python-2." in told.first().body
    _deprecate(client, template, "")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _deprecate(client, template, "Again.")  # a new deprecation: told again
    assert callbacks
    assert Notification.objects.filter(kind="template_deprecated").count() == 4


def test_members_may_not_deprecate_and_it_is_audited(client_for, owner, member, template):
    assert _deprecate(client_for(member), template, "mine").status_code == 403
    template.refresh_from_db()
    assert template.deprecation_message == ""
    _deprecate(client_for(owner), template, "Old.")
    entry = AuditEntry.objects.filter(resource_type="template", resource_id=str(template.id))
    change = entry.order_by("-id").first().diff["deprecation_message"]
    assert (change["old"], change["new"]) == ("", "Old.")


def test_a_deprecated_version_cannot_be_promoted_used_or_updated_to(
    client_for, owner, member, template
):
    old = template.active_version
    ws = factories.workspace(member, template=template, transition="stop")
    new = helpers.version(template, name="v2")
    client = client_for(owner)
    r = client.patch(
        f"/api/v2/templateversions/{new.id}", {"deprecation_message": "Broken."}, format="json"
    )
    assert r.status_code == 200 and r.json()["deprecated"] is True
    r = client.patch(
        f"/api/v2/templates/{template.name}", {"active_version_id": str(new.id)}, format="json"
    )
    assert (
        r.status_code == 400 and "is deprecated (Broken.)" in r.json()["validations"][0]["detail"]
    )

    # The active version deprecated: no new workspaces on it, existing ones keep building.
    client.patch(
        f"/api/v2/templateversions/{old.id}", {"deprecation_message": "Old."}, format="json"
    )
    member_client = client_for(member)
    r = member_client.post(
        "/api/v2/workspaces", {"template_id": str(template.id), "name": "new"}, format="json"
    )
    assert r.status_code == 403 and r.json()["message"].endswith("is deprecated: Old.")
    r = member_client.post(
        f"/api/v2/workspaces/{ws.id}/builds",
        {"transition": "start", "version_id": str(new.id)},
        format="json",
    )
    assert r.status_code == 409 and r.json()["message"] == "Version 'v2' is deprecated: Broken."
    r = member_client.post(
        f"/api/v2/workspaces/{ws.id}/builds", {"transition": "start"}, format="json"
    )
    assert r.status_code == 201
    assert (
        member_client.get(f"/api/v2/workspaces/{ws.id}")
        .json()["deprecation_warning"]
        .endswith("is deprecated: Old.")
    )


def test_version_patch_checks_its_input_and_who_asks(client_for, owner, make_user, template):
    version = template.active_version
    url = f"/api/v2/templateversions/{version.id}"
    tadmin = client_for(make_user(Role.TEMPLATE_ADMIN))
    assert tadmin.patch(url, {"deprecation_message": "x" * 2000}, format="json").status_code == 400
    assert tadmin.patch(url, {"message": "x"}, format="json").status_code == 400
    assert tadmin.patch(url, {}, format="json").status_code == 400
    assert tadmin.patch(url, {"deprecation_message": "ok"}, format="json").status_code == 200
    member = client_for(make_user())
    assert member.patch(url, {"deprecation_message": ""}, format="json").status_code == 403
    version.refresh_from_db()
    assert version.deprecation_message == "ok"

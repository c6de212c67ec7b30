"""Archiving template versions: the rules, the API, who may, and what an archived one refuses."""

from __future__ import annotations

import pytest

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.errors import Conflict, Forbidden
from templates_app import services_archive
from templates_app.models import TemplateVersion
from tests import factories
from tests.workspaces import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture
def template():
    return helpers.buildable_template(name="python")


def _archive(client, version, action="archive"):
    return client.post(f"/api/v2/templateversions/{version.id}/{action}")


def test_the_active_version_and_one_in_use_cannot_be_archived(owner, member, template):
    with pytest.raises(Conflict, match="is the active version of template 'python'"):
        services_archive.archive_version(template.active_version, actor=owner)
    used = helpers.version(template, name="v2")
    ws = factories.workspace(member, template=template)
    factories.WorkspaceBuildFactory(workspace=ws, template_version=used, build_number=2)
    ws.latest_build = ws.builds.order_by("-build_number").first()
    ws.save(update_fields=["latest_build"])
    with pytest.raises(Conflict, match="'v2' is in use"):
        services_archive.archive_version(used, actor=owner)
    # A deleted workspace no longer holds it.
    ws.deleted_at = ws.created_at
    ws.save(update_fields=["deleted_at"])
    assert services_archive.archive_version(used, actor=owner).archived


def test_a_failed_or_pending_import_can_be_archived_and_unarchived(owner, template):
    failed = helpers.version(template, name="broken", import_status="failed")
    pending = helpers.version(template, name="waiting", import_status="pending")
    for version in (failed, pending):
        assert services_archive.archive_version(version, actor=owner).archived_at is not None
    with pytest.raises(Conflict, match="already archived"):
        services_archive.archive_version(failed, actor=owner)
    back = services_archive.unarchive_version(failed, actor=owner)
    assert back.archived_at is None
    with pytest.raises(Conflict, match="is not archived"):
        services_archive.unarchive_version(failed, actor=owner)
    entries = AuditEntry.objects.filter(resource_type="template_version", resource_id=failed.id)
    assert [e.action for e in entries.order_by("time")] == ["archive", "unarchive"]
    assert entries.first().additional_fields["template"] == "python"


def test_a_member_may_not_archive(member, template):
    old = helpers.version(template, name="v0")
    with pytest.raises(Forbidden):
        services_archive.archive_version(old, actor=member)
    assert TemplateVersion.objects.get(pk=old.pk).archived_at is None


def test_api_archive_hides_the_version_and_unarchive_brings_it_back(
    client_for, owner, member, template
):
    old = helpers.version(template, name="v0")
    client = client_for(owner)
    r = _archive(client, old)
    assert r.status_code == 200 and r.json()["archived"] is True, r.json()
    listed = client.get(f"/api/v2/templates/{template.name}/versions").json()["results"]
    assert [v["name"] for v in listed] == [template.active_version.name]
    listed = client.get(
        f"/api/v2/templates/{template.name}/versions", {"include_archived": "true"}
    ).json()["results"]
    assert {v["name"] for v in listed} == {"v0", template.active_version.name}
    # Still found by its name and id, so it can be unarchived.
    assert client.get(f"/api/v2/templates/{template.name}/versions/v0").json()["archived"]

    r = _archive(client, old)
    assert r.status_code == 409 and "already archived" in r.json()["message"]
    r = _archive(client, old, "unarchive")
    assert r.status_code == 200 and r.json()["archived"] is False
    listed = client_for(member).get(f"/api/v2/templates/{template.name}/versions").json()
    assert listed["count"] == 2


def test_api_refuses_the_active_version_with_why(client_for, owner, template):
    r = _archive(client_for(owner), template.active_version)
    assert r.status_code == 409
    assert "is the active version" in r.json()["message"]
    assert TemplateVersion.objects.get(pk=template.active_version_id).archived_at is None


def test_an_archived_version_builds_nothing_and_is_not_promoted(
    client_for, owner, member, template
):
    old = helpers.version(template, name="v0")
    ws = factories.workspace(member, template=template, transition="stop")
    owner_client = client_for(owner)
    assert _archive(owner_client, old).status_code == 200
    member_client = client_for(member)
    r = member_client.post(
        "/api/v2/workspaces",
        {"template_id": str(template.id), "name": "new", "version_id": str(old.id)},
        format="json",
    )
    assert r.status_code == 400 and "'v0' is archived" in r.json()["validations"][0]["detail"]
    r = member_client.post(
        f"/api/v2/workspaces/{ws.id}/builds",
        {"transition": "start", "version_id": str(old.id)},
        format="json",
    )
    assert r.status_code == 400 and "'v0' is archived" in r.json()["validations"][0]["detail"]
    r = owner_client.patch(
        f"/api/v2/templates/{template.name}", {"active_version_id": str(old.id)}, format="json"
    )
    assert r.status_code == 400 and "is archived" in r.json()["validations"][0]["detail"]
    assert template.versions.count() == 2  # nothing lost


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.TEMPLATE_ADMIN, 200), (Role.AUDITOR, 403), (Role.MEMBER, 403), (Role.USER_ADMIN, 403)],
)
def test_who_may_archive(client_for, make_user, template, role, status):
    old = helpers.version(template, name="v0")
    r = _archive(client_for(make_user(role)), old)
    assert r.status_code == status
    assert (TemplateVersion.objects.get(pk=old.pk).archived_at is not None) == (status == 200)


def test_an_unknown_or_deleted_template_s_version_is_not_found(client_for, owner, member):
    r = client_for(member).post(
        "/api/v2/templateversions/00000000-0000-0000-0000-000000000000/archive"
    )
    assert r.status_code == 404
    gone = helpers.buildable_template(name="gone")
    version = helpers.version(gone, name="v0")
    gone.deleted_at = gone.created_at
    gone.save(update_fields=["deleted_at"])
    for client in (client_for(member), client_for(owner)):
        r = client.post(f"/api/v2/templateversions/{version.id}/archive")
        assert r.status_code == 404, r.json()
    assert TemplateVersion.objects.get(pk=version.pk).archived_at is None


def test_archive_unused_versions_keeps_the_active_and_used_ones(client_for, owner, member):
    template = helpers.buildable_template(name="go")
    used = helpers.version(template, name="used")
    ws = factories.workspace(member, template=template)
    factories.WorkspaceBuildFactory(workspace=ws, template_version=used, build_number=2)
    ws.latest_build = ws.builds.order_by("-build_number").first()
    ws.save(update_fields=["latest_build"])
    spare = [helpers.version(template, name=n) for n in ("a", "b")]
    broken = helpers.version(template, name="broken", import_status="failed")

    r = client_for(member).post(f"/api/v2/templates/{template.id}/versions/archive")
    assert r.status_code == 403
    r = client_for(owner).post(f"/api/v2/templates/{template.id}/versions/archive")
    assert r.status_code == 200, r.json()
    assert set(r.json()["archived_ids"]) == {str(v.id) for v in (*spare, broken)}
    archived = set(
        template.versions.filter(archived_at__isnull=False).values_list("name", flat=True)
    )
    assert archived == {"a", "b", "broken"}
    again = client_for(owner).post(f"/api/v2/templates/{template.id}/versions/archive")
    assert again.json()["archived_ids"] == []


def test_a_version_named_archive_is_still_found_by_name(client_for, member, template):
    helpers.version(template, name="archive")
    r = client_for(member).get(f"/api/v2/templates/{template.name}/versions/archive")
    assert r.status_code == 200 and r.json()["name"] == "archive"

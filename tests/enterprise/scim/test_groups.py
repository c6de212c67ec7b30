"""SCIM Groups: Portal groups with source scim, members patched in bounded queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from enterprise.groups.choices import GroupSource
from enterprise.groups.models import Group, GroupMember
from enterprise.scim.models import ScimIdentity
from portal.accounts.choices import LoginType
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from tests.enterprise.scim import payloads
from tests.enterprise.scim.conftest import user_doc

pytestmark = pytest.mark.django_db


def _users(scim, n: int, prefix: str = "u") -> list[str]:
    return [scim.post("/Users", user_doc(f"{prefix}{i}@example.com")).data["id"] for i in range(n)]


def _bulk_users(n: int) -> list[str]:
    """n SCIM users written directly (the members of the big PATCH), quickly."""
    users = User.objects.bulk_create(
        [
            User(username=f"bulk{i}", email=f"bulk{i}@example.com", login_type=LoginType.OIDC)
            for i in range(n)
        ]
    )
    ScimIdentity.objects.bulk_create(
        [ScimIdentity(user=u, user_name=f"bulk{i}@example.com") for i, u in enumerate(users)]
    )
    return [str(u.pk) for u in users]


def test_create_a_group_with_members(scim):
    ids = _users(scim, 2)
    body = payloads.entra_create_group("Engineering Team", "ext-eng")
    body["members"] = [{"value": i} for i in ids]
    response = scim.post("/Groups", body)
    assert response.status_code == 201, response.data
    group = Group.objects.get(pk=response.data["id"])
    assert (group.name, group.display_name, group.source) == (
        "engineering-team",
        "Engineering Team",
        GroupSource.SCIM,
    )
    assert group.external_id == "ext-eng"
    assert sorted(m["value"] for m in response.data["members"]) == sorted(ids)
    entry = AuditEntry.objects.get(resource_type="group", action="create")
    assert entry.actor_username == "SCIM (okta)"
    assert entry.additional_fields["via"] == "scim"


def test_a_taken_display_name_is_a_409(scim):
    scim.post("/Groups", payloads.entra_create_group("Admins", "a"))
    response = scim.post("/Groups", payloads.entra_create_group("admins", "b"))
    assert response.status_code == 409 and response.data["scimType"] == "uniqueness"


def test_filter_by_display_name_without_members(scim):
    [uid] = _users(scim, 1)
    created = scim.post(
        "/Groups", {**payloads.entra_create_group("Ops", "o"), "members": [{"value": uid}]}
    )
    scim.post("/Groups", payloads.entra_create_group("Dev", "d"))
    found = scim.get("/Groups", filter='displayName eq "ops"', excludedAttributes="members").data
    assert found["totalResults"] == 1
    [group] = found["Resources"]
    assert group["id"] == created.data["id"] and "members" not in group
    by_member = scim.get("/Groups", filter=f'members[value eq "{uid}"]').data
    assert [g["displayName"] for g in by_member["Resources"]] == ["Ops"]


def test_entra_member_patches_and_rename(scim):
    ids = _users(scim, 3)
    group = scim.post("/Groups", payloads.entra_create_group("Team", "t")).data
    path = f"/Groups/{group['id']}"
    r = scim.patch_body(path, payloads.entra_add_members(ids))
    assert r.status_code == 200, r.data
    assert len(r.data["members"]) == 3
    r = scim.patch_body(path, payloads.entra_remove_members(ids[:1]))
    assert sorted(m["value"] for m in r.data["members"]) == sorted(ids[1:])
    r = scim.patch(path, {"op": "remove", "path": f'members[value eq "{ids[1]}"]'})
    assert [m["value"] for m in r.data["members"]] == [ids[2]]
    r = scim.patch_body(path, payloads.entra_rename_group("Team Renamed"))
    assert r.data["displayName"] == "Team Renamed"
    r = scim.patch_body(path, payloads.okta_rename_group(group["id"], "Okta Name"))
    assert r.data["displayName"] == "Okta Name"
    r = scim.patch(path, {"op": "replace", "path": "members", "value": [{"value": ids[0]}]})
    assert [m["value"] for m in r.data["members"]] == [ids[0]]
    r = scim.patch(path, {"op": "remove", "path": "members"})
    assert r.data["members"] == []
    r = scim.patch(path, {"op": "add", "path": "nosuch", "value": "x"})
    assert r.status_code == 400 and r.data["scimType"] == "noTarget"


def test_a_patch_adding_500_members_runs_a_bounded_number_of_queries(scim):
    group = scim.post("/Groups", payloads.entra_create_group("Everyone Big", "big")).data
    ids = _bulk_users(500)
    with CaptureQueriesContext(connection) as queries:
        r = scim.patch_body(
            f"/Groups/{group['id']}?excludedAttributes=members", payloads.entra_add_members(ids)
        )
    assert r.status_code == 200, r.data
    assert GroupMember.objects.filter(group_id=group["id"]).count() == 500
    assert len(queries) <= 25, [q["sql"][:120] for q in queries]
    with CaptureQueriesContext(connection) as queries:
        r = scim.patch_body(f"/Groups/{group['id']}", payloads.entra_remove_members(ids[:250]))
    assert len(r.data["members"]) == 250
    assert len(queries) <= 25


def test_put_replaces_name_and_members(scim):
    ids = _users(scim, 3)
    group = scim.post(
        "/Groups", {**payloads.entra_create_group("G", "g"), "members": [{"value": ids[0]}]}
    ).data
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "G2",
        "members": [{"value": ids[1]}, {"value": ids[2]}],
    }
    r = scim.put(f"/Groups/{group['id']}", body)
    assert r.status_code == 200, r.data
    assert r.data["displayName"] == "G2"
    assert sorted(m["value"] for m in r.data["members"]) == sorted(ids[1:])


def test_delete_a_group(scim):
    group = scim.post("/Groups", payloads.entra_create_group("Gone", "x")).data
    assert scim.delete(f"/Groups/{group['id']}").status_code == 204
    assert not Group.objects.filter(pk=group["id"]).exists()
    assert scim.get(f"/Groups/{group['id']}").status_code == 404


def test_people_cannot_edit_a_scim_groups_members(scim, owner):
    from enterprise.groups import services
    from portal.errors import Forbidden

    group = Group.objects.get(
        pk=scim.post("/Groups", payloads.entra_create_group("IdP", "i")).data["id"]
    )
    with pytest.raises(Forbidden):
        services.add_members(group, [owner], actor=owner)

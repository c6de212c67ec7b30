"""/api/v2/groups: who sees and changes which groups, IdP-owned and Everyone rules, members,
bad input and the audit trail."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from enterprise.groups import services
from enterprise.groups.models import Group, GroupMember
from portal.accounts import services as accounts
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [g["name"] for g in response.json()["results"]]


@pytest.fixture
def uadmin(make_user):
    return make_user(Role.USER_ADMIN, username="ursula")


@pytest.fixture
def tadmin(make_user):
    return make_user(Role.TEMPLATE_ADMIN, username="tom")


def test_a_member_sees_only_their_own_groups_with_counts(client_for, member, team, make_user):
    bob = make_user(username="bob")
    api = client_for(member)
    Group.objects.create(name="other")

    body = api.get("/api/v2/groups").json()
    assert [g["name"] for g in body["results"]] == ["everyone", "team"]
    assert body["count"] == 2
    row = body["results"][1]
    assert row["display_name"] == "The team"
    assert (row["member_count"], row["source"], row["is_everyone"]) == (1, "user", False)
    assert row["quota_allowance"] == 0
    everyone = body["results"][0]
    assert everyone["is_everyone"] is True
    assert everyone["member_count"] == 2  # alice and bob, both active

    assert api.get("/api/v2/groups/other").status_code == 404
    assert client_for(bob).get("/api/v2/groups/team").status_code == 404
    assert api.get(f"/api/v2/groups/{team.id}").json()["name"] == "team"


def test_readers_of_all_groups_search_and_filter(client_for, tadmin, team, scim_group):
    api = client_for(tadmin)
    assert _names(api.get("/api/v2/groups")) == ["engineering", "everyone", "team"]
    assert _names(api.get("/api/v2/groups?q=TEA")) == ["team"]
    assert _names(api.get("/api/v2/groups?q=Engin")) == ["engineering"]
    assert _names(api.get("/api/v2/groups?source=scim")) == ["engineering"]
    response = api.get("/api/v2/groups?source=ldap")
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "source"


def test_member_filter_gives_a_users_groups(client_for, member, tadmin, team, make_user):
    bob = make_user(username="bob")
    assert _names(client_for(member).get("/api/v2/groups?member=me")) == ["everyone", "team"]
    assert _names(client_for(tadmin).get("/api/v2/groups?member=me")) == ["everyone"]
    # A reader of all groups who may read users asks about someone else.
    owner_api = client_for(make_user(Role.OWNER, username="olga"))
    assert _names(owner_api.get("/api/v2/groups?member=alice")) == ["everyone", "team"]
    # A member may not look into another account: as if it did not exist.
    response = client_for(bob).get("/api/v2/groups?member=alice")
    assert response.status_code == 404
    assert response.json()["message"] == "No user 'alice'."


def test_a_member_cannot_create_edit_or_delete(client_for, member, team):
    api = client_for(member)
    response = api.post("/api/v2/groups", {"name": "mine"}, format="json")
    assert response.status_code == 403
    assert "owner, user-admin" in response.json()["message"]
    assert api.patch("/api/v2/groups/team", {"display_name": "x"}, format="json").status_code == 403
    assert api.delete("/api/v2/groups/team").status_code == 403
    users = {"users": ["alice"]}
    assert api.delete("/api/v2/groups/team/members", users, format="json").status_code == 403
    assert Group.objects.filter(name="team", display_name="The team").exists()


def test_a_template_admin_reads_but_does_not_manage(client_for, tadmin, team):
    api = client_for(tadmin)
    assert api.get("/api/v2/groups/team").status_code == 200
    members = api.get("/api/v2/groups/team/members").json()["results"]
    assert [(m["username"], m["email"]) for m in members] == [("alice", "alice@example.com")]
    assert api.post("/api/v2/groups", {"name": "x"}, format="json").status_code == 403
    assert api.patch("/api/v2/groups/team", {"name": "y"}, format="json").status_code == 403


def test_a_user_admin_manages_a_group_end_to_end(client_for, uadmin, member, make_user):
    make_user(username="bob")
    api = client_for(uadmin)
    body = {
        "name": "Platform",
        "display_name": "Platform team",
        "avatar_url": "https://example.com/p.png",
        "quota_allowance": 40,
    }
    created = api.post("/api/v2/groups", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "platform"  # names are lowercase slugs
    assert created.json()["member_count"] == 0

    added = api.post("/api/v2/groups/platform/members", {"users": ["alice", "BOB"]}, format="json")
    assert added.status_code == 200, added.content
    assert added.json()["added"] == ["alice", "bob"]
    assert added.json()["group"]["member_count"] == 2
    again = api.post("/api/v2/groups/platform/members", {"users": ["alice"]}, format="json")
    assert again.json()["added"] == []

    listed = api.get("/api/v2/groups/platform/members").json()
    assert [m["username"] for m in listed["results"]] == ["alice", "bob"]

    patched = api.patch(
        "/api/v2/groups/platform",
        {"name": "platform-eng", "quota_allowance": 50, "remove_users": ["bob"]},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["name"], patched.json()["quota_allowance"]) == ("platform-eng", 50)
    assert patched.json()["member_count"] == 1

    removed = api.delete(
        "/api/v2/groups/platform-eng/members", {"users": [str(member.id)]}, format="json"
    )
    assert removed.json()["removed"] == ["alice"]
    assert api.delete("/api/v2/groups/platform-eng").status_code == 204
    assert api.get("/api/v2/groups/platform-eng").status_code == 404

    entries = AuditEntry.objects.filter(resource_type="group").order_by("time", "id")
    kinds = [
        (e.action, e.actor_username, e.additional_fields.get("members_added")) for e in entries
    ]
    assert kinds[0] == ("create", "ursula", None)
    assert ("write", "ursula", ["alice", "bob"]) in kinds
    assert entries.last().action == "delete"
    rename = next(e for e in entries if e.action == "write" and "name" in e.diff)
    assert rename.resource_target == "platform-eng"


def test_coder_style_patch_adds_and_removes_members(client_for, uadmin, team, make_user):
    make_user(username="bob")
    api = client_for(uadmin)
    response = api.patch(
        "/api/v2/groups/team", {"add_users": ["bob"], "remove_users": ["alice"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert list(team.members.values_list("username", flat=True)) == ["bob"]
    # Coder sends both lists with every PATCH, empty when only a field changes.
    response = api.patch(
        "/api/v2/groups/team",
        {"display_name": "Team", "avatar_url": None, "add_users": [], "remove_users": None},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["member_count"] == 1


def test_unknown_users_are_named_and_nothing_is_written(client_for, uadmin, team, make_user):
    make_user(username="bob")
    api = client_for(uadmin)
    before = AuditEntry.objects.count()
    response = api.post(
        "/api/v2/groups/team/members", {"users": ["bob", "nobody", "ghost"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "No such user: 'nobody', 'ghost'. Nothing was changed."
    response = api.patch(
        "/api/v2/groups/team",
        {"display_name": "New", "add_users": ["bob"], "remove_users": ["ghost"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["validations"][0]["field"] == "remove_users"
    team.refresh_from_db()
    assert team.display_name == "The team"
    assert list(team.members.values_list("username", flat=True)) == ["alice"]
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Not a slug!"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "ok", "quota_allowance": -1}, "quota_allowance"),
        ({"name": "ok", "avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "ok", "display_name": "x" * 129}, "display_name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, uadmin, body, field):
    response = client_for(uadmin).post("/api/v2/groups", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["validations"][0]["field"] == field
    assert not Group.objects.filter(is_everyone=False).exists()


def test_a_taken_name_is_a_conflict(client_for, uadmin, team):
    api = client_for(uadmin)
    response = api.post("/api/v2/groups", {"name": "TEAM"}, format="json")
    assert response.status_code == 409
    assert response.json()["message"] == "A group named 'team' already exists."
    Group.objects.create(name="other")
    assert api.patch("/api/v2/groups/other", {"name": "team"}, format="json").status_code == 409


def test_members_body_must_be_a_list_of_users(client_for, uadmin, team):
    api = client_for(uadmin)
    for body in ({}, {"users": []}, {"users": "alice"}, {"users": [""]}):
        response = api.post("/api/v2/groups/team/members", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response.json()["validations"][0]["field"].startswith("users")


def test_an_idp_group_is_read_only_except_its_allowance(client_for, uadmin, scim_group, member):
    api = client_for(uadmin)
    row = api.get("/api/v2/groups/engineering").json()
    assert row["source"] == "scim"
    assert row["managed_note"] == (
        "Managed by SCIM provisioning: change it in your identity provider."
    )
    for method, url, body in [
        ("patch", "/api/v2/groups/engineering", {"display_name": "Eng"}),
        ("patch", "/api/v2/groups/engineering", {"name": "eng"}),
        ("post", "/api/v2/groups/engineering/members", {"users": ["alice"]}),
        ("delete", "/api/v2/groups/engineering/members", {"users": ["alice"]}),
        ("patch", "/api/v2/groups/engineering", {"remove_users": ["alice"]}),
        ("delete", "/api/v2/groups/engineering", None),
    ]:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.content)
        assert "managed by SCIM provisioning" in response.json()["message"]
    assert GroupMember.objects.filter(group=scim_group, user=member).exists()

    response = api.patch("/api/v2/groups/engineering", {"quota_allowance": 25}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["quota_allowance"] == 25
    # Sending the unchanged name along with the allowance is not an edit of the name.
    same = {"name": "engineering", "quota_allowance": 30}
    assert api.patch("/api/v2/groups/engineering", same, format="json").status_code == 200


def test_everyone_cannot_be_deleted_renamed_or_have_members_edited(
    client_for, uadmin, everyone_group, member
):
    api = client_for(uadmin)
    response = api.delete("/api/v2/groups/everyone")
    assert response.status_code == 403
    assert response.json()["message"] == "Everyone cannot be deleted: every active user is in it."
    response = api.post("/api/v2/groups/everyone/members", {"users": ["alice"]}, format="json")
    assert response.status_code == 403
    assert "Everyone's members cannot be edited" in response.json()["message"]
    response = api.patch("/api/v2/groups/everyone", {"name": "all"}, format="json")
    assert response.json()["message"] == "Everyone cannot be renamed."
    # Its allowance and display name are Portal's to set.
    response = api.patch(
        "/api/v2/groups/everyone", {"quota_allowance": 10, "display_name": "All of us"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["quota_allowance"] == 10
    assert Group.objects.filter(is_everyone=True).count() == 1


def test_everyones_members_are_the_active_users_for_readers_only(
    client_for, tadmin, member, make_user, system
):
    gone = make_user(username="gone")
    accounts.suspend_user(gone, actor=system, reason="left")
    listed = client_for(tadmin).get("/api/v2/groups/everyone/members").json()["results"]
    assert [m["username"] for m in listed] == ["alice", "tom"]
    response = client_for(member).get("/api/v2/groups/everyone/members")
    assert response.status_code == 403
    assert "every active user" in response.json()["message"]


def test_members_see_their_groups_members_without_emails(client_for, member, team, make_user):
    bob = make_user(username="bob")
    GroupMember.objects.create(group=team, user=bob)
    rows = client_for(bob).get("/api/v2/groups/team/members").json()["results"]
    assert [m["username"] for m in rows] == ["alice", "bob"]
    assert "email" not in rows[0]


def test_the_list_is_paginated(client_for, uadmin, system):
    for n in range(30):
        services.create_group(actor=system, name=f"g{n:02}")
    body = client_for(uadmin).get("/api/v2/groups?limit=10&offset=25").json()
    assert body["count"] == 31
    assert [g["name"] for g in body["results"]] == ["g24", "g25", "g26", "g27", "g28", "g29"]


def test_the_lists_queries_do_not_grow_with_the_groups(client_for, uadmin, system, member):
    api = client_for(uadmin)

    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v2/groups?limit=100").status_code == 200
        return len(ctx.captured_queries)

    services.add_members(
        services.create_group(actor=system, name="g-first"), [member], actor=system
    )
    queries_for_a_page()  # the first request of a token also records its use
    few = queries_for_a_page()
    for n in range(20):
        group = services.create_group(actor=system, name=f"g{n:02}")
        services.add_members(group, [member], actor=system)
    assert queries_for_a_page() == few

"""The users API: listing and filtering, creating, status and roles, and lookups."""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.accounts import services
from portal.accounts.api.serializers import UserSerializer
from portal.accounts.choices import LoginType, Role, UserStatus
from portal.accounts.models import User
from portal.api.renderers import ORJSONRenderer
from portal.audit.models import AuditEntry
from tests.api.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.django_db


def _fields(response) -> set[str]:
    return {v["field"] for v in response.json()["validations"]}


# Listing


def test_users_list_paginates_with_limit_offset_and_count(owner, make_user, client_for):
    for n in range(5):
        make_user(username=f"page{n}")
    client = client_for(owner)
    first = client.get("/api/v2/users", {"limit": 2}).json()
    second = client.get("/api/v2/users", {"limit": 2, "offset": 2}).json()
    assert first["count"] == second["count"] == 6  # the system actor is not a person
    assert [u["username"] for u in first["results"]] == ["admin", "page0"]
    assert [u["username"] for u in second["results"]] == ["page1", "page2"]
    past_end = client.get("/api/v2/users", {"offset": 50}).json()
    assert past_end == {"count": 6, "results": []}
    # The total holds on a last page that is full, one that is not, and a filtered one.
    assert client.get("/api/v2/users", {"limit": 3, "offset": 3}).json()["count"] == 6
    assert client.get("/api/v2/users", {"limit": 4, "offset": 4}).json()["count"] == 6
    filtered = client.get("/api/v2/users", {"q": "page", "limit": 2, "offset": 2}).json()
    assert filtered["count"] == 5
    assert [u["username"] for u in filtered["results"]] == ["page2", "page3"]
    # Only the listed columns are loaded; what the list shows is whole.
    assert set(first["results"][0]) >= {"id", "email", "roles", "created_at", "last_seen_at"}


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": 0}, {"limit": 101}, {"offset": -1}])
def test_invalid_page_parameters_are_400_with_validations(owner, client_for, params):
    r = client_for(owner).get("/api/v2/users", params)
    assert r.status_code == 400
    assert _fields(r) == set(params)


def test_users_list_filters_by_search_status_and_role(owner, make_user, client_for, system):
    make_user(Role.AUDITOR, username="carol", email="carol@corp.example")
    dave = make_user(username="dave")
    services.suspend_user(dave, actor=system)
    client = client_for(owner)

    def names(**params):
        return {u["username"] for u in client.get("/api/v2/users", params).json()["results"]}

    assert names(q="CORP.example") == {"carol"}
    assert names(q="dav") == {"dave"}
    assert names(status="suspended") == {"dave"}
    assert names(role="auditor") == {"carol"}
    assert names(role="owner") == {"admin"}
    for param in ("status", "role"):
        r = client.get("/api/v2/users", {param: "bogus"})
        assert r.status_code == 400
        assert _fields(r) == {param}


def test_users_list_rows_render_byte_for_byte_as_the_serializer_renders_the_user(
    owner, make_user, client_for, system
):
    """The list builds its rows from value tuples, not model instances: they must not drift
    from UserSerializer on any kind of value (roles, statuses, login types, null times)."""
    make_user(Role.AUDITOR, Role.TEMPLATE_ADMIN, username="multi", name="Zoë « quoted »")
    services.suspend_user(make_user(username="suspended"), actor=system)
    make_user(username="oidc", login_type=LoginType.OIDC)
    make_user(username="robot", login_type=LoginType.NONE)
    dormant = make_user(username="dormant-one", email="")
    User.objects.filter(pk=dormant.pk).update(
        status=UserStatus.DORMANT, last_seen_at=timezone.now(), must_change_password=True
    )
    client = client_for(owner)
    client.get("/api/v2/users/me")  # the first use of a token records the owner's last-seen
    people = User.objects.filter(is_system=False).order_by("username")
    total = people.count()
    pages = [
        ({}, list(people), total),
        ({"limit": 2, "offset": 1}, list(people[1:3]), total),
        ({"limit": 4, "offset": 4}, list(people[4:8]), total),  # a last page that is not full
    ]
    for params in ({"q": "o"}, {"status": "dormant"}, {"role": "auditor"}):
        ids = [row["id"] for row in client.get("/api/v2/users", params).json()["results"]]
        users = sorted(people.filter(pk__in=ids), key=lambda u: u.username)
        pages.append((params, users, len(users)))
    for params, users, count in pages:
        r = client.get("/api/v2/users", params)
        assert r.status_code == 200
        expected = {"count": count, "results": [UserSerializer(u).data for u in users]}
        assert r.content == ORJSONRenderer().render(expected), params
    assert {u["status"] for u in client.get("/api/v2/users").json()["results"]} == set(
        UserStatus.values
    )


# Creating


def test_create_user_returns_201_and_the_user_can_log_in(owner, client_for, anon):
    r = client_for(owner).post(
        "/api/v2/users",
        {"username": "bob", "email": "bob@example.com", "password": STRONG_PASSWORD},
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["username"] == "bob"
    assert body["roles"] == [Role.MEMBER]
    assert "password" not in body
    login = anon.post(
        "/api/v2/users/login", {"login": "bob", "password": STRONG_PASSWORD}, format="json"
    )
    assert login.status_code == 201


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [("ALICE", "new@example.com", "username"), ("someone", "Alice@EXAMPLE.com", "email")],
)
def test_duplicate_username_or_email_is_409_case_insensitively(
    owner, member, client_for, username, email, field
):
    r = client_for(owner).post(
        "/api/v2/users",
        {"username": username, "email": email, "password": STRONG_PASSWORD},
        format="json",
    )
    assert r.status_code == 409
    assert _fields(r) == {field}
    assert User.objects.filter(username__iexact=username).count() == (field == "username")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "bob", "password": "123"}, "password"),
        ({"username": "bob", "password": "password1"}, "password"),
        ({"username": "bob"}, "password"),
        ({"username": "bob", "password": STRONG_PASSWORD, "roles": ["wizard"]}, "roles"),
        ({"username": "bad name!", "password": STRONG_PASSWORD}, "username"),
        ({"username": "bob", "email": "nope", "password": STRONG_PASSWORD}, "email"),
        ({"username": "Me", "password": STRONG_PASSWORD}, "username"),  # /users/me is you
        ({"username": "login", "password": STRONG_PASSWORD}, "username"),
    ],
)
def test_invalid_new_user_is_400_on_the_field(owner, client_for, body, field):
    r = client_for(owner).post("/api/v2/users", body, format="json")
    assert r.status_code == 400, r.content
    assert any(f.split(".")[0].split("[")[0] == field for f in _fields(r)), r.json()
    assert not User.objects.filter(username=body["username"]).exists()


def test_user_without_password_login_needs_no_password(owner, client_for):
    r = client_for(owner).post(
        "/api/v2/users", {"username": "robot", "login_type": "none"}, format="json"
    )
    assert r.status_code == 201, r.content
    assert not User.objects.get(username="robot").has_usable_password()


def test_user_admin_cannot_create_an_owner(make_user, client_for):
    uadmin = make_user(Role.USER_ADMIN)
    r = client_for(uadmin).post(
        "/api/v2/users",
        {"username": "boss", "password": STRONG_PASSWORD, "roles": ["owner"]},
        format="json",
    )
    assert r.status_code == 403
    assert not User.objects.filter(username="boss").exists()


# Status


def _put_status(client, user, status):
    return client.put(f"/api/v2/users/{user.id}/status", {"status": status}, format="json")


def test_suspending_a_user_locks_out_their_token_and_activating_lets_them_back(
    owner, member, client_for
):
    admin, alice = client_for(owner), client_for(member)
    assert alice.get("/api/v2/users/me").status_code == 200

    r = _put_status(admin, member, "suspended")
    assert r.status_code == 200
    assert r.json()["status"] == UserStatus.SUSPENDED
    locked = alice.get("/api/v2/users/me")
    assert locked.status_code == 403
    assert "suspended" in locked.json()["message"]

    r = _put_status(admin, member, "active")
    assert r.json()["status"] == UserStatus.ACTIVE
    assert alice.get("/api/v2/users/me").status_code == 200


def test_nobody_can_suspend_themselves(make_user, client_for):
    uadmin = make_user(Role.USER_ADMIN)
    r = _put_status(client_for(uadmin), uadmin, "suspended")
    assert r.status_code == 403
    uadmin.refresh_from_db()
    assert uadmin.status == UserStatus.ACTIVE


def test_last_active_owner_cannot_be_suspended(owner, system):
    # Over the API an owner can only reach this through "yourself" (403), so the CLI's
    # system actor is where the guard matters.
    from portal.errors import Conflict

    with pytest.raises(Conflict):
        services.suspend_user(owner, actor=system)
    with pytest.raises(Conflict):
        services.change_roles(owner, actor=system, roles=[Role.AUDITOR])
    owner.refresh_from_db()
    assert (owner.status, owner.roles) == (UserStatus.ACTIVE, [Role.MEMBER, Role.OWNER])


def test_an_owner_can_suspend_another_owner_but_a_user_admin_cannot(owner, make_user, client_for):
    second = make_user(Role.OWNER)
    uadmin = make_user(Role.USER_ADMIN)
    assert _put_status(client_for(uadmin), second, "suspended").status_code == 403
    assert _put_status(client_for(owner), second, "suspended").status_code == 200


def test_unknown_status_is_400(owner, member, client_for):
    r = _put_status(client_for(owner), member, "dormant")
    assert r.status_code == 400
    assert _fields(r) == {"status"}


# Roles


def _put_roles(client, user, roles):
    return client.put(f"/api/v2/users/{user.username}/roles", {"roles": roles}, format="json")


def test_user_admin_cannot_grant_owner_but_an_owner_can(owner, member, make_user, client_for):
    uadmin = make_user(Role.USER_ADMIN)
    r = _put_roles(client_for(uadmin), member, ["owner"])
    assert r.status_code == 403
    member.refresh_from_db()
    assert member.roles == [Role.MEMBER]

    r = _put_roles(client_for(owner), member, ["owner"])
    assert r.status_code == 200
    assert set(r.json()["roles"]) == {Role.OWNER, Role.MEMBER}


def test_member_role_is_implicit(owner, make_user, client_for):
    auditor = make_user(Role.AUDITOR)
    r = _put_roles(client_for(owner), auditor, [])
    assert r.status_code == 200
    assert r.json()["roles"] == [Role.MEMBER]
    r = _put_roles(client_for(owner), auditor, ["template-admin"])
    assert sorted(r.json()["roles"]) == [Role.MEMBER, Role.TEMPLATE_ADMIN]


def test_unknown_role_is_400(owner, member, client_for):
    assert _put_roles(client_for(owner), member, ["wizard"]).status_code == 400


# Lookups


def test_get_user_by_id_username_or_me(owner, member, client_for):
    client = client_for(owner)
    for ref in (str(member.id), member.username.upper()):
        r = client.get(f"/api/v2/users/{ref}")
        assert r.status_code == 200
        assert r.json()["id"] == str(member.id)
    assert client.get("/api/v2/users/me").json()["username"] == owner.username
    assert client_for(member).get("/api/v2/users/me").json()["username"] == member.username
    assert client.get("/api/v2/users/nobody").status_code == 404


def test_member_sees_only_themselves(owner, member, client_for):
    client = client_for(member)
    assert client.get(f"/api/v2/users/{member.id}").status_code == 200
    assert client.get(f"/api/v2/users/{owner.username}").status_code == 403


def test_buildinfo_is_public(anon):
    r = anon.get("/api/v2/buildinfo")
    assert r.status_code == 200
    assert r.json()["version"]


# Profile


def _put_profile(client, ref, body):
    return client.put(f"/api/v2/users/{ref}/profile", body, format="json")


def test_a_user_renames_themselves_and_the_change_is_audited(member, client_for):
    r = _put_profile(client_for(member), "me", {"username": "dana", "name": "Dana Scully"})
    assert r.status_code == 200, r.json()
    assert (r.json()["username"], r.json()["name"]) == ("dana", "Dana Scully")
    member.refresh_from_db()
    assert (member.username, member.name) == ("dana", "Dana Scully")
    entry = AuditEntry.objects.filter(resource_id=str(member.pk), action="write").latest("time")
    assert entry.diff["username"]["new"] == "dana" and entry.actor_id == member.pk


def test_a_taken_or_reserved_username_is_refused_and_nothing_changes(owner, member, client_for):
    client = client_for(member)
    r = _put_profile(client, "me", {"username": owner.username.upper(), "name": "X"})
    assert r.status_code == 409 and _fields(r) == {"username"}
    r = _put_profile(client, "me", {"username": "me"})
    assert r.status_code == 400 and _fields(r) == {"username"}
    r = _put_profile(client, "me", {"username": "bad name!"})
    assert r.status_code == 400 and _fields(r) == {"username"}
    member.refresh_from_db()
    assert member.name != "X"


def test_email_and_unknown_fields_are_refused(member, client_for):
    r = _put_profile(client_for(member), "me", {"email": "evil@example.com"})
    assert r.status_code == 400 and _fields(r) == {"email"}
    member.refresh_from_db()
    assert member.email != "evil@example.com"


def test_a_member_cannot_rename_another_user_or_learn_they_exist(owner, member, client_for):
    client = client_for(member)
    assert _put_profile(client, owner.username, {"name": "pwned"}).status_code == 404
    assert _put_profile(client, "nobody", {"name": "pwned"}).status_code == 404
    owner.refresh_from_db()
    assert owner.name != "pwned"


def test_a_user_admin_renames_members_but_not_owners(owner, member, make_user, client_for):
    client = client_for(make_user(Role.USER_ADMIN))
    assert _put_profile(client, member.username, {"name": "Renamed"}).status_code == 200
    assert _put_profile(client, owner.username, {"name": "Renamed"}).status_code == 403
    owner.refresh_from_db()
    assert owner.name != "Renamed"


# Git SSH key


def test_the_git_key_is_made_once_and_its_fingerprint_is_openssh_s(member, client_for, tmp_path):
    import subprocess

    client = client_for(member)
    first = client.get("/api/v2/users/me/gitsshkey").json()
    assert first["public_key"].startswith("ssh-ed25519 ")
    assert client.get(f"/api/v2/users/{member.username}/gitsshkey").json() == first
    (tmp_path / "k.pub").write_text(first["public_key"] + "\n")
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "k.pub")], capture_output=True, text=True
    )
    assert listed.stdout.split()[1] == first["fingerprint"]
    created = AuditEntry.objects.get(resource_type="git_ssh_key", action="create")
    assert created.additional_fields == {
        "owner": member.username,
        "fingerprint": first["fingerprint"],
    }
    assert "PRIVATE" not in repr(created.diff) + repr(created.additional_fields)


def test_regenerating_replaces_the_key_and_only_its_owner_may(owner, member, client_for):
    before = client_for(member).get("/api/v2/users/me/gitsshkey").json()
    r = client_for(owner).put(f"/api/v2/users/{member.username}/gitsshkey")
    assert r.status_code == 403
    assert client_for(member).get("/api/v2/users/me/gitsshkey").json() == before
    after = client_for(member).put("/api/v2/users/me/gitsshkey").json()
    assert after["public_key"] != before["public_key"]
    assert (
        after["created_at"] == before["created_at"] and after["updated_at"] > before["updated_at"]
    )
    entry = AuditEntry.objects.get(resource_type="git_ssh_key", action="write")
    assert entry.additional_fields["fingerprint"] == after["fingerprint"]
    assert entry.actor_id == member.pk

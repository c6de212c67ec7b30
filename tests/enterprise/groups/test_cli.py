"""`portal groups ...` against a live server: what a user admin does, what a member is told."""

from __future__ import annotations

import pytest

from enterprise.groups import services
from enterprise.groups.choices import GroupSource
from enterprise.groups.models import Group
from portal.accounts.choices import Role

# A live server flushes the database between tests, Everyone's row too: the fixture remakes it.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("everyone_group")]


def test_a_user_admin_creates_edits_fills_and_deletes_a_group(cli, make_user, member):
    admin = make_user(Role.USER_ADMIN, username="ursula")
    make_user(username="bob")
    cli.login(admin)

    out = cli.ok(
        "groups", "create", "platform", "--display-name", "Platform team", "--quota-allowance", "40"
    ).stdout
    assert out.strip() == "Created group platform."
    assert cli.ok("groups", "add-members", "platform", "alice", "bob").stdout.strip() == (
        "Added alice, bob to platform."
    )
    assert "All were already members" in cli.ok("groups", "add-members", "platform", "bob").stdout

    lines = cli.ok("groups", "list").stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "DISPLAY",
        "NAME",
        "SOURCE",
        "MEMBERS",
        "QUOTA",
        "ALLOWANCE",
    ]
    platform = next(line.split() for line in lines if line.startswith("platform"))
    assert platform[-3:] == ["user", "2", "40"]
    assert "everyone" in cli.ok("groups", "list").stdout

    members = cli.json("groups", "members", "platform")
    assert [m["username"] for m in members] == ["alice", "bob"]

    edited = cli.json(
        "groups", "edit", "platform", "--name", "platform-eng", "--quota-allowance", "5"
    )
    assert (edited["name"], edited["quota_allowance"]) == ("platform-eng", 5)
    out = cli.ok("groups", "remove-members", "platform-eng", "bob").stdout
    assert out.strip() == "Removed bob from platform-eng."

    rows = cli.json("groups", "list", "--search", "plat")
    assert [(g["name"], g["member_count"]) for g in rows] == [("platform-eng", 1)]
    assert cli.json("groups", "list", "--member", "bob") == [
        g for g in cli.json("groups", "list") if g["name"] == "everyone"
    ]

    result = cli("groups", "delete", "platform-eng")
    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert cli.ok("groups", "delete", "platform-eng", "--yes").stdout.strip() == (
        "Deleted group platform-eng."
    )
    assert not Group.objects.filter(name="platform-eng").exists()


def test_errors_are_sentences(cli, make_user, member, system):
    admin = make_user(Role.USER_ADMIN, username="ursula")
    cli.login(admin)
    idp = type("IdP", (), {"pk": None, "username": "SCIM (okta)", "is_authenticated": True,
                           "is_system": True, "is_active": True})()  # fmt: skip
    services.create_group(actor=idp, name="engineering", source=GroupSource.SCIM)
    services.create_group(actor=system, name="team")

    result = cli("groups", "add-members", "team", "alice", "nobody")
    assert result.returncode == 1
    assert "No such user: 'nobody'. Nothing was changed." in result.stderr

    result = cli("groups", "create", "Bad Name!")
    assert result.returncode == 1
    assert "name: Use 1-64 lowercase letters" in result.stderr

    result = cli("groups", "edit", "engineering", "--display-name", "Eng")
    assert result.returncode == 1
    assert "managed by SCIM provisioning" in result.stderr
    assert (
        cli.json("groups", "edit", "engineering", "--quota-allowance", "9")["quota_allowance"] == 9
    )

    result = cli("groups", "delete", "everyone", "--yes")
    assert result.returncode == 1
    assert "Everyone cannot be deleted" in result.stderr

    result = cli("groups", "edit", "team")
    assert result.returncode == 2
    assert "nothing to change" in result.stderr


def test_a_member_lists_their_groups_and_may_not_create(cli, member, system):
    team = services.create_group(actor=system, name="team", display_name="The team")
    services.add_members(team, [member], actor=system)
    services.create_group(actor=system, name="secret")
    cli.login(member)

    assert [g["name"] for g in cli.json("groups", "list")] == ["everyone", "team"]
    result = cli("groups", "create", "mine")
    assert result.returncode == 1
    assert "owner, user-admin" in result.stderr
    result = cli("groups", "members", "secret")
    assert result.returncode == 1
    assert "No group 'secret'." in result.stderr

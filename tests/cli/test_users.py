"""`portal users ...` against a live server: what an owner can do, and what a member is told."""

from __future__ import annotations

from portal.accounts.choices import Role
from tests.conftest import PASSWORD


def test_owner_lists_users_as_a_table_and_as_json(cli, owner, member, make_user):
    make_user(Role.AUDITOR, username="bob")
    cli.login(owner)

    lines = cli.ok("users", "list").stdout.splitlines()
    assert lines[0].split()[:3] == ["USERNAME", "NAME", "EMAIL"]
    assert [line.split()[0] for line in lines[1:]] == ["admin", "alice", "bob"]

    rows = cli.json("users", "list", "--role", "auditor")
    assert [u["username"] for u in rows] == ["bob"]
    assert cli.json("users", "list", "--search", "ALI")[0]["email"] == "alice@example.com"


def test_list_pages_through_the_server_and_notes_what_is_cut(cli, owner, make_user):
    for n in range(104):
        make_user(username=f"dev{n:03}")
    cli.login(owner)

    everyone = cli.json("users", "list")
    assert len(everyone) == 105
    assert len({u["username"] for u in everyone}) == 105

    result = cli("users", "list", "--limit", "102", "--output", "json")
    assert result.returncode == 0
    assert result.stdout.count('"username"') == 102
    assert "Showing 102 of 105 users" in result.stderr


def test_owner_creates_a_user_who_can_then_log_in(cli, owner, tmp_path):
    cli.login(owner)
    result = cli.ok(
        "users", "create", "carol", "--email", "carol@example.com", "--name", "Carol C",
        "--password", PASSWORD, "--role", "template-admin",
    )  # fmt: skip
    assert "Created user carol" in result.stdout
    carol = next(u for u in cli.json("users", "list") if u["username"] == "carol")
    assert carol["name"] == "Carol C"
    assert sorted(carol["roles"]) == ["member", "template-admin"]

    other = type(cli)(cli.url, tmp_path / "carol-home")
    assert "Logged in as carol" in other.ok("login", cli.url, "-u", "carol", "-p", PASSWORD).stdout


def test_create_reports_each_validation_error(cli, owner, member):
    cli.login(owner)
    result = cli("users", "create", "alice", "--email", "not-an-email", "--password", PASSWORD)
    assert result.returncode == 1
    assert "email: Enter a valid email address." in result.stderr


def test_create_conflict_names_the_field(cli, owner, member):
    cli.login(owner)
    result = cli("users", "create", "alice", "--email", "new@example.com", "-p", PASSWORD)
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert "username: 'alice' is already taken." in result.stderr


def test_create_without_password_needs_a_flag_or_another_login_type(cli, owner):
    cli.login(owner)
    result = cli("users", "create", "svc", "--email", "svc@example.com")
    assert result.returncode == 2
    assert "--password" in result.stderr

    result = cli.ok("users", "create", "svc", "--email", "svc@example.com", "--login-type", "none")
    svc = cli.json("users", "list", "--search", "svc")[0]
    assert svc["login_type"] == "none"


def test_suspend_locks_the_user_out_and_activate_lets_them_back(cli, owner, member, tmp_path):
    alice = type(cli)(cli.url, tmp_path / "alice-home")
    cli.login(owner)

    assert "Suspended alice" in cli.ok("users", "suspend", "alice", "--reason", "left").stdout
    assert cli.json("users", "list", "--status", "suspended")[0]["username"] == "alice"
    refused = alice("login", cli.url, "-u", "alice", "-p", PASSWORD)
    assert refused.returncode == 1
    assert "suspended" in refused.stderr

    assert "Activated alice" in cli.ok("users", "activate", "alice").stdout
    alice.login(member)


def test_set_roles(cli, owner, member):
    cli.login(owner)
    result = cli.ok("users", "roles", "alice", "--role", "auditor", "--role", "user-admin")
    assert "alice now has roles: auditor, member, user-admin" in result.stdout

    result = cli("users", "roles", "alice", "--role", "wizard")
    assert result.returncode == 1
    assert 'roles.0: "wizard" is not a valid choice.' in result.stderr


def test_member_is_told_they_may_not(cli, member, owner):
    cli.login(member)
    for args in (["users", "list"], ["users", "suspend", "admin"]):
        result = cli(*args)
        assert result.returncode == 1
        assert result.stderr.startswith("error: You are not allowed to do this")
        assert "it needs one of the roles" in result.stderr and "user-admin" in result.stderr


def test_unknown_user(cli, owner):
    cli.login(owner)
    result = cli("users", "suspend", "nobody")
    assert result.returncode == 1
    assert "No user 'nobody'" in result.stderr

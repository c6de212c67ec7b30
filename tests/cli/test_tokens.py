"""`portal tokens ...` against a live server: a token is shown once, listed, and revocable."""

from __future__ import annotations

from datetime import datetime, timedelta


def test_create_list_use_and_remove_a_token(cli, member):
    cli.login(member)
    result = cli.ok("tokens", "create", "--name", "ci", "--lifetime", "12h")
    secret = result.stdout.strip()
    assert "\n" not in secret  # stdout is the secret alone, for TOKEN=$(portal tokens create ...)
    assert "only time" in result.stderr

    [listed] = cli.json("tokens", "list")
    assert listed["name"] == "ci"
    assert "key" not in listed
    lifetime = datetime.fromisoformat(listed["expires_at"]) - datetime.fromisoformat(
        listed["created_at"]
    )
    assert abs(lifetime - timedelta(hours=12)) < timedelta(minutes=1)
    assert "ci" in cli.ok("tokens", "list").stdout

    env = {"PORTAL_SESSION_TOKEN": secret}
    assert cli.json("whoami", env=env)["username"] == "alice"

    assert "Removed token ci" in cli.ok("tokens", "remove", "ci").stdout
    assert cli.json("tokens", "list") == []
    result = cli("whoami", env=env)
    assert result.returncode == 1
    assert "revoked" in result.stderr


def test_remove_by_id_and_unknown_token(cli, member):
    cli.login(member)
    first = cli.json("tokens", "create", "--name", "first")
    cli.json("tokens", "create", "--name", "deploy key 1")
    cli.ok("tokens", "remove", first["key_id"])
    cli.ok("tokens", "remove", "deploy key 1")
    assert cli.json("tokens", "list") == []

    result = cli("tokens", "create", "--name", "deploy/1")
    assert result.returncode == 1
    assert "name: Use 1-64 letters" in result.stderr

    result = cli("tokens", "remove", "first")
    assert result.returncode == 1
    assert "You have no token 'first'" in result.stderr


def test_duplicate_name_and_bad_lifetime(cli, member):
    cli.login(member)
    cli.ok("tokens", "create", "--name", "ci")
    result = cli("tokens", "create", "--name", "ci")
    assert result.returncode == 1
    assert "already have a token named 'ci'" in result.stderr

    result = cli("tokens", "create", "--name", "x", "--lifetime", "3 fortnights")
    assert result.returncode == 2
    assert "e.g. 30d, 12h" in result.stderr

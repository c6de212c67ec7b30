"""`portal scim keys create|list|delete` against a live server."""

from __future__ import annotations

from tests.cli.conftest import cli  # noqa: F401  (the live-server CLI fixture)
from tests.enterprise.scim.conftest import ScimClient


def test_create_list_and_delete_a_key(cli, owner):  # noqa: F811
    cli.login(owner)
    result = cli.ok("scim", "keys", "create", "okta")
    secret = result.stdout.strip()
    assert secret.startswith("scim_") and "\n" not in secret
    assert "/scim/v2" in result.stderr and "only time" in result.stderr
    assert [k["name"] for k in cli.json("scim", "keys", "list")] == ["okta"]
    assert "okta" in cli.ok("scim", "keys", "list").stdout
    assert "Revoked SCIM key okta" in cli.ok("scim", "keys", "delete", "okta").stdout
    assert cli.json("scim", "keys", "list") == []
    result = cli("scim", "keys", "delete", "okta")
    assert result.returncode == 1 and "No live SCIM key named 'okta'" in result.stderr
    assert ScimClient(secret).get("/Users").status_code == 401


def test_a_member_may_not_create_keys(cli, member):  # noqa: F811
    cli.login(member)
    result = cli("scim", "keys", "create", "mine")
    assert result.returncode == 1 and "owner" in result.stderr

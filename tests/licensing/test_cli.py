"""`portal licenses` and `portal features` against a live server."""

from __future__ import annotations

import pytest

from licensing.models import License
from portal.accounts.choices import Role
from tests.cli.conftest import CLI

pytestmark = pytest.mark.django_db(transaction=True)


def test_owner_adds_lists_and_deletes_licenses(cli: CLI, owner, sign, tmp_path):
    cli.login(owner)
    path = tmp_path / "license.jwt"
    path.write_text(sign(features={"scim": 1, "user_limit": 5}) + "\n")
    assert cli.ok("licenses", "add", str(path)).stdout.startswith("Added license ")
    added = cli.ok("licenses", "add", input=sign(all_features=True, trial=True))
    assert "(all)" in added.stdout

    lines = cli.ok("licenses", "list").stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "ACCOUNT", "FEATURES"]
    assert "scim, user_limit=5" in lines[1] and "all" in lines[2]
    rows = cli.json("licenses", "list")
    assert [r["claims"]["trial"] for r in rows] == [False, True]

    table = cli.ok("features", "list").stdout
    assert any(line.split()[:3] == ["scim", "entitled", "yes"] for line in table.splitlines())
    assert cli.json("features", "list")["has_license"] is True

    assert cli.ok("licenses", "delete", str(rows[0]["id"])).stdout == (
        f"Deleted license {rows[0]['id']}.\n"
    )
    assert License.objects.count() == 1


def test_a_refused_license_says_why(cli: CLI, owner, sign):
    cli.login(owner)
    result = cli("licenses", "add", "-", input=sign(kid="nobody"))
    assert result.returncode == 1
    assert "license: The license is signed with key 'nobody'" in result.stderr
    assert cli("licenses", "add", input="").stderr == (
        "error: no license given: pass its file, or pipe it in.\n"
    )


def test_a_member_is_told_which_role_is_needed(cli: CLI, make_user, sign):
    cli.login(make_user(Role.MEMBER, username="mem"))
    result = cli("licenses", "add", input=sign())
    assert result.returncode == 1
    assert "it needs one of the roles owner" in result.stderr

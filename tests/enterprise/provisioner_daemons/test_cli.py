"""`portal provisioner keys create|list|revoke` and `portal provisioner list`, live server."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.cli.conftest import cli  # noqa: F401  (the live-server CLI fixture)


def test_create_list_and_revoke_a_key_and_list_the_daemons(cli, owner):  # noqa: F811
    cli.login(owner)
    result = cli.ok("provisioner", "keys", "create", "iso", "--tag", "pool=iso")
    secret = result.stdout.strip()
    assert secret.startswith("pk_") and "\n" not in secret
    assert "only time" in result.stderr and "portal provisionerd start" in result.stderr
    listed = cli.json("provisioner", "keys", "list")
    assert [(k["name"], k["tags"]) for k in listed] == [("iso", {"pool": "iso"})]
    assert "pool=iso" in cli.ok("provisioner", "keys", "list").stdout

    daemon = APIClient()
    daemon.credentials(HTTP_PORTAL_PROVISIONER_KEY=secret)
    served = daemon.post("/api/v2/provisionerdaemons/serve/acquire", {"name": "d"}, format="json")
    assert served.status_code == 200
    table = cli.ok("provisioner", "list").stdout
    assert "provisionerd:iso:d" in table and "external" in table and "online" in table
    # Which provisioners could take a job with these tags.
    assert [d["name"] for d in cli.json("provisioner", "list", "--tag", "pool=iso")] == [
        "provisionerd:iso:d"
    ]
    assert cli.json("provisioner", "list", "--tag", "pool=gpu") == []

    assert "Revoked provisioner key iso" in cli.ok("provisioner", "keys", "revoke", "iso").stdout
    assert cli.json("provisioner", "keys", "list") == []
    result = cli("provisioner", "keys", "revoke", "iso")
    assert result.returncode == 1 and "No live provisioner key named 'iso'" in result.stderr


def test_a_bad_tag_and_a_member_are_refused(cli, member):  # noqa: F811
    cli.login(member)
    result = cli("provisioner", "keys", "create", "mine", "--tag", "novalue")
    assert result.returncode != 0 and "KEY=VALUE" in result.stderr
    result = cli("provisioner", "keys", "create", "mine")
    assert result.returncode == 1 and "owner" in result.stderr.lower()

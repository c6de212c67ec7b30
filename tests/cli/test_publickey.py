"""`portal publickey [--reset]` against a live server."""

from __future__ import annotations

import pytest

from portal.accounts.models import GitSSHKey

pytestmark = pytest.mark.django_db(transaction=True)


def test_prints_the_key_and_reset_replaces_it_only_when_confirmed(cli, member):
    cli.login(member)
    shown = cli.ok("publickey")
    key = GitSSHKey.objects.get(user=member)
    assert shown.stdout.strip() == key.public_key
    assert "Fingerprint SHA256:" in shown.stderr
    refused = cli("publickey", "--reset")  # no terminal to ask on
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert cli.ok("publickey").stdout == shown.stdout
    reset = cli.ok("publickey", "--reset", "--yes")
    assert reset.stdout.strip() != shown.stdout.strip()
    assert reset.stdout.strip() == GitSSHKey.objects.get(user=member).public_key
    assert cli.json("publickey")["public_key"] == reset.stdout.strip()
    assert cli("publickey", "--yes").returncode == 2

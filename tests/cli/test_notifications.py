"""`portal notifications list/read/preferences/test` against a live server."""

from __future__ import annotations

import pytest

from portal.notifications import services
from portal.notifications.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)

FAILED = {"workspace": "dev", "transition": "start", "error": "exit 1"}


def test_list_read_and_read_all(cli, member):
    first = services.notify("build_failed", member, context=FAILED)
    services.notify("build_failed", member, context={**FAILED, "workspace": "web"})
    cli.login(member)
    shown = cli.ok("notifications", "list")
    assert "Start of web failed" in shown.stdout and "Start of dev failed" in shown.stdout
    assert "2 unread of 2." in shown.stderr
    assert cli.ok("notifications", "read", str(first.pk)).stdout.strip() == (
        "Start of dev failed: read."
    )
    unread = cli.json("notifications", "list", "--unread")
    assert [r["title"] for r in unread["results"]] == ["Start of web failed"]
    assert cli.ok("notifications", "read", "--all").stdout.strip() == "Marked 1 notifications read."
    assert not Notification.objects.filter(user=member, read_at__isnull=True).exists()
    usage = cli("notifications", "read")
    assert usage.returncode == 2 and "--all" in usage.stderr
    missing = cli("notifications", "read", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode != 0 and "No such notification." in missing.stderr


def test_preferences_disable_enable_and_the_refusal(cli, member):
    cli.login(member)
    table = cli.ok("notifications", "preferences", "--disable", "build_failed:email")
    line = next(x for x in table.stdout.splitlines() if x.startswith("build_failed"))
    assert line.split() == ["build_failed", "on", "off", "on"]
    assert services.chosen_methods(member, "build_failed") == {"inbox", "webhook"}
    cli.ok("notifications", "preferences", "--enable", "build_failed")
    assert services.chosen_methods(member, "build_failed") == {"inbox", "email", "webhook"}
    refused = cli("notifications", "preferences", "--disable", "account_suspended")
    assert refused.returncode != 0 and "cannot be turned off" in refused.stderr


def test_test_is_for_owners_and_says_what_each_method_did(cli, owner, member):
    cli.login(owner)
    said = cli.ok("notifications", "test").stdout
    assert "inbox: sent" in said
    assert "email: off: PORTAL_EMAIL_HOST is not set" in said
    assert Notification.objects.filter(user=owner, kind="test").exists()
    cli.login(member)
    refused = cli("notifications", "test")
    assert refused.returncode != 0 and "owner" in refused.stderr

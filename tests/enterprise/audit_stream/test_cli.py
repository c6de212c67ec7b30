"""`portal audit streams` against a live server."""

from __future__ import annotations

from enterprise.audit_stream import delivery
from tests.cli.conftest import cli  # noqa: F401  (the live-server CLI fixture)


def test_an_auditor_lists_the_streams(cli, make_user, webhook, record):  # noqa: F811
    auditor = make_user("auditor")
    cli.login(auditor)
    delivery.deliver_all()
    webhook.stop()
    record(3)
    delivery.deliver_all()
    [stream] = cli.json("audit", "streams")
    assert stream["name"] == "webhook" and stream["backlog"] == 3
    table = cli.ok("audit", "streams").stdout
    assert "webhook" in table and "BACKLOG" in table and "Connection refused" in table


def test_a_member_is_told_who_may(cli, member, webhook):  # noqa: F811
    cli.login(member)
    result = cli("audit", "streams")
    assert result.returncode == 1 and "auditor" in result.stderr

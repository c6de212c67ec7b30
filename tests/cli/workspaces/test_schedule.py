"""`portal schedule show|start|stop|extend` against a live server (the fake provisioner builds)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from portal.audit.models import AuditEntry
from tests.cli.workspaces.conftest import latest_build, make_workspace, wait_for
from workspaces.choices import JobStatus
from workspaces.models import Workspace


def test_schedule_commands_set_show_extend_and_refuse_bad_input(
    cli, member, make_user, template, provisioner
):
    ws = make_workspace(member, template)
    wait_for(lambda: latest_build("dev").job.status == JobStatus.SUCCEEDED)
    cli.login(member)

    out = cli.ok("schedule", "start", "dev", "0 9 * * 1-5", "--tz", "Europe/Berlin")
    assert "dev starts next at" in out.stdout and "Europe/Berlin" in out.stdout
    ws.refresh_from_db()
    assert ws.autostart_schedule == "CRON_TZ=Europe/Berlin 0 9 * * 1-5"

    bad = cli("schedule", "start", "dev", "0 25 * * *")
    assert bad.returncode != 0 and "hour field '25'" in bad.stderr
    bad = cli("schedule", "start", "dev", "0 9 * * *", "--tz", "Mars/Olympus")
    assert bad.returncode != 0 and "Mars/Olympus" in bad.stderr

    out = cli.ok("schedule", "stop", "dev", "8h")
    assert "dev stops 8h after each start." in out.stdout
    ws.refresh_from_db()
    assert ws.ttl_seconds == 8 * 3600
    assert cli("schedule", "stop", "dev", "eight hours").returncode == 2

    # The running build had no TTL when it started: extend gives it a deadline 2h from now.
    out = cli.ok("schedule", "extend", "dev", "2h")
    assert "dev now stops at" in out.stdout
    deadline = latest_build("dev").deadline
    assert abs(deadline - timezone.now() - timedelta(hours=2)) < timedelta(minutes=1)
    too_soon = cli("schedule", "extend", "dev", "5m")
    assert too_soon.returncode != 0 and "at least 30 minutes" in too_soon.stderr

    shown = cli.ok("schedule", "show", "dev").stdout
    assert "STARTS AT" in shown and "Europe/Berlin" in shown and "8h" in shown
    assert "(in 1h59m)" in shown or "(in 2h)" in shown
    rows = cli.json("schedule", "show")
    assert rows[0]["autostart_schedule"] == "CRON_TZ=Europe/Berlin 0 9 * * 1-5"
    assert rows[0]["ttl_ms"] == 8 * 3600 * 1000

    cli.ok("schedule", "start", "dev", "manual")
    cli.ok("schedule", "stop", "dev", "manual")
    ws.refresh_from_db()
    assert (ws.autostart_schedule, ws.ttl_seconds) == ("", None)
    assert AuditEntry.objects.filter(resource_type="workspace", action="write").count() == 5

    # Someone else's workspace: not found, unchanged.
    mallory = make_user(username="mallory")
    cli.login(mallory)
    refused = cli("schedule", "stop", "alice/dev", "1h")
    assert refused.returncode != 0
    assert Workspace.objects.get(pk=ws.pk).ttl_seconds is None


def test_templates_edit_sets_the_scheduling_policy(cli, owner, member, template):
    cli.login(owner)
    out = cli.ok(
        "templates",
        "edit",
        "dev-env",
        "--default-ttl",
        "8h",
        "--max-ttl",
        "12h",
        "--autostart-days",
        "monday,friday",
        "--no-allow-user-autostop",
    )
    assert "default TTL 8h" in out.stdout and "max lifetime 12h" in out.stdout
    assert "autostart days monday, friday" in out.stdout
    template.refresh_from_db()
    assert template.default_ttl_seconds == 8 * 3600
    assert (template.autostart_days, template.allow_user_autostop) == ([0, 4], False)
    assert cli("templates", "edit", "dev-env", "--max-ttl", "soon").returncode == 2

    cli.login(member)
    refused = cli("templates", "edit", "dev-env", "--default-ttl", "1h")
    assert refused.returncode != 0
    template.refresh_from_db()
    assert template.default_ttl_seconds == 8 * 3600

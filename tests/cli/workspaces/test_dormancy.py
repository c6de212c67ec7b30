"""`portal reactivate`, dormancy in `portal show`/`list`, and `portal templates edit`'s cleanup
flags, against a live server (the fake provisioner builds)."""

from __future__ import annotations

from portal.accounts.services import system_actor
from tests.cli.workspaces.conftest import latest_build, make_workspace, wait_for
from workspaces import dormancy
from workspaces.choices import JobStatus
from workspaces.models import Workspace


def test_a_dormant_workspace_refuses_start_until_reactivated(
    cli, member, make_user, owner, template, provisioner
):
    cli.login(owner)
    out = cli.ok(
        "templates",
        "edit",
        "dev-env",
        "--failure-ttl",
        "24h",
        "--dormancy-threshold",
        "30d",
        "--dormancy-auto-deletion",
        "7d",
    )
    assert "failure cleanup 1d" in out.stdout and "dormant after 30d" in out.stdout
    assert "deleted when dormant 7d" in out.stdout
    template.refresh_from_db()
    assert (
        template.failure_ttl_seconds,
        template.time_til_dormant_seconds,
        template.time_til_dormant_autodelete_seconds,
    ) == (86400, 30 * 86400, 7 * 86400)
    assert cli("templates", "edit", "dev-env", "--dormancy-threshold", "soon").returncode == 2

    ws = make_workspace(member, template)
    wait_for(lambda: latest_build("dev").job.status == JobStatus.SUCCEEDED)
    cli.login(member)
    cli.ok("stop", "dev")
    dormancy.set_dormant(ws, actor=system_actor(), dormant=True)

    shown = cli.ok("show", "dev").stdout
    assert "Dormant:" in shown and "portal reactivate dev" in shown and "deleted at" in shown
    assert "(dormant)" in cli.ok("list").stdout
    refused = cli("start", "dev")
    assert refused.returncode != 0 and "is dormant: reactivate it first" in refused.stderr

    mallory = make_user(username="mallory")
    cli.login(mallory)
    assert cli("reactivate", "alice/dev").returncode != 0
    assert Workspace.objects.get(pk=ws.pk).dormant_at is not None

    cli.login(member)
    out = cli.ok("reactivate", "dev")
    assert "Reactivated" in out.stdout
    assert Workspace.objects.get(pk=ws.pk).dormant_at is None
    assert "not dormant" in cli.ok("reactivate", "dev").stdout
    cli.ok("start", "dev")

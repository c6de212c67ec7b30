"""`portal port-share list|add|remove` against a live server (the fake provisioner builds)."""

from __future__ import annotations

from portal.audit.models import AuditEntry
from tests.cli.workspaces.conftest import latest_build, make_workspace, wait_for
from workspaces.choices import JobStatus
from workspaces.models import WorkspacePortShare


def test_port_share_adds_lists_changes_and_removes_a_share(cli, member, template, provisioner):
    ws = make_workspace(member, template)
    wait_for(lambda: latest_build("dev").job.status == JobStatus.SUCCEEDED)
    cli.login(member)

    out = cli.ok("port-share", "add", "dev", "8080", "--level", "public")
    assert "Port 8080 of dev is shared (public)" in out.stdout
    share = WorkspacePortShare.objects.get(workspace=ws)
    assert (share.port, share.share_level) == (8080, "public")

    cli.ok("port-share", "add", "dev", "8080")  # authenticated by default
    rows = cli.json("port-share", "list", "dev")
    assert [(r["port"], r["share_level"]) for r in rows] == [(8080, "authenticated")]
    assert "8080" in cli.ok("port-share", "list", "dev").stdout

    bad = cli("port-share", "add", "dev", "70000")
    assert bad.returncode == 2 and "70000" in bad.stderr
    template.max_port_share_level = "authenticated"
    template.save(update_fields=["max_port_share_level"])
    refused = cli("port-share", "add", "dev", "8080", "--level", "public")
    assert refused.returncode != 0 and "up to 'authenticated'" in refused.stderr

    out = cli.ok("port-share", "remove", "dev", "8080")
    assert "no longer shared" in out.stdout
    assert not WorkspacePortShare.objects.exists()
    again = cli("port-share", "remove", "dev", "8080")
    assert again.returncode != 0 and "is not shared" in again.stderr
    actions = AuditEntry.objects.filter(resource_type="workspace_port_share")
    assert sorted(actions.values_list("action", flat=True)) == ["create", "delete", "write"]

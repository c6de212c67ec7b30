"""Dormancy with real builds of the `local` example template: an unused running workspace is
made dormant and stopped (its agent process ends), then deleted when its time comes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal import config
from templates_app import scheduling
from tests.provisioning.conftest import alive, make_template, run_job
from tests.provisioning.test_lifecycle import agent_pid, wait_dead
from workspaces import schedule_pass, services
from workspaces.choices import BuildReason, BuildTransition, JobStatus, WorkspaceStatus
from workspaces.management.commands.ensure_starter_template import EXAMPLES, pack
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db(transaction=True)


def test_unused_workspace_goes_dormant_stops_and_is_deleted(transactional_db, owner, member):
    template = make_template(owner, "local", pack(EXAMPLES / "local"))
    scheduling.update_schedule_policy(
        template,
        actor=owner,
        time_til_dormant_seconds=30 * 86400,
        time_til_dormant_autodelete_seconds=7 * 86400,
    )
    ws = services.create_workspace(
        actor=member, owner=member, template=template, name="dev", parameters={}
    )
    assert run_job(ws.latest_build.job_id).status == JobStatus.SUCCEEDED
    pid = agent_pid(config.load().data_dir / "builds" / "workspaces" / str(ws.id))
    assert alive(pid)
    Workspace.objects.filter(pk=ws.pk).update(last_used_at=timezone.now() - timedelta(days=31))

    result = schedule_pass.run_pass()
    assert result.dormant == [ws.id]
    ws.refresh_from_db()
    stop = ws.latest_build
    assert (stop.transition, stop.reason) == (BuildTransition.STOP, BuildReason.DORMANCY)
    assert run_job(stop.job_id).status == JobStatus.SUCCEEDED
    assert wait_dead(pid), "the dormancy stop left the agent running"
    with pytest.raises(Exception, match="dormant"):
        services.create_build(ws, actor=member, transition=BuildTransition.START)

    result = schedule_pass.run_pass(now=ws.deleting_at + timedelta(seconds=1))
    assert result.deleted == [ws.id]
    ws.refresh_from_db()
    delete = ws.latest_build
    assert (delete.transition, delete.reason) == (BuildTransition.DELETE, BuildReason.DORMANCY)
    assert run_job(delete.job_id).status == JobStatus.SUCCEEDED
    ws.refresh_from_db()
    assert ws.deleted_at is not None and ws.status == WorkspaceStatus.DELETED

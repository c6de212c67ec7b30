"""The scheduler with real builds of the `local` example template: autostop, then autostart."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal import config
from tests.provisioning.conftest import alive, make_template, run_job
from tests.provisioning.test_lifecycle import agent_pid, wait_dead
from workspaces import schedule_pass, schedule_services, services
from workspaces.choices import BuildReason, JobStatus, WorkspaceStatus
from workspaces.management.commands.ensure_starter_template import EXAMPLES, pack

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def data_dir():
    return config.load().data_dir


@pytest.fixture
def local_template(transactional_db, owner):
    return make_template(owner, "local", pack(EXAMPLES / "local"))


def test_autostop_at_the_deadline_then_autostart_at_its_time(local_template, member, data_dir):
    ws = services.create_workspace(
        actor=member, owner=member, template=local_template, name="dev", parameters={}
    )
    schedule_services.set_ttl(ws, actor=member, ttl_seconds=3600)
    assert run_job(ws.latest_build.job_id).status == JobStatus.SUCCEEDED
    ws.refresh_from_db()
    start = ws.latest_build
    assert ws.status == WorkspaceStatus.RUNNING and start.deadline is not None
    pid = agent_pid(data_dir / "builds" / "workspaces" / str(ws.id))
    assert alive(pid)

    result = schedule_pass.run_pass(now=start.deadline + timedelta(seconds=1))
    assert result.stopped == [ws.id]
    ws.refresh_from_db()
    stop = ws.latest_build
    assert stop.reason == BuildReason.AUTOSTOP
    assert run_job(stop.job_id).status == JobStatus.SUCCEEDED
    assert wait_dead(pid), "autostop left the agent running"
    ws.refresh_from_db()
    assert ws.status == WorkspaceStatus.STOPPED

    at = start.deadline + timedelta(minutes=1)
    schedule_services.set_autostart(ws, actor=member, schedule_text="*/15 * * * *", now=at)
    ws.refresh_from_db()
    result = schedule_pass.run_pass(now=ws.next_autostart_at + timedelta(seconds=5))
    assert result.started == [ws.id]
    ws.refresh_from_db()
    again = ws.latest_build
    assert (again.transition, again.reason) == ("start", BuildReason.AUTOSTART)
    assert again.template_version_id == start.template_version_id
    assert run_job(again.job_id).status == JobStatus.SUCCEEDED
    ws.refresh_from_db()
    assert ws.status == WorkspaceStatus.RUNNING
    assert ws.latest_build.deadline is not None

    delete = services.create_build(ws, actor=member, transition="delete")
    assert run_job(delete.job_id).status == JobStatus.SUCCEEDED

"""Who sends what: a failed build, a suspension, a workspace about to stop and one stopped by its
schedule each tell the user once. Builds end through the provisioning code a worker runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts import services as accounts
from portal.accounts.services import system_actor
from portal.notifications.models import Notification
from tests.workspaces.helpers import buildable_template
from workspaces import schedule_notices, schedule_pass, schedule_services, services
from workspaces.builds import jobs, provisioning
from workspaces.models import WorkspaceBuild
from workspaces.provisioner.protocol import JobResult, RunResult

pytestmark = pytest.mark.django_db
WORKER = "notice-worker"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Build jobs are not sent to a broker here: the test ends them itself."""
    from workspaces.builds import dispatch

    monkeypatch.setattr(dispatch, "enqueue", lambda job: None)


def _end(build, run: RunResult) -> str:
    assert jobs.acquire(WORKER, job_id=build.job_id) is not None
    if run.canceled:
        jobs.request_cancel(build.job_id)
    return provisioning.finish_build(build.job_id, WORKER, JobResult(run=run), actor=system_actor())


def _workspace(member, name="dev"):
    return services.create_workspace(
        actor=member, owner=member, template=buildable_template(), name=name
    )


def _kinds(user) -> list[str]:
    return list(Notification.objects.filter(user=user).values_list("kind", flat=True))


def test_a_failed_build_notifies_its_owner_once(member, django_capture_on_commit_callbacks):
    build = _workspace(member).latest_build
    with django_capture_on_commit_callbacks(execute=True):
        assert _end(build, RunResult(ok=False, error="terraform apply: exit 1")) == "failed"
    [notice] = Notification.objects.filter(user=member)
    assert (notice.kind, notice.title) == ("build_failed", "Start of dev failed")
    assert notice.body == "The start build of your workspace dev failed: terraform apply: exit 1"
    assert notice.link == f"/workspaces/{member.username}/dev"
    # The hook called again for the same build (a reaped build reported twice): still one.
    from workspaces import notices

    notices.notify_build_failed(build, status="failed")
    assert Notification.objects.filter(user=member).count() == 1


def test_a_build_that_could_not_run_notifies(member, django_capture_on_commit_callbacks):
    build = _workspace(member).latest_build
    assert jobs.acquire(WORKER, job_id=build.job_id) is not None
    with django_capture_on_commit_callbacks(execute=True):
        provisioning.fail_job(build.job_id, WORKER, error="no terraform", actor=system_actor())
    assert Notification.objects.get(user=member).body.endswith("failed: no terraform")


def test_succeeded_and_canceled_builds_notify_nobody(member, django_capture_on_commit_callbacks):
    ok = _workspace(member, "ok").latest_build
    canceled = _workspace(member, "gone").latest_build
    with django_capture_on_commit_callbacks(execute=True):
        _end(ok, RunResult(ok=True))
        _end(canceled, RunResult(ok=True, canceled=True))
        services.cancel_build(
            services.create_build(ok.workspace, actor=member, transition="stop"), actor=member
        )
    assert _kinds(member) == []


def test_suspension_notifies_the_user(member, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        accounts.suspend_user(member, actor=owner, reason="left the company")
    [notice] = Notification.objects.filter(user=member)
    assert notice.kind == "account_suspended"
    assert notice.body == (
        f"Your Portal account {member.username} was suspended: left the company."
    )
    with django_capture_on_commit_callbacks(execute=True):
        accounts.activate_user(member, actor=owner)
    assert Notification.objects.filter(user=member).count() == 1


def _running(member, ttl_hours=8):
    ws = _workspace(member)
    schedule_services.set_ttl(ws, actor=member, ttl_seconds=ttl_hours * 3600)
    _end(ws.latest_build, RunResult(ok=True))
    ws.refresh_from_db()
    return ws


def test_autostop_soon_is_sent_once_per_build(member, settings):
    settings.PORTAL_AUTOSTOP_NOTICE_MINUTES = 30
    ws = _running(member)
    build = WorkspaceBuild.objects.get(pk=ws.latest_build_id)
    deadline = build.deadline
    assert schedule_notices.send_autostop_soon(now=deadline - timedelta(minutes=31)) == 0
    assert schedule_notices.send_autostop_soon(now=deadline - timedelta(minutes=29)) == 1
    assert schedule_notices.send_autostop_soon(now=deadline - timedelta(minutes=10)) == 0
    [notice] = Notification.objects.filter(user=member)
    assert notice.kind == "workspace_autostop_soon"
    assert notice.title == f"dev will stop at {deadline.strftime('%Y-%m-%d %H:%M')} UTC"
    # Extended, then due again: the same build is not told twice.
    schedule_services.extend_deadline(
        ws, actor=member, deadline=timezone.now() + timedelta(hours=3)
    )
    later = WorkspaceBuild.objects.get(pk=build.pk).deadline
    assert schedule_notices.send_autostop_soon(now=later - timedelta(minutes=5)) == 0
    # The next start build is a new one: told again.
    stop = services.create_build(ws, actor=member, transition="stop")
    _end(stop, RunResult(ok=True))
    start = services.create_build(ws, actor=member, transition="start")
    _end(start, RunResult(ok=True))
    deadline = WorkspaceBuild.objects.get(pk=start.pk).deadline
    assert schedule_notices.send_autostop_soon(now=deadline - timedelta(minutes=1)) == 1


def test_the_scheduler_stopping_a_workspace_tells_its_owner(member):
    ws = _running(member)
    deadline = WorkspaceBuild.objects.get(pk=ws.latest_build_id).deadline
    result = schedule_pass.run_pass(now=deadline + timedelta(seconds=30))
    assert result.stopped == [ws.id]
    [notice] = Notification.objects.filter(user=member)
    assert (notice.kind, notice.title) == (
        "workspace_autostopped",
        "dev was stopped by its schedule",
    )

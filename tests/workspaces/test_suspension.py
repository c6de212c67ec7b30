"""Suspending a user stops their running workspaces (the user_status_changed hook)."""

from __future__ import annotations

import pytest

from portal import hooks
from portal.accounts import services as accounts
from portal.accounts.choices import SYSTEM_USERNAME
from portal.accounts.services import system_actor
from tests.workspaces.helpers import buildable_template
from workspaces import services
from workspaces.builds import jobs, provisioning
from workspaces.choices import BuildTransition
from workspaces.models import Workspace
from workspaces.provisioner.protocol import JobResult, RunResult

pytestmark = pytest.mark.django_db
WORKER = "suspension-worker"


def _running(owner, name: str) -> Workspace:
    workspace = services.create_workspace(
        actor=owner, owner=owner, template=buildable_template(), name=name, parameters={}
    )
    build = workspace.latest_build
    assert jobs.acquire(WORKER, job_id=build.job_id) is not None
    provisioning.finish_build(
        build.job_id, WORKER, JobResult(run=RunResult(ok=True)), actor=system_actor()
    )
    return Workspace.objects.get(pk=workspace.pk)


def test_suspending_a_user_queues_a_stop_for_each_running_workspace(
    member, owner, django_capture_on_commit_callbacks
):
    first, second = _running(member, "one"), _running(member, "two")
    with django_capture_on_commit_callbacks(execute=True):
        accounts.suspend_user(member, actor=owner, reason="left the company")
    for workspace in (first, second):
        workspace.refresh_from_db()
        build = workspace.latest_build
        assert build.transition == BuildTransition.STOP
        assert build.initiator.username == SYSTEM_USERNAME
    assert Workspace.objects.filter(owner=member, deleted_at__isnull=True).count() == 2


def test_reactivating_stops_nothing_and_the_hook_hears_every_change(
    member, owner, django_capture_on_commit_callbacks
):
    heard = []

    def listen(user, *, old, new, actor):
        heard.append((user.username, old, new, actor.username))

    hooks.user_status_changed.register(listen)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            accounts.suspend_user(member, actor=owner)
        workspace = _running(owner, "kept")
        with django_capture_on_commit_callbacks(execute=True):
            accounts.activate_user(member, actor=owner)
    finally:
        hooks.user_status_changed.unregister(listen)
    assert heard == [
        (member.username, "active", "suspended", owner.username),
        (member.username, "suspended", "active", owner.username),
    ]
    workspace.refresh_from_db()
    assert workspace.latest_build.transition == BuildTransition.START

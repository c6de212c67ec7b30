"""The build hooks: what pre_build and build_finished handlers receive, and when they run."""

from __future__ import annotations

import pytest

from portal import hooks
from portal.accounts.services import system_actor
from portal.errors import Conflict
from tests.workspaces.helpers import buildable_template
from workspaces import services
from workspaces.builds import jobs, provisioning
from workspaces.choices import BuildReason, BuildTransition, JobStatus
from workspaces.models import ProvisionerJob, Workspace
from workspaces.provisioner.protocol import JobResult, RunResult

pytestmark = pytest.mark.django_db
WORKER = "hook-worker"


@pytest.fixture
def template():
    template = buildable_template()
    template.active_version.daily_cost = 42
    template.active_version.save(update_fields=["daily_cost"])
    return template


@pytest.fixture
def hook():
    """Register a handler on a hook for the test's duration."""
    registered = []

    def register(on, handler):
        on.register(handler)
        registered.append((on, handler))
        return handler

    yield register
    for on, handler in registered:
        on.unregister(handler)


@pytest.fixture
def finished(hook) -> list:
    calls: list = []
    hook(hooks.build_finished, lambda build, *, status: calls.append((build.id, status)))
    return calls


def _create(member, template):
    return services.create_workspace(
        actor=member, owner=member, template=template, name="dev", parameters={}
    )


def test_pre_build_handlers_see_the_version_and_its_daily_cost(member, template, hook):
    seen = []

    def check(workspace, transition, *, actor, version, daily_cost):
        seen.append((workspace.name, transition, actor, version, daily_cost))

    hook(hooks.pre_build, check)
    ws = _create(member, template)
    ProvisionerJob.objects.filter(pk=ws.latest_build.job_id).update(status=JobStatus.SUCCEEDED)
    services.create_build(ws, actor=member, transition=BuildTransition.STOP)
    version = template.active_version
    assert seen == [("dev", "start", member, version, 42), ("dev", "stop", member, version, 42)]


def test_a_refusing_pre_build_handler_is_a_clear_4xx_and_writes_nothing(
    member, client_for, template, hook
):
    def quota(workspace, transition, *, actor, version, daily_cost):
        if daily_cost > 40:
            raise Conflict(
                "Workspace quota exceeded.", detail=f"{version.name} costs {daily_cost} a day."
            )

    hook(hooks.pre_build, quota)
    r = client_for(member).post(
        "/api/v2/workspaces",
        {"template_id": str(template.id), "name": "dev"},
        format="json",
    )
    assert r.status_code == 409, r.content
    assert r.json()["message"] == "Workspace quota exceeded."
    assert r.json()["detail"] == f"{template.active_version.name} costs 42 a day."
    assert not Workspace.objects.exists()
    assert not ProvisionerJob.objects.exists()


def _run(build, outcome: RunResult) -> str:
    assert jobs.acquire(WORKER, job_id=build.job_id) is not None
    if outcome.canceled:
        jobs.request_cancel(build.job_id)
    return provisioning.finish_build(
        build.job_id, WORKER, JobResult(run=outcome), actor=system_actor()
    )


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (RunResult(ok=True), JobStatus.SUCCEEDED),
        (RunResult(ok=False, error="boom"), JobStatus.FAILED),
        (RunResult(ok=True, canceled=True), JobStatus.CANCELED),
    ],
)
def test_build_finished_fires_once_after_the_build_ends(
    member, template, finished, outcome, status, django_capture_on_commit_callbacks
):
    build = _create(member, template).latest_build
    with django_capture_on_commit_callbacks(execute=True):
        assert _run(build, outcome) == status
        assert finished == []  # not before the end is committed
    assert finished == [(build.id, status)]


def test_build_finished_fires_for_a_build_canceled_before_it_ran(
    member, template, finished, django_capture_on_commit_callbacks
):
    build = _create(member, template).latest_build
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_build(build, actor=member)
    assert finished == [(build.id, JobStatus.CANCELED)]
    # Asking the provisioner of a running build to stop ends nothing yet.
    running = services.create_build(build.workspace, actor=member, transition=BuildTransition.START)
    assert jobs.acquire(WORKER, job_id=running.job_id) is not None
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_build(running, actor=member)
    assert finished == [(build.id, JobStatus.CANCELED)]


def test_build_finished_fires_for_builds_portal_could_not_run(
    member, template, finished, django_capture_on_commit_callbacks
):
    build = _create(member, template).latest_build
    assert jobs.acquire(WORKER, job_id=build.job_id) is not None
    with django_capture_on_commit_callbacks(execute=True):
        provisioning.fail_job(build.job_id, WORKER, error="no terraform", actor=system_actor())
    assert finished == [(build.id, JobStatus.FAILED)]


def test_build_finished_fires_for_builds_the_reaper_failed(
    member, template, finished, django_capture_on_commit_callbacks
):
    build = _create(member, template).latest_build
    assert jobs.acquire(WORKER, job_id=build.job_id) is not None
    with django_capture_on_commit_callbacks(execute=True):
        failed = jobs.fail_orphaned(WORKER, "worker restarted")
        provisioning.audit_lost_builds(failed, reason=BuildReason.REAPER, actor=system_actor())
    assert finished == [(build.id, JobStatus.FAILED)]


def test_a_failing_build_finished_handler_leaves_the_build_finished(
    member, template, hook, finished, django_capture_on_commit_callbacks
):
    def broken(build, *, status):
        raise RuntimeError("handler bug")

    hook(hooks.build_finished, broken)
    build = _create(member, template).latest_build
    with django_capture_on_commit_callbacks(execute=True):
        _run(build, RunResult(ok=True))
    build.job.refresh_from_db()
    assert build.job.status == JobStatus.SUCCEEDED
    assert finished == [(build.id, JobStatus.SUCCEEDED)]  # the other handlers still ran

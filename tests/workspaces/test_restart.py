"""Server-side restart: a stop build the server follows with a start once, and only if it succeeded.

Builds are completed by the provisioning code a worker runs, with a given outcome (no Terraform).
"""

from __future__ import annotations

import pytest

from portal.accounts import services as accounts
from portal.audit.models import AuditEntry
from portal.errors import Conflict, ValidationFailed
from tests.workspaces.helpers import buildable_template, param
from workspaces import services
from workspaces.builds import jobs, provisioning
from workspaces.choices import BuildReason, BuildTransition, JobStatus
from workspaces.models import ProvisionerJobLog, WorkspaceBuild
from workspaces.provisioner.session import Outcome

pytestmark = pytest.mark.django_db
WORKER = "restart-worker"
SCHEMA = [param("cpu", "number", "2"), param("region", "string", "eu", mutable=False)]


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def running(alice):
    ws = services.create_workspace(
        actor=alice, owner=alice, template=buildable_template(SCHEMA), name="dev"
    )
    finish(ws.latest_build)
    ws.refresh_from_db()
    return ws


def finish(build, outcome: Outcome | None = None) -> str:
    """What a worker does with the build's job: take it, then complete it with this outcome."""
    assert jobs.acquire(WORKER, job_id=build.job_id) is not None
    return provisioning.finish_build(build.job_id, WORKER, outcome=outcome or Outcome(ok=True))


def builds(ws) -> list[tuple[int, str, str]]:
    return [
        (b.build_number, b.transition, b.job.status)
        for b in WorkspaceBuild.objects.filter(workspace=ws).order_by("build_number")
    ]


def test_the_start_follows_a_succeeded_stop_once(
    alice, running, enqueued, django_capture_on_commit_callbacks
):
    stop = services.restart_workspace(running, actor=alice, parameters={"cpu": 4})
    assert (stop.transition, stop.then_start, stop.then_start_parameters) == (
        BuildTransition.STOP,
        True,
        {"cpu": "4"},
    )
    assert stop.parameters == {"cpu": "2", "region": "eu"}  # the stop runs with the old values
    with django_capture_on_commit_callbacks(execute=True):
        assert finish(stop) == JobStatus.SUCCEEDED

    start = WorkspaceBuild.objects.get(workspace=running, build_number=3)
    assert start.transition == BuildTransition.START
    assert start.reason == BuildReason.RESTART
    assert start.initiator == alice
    assert start.template_version_id == stop.template_version_id
    assert start.parameters == {"cpu": "4", "region": "eu"}
    assert start.job.status == JobStatus.PENDING
    assert [job.id for job in enqueued][-1] == start.job_id  # handed to the workers
    entry = AuditEntry.objects.filter(resource_id=str(start.id)).get()
    assert entry.actor == alice and entry.additional_fields["reason"] == "restart"
    lines = ProvisionerJobLog.objects.filter(job=stop.job).values_list("output", flat=True)
    assert "Restart: queued build #3 (start)." in list(lines)

    # The same job completed twice (a duplicate delivery, a retried completion): one start only.
    assert jobs.acquire(WORKER, job_id=stop.job_id) is None
    with pytest.raises(jobs.JobNotOwned):
        provisioning.finish_build(stop.job_id, WORKER, outcome=Outcome(ok=True))
    assert builds(running) == [
        (1, "start", "succeeded"),
        (2, "stop", "succeeded"),
        (3, "start", "pending"),
    ]


@pytest.mark.parametrize(
    "outcome",
    [Outcome(ok=False, error="terraform destroy: exit status 1"), Outcome(ok=False, canceled=True)],
    ids=["failed", "canceled"],
)
def test_a_stop_that_did_not_succeed_starts_nothing(alice, running, outcome):
    stop = services.restart_workspace(running, actor=alice)
    assert jobs.acquire(WORKER, job_id=stop.job_id) is not None
    if outcome.canceled:
        services.cancel_build(stop, actor=alice)  # Terraform is interrupted, then ends
    status = provisioning.finish_build(stop.job_id, WORKER, outcome=outcome)
    assert status in {JobStatus.FAILED, JobStatus.CANCELED}
    assert builds(running)[-1] == (2, "stop", status)


def test_409_while_a_build_is_active_and_bad_values_refused_before_stopping(alice, running):
    stop = services.restart_workspace(running, actor=alice)
    with pytest.raises(Conflict) as e:
        services.restart_workspace(running, actor=alice)
    assert e.value.message == "Build #2 (stop) is pending; cancel it or wait."
    finish(stop)  # and its start, #3, is pending now
    with pytest.raises(Conflict):
        services.restart_workspace(running, actor=alice)
    finish(WorkspaceBuild.objects.get(workspace=running, build_number=3))

    with pytest.raises(ValidationFailed) as e:
        services.restart_workspace(running, actor=alice, parameters={"region": "us", "cpu": "x"})
    fields = {v["field"]: v["detail"] for v in e.value.validations}
    assert set(fields) == {"parameters.region", "parameters.cpu"}
    assert "Cannot be changed" in fields["parameters.region"]
    assert len(builds(running)) == 3  # nothing was queued


def test_a_start_the_server_may_not_queue_is_explained_in_the_stop_log(alice, running, system):
    stop = services.restart_workspace(running, actor=alice)
    accounts.suspend_user(alice, actor=system, reason="left")
    assert finish(stop) == JobStatus.SUCCEEDED  # the stop's success stands
    assert builds(running)[-1] == (2, "stop", "succeeded")
    error = ProvisionerJobLog.objects.filter(job=stop.job, level="error").get()
    assert error.output == (
        "Restart: stopped, but not started again: alice, who asked for the restart, is suspended."
    )


def test_restart_api_returns_the_stop_build(alice, running, client_for, enqueued):
    client = client_for(alice)
    r = client.post(f"/api/v2/workspaces/{running.id}/restart", {}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert (body["build_number"], body["transition"], body["then_start"]) == (2, "stop", True)

    again = client.post(f"/api/v2/workspaces/{running.id}/restart", {}, format="json")
    assert again.status_code == 409
    assert again.json()["message"] == "Build #2 (stop) is pending; cancel it or wait."

    finish(WorkspaceBuild.objects.get(pk=body["id"]))
    latest = client.get(f"/api/v2/workspaces/{running.id}").json()["latest_build"]
    assert (latest["build_number"], latest["transition"], latest["reason"]) == (
        3,
        "start",
        "restart",
    )
    assert latest["then_start"] is False


def test_restart_api_refuses_bad_parameters_with_their_fields(alice, running, client_for):
    r = client_for(alice).post(
        f"/api/v2/workspaces/{running.id}/restart",
        {"parameters": {"nope": "1"}},
        format="json",
    )
    assert r.status_code == 400
    assert r.json()["validations"][0]["field"] == "parameters.nope"
    assert len(builds(running)) == 1

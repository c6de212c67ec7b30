"""The in-process job store: specs from rows, logs and beats from update(), ends via services."""

from __future__ import annotations

import pytest

from portal import crypto
from portal.accounts.services import system_actor
from portal.audit.models import AuditEntry
from tests.workspaces.helpers import buildable_template, param
from workspaces import services
from workspaces.audit_types import WorkspaceResourceType
from workspaces.builds import job_store, jobs
from workspaces.builds.job_store import DatabaseJobStore
from workspaces.choices import JobStatus, LogSource
from workspaces.models import ProvisionerJob, ProvisionerJobLog, WorkspaceBuild
from workspaces.provisioner.protocol import (
    PROVISIONER_DAEMON,
    WORKSPACE_BUILD,
    JobLost,
    JobResult,
    LogLine,
    RunResult,
)

pytestmark = pytest.mark.django_db
WORKER = "store-worker"


@pytest.fixture
def alice(make_user):
    return make_user(username="alice", email="alice@example.com")


@pytest.fixture
def workspace(alice):
    template = buildable_template([param("cpu", "number", "2")])
    return services.create_workspace(actor=alice, owner=alice, template=template, name="dev")


@pytest.fixture(autouse=True)
def beat_every_update(monkeypatch):
    monkeypatch.setattr(job_store, "_MIN_BEAT_SECONDS", 0.0)


def test_a_spec_carries_the_source_the_decrypted_state_and_who_it_is_for(alice, workspace):
    store = DatabaseJobStore()
    first = store.acquire({}, WORKER, job_id=workspace.latest_build.job_id)
    store.complete(first.job_id, JobResult(run=RunResult(ok=True), state=b'{"serial": 1}'))
    stop = services.create_build(workspace, actor=alice, transition="stop")
    assert bytes(WorkspaceBuild.objects.get(job_id=first.job_id).state) != b'{"serial": 1}'

    spec = store.acquire({}, WORKER, job_id=stop.job_id)
    assert spec.type == WORKSPACE_BUILD and spec.transition == "stop"
    assert spec.prior_state == b'{"serial": 1}'  # decrypted: the runner holds no key
    assert spec.archive == bytes(stop.template_version.file.data)
    assert spec.parameters == {"cpu": "2"}
    assert (spec.owner.name, spec.owner.email) == ("alice", "alice@example.com")
    assert (spec.workspace.name, spec.workspace.build_number) == ("dev", 2)
    assert crypto.decrypt(WorkspaceBuild.objects.get(pk=first.workspace.build_id).state) == (
        b'{"serial": 1}'
    )


def test_update_keeps_the_lines_and_answers_canceled_once_someone_asked(alice, workspace):
    store = DatabaseJobStore()
    spec = store.acquire({}, WORKER, job_id=workspace.latest_build.job_id)
    assert store.update(spec.job_id, [LogLine("info", "Applying", "one")]) is False
    services.cancel_build(workspace.latest_build, actor=alice)
    assert store.update(spec.job_id, []) is True
    rows = ProvisionerJobLog.objects.filter(job_id=spec.job_id).values_list("output", "source")
    assert list(rows) == [("one", LogSource.PROVISIONER)]


def test_update_of_a_job_taken_away_keeps_the_lines_and_raises_job_lost(workspace):
    store = DatabaseJobStore()
    spec = store.acquire({}, WORKER, job_id=workspace.latest_build.job_id)
    ProvisionerJob.objects.filter(pk=spec.job_id).update(worker_id="someone-else")
    with pytest.raises(JobLost):
        store.update(spec.job_id, [LogLine("error", "", "late", source=PROVISIONER_DAEMON)])
    assert ProvisionerJobLog.objects.filter(job_id=spec.job_id, output="late").exists()
    with pytest.raises(JobLost):
        store.complete(spec.job_id, JobResult(run=RunResult(ok=True)))


def test_fail_ends_the_build_and_the_audit_log_says_so(workspace):
    store = DatabaseJobStore()
    spec = store.acquire({}, WORKER, job_id=workspace.latest_build.job_id)
    store.fail(spec.job_id, "Portal failed to run the job: boom")
    job = ProvisionerJob.objects.get(pk=spec.job_id)
    assert (job.status, job.error) == (JobStatus.FAILED, "Portal failed to run the job: boom")
    entry = AuditEntry.objects.filter(
        resource_type=WorkspaceResourceType.WORKSPACE_BUILD, resource_id=spec.workspace.build_id
    ).latest("time")
    assert entry.actor == system_actor()
    assert entry.additional_fields["status"] == JobStatus.FAILED
    with pytest.raises(jobs.JobNotOwned):
        jobs.heartbeat(spec.job_id, WORKER)


def test_a_job_that_cannot_be_prepared_is_failed_not_handed_out():
    job_id = ProvisionerJob.objects.create(type=WORKSPACE_BUILD, initiator=system_actor()).pk
    store = DatabaseJobStore()
    assert store.acquire({}, WORKER, job_id=job_id) is None
    job = ProvisionerJob.objects.get(pk=job_id)
    assert job.status == JobStatus.FAILED
    assert "the job has no workspace build" in job.error

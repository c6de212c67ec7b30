"""Builds that go wrong: bad HCL, failing applies, cancel mid-apply, duplicates, concurrency."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection

from portal import crypto
from portal.accounts.choices import SYSTEM_USERNAME
from portal.audit.models import AuditEntry
from portal.errors import ServiceError
from templates_app import services as template_services
from templates_app.choices import ImportStatus
from tests.provisioning.conftest import PORTAL_PROVIDER, import_version, make_template, run_job
from workspaces import services, tasks
from workspaces.choices import JobStatus, WorkspaceStatus
from workspaces.models import ProvisionerJob, ProvisionerJobLog, WorkspaceBuild

pytestmark = pytest.mark.django_db(transaction=True)

# A first resource that is quick, then one whose local-exec takes as long as the marker says
# (or fails, when the workspace is named "fail").
SLOW = (
    PORTAL_PROVIDER
    + """
resource "terraform_data" "quick" {
  count = data.portal_workspace.me.start_count
  input = "quick"
}
resource "terraform_data" "slow" {
  count      = data.portal_workspace.me.start_count
  depends_on = [terraform_data.quick]
  provisioner "local-exec" {
    command = (data.portal_workspace.me.name == "fail"
      ? "echo about to fail; exit 3"
      : "echo sleeping; sleep 30")
  }
}
"""
)


def logs_of(job_id) -> str:
    return "\n".join(
        ProvisionerJobLog.objects.filter(job_id=job_id).values_list("output", flat=True)
    )


def state_addresses(build: WorkspaceBuild) -> set[str]:
    build.refresh_from_db()
    state = json.loads(crypto.decrypt(build.state))
    return {f"{r['type']}.{r['name']}" for r in state["resources"] if r["mode"] == "managed"}


def test_invalid_hcl_fails_the_import_with_terraforms_error_and_cannot_be_promoted(owner):
    from tests.provisioning.conftest import tar_of

    good = make_template(owner, "t", tar_of({"main.tf": PORTAL_PROVIDER}))
    bad = import_version(owner, tar_of({"main.tf": PORTAL_PROVIDER + "resource {{{\n"}), good)
    assert bad.import_status == ImportStatus.FAILED
    job_logs = logs_of(bad.import_job_id)
    # Terraform's own diagnostic, with the file and line, reaches the import log and the error.
    assert "main.tf line" in job_logs
    assert (
        "Terraform init failed" in bad.import_error or "Terraform plan failed" in bad.import_error
    )
    # The worker's result is audited where users see it, as the system actor.
    entry = AuditEntry.objects.get(
        resource_type="template_version", action="write", resource_id=str(bad.id)
    )
    assert entry.actor_username == SYSTEM_USERNAME
    assert entry.diff["import_status"]["new"] == ImportStatus.FAILED
    assert entry.additional_fields == {"import_job_id": str(bad.import_job_id)}
    with pytest.raises(ServiceError):
        template_services.update_template(good, actor=owner, active_version=bad)
    good.refresh_from_db()
    assert good.active_version_id != bad.id


def test_a_failed_apply_keeps_the_state_terraform_wrote(owner, member):
    from tests.provisioning.conftest import tar_of

    template = make_template(owner, "slow", tar_of({"main.tf": SLOW}))
    ws = services.create_workspace(
        actor=member, owner=member, template=template, name="fail", parameters={}
    )
    job = run_job(ws.latest_build.job_id)
    assert job.status == JobStatus.FAILED
    assert "exit status 3" in job.error or "exit status 3" in logs_of(job.id)
    assert "about to fail" in logs_of(job.id)
    ws.refresh_from_db()
    assert ws.status == WorkspaceStatus.FAILED
    # The resource created before the failure is in the saved state, so nothing leaks.
    assert "terraform_data.quick" in state_addresses(ws.latest_build)


def test_cancel_mid_apply_interrupts_terraform_once_and_keeps_state(owner, member):
    from tests.provisioning.conftest import tar_of

    template = make_template(owner, "slow", tar_of({"main.tf": SLOW}))
    ws = services.create_workspace(
        actor=member, owner=member, template=template, name="slow", parameters={}
    )
    build = ws.latest_build
    runner_thread = threading.Thread(target=run_job, args=(build.job_id,))
    runner_thread.start()
    deadline = time.monotonic() + 30
    while "sleeping" not in logs_of(build.job_id):
        assert time.monotonic() < deadline, "the slow step never started"
        time.sleep(0.1)
    asked = time.monotonic()
    services.cancel_build(build, actor=member)
    runner_thread.join(30)
    assert not runner_thread.is_alive()
    took = time.monotonic() - asked
    job = ProvisionerJob.objects.get(pk=build.job_id)
    assert job.status == JobStatus.CANCELED, job.error
    assert took < 15, f"cancel took {took:.1f} s"
    assert "terraform_data.quick" in state_addresses(build)
    ws.refresh_from_db()
    assert ws.status == WorkspaceStatus.CANCELED

    # The next build starts from the kept state and can stop cleanly.
    stop = services.create_build(ws, actor=member, transition="stop")
    assert run_job(stop.job_id).status == JobStatus.SUCCEEDED
    assert "terraform_data.quick" not in state_addresses(stop)


def test_a_job_delivered_twice_runs_once(local_template, member):
    ws = services.create_workspace(
        actor=member, owner=member, template=local_template, name="twice", parameters={}
    )
    job_id = str(ws.latest_build.job_id)
    results = []

    def deliver():
        try:
            results.append(tasks.run_job.apply(args=[job_id]).get())
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["ran", "skipped"]
    # And a late redelivery after the end changes nothing.
    assert tasks.run_job.apply(args=[job_id]).get() == "skipped"
    job = ProvisionerJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert (
        ProvisionerJobLog.objects.filter(job_id=job_id, output__startswith="Job picked up").count()
        == 1
    )
    delete = services.create_build(ws, actor=member, transition="delete")
    assert run_job(delete.job_id).status == JobStatus.SUCCEEDED


def test_builds_of_different_workspaces_run_concurrently(local_template, member):
    spaces = [
        services.create_workspace(
            actor=member, owner=member, template=local_template, name=f"c{i}", parameters={}
        )
        for i in range(2)
    ]
    threads = [
        threading.Thread(target=run_job, args=(ws.latest_build.job_id, f"worker-{i}"))
        for i, ws in enumerate(spaces)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for ws in spaces:
        ws.refresh_from_db()
        assert ws.status == WorkspaceStatus.RUNNING
        delete = services.create_build(ws, actor=member, transition="delete")
        assert run_job(delete.job_id).status == JobStatus.SUCCEEDED


def test_a_second_build_while_one_runs_is_refused_naming_it(local_template, member):
    from portal.errors import Conflict

    ws = services.create_workspace(
        actor=member, owner=member, template=local_template, name="busy", parameters={}
    )
    with pytest.raises(Conflict, match="#1"):
        services.create_build(ws, actor=member, transition="stop")
    run_job(ws.latest_build.job_id)
    delete = services.create_build(ws, actor=member, transition="delete")
    assert run_job(delete.job_id).status == JobStatus.SUCCEEDED

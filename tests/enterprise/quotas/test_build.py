"""Real Terraform builds of a template with costs: planned, checked, then applied (or not)."""

from __future__ import annotations

import pytest

from enterprise.quotas.budget import consumed_by
from tests.provisioning.conftest import PORTAL_PROVIDER, make_template, run_job, tar_of
from workspaces import services
from workspaces.choices import JobStatus
from workspaces.models import ProvisionerJobLog, WorkspaceResource

pytestmark = pytest.mark.django_db(transaction=True)

# A disk that stays while stopped (2 a day) and a machine only while started, whose cost is
# its size (a parameter, 5 by default: the import's dry run, and so the version's cost, says 7;
# a build with a bigger size plans more, which only the check inside the build can see).
COSTLY = (
    PORTAL_PROVIDER
    + """
data "portal_parameter" "size" {
  name    = "size"
  type    = "number"
  default = "5"
  mutable = true
}
resource "terraform_data" "home" {}
resource "portal_metadata" "home" {
  resource_id = terraform_data.home.id
  daily_cost  = 2
}
resource "terraform_data" "vm" {
  count = data.portal_workspace.me.start_count
}
resource "portal_metadata" "vm" {
  count       = data.portal_workspace.me.start_count
  resource_id = terraform_data.vm[0].id
  daily_cost  = tonumber(data.portal_parameter.size.value)
}
"""
)


@pytest.fixture
def costly(transactional_db, owner):
    return make_template(owner, "costly", tar_of({"main.tf": COSTLY}))


def log_of(build) -> str:
    rows = ProvisionerJobLog.objects.filter(job_id=build.job_id).order_by("id")
    return "\n".join(rows.values_list("output", flat=True))


def test_over_budget_nothing_is_applied_and_the_log_says_why(allow, member, costly):
    assert costly.active_version.daily_cost == 7
    allow(10)
    ws = services.create_workspace(
        actor=member, owner=member, template=costly, name="dev", parameters={"size": "9"}
    )
    job = run_job(ws.latest_build.job_id)
    assert job.status == JobStatus.FAILED
    assert "Workspace quota exceeded: this build costs 11 a day" in job.error
    log = log_of(ws.latest_build)
    assert "This build's resources cost 11 a day." in log
    assert "ask an admin to raise one of your groups' quota allowance" in log
    assert "Apply complete" not in log
    assert not WorkspaceResource.objects.filter(job_id=job.id).exists()
    ws.latest_build.refresh_from_db()
    assert ws.latest_build.daily_cost == 0

    # Within budget: planned, accepted, and that plan applied.
    start = services.create_build(ws, actor=member, transition="start", parameters={"size": "5"})
    assert run_job(start.job_id).status == JobStatus.SUCCEEDED
    log = log_of(start)
    assert "Workspace quota: 0 a day for your other workspaces plus 7" in log
    assert "Apply complete" in log
    assert "terraform plan" in log  # the timings line: one plan, then the apply of it
    start.refresh_from_db()
    assert start.daily_cost == 7

    # Stopped, the disk still counts; a second workspace must fit beside it.
    stop = services.create_build(ws, actor=member, transition="stop")
    assert run_job(stop.job_id).status == JobStatus.SUCCEEDED
    stop.refresh_from_db()
    assert stop.daily_cost == 2
    assert consumed_by(member) == 2
    allow(8)
    other = services.create_workspace(actor=member, owner=member, template=costly, name="two")
    job = run_job(other.latest_build.job_id)
    assert job.status == JobStatus.FAILED
    assert "your other workspaces already cost 2 a day" in job.error
    # A smaller machine fits: 2 + 2 + 4. (No refusal before the build from the version's
    # imported cost: it would have refused this one.)
    start = services.create_build(other, actor=member, transition="start", parameters={"size": "4"})
    assert run_job(start.job_id).status == JobStatus.SUCCEEDED
    assert consumed_by(member) == 8


def test_with_the_gate_off_a_build_is_one_plain_apply(gate_off, allow, member, costly):
    allow(1)
    ws = services.create_workspace(actor=member, owner=member, template=costly, name="dev")
    assert run_job(ws.latest_build.job_id).status == JobStatus.SUCCEEDED
    log = log_of(ws.latest_build)
    assert "This build's resources cost" not in log
    assert "Apply complete" in log
    assert "terraform plan" not in log

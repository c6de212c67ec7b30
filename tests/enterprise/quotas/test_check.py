"""The quota check a worker asks between plan and apply: budgets, consumption, refusals."""

from __future__ import annotations

import pytest

from enterprise.quotas.audit_types import WORKSPACE_QUOTA
from enterprise.quotas.budget import budget_of, consumed_by
from portal.audit.models import AuditEntry
from tests.enterprise.quotas.conftest import WORKER, finish
from workspaces import services
from workspaces.builds.job_store import DatabaseJobStore
from workspaces.models import WorkspaceBuild
from workspaces.provisioner.protocol import JobLost

pytestmark = pytest.mark.django_db


def test_the_budget_is_the_sum_of_the_users_groups_allowances_everyone_included(
    allow, member, make_user
):
    allow(5)
    allow(10, member)
    allow(7, member)
    assert budget_of(member) == 22
    assert budget_of(make_user()) == 5  # only Everyone


def test_consumed_counts_the_latest_build_of_each_workspace_stopped_ones_persistent_cost(
    member, costing, make_user
):
    running = costing(member, 7)
    costing(member, 2, transition="stop")  # its disk still costs while stopped
    costing(make_user(), 50)  # someone else's
    deleted = costing(member, 40)
    deleted.deleted_at = deleted.created_at
    deleted.save(update_fields=["deleted_at"])
    assert consumed_by(member) == 9
    assert consumed_by(member, besides=running) == 2


def test_a_start_within_budget_is_accepted_and_its_cost_written_on_the_build(
    allow, member, costing, start_checked
):
    allow(10)
    costing(member, 4)
    spec, answer = start_checked(member, 6)
    assert spec.check_cost is True
    assert (answer.ok, answer.consumed, answer.budget) == (True, 4, 10)
    build = WorkspaceBuild.objects.get(job_id=spec.job_id)
    assert build.daily_cost == 6  # the next check counts it
    assert consumed_by(member) == 10


def test_over_budget_the_build_is_refused_with_the_numbers_and_what_to_do(
    allow, member, costing, start_checked
):
    allow(10)
    costing(member, 4)
    spec, answer = start_checked(member, 7)
    assert (answer.ok, answer.consumed, answer.budget) == (False, 4, 10)
    assert "this build costs 7 a day" in answer.message
    assert "other workspaces already cost 4 a day" in answer.message
    assert "budget is 10 a day" in answer.message
    assert "Stop or delete another workspace" in answer.message
    assert "raise one of your groups' quota allowance" in answer.message
    assert WorkspaceBuild.objects.get(job_id=spec.job_id).daily_cost == 0

    entry = AuditEntry.objects.get(resource_type=WORKSPACE_QUOTA)
    assert (entry.action, entry.status_code, entry.resource_target) == ("refuse", 403, "alice")
    assert entry.additional_fields["consumed"] == 4
    assert entry.additional_fields["daily_cost"] == 7
    assert entry.additional_fields["budget"] == 10
    assert entry.build_initiator_id == member.pk


def test_the_edge_of_the_budget_is_inside_it(allow, member, start_checked):
    allow(6)
    assert start_checked(member, 6)[1].ok
    assert not start_checked(member, 1)[1].ok


def test_a_start_costing_no_more_than_the_workspace_now_passes_even_over_budget(
    allow, member, costing, start_checked
):
    allow(10)
    ws = costing(member, 8)
    costing(member, 5)  # 13 a day: over a budget lowered since
    spec, answer = start_checked(member, 8, workspace=ws)
    assert answer.ok
    finish(WorkspaceBuild.objects.get(job_id=spec.job_id))
    ws.refresh_from_db()
    assert not start_checked(member, 9, workspace=ws)[1].ok  # dearer: 5 + 9 > 10


def test_stop_and_delete_builds_are_never_checked(allow, member, costing, store):
    allow(1)
    ws = costing(member, 30)  # far over budget
    stop = services.create_build(ws, actor=member, transition="stop")
    spec = store.acquire({}, WORKER, job_id=stop.job_id)
    assert spec.check_cost is False
    # Even asked, the check lets a stop through.
    assert store.commit_quota(spec.job_id, 30).ok
    finish(stop)
    delete = services.create_build(ws, actor=member, transition="delete")
    assert store.acquire({}, WORKER, job_id=delete.job_id).check_cost is False


def test_with_the_gate_off_builds_are_not_checked(gate_off, allow, member, start_checked):
    allow(1)
    spec, answer = start_checked(member, 50)
    assert spec.check_cost is False
    assert answer.ok
    assert not AuditEntry.objects.filter(resource_type=WORKSPACE_QUOTA).exists()


def test_only_the_worker_that_owns_the_job_may_commit_its_cost(allow, member, start_checked):
    allow(10)
    spec, _ = start_checked(member, 1)
    with pytest.raises(JobLost):
        DatabaseJobStore().commit_quota(spec.job_id, 1)  # a store that never acquired it


def test_until_a_group_has_an_allowance_costs_are_not_limited(member, start_checked):
    # Allowances start at 0: an upgrade (or evaluation mode, every gate on) refuses nothing.
    spec, answer = start_checked(member, 50)
    assert spec.check_cost is False
    assert answer.ok
    assert WorkspaceBuild.objects.get(job_id=spec.job_id).daily_cost == 0

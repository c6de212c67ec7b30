"""Twenty start builds of one user checked at the same moment, by twenty worker threads, at the
edge of the budget: the per-user lock lets exactly as many through as the budget holds."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from enterprise.quotas.budget import consumed_by
from tests.enterprise.quotas.conftest import WORKER
from workspaces import services
from workspaces.builds.job_store import DatabaseJobStore
from workspaces.models import WorkspaceBuild

pytestmark = pytest.mark.django_db(transaction=True)

BUILDS, COST, BUDGET = 20, 3, 31  # room for ten (30), not eleven (33)


def test_twenty_concurrent_starts_never_exceed_the_budget(allow, member, template):
    allow(BUDGET)
    builds = [
        services.create_workspace(
            actor=member, owner=member, template=template, name=f"race-{i}"
        ).latest_build
        for i in range(BUILDS)
    ]
    store = DatabaseJobStore()
    specs = [store.acquire({}, f"{WORKER}-{i}", job_id=b.job_id) for i, b in enumerate(builds)]
    assert all(s is not None and s.check_cost for s in specs)
    start = threading.Barrier(BUILDS)
    answers: dict[str, bool] = {}
    errors: list[BaseException] = []

    def worker(spec) -> None:
        try:
            start.wait()
            answers[spec.job_id] = store.commit_quota(spec.job_id, COST).ok
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(s,)) for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(answers.values()).count(True) == BUDGET // COST == 10
    assert consumed_by(member) == 30 <= BUDGET
    accepted = WorkspaceBuild.objects.filter(workspace__owner=member, daily_cost=COST).count()
    assert accepted == 10

"""Quota fixtures: allowances on groups, workspaces that already cost something, and the job
store path a worker takes (acquire the start build's job, then commit_quota its planned cost)."""

from __future__ import annotations

import pytest

from enterprise.groups import services as groups
from enterprise.groups.membership import everyone
from portal import hooks
from tests import factories
from tests.cli.conftest import cli  # noqa: F401  (the CLI against a live server)
from tests.workspaces.helpers import buildable_template
from workspaces import services
from workspaces.builds.job_store import DatabaseJobStore
from workspaces.choices import BuildTransition, JobStatus

WORKER = "quota-test-worker"


@pytest.fixture
def everyone_group(db):
    return everyone()


@pytest.fixture
def allow(system, everyone_group):
    """allow(n, user=None): Everyone's allowance n, or a new group of `user` with allowance n."""

    def give(amount: int, user=None, name: str | None = None):
        if user is None:
            return groups.update_group(everyone_group, actor=system, quota_allowance=amount)
        group = groups.create_group(
            actor=system, name=name or f"team-{amount}-{user.username}", quota_allowance=amount
        )
        groups.add_members(group, [user], actor=system)
        return group

    return give


@pytest.fixture
def costing():
    """costing(owner, cost, transition="start"): a workspace whose latest build is a finished
    build of that transition costing `cost` a day (a stopped one: its persistent resources)."""

    def make(owner, cost: int, transition: str = BuildTransition.START, **kwargs):
        ws = factories.workspace(owner, transition=transition, **kwargs)
        ws.latest_build.daily_cost = cost
        ws.latest_build.save(update_fields=["daily_cost"])
        return ws

    return make


@pytest.fixture
def template(db):
    return buildable_template()


@pytest.fixture
def store():
    return DatabaseJobStore()


@pytest.fixture
def start_checked(store, template):
    """start_checked(owner, cost, workspace=None): queue a start build (a new workspace, or of
    `workspace`), take its job as a worker does, and commit_quota its planned cost.
    Returns (spec, answer)."""
    count = iter(range(1000))

    def run(owner, cost: int, workspace=None):
        if workspace is None:
            workspace = services.create_workspace(
                actor=owner, owner=owner, template=template, name=f"new-{next(count)}"
            )
            build = workspace.latest_build
        else:
            build = services.create_build(workspace, actor=owner, transition="start")
        spec = store.acquire({}, WORKER, job_id=build.job_id)
        assert spec is not None and spec.job_id == str(build.job_id)
        return spec, store.commit_quota(spec.job_id, cost)

    return run


def finish(build, status: str = JobStatus.SUCCEEDED) -> None:
    """Mark a build's job ended (what completing it does to the job row), so another can queue."""
    build.job.status = status
    build.job.save(update_fields=["status"])


@pytest.fixture
def gate_off():
    """Licensing turns workspace_quota off (a feature_gate handler answering False)."""

    def resolve(name):
        return False if name == "workspace_quota" else None

    hooks.feature_gate.register(resolve)
    yield
    hooks.feature_gate.unregister(resolve)


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list:
    """Jobs handed to the broker, kept here: the tests take them as a worker would."""
    from workspaces.builds import dispatch

    sent: list = []
    monkeypatch.setattr(dispatch, "enqueue", sent.append)
    return sent

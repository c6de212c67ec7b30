"""The `local` template built for real: start, stop, start, delete, with the agent process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time

import pytest

from portal import crypto
from portal.audit.models import AuditEntry
from portal.errors import ValidationFailed
from tests.provisioning.conftest import alive, run_job
from workspaces import services
from workspaces.choices import JobStatus, WorkspaceStatus
from workspaces.models import ProvisionerJobLog, WorkspaceAgent, WorkspaceResource

pytestmark = pytest.mark.django_db(transaction=True)


def agent_pid(workspace_dir) -> int:
    return int((workspace_dir / "agent.pid").read_text().split()[0])


def wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_start_stop_start_delete_runs_and_stops_the_agent(local_template, member, data_dir):
    ws = services.create_workspace(
        actor=member, owner=member, template=local_template, name="dev", parameters={}
    )
    job = run_job(ws.latest_build.job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    ws.refresh_from_db()
    assert ws.status == WorkspaceStatus.RUNNING
    workspace_dir = data_dir / "builds" / "workspaces" / str(ws.id)
    assert (workspace_dir / "home").is_dir()
    first_pid = agent_pid(workspace_dir)
    assert alive(first_pid)

    # What the build recorded: resources, the agent with its token hashed, its app, the cost.
    build = ws.latest_build
    resources = {r.address: r for r in WorkspaceResource.objects.filter(job=build.job)}
    assert "terraform_data.agent[0]" in resources
    agent = WorkspaceAgent.objects.get(resource__job=build.job)
    assert agent.name == "main"
    assert [a.slug for a in agent.apps.all()] == ["preview"]
    assert build.daily_cost == sum(r.daily_cost for r in resources.values()) > 0
    state = json.loads(crypto.decrypt(build.state))
    token = next(
        r["instances"][0]["attributes"]["token"]
        for r in state["resources"]
        if r["type"] == "portal_agent"
    )
    assert agent.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.encode() not in bytes(build.state)  # encrypted at rest
    logs = "\n".join(
        ProvisionerJobLog.objects.filter(job=build.job).values_list("output", flat=True)
    )
    assert token not in logs
    assert "Apply complete" in logs

    stop = services.create_build(ws, actor=member, transition="stop")
    assert run_job(stop.job_id).status == JobStatus.SUCCEEDED
    assert wait_dead(first_pid), "stopping the workspace left its agent running"
    assert (workspace_dir / "home").is_dir(), "stop must keep the home directory"
    ws.refresh_from_db()
    assert ws.status == WorkspaceStatus.STOPPED

    start = services.create_build(ws, actor=member, transition="start")
    assert run_job(start.job_id).status == JobStatus.SUCCEEDED
    second_pid = agent_pid(workspace_dir)
    assert second_pid != first_pid and alive(second_pid)
    # The token lives in state: the restarted agent keeps its identity.
    assert WorkspaceAgent.objects.get(resource__job=start.job).token_hash == agent.token_hash

    delete = services.create_build(ws, actor=member, transition="delete")
    assert run_job(delete.job_id).status == JobStatus.SUCCEEDED
    assert wait_dead(second_pid)
    assert not workspace_dir.exists()
    ws.refresh_from_db()
    assert ws.deleted_at is not None

    audited = AuditEntry.objects.filter(resource_type="workspace_build").values_list(
        "action", "additional_fields__status"
    )
    assert sorted(audited.filter(additional_fields__status="succeeded")) == sorted(
        [
            ("start", "succeeded"),
            ("stop", "succeeded"),
            ("start", "succeeded"),
            ("delete", "succeeded"),
        ]
    )


def test_parameter_values_reach_the_workspace_and_bad_ones_are_refused(local_template, member):
    with pytest.raises(ValidationFailed) as refused:
        services.create_workspace(
            actor=member,
            owner=member,
            template=local_template,
            name="bad",
            parameters={"stop_timeout": "500", "shell": "/bin/zsh"},
        )
    fields = {v["field"] for v in refused.value.validations}
    assert fields == {"parameters.stop_timeout", "parameters.shell"}

    ws = services.create_workspace(
        actor=member,
        owner=member,
        template=local_template,
        name="sh",
        parameters={"shell": "/bin/sh"},
    )
    assert run_job(ws.latest_build.job_id).status == JobStatus.SUCCEEDED
    agent = WorkspaceAgent.objects.get(resource__job=ws.latest_build.job)
    assert agent.env["SHELL"] == "/bin/sh"
    delete = services.create_build(ws, actor=member, transition="delete")
    assert run_job(delete.job_id).status == JobStatus.SUCCEEDED


def test_orphan_delete_forgets_without_destroying(local_template, member, data_dir):
    ws = services.create_workspace(
        actor=member, owner=member, template=local_template, name="orphan", parameters={}
    )
    run_job(ws.latest_build.job_id)
    workspace_dir = data_dir / "builds" / "workspaces" / str(ws.id)
    pid = agent_pid(workspace_dir)
    try:
        delete = services.create_build(ws, actor=member, transition="delete", orphan=True)
        assert run_job(delete.job_id).status == JobStatus.SUCCEEDED
        ws.refresh_from_db()
        assert ws.deleted_at is not None
        assert alive(pid) and workspace_dir.exists(), "orphan delete must not destroy anything"
        logs = ProvisionerJobLog.objects.filter(job=delete.job).values_list("output", flat=True)
        assert any("without destroying" in line for line in logs)
    finally:
        os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(workspace_dir, ignore_errors=True)

"""A real `portal worker` killed with -9 mid-apply: the job fails with a reason, nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
from django.conf import settings

from portal import config, crypto
from portal.audit.models import AuditEntry
from tests.e2e.server_process import REPO, portal_env
from tests.provisioning.conftest import PORTAL_PROVIDER, make_template, tar_of
from workspaces import services, tasks
from workspaces.choices import JobStatus
from workspaces.models import Provisioner, ProvisionerJob, ProvisionerJobLog

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# `delay` seconds of sleep in the second resource; changing it re-runs that step.
DELAYED = (
    PORTAL_PROVIDER
    + """
data "portal_parameter" "delay" {
  name    = "delay"
  type    = "number"
  default = "0"
  mutable = true
}
resource "terraform_data" "quick" {
  count = data.portal_workspace.me.start_count
  input = "quick"
}
resource "terraform_data" "slow" {
  count            = data.portal_workspace.me.start_count
  depends_on       = [terraform_data.quick]
  triggers_replace = [data.portal_parameter.delay.value]
  provisioner "local-exec" {
    command = "echo sleeping; sleep ${data.portal_parameter.delay.value}; echo slept"
  }
}
"""
)


class Worker:
    """`python -m portal worker` against the test database, output collected."""

    def __init__(self, name: str):
        db = settings.DATABASES["default"]
        url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        self.env = portal_env(
            config.load().data_dir,
            PORTAL_SECRET_KEY=config.load().secret_key(),  # the same state encryption key
            PORTAL_DATABASE_URL=url,
            PORTAL_REDIS_URL=os.environ["PORTAL_REDIS_URL"],
            PORTAL_JOB_HEARTBEAT_SECONDS="0.5",
            PORTAL_STARTER_TEMPLATE="false",
        )
        self.name = name
        self.output: list[str] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal", "worker", "--name", self.name, "--concurrency", "2"],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True).start()
        wait_until(
            # Announced by this very process (a killed predecessor left a row with its name).
            lambda: Provisioner.objects.filter(
                id__startswith=f"{self.name}@", pid=self.proc.pid
            ).exists(),
            60,
            lambda: f"worker never announced itself:\n{''.join(self.output)}",
        )
        return self

    @property
    def id(self) -> str:
        return Provisioner.objects.get(id__startswith=f"{self.name}@").id

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_until(check, timeout: float, message=lambda: "timed out") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(message())
        time.sleep(0.1)


def logs_of(job_id) -> str:
    return "\n".join(
        ProvisionerJobLog.objects.filter(job_id=job_id).values_list("output", flat=True)
    )


def state_of(build) -> dict:
    build.refresh_from_db()
    return json.loads(crypto.decrypt(build.state))


def job_of(build) -> ProvisionerJob:
    return ProvisionerJob.objects.get(pk=build.job_id)


@pytest.fixture
def workers():
    redis.from_url(os.environ["PORTAL_REDIS_URL"]).flushdb()  # no stale messages from earlier
    started: list[Worker] = []

    def start(name: str) -> Worker:
        started.append(Worker(name).start())
        return started[-1]

    yield start
    for w in started:
        w.stop()


@pytest.fixture
def slow_workspace(owner, member, workers):
    """A workspace whose build #1 succeeded on a real worker, and build #2 hangs in `sleep`."""
    template = make_template(owner, "delayed", tar_of({"main.tf": DELAYED}))
    worker = workers("crashy")
    ws = services.create_workspace(
        actor=member, owner=member, template=template, name="w", parameters={}
    )
    first = ws.latest_build
    wait_until(
        lambda: job_of(first).status == JobStatus.SUCCEEDED, 60, lambda: logs_of(first.job_id)
    )
    second = services.create_build(ws, actor=member, transition="start", parameters={"delay": "60"})
    wait_until(lambda: "sleeping" in logs_of(second.job_id), 60, lambda: logs_of(second.job_id))
    assert job_of(second).worker_id == worker.id
    return ws, first, second, worker


def test_reaper_fails_a_job_whose_worker_was_killed_and_the_next_build_succeeds(
    slow_workspace, workers, member, monkeypatch
):
    ws, first, second, worker = slow_workspace
    worker.kill9()
    monkeypatch.setenv("PORTAL_REAPER_TIMEOUT_SECONDS", "2")
    config.load.cache_clear()
    time.sleep(3)
    assert tasks.reap_hung_jobs() == 1
    job = job_of(second)
    assert job.status == JobStatus.FAILED
    assert f"no heartbeat from worker {worker.id}" in job.status_reason
    assert "no heartbeat" in logs_of(second.job_id)
    audited = AuditEntry.objects.get(resource_id=str(second.id), additional_fields__status="failed")
    assert audited.additional_fields["reason"] == "reaper"
    # The state of build #1 is what the next build starts from: nothing was lost.
    assert {r["type"] for r in state_of(first)["resources"]} >= {"terraform_data"}

    workers("crashy")  # the same worker comes back
    third = services.create_build(ws, actor=member, transition="start", parameters={"delay": "0"})
    # A duplicate of its message changes nothing.
    tasks.run_job.apply_async(args=[str(third.job_id)], queue="provisioner")
    wait_until(lambda: job_of(third).status in {"succeeded", "failed"}, 60)
    assert job_of(third).status == JobStatus.SUCCEEDED, logs_of(third.job_id)
    assert logs_of(third.job_id).count("Job picked up") == 1
    slow = [r for r in state_of(third)["resources"] if r["name"] == "slow"]
    assert slow and slow[0]["instances"], "the start after the crash rebuilt the workspace"
    stop = services.create_build(ws, actor=member, transition="delete")
    wait_until(lambda: job_of(stop).status == JobStatus.SUCCEEDED, 60, lambda: logs_of(stop.job_id))


def test_a_restarted_worker_fails_the_jobs_it_owned_at_once(slow_workspace, workers):
    ws, first, second, worker = slow_workspace
    worker.kill9()
    workers("crashy")  # same name: the same worker id
    job = job_of(second)
    assert job.status == JobStatus.FAILED
    assert "restarted while running this job" in job.status_reason

"""The runner against an in-memory job store: no database, only the job protocol and Terraform."""

from __future__ import annotations

import io
import tarfile
import textwrap
import threading
import time

import pytest

from workspaces.provisioner import runner, sandbox
from workspaces.provisioner.host import HostSettings
from workspaces.provisioner.protocol import (
    PROVISIONER_DAEMON,
    TEMPLATE_VERSION_IMPORT,
    WORKSPACE_BUILD,
    JobLost,
    JobResult,
    JobSpec,
    LogLine,
    Owner,
    QuotaAnswer,
    WorkspaceMeta,
)
from workspaces.provisioner.reporter import Reporter

PORTAL_PROVIDER = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
data "portal_workspace" "me" {}
"""
SLOW = (
    PORTAL_PROVIDER
    + """
resource "terraform_data" "slow" {
  count = data.portal_workspace.me.start_count
  provisioner "local-exec" {
    command = "echo sleeping; sleep 30"
  }
}
"""
)


def tar_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class MemoryStore:
    """A JobStore that keeps everything in lists; `cancel_after` updates, it answers canceled."""

    def __init__(self, *, cancel_after: int | None = None, lost: bool = False):
        self.updates: list[list[LogLine]] = []
        self.completed: list[JobResult] = []
        self.failed: list[str] = []
        self.cancel_after = cancel_after
        self.lost = lost
        self.costs: list[int] = []  # what commit_quota was asked
        self.budget = 0
        self._lock = threading.Lock()

    def acquire(self, tags, worker, *, job_id=None):
        raise AssertionError("the runner is handed its spec")

    def update(self, job_id, logs):
        with self._lock:
            self.updates.append(list(logs))
            calls = len(self.updates)
        if self.lost:
            raise JobLost("the reaper failed it")
        return self.cancel_after is not None and calls > self.cancel_after

    def complete(self, job_id, result):
        self.completed.append(result)

    def fail(self, job_id, error):
        self.failed.append(error)

    def commit_quota(self, job_id, daily_cost):
        self.costs.append(daily_cost)
        ok = daily_cost <= self.budget
        return QuotaAnswer(ok=ok, budget=self.budget, message="" if ok else "Too dear.")

    @property
    def lines(self) -> list[LogLine]:
        return [line for batch in self.updates for line in batch]

    def text(self) -> str:
        return "\n".join(line.output for line in self.lines)


@pytest.fixture
def host(tmp_path) -> HostSettings:
    return HostSettings(
        data_dir=tmp_path / "data",
        sandbox=sandbox.Settings(mode="none", allow_unsandboxed=True),
    )


def spec(job_type: str, archive: bytes, **extra) -> JobSpec:
    return JobSpec(
        job_id="5c1d9a52-7a0b-4d1e-9a43-2f3c4b5d6e7f",
        type=job_type,
        archive=archive,
        owner=Owner(id="1", name="alice", email="alice@example.com"),
        workspace=WorkspaceMeta(
            id="2",
            name="dev",
            build_id="3",
            build_number=1,
            template_id="4",
            template_name="t",
            template_version="v1",
        ),
        access_url="http://127.0.0.1:9",
        heartbeat_seconds=0.2,
        cancel_grace=5,
        **extra,
    )


def test_log_lines_reach_the_store_in_batches_in_order():
    store = MemoryStore()
    reporter = Reporter(store, "job", heartbeat=60, interval=0.05, batch=100)
    for i in range(1000):
        reporter.write("info", "Applying", f"line {i}")
    reporter.close()
    assert [line.output for line in store.lines] == [f"line {i}" for i in range(1000)]
    assert len(store.updates) < 50  # batches, not a call per line


def test_an_idle_job_still_updates_every_heartbeat_and_hears_a_cancel():
    store = MemoryStore(cancel_after=1)
    reporter = Reporter(store, "job", heartbeat=0.1, interval=0.02)
    try:
        assert reporter.cancel.wait(5)
    finally:
        reporter.close()
    assert store.updates[0] == []  # nothing to say, still alive


def test_a_lost_job_stops_and_is_neither_completed_nor_failed(host):
    store = MemoryStore(lost=True)
    runner.execute(
        spec(WORKSPACE_BUILD, tar_of({"main.tf": SLOW}), transition="start"), store, host, "w"
    )
    assert store.completed == [] and store.failed == []
    assert "The job was taken away from this provisioner" in store.text()


def test_a_cancel_answered_by_update_stops_terraform_and_the_build_ends_canceled(host):
    store = MemoryStore(cancel_after=3)
    began = time.monotonic()
    runner.execute(
        spec(WORKSPACE_BUILD, tar_of({"main.tf": SLOW}), transition="start"), store, host, "w"
    )
    assert time.monotonic() - began < 25  # not the 30 s of the sleep
    assert store.failed == []
    (result,) = store.completed
    assert result.run.canceled
    assert "The build was canceled; the state Terraform wrote is kept." in store.text()


def test_a_terraform_error_completes_the_import_as_failed_with_terraforms_words(host):
    store = MemoryStore()
    runner.execute(
        spec(TEMPLATE_VERSION_IMPORT, tar_of({"main.tf": "resource {"})), store, host, "w"
    )
    assert store.failed == []
    (result,) = store.completed
    assert not result.dry_runs["start"].ok
    assert "Missing type for resource" in result.dry_runs["start"].error
    assert result.parameters == []


def test_a_host_that_cannot_sandbox_fails_the_job(tmp_path):
    host = HostSettings(
        data_dir=tmp_path, sandbox=sandbox.Settings(mode="bwrap", bwrap=str(tmp_path / "no-bwrap"))
    )
    store = MemoryStore()
    runner.execute(spec(WORKSPACE_BUILD, b"", transition="start"), store, host, "w")
    assert store.completed == []
    (error,) = store.failed
    assert "bwrap" in error
    assert any(line.source == PROVISIONER_DAEMON and line.output == error for line in store.lines)


def test_an_orphan_delete_runs_no_terraform_and_forgets_the_state(host):
    store = MemoryStore()
    orphan = spec(WORKSPACE_BUILD, b"", transition="delete", orphan=True, prior_state=b"{}")
    runner.execute(orphan, store, host, "w")
    (result,) = store.completed
    assert result.orphan and result.state == b"" and result.run is None
    assert "Orphan delete" in store.text()


COSTED = (
    PORTAL_PROVIDER
    + """
resource "terraform_data" "vm" {
  count = data.portal_workspace.me.start_count
}
resource "portal_metadata" "vm" {
  count       = data.portal_workspace.me.start_count
  resource_id = terraform_data.vm[0].id
  daily_cost  = 4
}
"""
)


@pytest.mark.parametrize("budget", [3, 4])
def test_a_checked_build_plans_asks_the_store_then_applies_that_plan_or_nothing(host, budget):
    store = MemoryStore()
    store.budget = budget
    checked = spec(
        WORKSPACE_BUILD, tar_of({"main.tf": COSTED}), transition="start", check_cost=True
    )
    runner.execute(checked, store, host, "w")
    (result,) = store.completed
    assert store.costs == [4]  # asked once, with the planned resources' cost
    assert "This build's resources cost 4 a day." in store.text()
    if budget < 4:
        assert not result.run.ok and result.run.error == "Too dear."
        assert "Apply complete" not in store.text()
        assert result.state == b""  # nothing was created
    else:
        assert result.run.ok and result.daily_cost == 4
        assert "Apply complete" in store.text()

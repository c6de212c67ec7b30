"""`portal server` supervises: one crashed process does not take the platform down.

A real `portal server` (2 web processes and the embedded worker) on the test PostgreSQL and
Redis. kill -9 of the worker mid-apply, then of the web process leading the periodic work: each
is logged and restarted, the API answers throughout (but for a request the killed web process
held), the other web process takes the periodic work over, the job is failed with its reason,
and the next build succeeds on the restarted worker. A hung worker's job is reaped by the
scheduler, not by a task queued for that worker. SIGTERM still
leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from datetime import timedelta

import httpx
import psutil
import pytest
import redis
from django.conf import settings
from django.utils import timezone

from portal import config, periodic
from portal.accounts import services as account_services
from templates_app import services as template_services
from templates_app.models import ImportStatus
from tests.conftest import PASSWORD
from tests.e2e.server_process import ServerProcess, wait_gone
from tests.e2e.test_worker_faults import DELAYED, job_of, logs_of, wait_until
from tests.provisioning.conftest import make_template, tar_of
from workspaces import services
from workspaces.builds import jobs
from workspaces.choices import JobStatus
from workspaces.models import ProvisionerJob, ProvisionerJobLog

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REAPER_TIMEOUT = 3  # seconds without a heartbeat before the reaper fails a job
WAIT = 90  # generous bound on every wait; never asserted as speed
WORKER_ID = f"embedded@{socket.gethostname()}"
JOB_ENDED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}


def server_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        "PORTAL_DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PORTAL_REDIS_URL": os.environ["PORTAL_REDIS_URL"],
        "PORTAL_SECRET_KEY": config.load().secret_key(),  # the same state encryption key
        "PORTAL_STARTER_TEMPLATE": "false",
        "PORTAL_HTTP_WORKERS": "2",
        "PORTAL_JOB_HEARTBEAT_SECONDS": "0.5",
        "PORTAL_REAPER_TIMEOUT_SECONDS": str(REAPER_TIMEOUT),
        "PORTAL_REAPER_INTERVAL_SECONDS": "1",
    }


class Poller(threading.Thread):
    """Asks the API who it is, one new connection after another, and keeps every outcome."""

    def __init__(self, url: str, token: str):
        super().__init__(daemon=True)
        self.url = f"{url}/api/v2/users/me"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.outcomes: list[tuple[float, str]] = []  # (time, "ok" or what went wrong)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                r = httpx.get(self.url, headers=self.headers, timeout=15)
                outcome = "ok" if r.status_code == 200 else f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                outcome = f"{type(e).__name__}: {e}"
            self.outcomes.append((time.monotonic(), outcome))
            time.sleep(0.05)

    def between(self, start: float, end: float) -> list[str]:
        return [o for t, o in self.outcomes if start <= t <= end]


def child(server: ServerProcess, command: str) -> psutil.Process:
    """The live child running `portal <command>`; waits for a restarted one to appear."""
    found: list[psutil.Process] = []

    def look() -> bool:
        found[:] = [
            p
            for p in psutil.Process(server.proc.pid).children()
            if f"portal {command}" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE
        ]
        return bool(found)

    wait_until(look, WAIT, lambda: f"no `portal {command}` child:\n{server.commands()}")
    return found[0]


def kill9(server: ServerProcess, command: str, pid: int | None = None) -> int:
    """kill -9 one `portal <command>` child (process `pid` if given), then wait for the
    supervisor to start another."""
    victim = psutil.Process(pid) if pid else child(server, command)
    victim.send_signal(signal.SIGKILL)
    wait_until(
        lambda: f"(pid {victim.pid}) was killed by SIGKILL; restarting it in" in server.output,
        WAIT,
        lambda: f"the death of {command} was not logged:\n{server.output}",
    )
    wait_until(
        lambda: child(server, command).pid != victim.pid,
        WAIT,
        lambda: f"{command} was not restarted:\n{server.output}",
    )
    return victim.pid


def groups_of(processes: list[psutil.Process]) -> set[int]:
    groups = set()
    for proc in processes:
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(proc.pid))
    return groups


def members_of(groups: set[int]) -> list[int]:
    left = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) in groups and psutil.Process(pid).status() != "zombie":
                left.append(pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return left


def sigterm_leaves_nothing(server: ServerProcess) -> None:
    processes = server.processes()
    groups = groups_of(processes) - {os.getpgid(server.proc.pid)}
    server.signal(signal.SIGTERM)
    assert server.wait_exit(WAIT) == 0, server.output
    assert "Portal stopped." in server.output
    assert wait_gone(processes) == []
    assert members_of(groups) == []


@pytest.fixture
def server(tmp_path, owner, member):
    redis.from_url(os.environ["PORTAL_REDIS_URL"]).flushdb()  # no stale messages from earlier
    running = ServerProcess(tmp_path / "data", **server_env()).start()
    try:
        yield running.wait_ready()
    finally:
        running.stop()


@pytest.fixture
def slow_build(server, owner, member):
    """A workspace whose build #1 succeeded on the embedded worker and build #2 hangs in `sleep`."""
    # Imported by the server's worker: an import run here would race it for the job.
    file = template_services.upload_file(
        tar_of({"main.tf": DELAYED}), actor=owner, mimetype="application/gzip"
    )
    version = template_services.create_version(actor=owner, file=file)
    wait_until(
        lambda: ProvisionerJob.objects.get(pk=version.import_job_id).status in JOB_ENDED,
        WAIT,
        lambda: server.output,
    )
    version.refresh_from_db()
    assert version.import_status == ImportStatus.SUCCEEDED, version.import_error
    template = template_services.create_template(actor=owner, name="delayed", version=version)
    ws = services.create_workspace(
        actor=member, owner=member, template=template, name="w", parameters={}
    )
    first = ws.latest_build
    wait_until(
        lambda: job_of(first).status == JobStatus.SUCCEEDED, WAIT, lambda: logs_of(first.job_id)
    )
    second = services.create_build(ws, actor=member, transition="start", parameters={"delay": "90"})
    wait_until(lambda: "sleeping" in logs_of(second.job_id), WAIT, lambda: logs_of(second.job_id))
    assert job_of(second).worker_id == WORKER_ID
    yield ws, second
    # The hung step's shell outlives a killed worker's Terraform: nothing kills its process group.
    for proc in psutil.process_iter(["cmdline"]):
        if "sleep 90; echo slept" in " ".join(proc.info["cmdline"] or ()):
            with contextlib.suppress(psutil.Error):
                for leftover in [*proc.children(recursive=True), proc]:
                    leftover.kill()


def next_build_succeeds(ws, member) -> None:
    build = services.create_build(ws, actor=member, transition="start", parameters={"delay": "0"})
    wait_until(lambda: job_of(build).status in {"succeeded", "failed"}, WAIT)
    assert job_of(build).status == JobStatus.SUCCEEDED, logs_of(build.job_id)
    assert job_of(build).worker_id == WORKER_ID


def leader(server: ServerProcess, other_than: int | None = None) -> int:
    """The pid of the process leading the periodic work (not `other_than`); waits for one."""
    found: list[int] = []

    def look() -> bool:
        now = periodic.leader_pid()
        found[:] = [now[1]] if now and now[1] != other_than else []
        return bool(found)

    wait_until(look, WAIT, lambda: f"no process leads the periodic work:\n{server.output}")
    return found[0]


def test_killed_worker_and_web_process_are_restarted_and_the_api_keeps_answering(
    server, slow_build, member
):
    ws, hung = slow_build
    _, _, token = account_services.login(login=member.username, password=PASSWORD)
    poller = Poller(server.url, token)
    poller.start()
    try:
        began = time.monotonic()
        kill9(server, "worker")
        restarted = time.monotonic() - began
        wait_until(lambda: job_of(hung).status == JobStatus.FAILED, WAIT, lambda: server.output)
        print(f"\nworker kill -9: restarted after {restarted:.1f} s, job failed after "
              f"{time.monotonic() - began:.1f} s")  # fmt: skip
        reason = job_of(hung).status_reason
        assert "restarted while running this job" in reason or "no heartbeat" in reason, reason
        assert reason in logs_of(hung.job_id)  # the build log says why, too
        next_build_succeeds(ws, member)

        worker_phase_end = time.monotonic()

        web_killed_at = time.monotonic()
        victim = kill9(server, "web-process", pid=leader(server))
        successor = leader(server, other_than=victim)
        print(f"leading web process kill -9: periodic work led by pid {successor} after "
              f"{time.monotonic() - web_killed_at:.1f} s")  # fmt: skip
        assert successor in {p.pid for p in psutil.Process(server.proc.pid).children()}
        time.sleep(2)  # the restarted web process serves too
        web_phase_end = time.monotonic()
    finally:
        poller.done.set()
        poller.join(30)

    during_worker = poller.between(began, worker_phase_end)
    assert during_worker and set(during_worker) == {"ok"}, during_worker
    during_web = poller.between(web_killed_at, web_phase_end)
    failed = [o for o in during_web if o != "ok"]
    assert len(failed) <= 1, failed  # the request the killed process held, if any
    assert during_web.count("ok") >= 5, during_web

    sigterm_leaves_nothing(server)


def test_a_hung_worker_s_job_is_reaped_by_the_scheduler(server, slow_build, member):
    ws, hung = slow_build
    worker = child(server, "worker")
    worker.suspend()  # SIGSTOP: alive to the supervisor, but neither heartbeats nor takes tasks
    began = time.monotonic()
    try:
        wait_until(lambda: job_of(hung).status == JobStatus.FAILED, WAIT, lambda: server.output)
    finally:
        worker.resume()
    print(f"\nhung worker: job reaped after {time.monotonic() - began:.1f} s "
          f"(reaper timeout {REAPER_TIMEOUT} s, interval 1 s)")  # fmt: skip
    reason = job_of(hung).status_reason
    assert f"no heartbeat from worker {WORKER_ID}" in reason
    assert "no heartbeat" in logs_of(hung.job_id)
    next_build_succeeds(ws, member)
    sigterm_leaves_nothing(server)


def test_reapers_on_several_replicas_fail_a_job_once(owner, member):
    """Schedulers on every replica may reap at the same moment; each job is failed once."""
    template = make_template(owner, "delayed", tar_of({"main.tf": DELAYED}))
    ws = services.create_workspace(
        actor=member, owner=member, template=template, name="w", parameters={}
    )
    job = jobs.acquire("gone@nowhere", job_id=ws.latest_build.job_id)
    ProvisionerJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    barrier = threading.Barrier(8)
    reaped: list[list] = []

    def reap() -> None:
        from django.db import connection

        barrier.wait()
        try:
            reaped.append(jobs.reap_hung(timedelta(minutes=1)))
        finally:
            connection.close()

    threads = [threading.Thread(target=reap) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(len(r) for r in reaped) == [0] * 7 + [1]
    assert job_of(ws.latest_build).status == JobStatus.FAILED
    assert ProvisionerJobLog.objects.filter(job=job, output__contains="no heartbeat").count() == 1

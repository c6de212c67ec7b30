"""`portal provisionerd start` as a real process with no database or Redis settings, against a
real server: it imports and builds the local template, is killed mid-apply (the reaper fails
the job, the state is kept), a daemon with other tags never takes a job, a revoked key is cut off.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import close_old_connections
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from enterprise.provisioner_daemons import keys
from portal import config, crypto
from templates_app import services as template_services
from templates_app.models import ImportStatus
from tests.e2e.test_worker_faults import DELAYED
from tests.enterprise.audit_stream.receivers import TestCA
from tests.provisioning.conftest import tar_of
from tests.relay.replicas import REPO, Replica, base_env
from workspaces import services, tasks
from workspaces.choices import JobStatus
from workspaces.management.commands.ensure_starter_template import EXAMPLES, pack
from workspaces.models import ProvisionerJob, ProvisionerJobLog, WorkspaceAgent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ISOLATED = {"pool": "iso"}
# Names a daemon's environment must not hold: it reaches Portal over HTTPS and nothing else.
SECRET_SETTINGS = ("DATABASE", "REDIS", "BROKER", "SECRET_KEY", "DJANGO")


def wait_until(check, timeout: float, message=lambda: "timed out") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(message())
        time.sleep(0.2)


def logs_of(job_id) -> str:
    return "\n".join(
        ProvisionerJobLog.objects.filter(job_id=job_id).values_list("output", flat=True)
    )


def status_of(job_id) -> str:
    return ProvisionerJob.objects.values_list("status", flat=True).get(pk=job_id)


def ended(job_id) -> bool:
    return status_of(job_id) in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}


class Daemon:
    """`python -m portal_provisionerd start` (what `portal provisionerd start` runs)."""

    def __init__(
        self, server: Replica, secret: str, name: str, data_dir: Path, *tags: str, extra=()
    ):
        self.env = {
            k: v
            for k, v in base_env().items()
            if not any(word in k.upper() for word in SECRET_SETTINGS)
        }
        self.name = name
        self.args = [
            sys.executable, "-m", "portal_provisionerd", "start", "--url", server.url,
            "--key", secret, "--name", name, "--data-dir", str(data_dir),
            "--dangerous-allow-unsandboxed-builds", "--poll-interval", "0.3",
            *[a for t in tags for a in ("--tag", t)], *extra,
        ]  # fmt: skip
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            self.args, cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True).start()

    def text(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def server(django_db_setup, django_db_blocker):
    replica = Replica("provisionerd")
    replica.extra_env = {
        "PORTAL_ACCESS_URL": replica.url,
        "PORTAL_JOB_HEARTBEAT_SECONDS": "0.5",
        "PORTAL_SECRET_KEY": config.load().secret_key(),  # the same state encryption key
    }
    with django_db_blocker.unblock():
        replica.start()
    try:
        yield replica.wait_ready()
    finally:
        replica.stop()
        close_old_connections()
    assert "Traceback" not in replica.output(), replica.output()[-4000:]


@pytest.fixture
def daemons(server, tmp_path):
    started: list[Daemon] = []

    def start(secret: str, name: str, *tags: str) -> Daemon:
        started.append(Daemon(server, secret, name, tmp_path / name, *tags))
        return started[-1]

    yield start
    for d in started:
        d.stop()


def import_on_daemon(owner, data: bytes, name: str):
    """A template whose jobs carry ISOLATED: its import is the daemon's, like its builds."""
    file = template_services.upload_file(data, actor=owner, mimetype="application/gzip")
    version = template_services.create_version(actor=owner, file=file, provisioner_tags=ISOLATED)
    wait_until(lambda: ended(version.import_job_id), 120, lambda: logs_of(version.import_job_id))
    version.refresh_from_db()
    assert version.import_status == ImportStatus.SUCCEEDED, logs_of(version.import_job_id)
    return template_services.create_template(actor=owner, name=name, version=version)


def test_a_daemon_without_database_settings_builds_the_local_template_and_others_never_take_it(
    owner, member, daemons
):
    _, secret = keys.create_key(actor=owner, name="iso", tags=ISOLATED)
    _, other_secret = keys.create_key(actor=owner, name="gpu", tags={"pool": "gpu"})
    daemon = daemons(secret, "d1", "pool=iso")
    other = daemons(other_secret, "d2")
    assert not any(w in k.upper() for k in daemon.env for w in SECRET_SETTINGS)

    wait_until(lambda: "listening for waiting jobs" in daemon.text(), 60, daemon.text)
    template = import_on_daemon(owner, pack(EXAMPLES / "local"), "local")
    ws = services.create_workspace(
        actor=member, owner=member, template=template, name="w", parameters={}
    )
    build = ws.latest_build
    wait_until(lambda: ended(build.job_id), 180, lambda: logs_of(build.job_id) + daemon.text())
    job = ProvisionerJob.objects.get(pk=build.job_id)
    assert job.status == JobStatus.SUCCEEDED, logs_of(build.job_id)
    assert job.worker_id == "provisionerd:iso:d1"
    assert "Job picked up by provisioner provisionerd:iso:d1" in logs_of(build.job_id)
    build.refresh_from_db()
    assert json.loads(crypto.decrypt(build.state))["resources"], "the state came back"
    # What the build produced arrived through the daemon: resources and their agent.
    assert WorkspaceAgent.objects.filter(resource__job_id=build.job_id, name="main").exists()

    gone = services.create_build(ws, actor=member, transition="delete")
    wait_until(lambda: ended(gone.job_id), 180, lambda: logs_of(gone.job_id))
    assert status_of(gone.job_id) == JobStatus.SUCCEEDED, logs_of(gone.job_id)
    # The daemon with other tags saw every one of these jobs pending and took none.
    assert not ProvisionerJob.objects.filter(worker_id__startswith="provisionerd:gpu:").exists()
    assert other.proc.poll() is None, other.text()


def test_a_daemon_killed_mid_apply_has_its_job_failed_by_the_reaper_with_the_state_kept(
    owner, member, daemons, monkeypatch
):
    _, secret = keys.create_key(actor=owner, name="iso", tags=ISOLATED)
    daemon = daemons(secret, "crashy", "pool=iso")
    template = import_on_daemon(owner, tar_of({"main.tf": DELAYED}), "delayed")
    ws = services.create_workspace(
        actor=member, owner=member, template=template, name="w", parameters={}
    )
    first = ws.latest_build
    wait_until(lambda: ended(first.job_id), 120, lambda: logs_of(first.job_id))
    assert status_of(first.job_id) == JobStatus.SUCCEEDED, logs_of(first.job_id)
    second = services.create_build(ws, actor=member, transition="start", parameters={"delay": "60"})
    wait_until(lambda: "sleeping" in logs_of(second.job_id), 120, lambda: logs_of(second.job_id))

    daemon.stop()  # kill -9
    monkeypatch.setenv("PORTAL_REAPER_TIMEOUT_SECONDS", "2")
    config.load.cache_clear()
    time.sleep(3)
    tasks.reap_hung_jobs()
    job = ProvisionerJob.objects.get(pk=second.job_id)
    assert job.status == JobStatus.FAILED
    assert "no heartbeat from worker provisionerd:iso:crashy" in job.status_reason
    first.refresh_from_db()
    kept = json.loads(crypto.decrypt(first.state))
    assert {r["type"] for r in kept["resources"]} >= {"terraform_data"}

    # A new daemon picks up where it left: the next build starts from the kept state.
    daemons(secret, "crashy2", "pool=iso")
    third = services.create_build(ws, actor=member, transition="start", parameters={"delay": "0"})
    wait_until(lambda: ended(third.job_id), 120, lambda: logs_of(third.job_id))
    assert status_of(third.job_id) == JobStatus.SUCCEEDED, logs_of(third.job_id)


def test_a_revoked_key_cuts_its_daemon_off_and_is_refused_at_start(owner, server, daemons):
    key, secret = keys.create_key(actor=owner, name="iso", tags=ISOLATED)
    daemon = daemons(secret, "d1")
    wait_until(lambda: "listening for waiting jobs" in daemon.text(), 60, daemon.text)
    keys.revoke_key(key, actor=owner)
    # Its notify socket closes at once, so it learns without waiting for its next poll.
    assert daemon.proc.wait(8) == 2
    assert "was revoked" in daemon.text()
    again = daemons(secret, "d2")
    assert again.proc.wait(30) == 2
    assert "Portal refused this daemon" in again.text() and "was revoked" in again.text()
    # The notify socket refuses it too (closed before the upgrade: 403).
    url = server.url.replace("http", "ws") + "/api/v2/provisionerdaemons/serve/notify"
    with pytest.raises(InvalidStatus, match="403"):
        connect(url, additional_headers={"Portal-Provisioner-Key": secret}, open_timeout=10)


@pytest.fixture
def tls_server(django_db_setup, django_db_blocker, tmp_path):
    """The server behind TLS with a certificate of a CA made here (a self-signed deployment)."""
    ca = TestCA(tmp_path)
    cert, key = ca.issue("server", server=True)
    replica = Replica("provisionerd-tls")
    replica.url = f"https://127.0.0.1:{replica.port}"
    replica.extra_env = {"PORTAL_ACCESS_URL": replica.url}
    replica.uvicorn_args = ["--ssl-certfile", cert, "--ssl-keyfile", key]
    with django_db_blocker.unblock():
        replica.start()
    try:
        yield replica.wait_ready(), ca.ca_file
    finally:
        replica.stop()
        close_old_connections()
    assert "Traceback" not in replica.output(), replica.output()[-4000:]


def test_over_tls_a_daemon_trusting_the_ca_imports_and_one_that_does_not_never_connects(
    owner, tls_server, tmp_path
):
    server, ca_file = tls_server
    _, secret = keys.create_key(actor=owner, name="iso", tags=ISOLATED)
    untrusting = Daemon(server, secret, "plain", tmp_path / "plain")
    trusting = Daemon(server, secret, "tls", tmp_path / "tls", extra=("--ca-cert", ca_file))
    try:
        file = template_services.upload_file(
            tar_of({"main.tf": DELAYED}), actor=owner, mimetype="application/gzip"
        )
        version = template_services.create_version(
            actor=owner, file=file, provisioner_tags=ISOLATED
        )
        job = version.import_job_id
        wait_until(lambda: ended(job), 120, lambda: logs_of(job) + trusting.text())
        assert status_of(job) == JobStatus.SUCCEEDED, logs_of(job)
        assert ProvisionerJob.objects.get(pk=job).worker_id == "provisionerd:iso:tls"
        assert "CERTIFICATE_VERIFY_FAILED" in untrusting.text()
        assert untrusting.proc.poll() is None, "it keeps trying, with backoff"
    finally:
        untrusting.stop()
        trusting.stop()

"""Real Terraform builds of real templates, run in-process by the same code a worker runs."""

from __future__ import annotations

import io
import os
import tarfile
import textwrap
import threading
from pathlib import Path

import pytest
from django.db import connection

from portal import config
from templates_app import services as template_services
from templates_app.models import ImportStatus
from workspaces.builds import jobs, runner
from workspaces.management.commands.ensure_starter_template import EXAMPLES, pack
from workspaces.models import ProvisionerJob

WORKER = "test-worker"


def tar_of(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def run_job(job_id, worker: str = WORKER) -> ProvisionerJob:
    """What `workspaces.tasks.run_job` does in a worker, here in the test's process."""
    try:
        job = jobs.acquire(worker, tags={}, job_id=job_id)
        assert job is not None, "the job was not pending"
        runner.execute(job, worker)
        return ProvisionerJob.objects.get(pk=job_id)
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()  # a test thread's connection goes back to the pool


def import_version(actor, data: bytes, template=None):
    file = template_services.upload_file(data, actor=actor, mimetype="application/gzip")
    version = template_services.create_version(actor=actor, file=file, template=template)
    run_job(version.import_job_id)
    version.refresh_from_db()
    return version


def make_template(actor, name: str, data: bytes):
    version = import_version(actor, data)
    assert version.import_status == ImportStatus.SUCCEEDED, version.import_error
    return template_services.create_template(actor=actor, name=name, version=version)


@pytest.fixture
def local_template(transactional_db, owner):
    return make_template(owner, "local", pack(EXAMPLES / "local"))


@pytest.fixture
def data_dir() -> Path:
    return config.load().data_dir


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


PORTAL_PROVIDER = """
terraform {
  required_providers {
    portal = { source = "portal.local/portal/portal" }
  }
}
data "portal_workspace" "me" {}
"""

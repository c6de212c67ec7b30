"""Template archives for tests, and stand-ins for the import job that the test decides."""

from __future__ import annotations

import contextlib
import io
import tarfile
import threading
import time

from django.db import close_old_connections, connection, transaction

from portal import hooks
from templates_app import services
from templates_app.models import ImportStatus, TemplateVersion

MAIN_TF = 'terraform {\n  required_version = ">= 1.0"\n}\n\nresource "terraform_data" "home" {}\n'
BAD_HCL_ERROR = (
    'Error: Unsupported block type\n\n  on main.tf line 1:\n   1: resourc "x" "y" {}\n\n'
    'Blocks of type "resourc" are not expected here.'
)
PARAMETERS = [
    {
        "name": "cpu",
        "display_name": "CPU cores",
        "description": "",
        "type": "number",
        "default": "2",
        "required": False,
        "mutable": True,
        "icon": "",
        "order": 0,
        "options": [],
        "validation": {"min": 1, "max": 8, "regex": None, "monotonic": None, "error": ""},
    }
]
RESOURCES = {
    "start": [
        {
            "address": "terraform_data.home",
            "type": "terraform_data",
            "name": "home",
            "daily_cost": 3,
            "hide": False,
            "icon": "",
            "metadata": [],
            "agents": [],
        }
    ],
    "stop": [],
}


def template_tar(files: dict[str, str | bytes] | None = None, *, gz: bool = True) -> bytes:
    """A (gzipped) tar of the given files; by default a minimal valid template."""
    files = {"main.tf": MAIN_TF} if files is None else files
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, content in files.items():
            payload = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def evil_tar() -> bytes:
    """A tar with a symlink that leaves the tree."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("main.tf")
        info.size = len(MAIN_TF)
        tar.addfile(info, io.BytesIO(MAIN_TF.encode()))
        link = tarfile.TarInfo("passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../etc/passwd"
        tar.addfile(link)
    return buf.getvalue()


def _import_job(version: TemplateVersion, actor, lines: list[tuple[str, str, str]]):
    """An import job row with log lines (stage, level, output), as the runner would leave."""
    from workspaces.choices import JobType
    from workspaces.models import ProvisionerJob, ProvisionerJobLog

    job = ProvisionerJob.objects.create(
        type=JobType.TEMPLATE_VERSION_IMPORT, template_version=version, initiator=actor
    )
    services.attach_import_job(version, actor=actor, job_id=job.id)
    ProvisionerJobLog.objects.bulk_create(
        ProvisionerJobLog(job=job, stage=stage, level=level, output=output)
        for stage, level, output in lines
    )
    return job


def import_succeeds(version: TemplateVersion, *, actor) -> None:
    """A hook handler: the import finishes at once, having found a parameter and a resource."""
    _import_job(version, actor, [("Planning", "info", "Plan: 1 to add, 0 to change.")])
    services.record_import_result(
        version,
        actor=actor,
        status=ImportStatus.SUCCEEDED,
        parameters_schema=PARAMETERS,
        resources=RESOURCES,
        daily_cost=3,
    )


def import_fails(version: TemplateVersion, *, actor) -> None:
    """A hook handler: Terraform refuses the HCL, as `terraform init` does for a typo."""
    _import_job(
        version,
        actor,
        [("Initializing", "info", "Initializing the backend..."), *(
            ("Initializing", "error", line) for line in BAD_HCL_ERROR.splitlines()
        )],
    )  # fmt: skip
    services.record_import_result(
        version, actor=actor, status=ImportStatus.FAILED, error=BAD_HCL_ERROR
    )


class SlowImport:
    """A hook handler whose import runs in a thread after commit, logging a line at a time."""

    def __init__(self, lines: int = 6, delay: float = 0.15, waiting_reason: str = ""):
        self.lines = lines
        self.delay = delay
        self.waiting_reason = waiting_reason
        self.threads: list[threading.Thread] = []

    def __call__(self, version: TemplateVersion, *, actor) -> None:
        from workspaces.models import ProvisionerJob

        job = _import_job(version, actor, [])
        if self.waiting_reason:
            ProvisionerJob.objects.filter(pk=job.pk).update(status_reason=self.waiting_reason)
        thread = threading.Thread(target=self._run, args=(version.pk, job.pk, actor), daemon=True)
        self.threads.append(thread)
        transaction.on_commit(thread.start)

    def _run(self, version_id, job_id, actor) -> None:
        from workspaces.models import ProvisionerJob, ProvisionerJobLog

        try:
            version = TemplateVersion.objects.get(pk=version_id)
            time.sleep(self.delay * 3)  # long enough for the client to see it wait
            ProvisionerJob.objects.filter(pk=job_id).update(status_reason="")
            services.record_import_result(version, actor=actor, status=ImportStatus.RUNNING)
            for n in range(self.lines):
                time.sleep(self.delay)
                ProvisionerJobLog.objects.create(
                    job_id=job_id, stage="Planning", output=f"step {n}"
                )
            services.record_import_result(
                version, actor=actor, status=ImportStatus.SUCCEEDED, daily_cost=1
            )
        finally:
            close_old_connections()
            connection.close()

    def join(self) -> None:
        for thread in self.threads:
            if thread.is_alive():
                thread.join(30)


class ImportHook:
    """Handlers on the template_version_created hook, for one test."""

    def __init__(self):
        self.hook = hooks.template_version_created
        self.registered: list = []

    def __call__(self, handler):
        self.hook.register(handler)
        self.registered.append(handler)
        return handler

    def clear(self) -> None:
        for handler in self.registered:
            if handler in self.hook.handlers():
                self.hook.unregister(handler)
        self.registered.clear()


@contextlib.contextmanager
def fake_import_hook():
    """Stand in for the real import job (a Celery task) with handlers the test registers."""
    hook = hooks.template_version_created
    saved = hook.handlers()
    for handler in saved:
        hook.unregister(handler)
    fake = ImportHook()
    try:
        yield fake
    finally:
        fake.clear()
        for handler in saved:
            hook.register(handler)

"""A live server and a fake provisioner that plays the worker for the workspace CLI tests.

Terraform does not run here: a fake provisioner thread plays the worker through the real job
functions (acquire, heartbeat, complete), writing and publishing log rows as the runner does.
"""

import threading
import time
from dataclasses import dataclass, field

import pytest
from django.db import close_old_connections, connection

from templates_app.models import ImportStatus
from tests.factories import TemplateFactory, TemplateVersionFactory
from workspaces import services
from workspaces.builds import jobs, logs, provisioning
from workspaces.choices import JobStatus
from workspaces.models import (
    Provisioner,
    ProvisionerJobLog,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceBuild,
    WorkspaceResource,
)
from workspaces.provisioner.session import Outcome as SessionOutcome

WORKER_ID = "fake-provisioner"
SECRET = "hunter2-do-not-print"

SCHEMA = [
    {
        "name": "region",
        "display_name": "Region",
        "description": "Where the workspace runs.",
        "type": "string",
        "default": "eu",
        "required": False,
        "mutable": True,
        "icon": "",
        "order": 1,
        "options": [
            {"name": "Europe", "value": "eu", "description": "", "icon": ""},
            {"name": "United States", "value": "us", "description": "", "icon": ""},
        ],
        "validation": None,
    },
    {
        "name": "cpu",
        "display_name": "CPU cores",
        "description": "",
        "type": "number",
        "default": "2",
        "required": False,
        "mutable": True,
        "icon": "",
        "order": 2,
        "options": [],
        "validation": {"min": 1, "max": 8, "regex": None, "monotonic": None, "error": None},
    },
    {
        "name": "disk",
        "display_name": "Disk (GB)",
        "description": "Size of the home volume.",
        "type": "number",
        "default": None,
        "required": True,
        "mutable": False,
        "icon": "",
        "order": 3,
        "options": [],
        "validation": None,
    },
]

APPLY_LINES = [
    ("Initializing", "info", "Terraform has been successfully initialized!"),
    ("Applying", "info", "terraform_data.home: Creating..."),
    ("Applying", "info", "terraform_data.home: Creation complete after 0s"),
]


@dataclass
class Outcome:
    status: str = JobStatus.SUCCEEDED
    lines: list[tuple[str, str, str]] = field(default_factory=lambda: list(APPLY_LINES))
    error: str = ""
    wait_for_cancel: bool = False


class FakeProvisioner(threading.Thread):
    """Takes pending jobs like a worker and ends them as planned per (workspace, transition)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.plans: dict[tuple[str, str], Outcome] = {}
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def plan(self, workspace: str, transition: str, outcome: Outcome) -> None:
        self.plans[(workspace, transition)] = outcome

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                job = jobs.acquire(WORKER_ID)
                if job is None:
                    time.sleep(0.05)
                    continue
                self.execute(job)
        except BaseException as e:  # surfaced by the fixture, not lost in a thread
            self.failure = e
        finally:
            connection.close()

    def log(self, job, stage: str, level: str, output: str) -> None:
        row = ProvisionerJobLog.objects.create(job=job, stage=stage, level=level, output=output)
        logs.publish(
            job.id,
            [
                {
                    "id": row.id,
                    "created_at": row.created_at,
                    "source": row.source,
                    "level": level,
                    "stage": stage,
                    "output": output,
                }
            ],
        )

    def execute(self, job) -> None:
        build = WorkspaceBuild.objects.select_related("workspace").get(job=job)
        outcome = self.plans.get((build.workspace.name, build.transition)) or Outcome()
        self.log(job, "Setting up", "info", f"Job picked up by provisioner {WORKER_ID}.")
        for stage, level, output in outcome.lines:
            self.log(job, stage, level, output)
        status = outcome.status
        if outcome.wait_for_cancel:
            while not jobs.heartbeat(job.id, WORKER_ID):
                if self.stopping.wait(0.05):
                    return
            self.log(job, "Applying", "warn", "The build was canceled; the state is kept.")
            status = JobStatus.CANCELED
        if status == JobStatus.SUCCEEDED and build.transition == "start":
            record_resources(build)
        # Completed as the runner does, so what follows a build's end (a restart's start) happens.
        provisioning.finish_build(
            job.id,
            WORKER_ID,
            outcome=SessionOutcome(
                ok=status == JobStatus.SUCCEEDED,
                canceled=status == JobStatus.CANCELED,
                error=outcome.error,
            ),
        )
        logs.publish_end(job.id, status)


def record_resources(build: WorkspaceBuild) -> None:
    """What the runner records after a successful apply: a resource, its agent and an app."""
    resource = WorkspaceResource.objects.create(
        job=build.job,
        transition="start",
        type="terraform_data",
        name="home",
        address="terraform_data.home",
        daily_cost=5,
        metadata=[
            {"key": "path", "value": "/srv/homes/dev", "sensitive": False},
            {"key": "password", "value": SECRET, "sensitive": True},
        ],
    )
    agent = WorkspaceAgent.objects.create(resource=resource, name="main", token_hash="0" * 64)
    WorkspaceApp.objects.create(
        agent=agent, slug="code", display_name="Code Server", url="http://localhost:13337"
    )
    WorkspaceBuild.objects.filter(pk=build.pk).update(daily_cost=5)


@pytest.fixture
def provisioner(transactional_db):
    Provisioner.objects.create(id=WORKER_ID)  # online: builds do not say nobody can take them
    worker = FakeProvisioner()
    worker.start()
    yield worker
    worker.stopping.set()
    worker.join(timeout=10)
    close_old_connections()
    if worker.failure:
        raise worker.failure


@pytest.fixture
def template(db):
    tpl = TemplateFactory(name="dev-env", with_version=False)
    version = TemplateVersionFactory(
        template=tpl,
        name="v1",
        import_status=ImportStatus.SUCCEEDED,
        parameters_schema=SCHEMA,
        daily_cost=5,
    )
    tpl.active_version = version
    tpl.save(update_fields=["active_version"])
    return tpl


@pytest.fixture
def asgi_server(transactional_db):
    """The real ASGI app (HTTP and WebSockets) on a local port; records the WebSocket paths."""
    import socket

    import uvicorn

    from portal.asgi import application

    websockets: list[str] = []

    async def recording(scope, receive, send):
        if scope["type"] == "websocket":
            websockets.append(scope["path"])
        return await application(scope, receive, send)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(recording, host="127.0.0.1", port=port, lifespan="off", log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    yield f"http://127.0.0.1:{port}", websockets
    server.should_exit = True
    thread.join(timeout=10)
    close_old_connections()


def make_workspace(user, template, name="dev", disk="10"):
    """A workspace created through the service, its first build left pending."""
    return services.create_workspace(
        actor=user, owner=user, template=template, name=name, parameters={"disk": disk}
    )


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def logged(*, build_number: int, name: str = "dev") -> bool:
    """Whether the fake provisioner has written that build's log lines."""
    return ProvisionerJobLog.objects.filter(
        job__build__workspace__name=name,
        job__build__build_number=build_number,
        output__contains="Creation complete",
    ).exists()


def latest_build(name: str) -> WorkspaceBuild:
    return WorkspaceBuild.objects.select_related("job").filter(workspace__name=name).first()

"""`portal create|list|show|start|stop|restart|delete|cancel|builds` against a live server.

Terraform does not run here: a fake provisioner thread plays the worker through the real job
functions (acquire, heartbeat, complete), writing and publishing log rows as the runner does.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from portal.accounts.choices import Role
from templates_app.models import ImportStatus
from tests.cli.conftest import REPO
from tests.factories import TemplateFactory, TemplateVersionFactory
from workspaces import jobs, logs, services
from workspaces.choices import JobStatus
from workspaces.models import (
    Provisioner,
    ProvisionerJobLog,
    Workspace,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceBuild,
    WorkspaceResource,
)

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
        if status == JobStatus.SUCCEEDED and build.transition == "delete":
            Workspace.objects.filter(pk=build.workspace_id).update(deleted_at=timezone.now())
        jobs.complete(job.id, WORKER_ID, status=status, error=outcome.error)
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


# --- create -------------------------------------------------------------------------------


def test_create_builds_with_parameters_and_streams_the_log(cli, member, template, provisioner):
    cli.login(member)
    result = cli.ok("create", "dev", "--template", "dev-env", "-p", "disk=20", "-p", "cpu=4", "-y")

    out = result.stdout
    assert "Daily cost of workspace dev from dev-env (version v1): 5." in out
    assert "Created workspace dev; building it" in out
    assert "==> Initializing" in out and "==> Applying" in out
    assert "terraform_data.home: Creation complete after 0s" in out
    assert out.index("==> Initializing") < out.index("==> Applying")
    assert "Build #1 (start) of dev succeeded in" in out
    assert "the workspace is running" in out
    build = latest_build("dev")
    assert build.job.status == JobStatus.SUCCEEDED
    assert build.parameters == {"region": "eu", "cpu": "4", "disk": "20"}


def test_create_prints_every_invalid_parameter(cli, member, template, provisioner):
    cli.login(member)
    result = cli(
        "create", "dev", "-t", "dev-env", "-p", "disk=lots", "-p", "cpu=99", "-p", "region=mars",
        "-p", "colour=blue", "--yes",
    )  # fmt: skip
    assert result.returncode == 1
    err = result.stderr
    assert err.startswith("error: 4 parameter values are invalid.")
    assert "parameters.disk: 'lots' is not a number." in err
    assert "parameters.cpu: Must be at most 8." in err
    assert "parameters.region: 'mars' is not an option; use one of: eu, us." in err
    assert "parameters.colour: Unknown parameter" in err
    assert not Workspace.objects.exists()


def test_create_without_a_terminal_names_the_missing_required_parameters(cli, member, template):
    cli.login(member)
    result = cli("create", "dev", "-t", "dev-env")
    assert result.returncode == 1
    assert "missing required parameter (no terminal to ask on)" in result.stderr
    assert "disk (Disk (GB)): Size of the home volume." in result.stderr
    assert "--parameter NAME=VALUE" in result.stderr

    result = cli("create", "dev", "-t", "dev-env", "--yes")
    assert result.returncode == 1
    assert "--yes only fills in defaults" in result.stderr

    # Everything given, but nobody to confirm the build with.
    result = cli("create", "dev", "-t", "dev-env", "-p", "disk=5")
    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert not Workspace.objects.exists()


def test_create_asks_for_parameters_on_a_terminal(cli, member, template, provisioner):
    pexpect = pytest.importorskip("pexpect")
    cli.login(member)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "portal", "create", "dev", "--template", "dev-env", "-p", "cpu=3"],
        env=cli.env,
        cwd=str(REPO),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    try:
        child.expect("Where the workspace runs.")
        child.expect(r"2\) United States \[us\]")
        child.expect(r"Choose \[eu\]: ")
        child.sendline("2")
        child.expect("Size of the home volume.")
        child.expect("cannot be changed after the workspace is created")
        child.expect("Value: ")
        child.sendline("25")
        child.expect(r"Daily cost of workspace dev from dev-env \(version v1\): 5\.")
        child.expect(r"Create workspace dev from dev-env \(version v1\)\? \[y/N\]: ")
        child.sendline("y")
        child.expect(r"Build #1 \(start\): \w+")  # the progress line
        child.expect("succeeded in")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert latest_build("dev").parameters == {"region": "us", "cpu": "3", "disk": "25"}


# --- list and show ------------------------------------------------------------------------


def test_list_shows_your_workspaces_and_admins_see_everyone(
    cli, member, owner, template, provisioner, tmp_path
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    lines = cli.ok("list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "TEMPLATE", "STATUS", "LAST", "BUILD", "COST/DAY"]
    row = lines[1].split()
    assert row[:3] == ["dev", "dev-env", "running"]
    assert "#1 start succeeded" in lines[1] and row[-1] == "5"

    [listed] = cli.json("list")
    assert (listed["name"], listed["status"], listed["owner_name"]) == ("dev", "running", "alice")

    admin = type(cli)(cli.url, tmp_path / "admin-home")
    admin.login(owner)
    assert "No workspaces yet" in admin.ok("list").stderr
    everyone = admin.ok("list", "--all").stdout.splitlines()
    assert everyone[0].split()[:2] == ["OWNER", "NAME"]
    assert everyone[1].split()[:3] == ["alice", "dev", "dev-env"]


def test_show_has_build_resources_agents_apps_and_masks_secrets(
    cli, member, owner, template, provisioner, tmp_path
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    out = cli.ok("show", "dev").stdout
    assert "Workspace:" in out and "alice/dev" in out
    assert "Template:" in out and "dev-env (version v1)" in out
    assert "#1 start succeeded, by alice" in out
    assert "disk = 10" in out
    assert "terraform_data.home, cost/day 5" in out
    assert "path: /srv/homes/dev" in out
    assert "password: ********" in out
    assert "agent main (linux/amd64): connecting, created" in out
    assert "app code (Code Server): http://localhost:13337" in out
    assert SECRET not in out

    admin = type(cli)(cli.url, tmp_path / "admin-home")
    admin.login(owner)
    shown = admin.json("show", "alice/dev")
    assert shown["status"] == "running"
    [password] = [m for m in shown["resources"][0]["metadata"] if m["key"] == "password"]
    assert password == {"key": "password", "value": None, "sensitive": True}

    missing = cli("show", "nope")
    assert missing.returncode == 1
    assert "alice has no workspace 'nope'" in missing.stderr


# --- start, stop, restart -----------------------------------------------------------------


def test_stop_and_start_exit_zero_and_a_failed_build_exits_one(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    stopped = cli.ok("stop", "dev")
    assert "Queued build #2 (stop) of dev." in stopped.stdout
    assert "Build #2 (stop) of dev succeeded" in stopped.stdout
    assert "the workspace is stopped" in stopped.stdout

    provisioner.plan(
        "dev",
        "start",
        Outcome(
            status=JobStatus.FAILED,
            lines=[("Applying", "error", "Error: the disk could not be attached")],
            error="terraform apply: exit status 1",
        ),
    )
    failed = cli("start", "dev")
    assert failed.returncode == 1
    assert "Error: the disk could not be attached" in failed.stdout
    assert "error: build #3 (start) of dev failed after" in failed.stderr
    assert "terraform apply: exit status 1" in failed.stderr
    assert cli.json("show", "dev")["status"] == "failed"

    provisioner.plan("dev", "start", Outcome())
    started = cli.ok("start", "dev", "-p", "cpu=6")
    assert "Build #4 (start) of dev succeeded" in started.stdout
    assert latest_build("dev").parameters["cpu"] == "6"


def test_restart_stops_then_starts_and_stops_short_when_the_stop_fails(
    cli, member, template, provisioner
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    out = cli.ok("restart", "dev").stdout
    assert out.index("Build #2 (stop) of dev succeeded") < out.index("Queued build #3 (start)")
    assert "Build #3 (start) of dev succeeded" in out

    provisioner.plan("dev", "stop", Outcome(status=JobStatus.FAILED, error="stuck"))
    result = cli("restart", "dev")
    assert result.returncode == 1
    assert "build #4 (stop) of dev failed" in result.stderr
    assert "(start)" not in result.stdout
    assert latest_build("dev").build_number == 4


def test_a_build_in_progress_refuses_another_with_409(cli, member, template):
    make_workspace(member, template)  # its start build stays pending: no provisioner runs
    cli.login(member)

    result = cli("stop", "dev")
    assert result.returncode == 1
    assert "error: Build #1 (start) is pending; cancel it or wait." in result.stderr
    assert f"Build id {latest_build('dev').id}" in result.stderr
    assert "Cancel it with: portal cancel dev" in result.stderr
    assert latest_build("dev").build_number == 1


# --- cancel -------------------------------------------------------------------------------


def test_cancel_a_pending_build_then_its_log_exits_three(cli, member, template):
    make_workspace(member, template)
    cli.login(member)

    assert "Canceled build #1 (start) of dev." in cli.ok("cancel", "dev").stdout
    assert latest_build("dev").job.status == JobStatus.CANCELED

    again = cli("cancel", "dev")
    assert again.returncode == 1
    assert "no build in progress (its latest, build #1 canceled)" in again.stderr

    logs_result = cli("builds", "logs", "dev")
    assert logs_result.returncode == 3
    assert "build #1 (start) of dev was canceled" in logs_result.stderr


def test_cancel_while_following_ends_the_follow_with_exit_three(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    provisioner.plan("dev", "stop", Outcome(wait_for_cancel=True))

    following = subprocess.Popen(
        [sys.executable, "-m", "portal", "stop", "dev"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        cwd=REPO,
    )
    try:
        wait_for(lambda: logged(build_number=2))
        assert "Canceling build #2 (stop) of dev" in cli.ok("cancel", "dev").stdout
        out, err = following.communicate(timeout=30)
    finally:
        following.kill()
    assert following.returncode == 3, err
    assert "The build was canceled; the state is kept." in out
    assert "error: build #2 (stop) of dev was canceled after" in err


def test_ctrl_c_stops_following_and_leaves_the_build_running(cli, member, template, provisioner):
    pexpect = pytest.importorskip("pexpect")
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    provisioner.plan("dev", "stop", Outcome(wait_for_cancel=True))

    child = pexpect.spawn(
        sys.executable, ["-m", "portal", "stop", "dev"], env=cli.env, cwd=str(REPO),
        encoding="utf-8", timeout=30,
    )  # fmt: skip
    try:
        child.expect("terraform_data.home: Creation complete")
        child.sendintr()
        child.expect("Cancel it with: portal cancel dev")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 130
    assert latest_build("dev").job.status == JobStatus.RUNNING


# --- delete -------------------------------------------------------------------------------


def test_delete_asks_first_and_removes_the_workspace(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    refused = cli("delete", "dev")
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr

    deleted = cli.ok("delete", "dev", "--yes")
    assert "Build #2 (delete) of dev succeeded" in deleted.stdout
    assert "the workspace is deleted" in deleted.stdout
    assert cli.json("list") == []


def test_orphan_delete_is_refused_to_someone_who_may_not_manage_it(
    cli, member, owner, make_user, template, provisioner, tmp_path
):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")

    # A template admin sees everyone's workspaces but may not build them.
    make_user(Role.TEMPLATE_ADMIN, username="tina")
    tina = type(cli)(cli.url, tmp_path / "tina-home")
    tina.ok("login", cli.url, "-u", "tina", "-p", "correct-horse-battery-staple")
    refused = tina("delete", "alice/dev", "--orphan", "--yes")
    assert refused.returncode == 1
    assert "You may not change this workspace." in refused.stderr
    assert latest_build("dev").build_number == 1

    # Another member does not even see it.
    make_user(username="bob")
    bob = type(cli)(cli.url, tmp_path / "bob-home")
    bob.ok("login", cli.url, "-u", "bob", "-p", "correct-horse-battery-staple")
    hidden = bob("delete", "alice/dev", "--orphan", "--yes")
    assert hidden.returncode == 1
    assert "no workspace 'dev'" in hidden.stderr

    result = cli.ok("delete", "dev", "--orphan", "--yes")
    assert "Build #2 (delete) of dev succeeded" in result.stdout
    assert latest_build("dev").job.input["orphan"] is True


# --- builds -------------------------------------------------------------------------------


def test_builds_logs_prints_a_builds_log(cli, member, template, provisioner):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes")
    provisioner.plan(
        "dev", "stop", Outcome(lines=[("Applying", "info", "terraform_data.home: Stopping")])
    )
    cli.ok("stop", "dev")

    latest = cli.ok("builds", "logs", "dev", "--no-follow").stdout
    assert "==> Applying" in latest
    assert "terraform_data.home: Stopping" in latest
    assert "Creation complete" not in latest

    first = cli.ok("builds", "logs", "dev", "--build", "1")
    assert "Build #1 (start) of dev, succeeded:" in first.stdout
    assert "Job picked up by provisioner fake-provisioner." in first.stdout
    assert "terraform_data.home: Creation complete after 0s" in first.stdout
    assert "Build #1 (start) of dev succeeded" in first.stdout

    missing = cli("builds", "logs", "dev", "--build", "7")
    assert missing.returncode == 1
    assert "workspace dev has no build #7 (its builds are #1 to #2)" in missing.stderr

    listed = cli.json("builds", "list", "dev")
    assert [(b["build_number"], b["transition"]) for b in listed] == [(2, "stop"), (1, "start")]


def test_the_log_is_followed_live_over_the_websocket(
    cli, member, template, provisioner, asgi_server, tmp_path
):
    url, websockets = asgi_server
    live = type(cli)(url, tmp_path / "asgi-home")
    live.login(member)
    many = [("Applying", "info", f"line {n}") for n in range(50)]
    provisioner.plan("dev", "start", Outcome(lines=many))

    out = live.ok("create", "dev", "-t", "dev-env", "-p", "disk=10", "--yes").stdout
    build = latest_build("dev")
    assert websockets == [f"/api/v2/workspacebuilds/{build.id}/logs"]
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("line ")] == [f"line {n}" for n in range(50)]
    assert "Build #1 (start) of dev succeeded" in out


def test_an_admin_creates_and_builds_someone_elses_workspace(
    cli, owner, member, template, provisioner
):
    cli.login(owner)
    out = cli.ok("create", "alice/dev", "-t", "dev-env", "-p", "disk=10", "--yes").stdout
    assert "Created workspace alice/dev; building it" in out
    assert "Build #1 (start) of alice/dev succeeded" in out
    assert Workspace.objects.get(name="dev").owner == member
    assert "Build #2 (stop) of alice/dev succeeded" in cli.ok("stop", "alice/dev").stdout


# --- the CLI's own parsing ----------------------------------------------------------------


def test_names_and_parameter_values_as_typed():
    import click

    from portal.cli import build_runs, parameters

    assert build_runs.split_name("dev") == ("me", "dev")
    assert build_runs.split_name("alice/dev") == ("alice", "dev")
    for bad in ("/dev", "alice/", "a/b/c"):
        with pytest.raises(click.BadParameter):
            build_runs.split_name(bad)

    assert parameters.parse_parameters(("a=1", "b=x=y", "c=")) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(click.BadParameter):
        parameters.parse_parameters(("novalue",))

    schema = [{"name": "tags", "type": "list(string)"}, {"name": "n", "type": "number"}]
    assert parameters.normalize_values(schema, {"tags": "a, b,,c", "n": "3"}) == {
        "tags": '["a", "b", "c"]',
        "n": "3",
    }
    assert parameters.normalize_values(schema, {"tags": '["x"]'}) == {"tags": '["x"]'}

    options = [{"value": "eu"}, {"value": "us"}]
    assert parameters._choose(options, "2", many=False) == "us"
    assert parameters._choose(options, "eu", many=False) == "eu"
    assert parameters._choose(options, "mars", many=False) is None
    assert parameters._choose(options, "1, us", many=True) == '["eu", "us"]'
    assert (
        build_runs._elapsed(5) == "5s"
        and build_runs._elapsed(125) == "2m05s"
        and build_runs._elapsed(7300) == "2h01m"
    )

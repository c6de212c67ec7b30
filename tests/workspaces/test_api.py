"""The workspaces and builds API: status codes, bodies, paging and query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.accounts.choices import Role
from tests.workspaces.helpers import buildable_template, param
from workspaces import services
from workspaces.choices import JobStatus
from workspaces.models import (
    ProvisionerJob,
    ProvisionerJobLog,
    Workspace,
    WorkspaceAgent,
    WorkspaceApp,
    WorkspaceBuild,
    WorkspaceResource,
)

pytestmark = pytest.mark.django_db

SCHEMA = [
    param("cpu", "number", default="2", validation={"min": 1, "max": 8}),
    param("region", default="eu", options=[{"value": "eu"}, {"value": "us"}]),
]
ERROR_KEYS = {"message", "detail", "validations"}


def set_job(build_id, status: str) -> None:
    job_id = WorkspaceBuild.objects.values_list("job_id", flat=True).get(pk=build_id)
    ProvisionerJob.objects.filter(pk=job_id).update(status=status)


def add_resources(build_id, count: int = 1, transition: str = "start") -> None:
    """What a finished build's job recorded: a VM with an agent and two apps, per `count`."""
    job_id = WorkspaceBuild.objects.values_list("job_id", flat=True).get(pk=build_id)
    for n in range(count):
        vm = WorkspaceResource.objects.create(
            job_id=job_id,
            transition=transition,
            type="terraform_data",
            name=f"vm{n}",
            address=f"terraform_data.vm{n}",
            daily_cost=3,
            metadata=[
                {"key": "ip", "value": "10.0.0.1", "sensitive": False},
                {"key": "password", "value": "hunter2", "sensitive": True},
            ],
        )
        agent = WorkspaceAgent.objects.create(resource=vm, name=f"main{n}", token_hash="x" * 64)
        for slug in ("code", "web"):
            WorkspaceApp.objects.create(agent=agent, slug=slug, url="http://localhost:8080")


@pytest.fixture
def template():
    return buildable_template(SCHEMA)


@pytest.fixture
def alice(member, client_for):
    return client_for(member)


@pytest.fixture
def dev(alice, template) -> dict:
    """alice's workspace `dev` as POST /workspaces answered it, its first build succeeded."""
    r = alice.post(
        "/api/v2/workspaces",
        {"template_id": str(template.id), "name": "dev", "parameters": {"cpu": 4}},
        format="json",
    )
    assert r.status_code == 201, r.content
    set_job(r.json()["latest_build"]["id"], JobStatus.SUCCEEDED)
    return r.json()


class TestCreate:
    def test_201_with_the_workspace_and_its_first_build(
        self, alice, template, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            r = alice.post(
                "/api/v2/workspaces",
                {"template": template.name, "name": "dev", "parameters": {"cpu": "3"}},
                format="json",
            )
        assert r.status_code == 201, r.content
        body = r.json()
        assert (body["name"], body["owner_name"], body["status"]) == ("dev", "alice", "pending")
        build = body["latest_build"]
        assert (build["build_number"], build["transition"], build["job_status"]) == (
            1,
            "start",
            "pending",
        )
        assert build["parameters"] == {"cpu": "3", "region": "eu"}
        assert build["template_version_id"] == str(template.active_version_id)
        assert build["initiator_name"] == "alice"
        assert body["resources"] == []
        assert [str(j.pk) for j in enqueued] == [build["job_id"]]

    def test_every_invalid_parameter_is_listed(self, alice, template):
        r = alice.post(
            "/api/v2/workspaces",
            {
                "template_id": str(template.id),
                "name": "dev",
                "parameters": {"cpu": 0, "region": "mars", "extra": "x"},
            },
            format="json",
        )
        assert r.status_code == 400
        assert set(r.json()) == ERROR_KEYS
        fields = {v["field"] for v in r.json()["validations"]}
        assert fields == {"parameters.cpu", "parameters.region", "parameters.extra"}
        assert not Workspace.objects.exists()

    def test_name_taken_is_409(self, alice, template, dev):
        r = alice.post(
            "/api/v2/workspaces", {"template_id": str(template.id), "name": "Dev"}, format="json"
        )
        assert r.status_code == 409
        assert r.json()["message"] == "alice already has a workspace named 'Dev'."

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": "dev"}, "template_id"),
            ({"name": "dev", "template": "nope"}, "template"),
            ({"name": "dev", "template_id": "00000000-0000-0000-0000-000000000000"}, "template_id"),
        ],
    )
    def test_template_must_exist(self, alice, body, field):
        r = alice.post("/api/v2/workspaces", body, format="json")
        assert r.status_code == 400
        assert r.json()["validations"][0]["field"] == field

    def test_an_owner_creates_for_someone_else(self, owner, client_for, member, template):
        r = client_for(owner).post(
            "/api/v2/workspaces",
            {"template_id": str(template.id), "name": "for-alice", "owner": "alice"},
            format="json",
        )
        assert r.status_code == 201
        assert r.json()["owner_name"] == "alice"

    def test_a_member_cannot_create_for_someone_else(self, alice, make_user, template):
        make_user(username="bob")
        r = alice.post(
            "/api/v2/workspaces",
            {"template_id": str(template.id), "name": "x", "owner": "bob"},
            format="json",
        )
        assert r.status_code == 403


class TestDetail:
    def test_latest_build_status_resources_agents_and_apps(self, alice, dev):
        add_resources(dev["latest_build"]["id"])
        r = alice.get(f"/api/v2/workspaces/{dev['id']}")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "running"
        assert body["latest_build"]["job_status"] == "succeeded"
        assert body["latest_build"]["completed_at"] is None  # set by the runner, not the test
        [vm] = body["resources"]
        assert (vm["type"], vm["name"], vm["daily_cost"]) == ("terraform_data", "vm0", 3)
        assert vm["metadata"][1] == {"key": "password", "value": "hunter2", "sensitive": True}
        [agent] = vm["agents"]
        assert (agent["name"], agent["os"], agent["lifecycle_state"], agent["status"]) == (
            "main0",
            "linux",
            "created",
            "connecting",
        )
        assert [a["slug"] for a in agent["apps"]] == ["code", "web"]

    def test_sensitive_metadata_is_hidden_from_anyone_but_the_owner(
        self, make_user, client_for, dev
    ):
        add_resources(dev["latest_build"]["id"])
        admin = client_for(make_user(Role.TEMPLATE_ADMIN))
        vm = admin.get(f"/api/v2/workspaces/{dev['id']}").json()["resources"][0]
        assert vm["metadata"] == [
            {"key": "ip", "value": "10.0.0.1", "sensitive": False},
            {"key": "password", "value": None, "sensitive": True},
        ]

    def test_resources_are_what_exists_now(self, alice, member, dev):
        ws = Workspace.objects.get(pk=dev["id"])
        add_resources(dev["latest_build"]["id"])
        stop = services.create_build(ws, actor=member, transition="stop")
        set_job(stop.id, JobStatus.SUCCEEDED)
        add_resources(stop.id, transition="stop")
        WorkspaceResource.objects.filter(job=stop.job).update(name="home")
        body = alice.get(f"/api/v2/workspaces/{dev['id']}").json()
        assert body["status"] == "stopped"
        assert [r["name"] for r in body["resources"]] == ["home"]
        # While the next start runs (and after it failed without recording anything), what
        # exists is still what the stop left.
        start = services.create_build(ws, actor=member, transition="start")
        set_job(start.id, JobStatus.RUNNING)
        assert self.resource_names(alice, dev) == ["home"]
        set_job(start.id, JobStatus.FAILED)
        assert self.resource_names(alice, dev) == ["home"]

    @staticmethod
    def resource_names(client, ws) -> list[str]:
        return [r["name"] for r in client.get(f"/api/v2/workspaces/{ws['id']}").json()["resources"]]

    def test_other_members_get_404(self, make_user, client_for, dev):
        r = client_for(make_user()).get(f"/api/v2/workspaces/{dev['id']}")
        assert r.status_code == 404
        assert set(r.json()) == ERROR_KEYS

    def test_by_owner_and_name(self, alice, make_user, client_for, dev):
        assert alice.get("/api/v2/users/me/workspace/DEV").json()["id"] == dev["id"]
        admin = client_for(make_user(Role.OWNER))
        assert admin.get("/api/v2/users/alice/workspace/dev").json()["id"] == dev["id"]
        r = alice.get("/api/v2/users/me/workspace/nope")
        assert r.status_code == 404
        assert r.json()["message"] == "alice has no workspace 'nope'."

    def test_query_count_does_not_grow_with_resources(self, alice, member, template):
        def queries_for(name: str, resources: int) -> int:
            ws = services.create_workspace(actor=member, owner=member, template=template, name=name)
            set_job(ws.latest_build_id, JobStatus.SUCCEEDED)
            add_resources(ws.latest_build_id, count=resources)
            with CaptureQueriesContext(connection) as ctx:
                assert alice.get(f"/api/v2/workspaces/{ws.id}").status_code == 200
            return len(ctx.captured_queries)

        alice.get("/api/v2/users/me")  # the token's first use is recorded; keep that out
        small, big = queries_for("small", 1), queries_for("big", 6)
        assert small == big
        assert small <= 5  # token+user, workspace with build, resources, agents, apps


class TestBuilds:
    def test_create_201_then_409_naming_the_running_build(self, alice, dev):
        url = f"/api/v2/workspaces/{dev['id']}/builds"
        r = alice.post(url, {"transition": "stop"}, format="json")
        assert r.status_code == 201, r.content
        build = r.json()
        assert (build["build_number"], build["transition"], build["job_status"]) == (
            2,
            "stop",
            "pending",
        )
        assert build["parameters"] == dev["latest_build"]["parameters"]
        set_job(build["id"], JobStatus.RUNNING)
        r = alice.post(url, {"transition": "start"}, format="json")
        assert r.status_code == 409
        assert r.json()["message"] == "Build #2 (stop) is running; cancel it or wait."

    def test_bad_transition_and_parameters_are_400(self, alice, dev):
        url = f"/api/v2/workspaces/{dev['id']}/builds"
        r = alice.post(url, {"transition": "reboot"}, format="json")
        assert (r.status_code, r.json()["validations"][0]["field"]) == (400, "transition")
        r = alice.post(url, {"transition": "start", "parameters": {"cpu": 9}}, format="json")
        assert (r.status_code, r.json()["validations"][0]["field"]) == (400, "parameters.cpu")

    def test_list_is_paged_newest_first(self, alice, member, dev):
        ws = Workspace.objects.get(pk=dev["id"])
        set_job(services.create_build(ws, actor=member, transition="stop").id, "succeeded")
        r = alice.get(f"/api/v2/workspaces/{dev['id']}/builds", {"limit": 1})
        assert r.json()["count"] == 2
        assert [b["build_number"] for b in r.json()["results"]] == [2]

    def test_a_delete_build_stays_readable_after_the_workspace_is_gone(self, alice, dev):
        r = alice.post(
            f"/api/v2/workspaces/{dev['id']}/builds", {"transition": "delete"}, format="json"
        )
        build_id = r.json()["id"]
        set_job(build_id, JobStatus.SUCCEEDED)
        Workspace.objects.filter(pk=dev["id"]).update(deleted_at=timezone.now())
        assert alice.get(f"/api/v2/workspaces/{dev['id']}").status_code == 404
        r = alice.get(f"/api/v2/workspacebuilds/{build_id}")
        assert (r.status_code, r.json()["status"]) == (200, "deleted")
        r = alice.post(
            f"/api/v2/workspaces/{dev['id']}/builds", {"transition": "start"}, format="json"
        )
        assert r.status_code == 404

    def test_orphan_delete(self, alice, dev):
        r = alice.post(
            f"/api/v2/workspaces/{dev['id']}/builds",
            {"transition": "delete", "orphan": True},
            format="json",
        )
        assert (r.status_code, r.json()["orphan"]) == (201, True)

    def test_cancel_pending_then_409(self, alice, dev):
        r = alice.post(
            f"/api/v2/workspaces/{dev['id']}/builds", {"transition": "stop"}, format="json"
        )
        url = f"/api/v2/workspacebuilds/{r.json()['id']}/cancel"
        r = alice.patch(url)
        assert r.status_code == 200
        assert (r.json()["job_status"], r.json()["status"]) == ("canceled", "canceled")
        assert r.json()["canceled_at"] is not None
        r = alice.patch(url)
        assert r.status_code == 409
        assert r.json()["message"] == (
            "Build #2 (stop) has already canceled; there is nothing to cancel."
        )


class TestLogs:
    def test_paged_by_after_and_limit_in_id_order(self, alice, dev):
        build = WorkspaceBuild.objects.get(pk=dev["latest_build"]["id"])
        rows = ProvisionerJobLog.objects.bulk_create(
            ProvisionerJobLog(job_id=build.job_id, output=f"line {n}", stage="Applying")
            for n in range(5)
        )
        other = ProvisionerJob.objects.create(type="workspace_build", initiator=build.initiator)
        ProvisionerJobLog.objects.create(job=other, output="another job's line")
        url = f"/api/v2/workspacebuilds/{build.id}/logs"
        page = alice.get(url, {"limit": 2}).json()
        assert page["count"] == 5
        assert page["job_status"] == "succeeded"
        assert [r["output"] for r in page["results"]] == ["line 0", "line 1"]
        assert set(page["results"][0]) == {"id", "created_at", "source", "level", "stage", "output"}
        page = alice.get(url, {"after": page["results"][-1]["id"], "limit": 2}).json()
        assert [r["output"] for r in page["results"]] == ["line 2", "line 3"]
        page = alice.get(url, {"after": rows[-1].id}).json()
        assert (page["count"], page["results"]) == (0, [])

    @pytest.mark.parametrize("query", [{"after": "x"}, {"after": -1}, {"limit": 0}])
    def test_bad_paging_is_400(self, alice, dev, query):
        r = alice.get(f"/api/v2/workspacebuilds/{dev['latest_build']['id']}/logs", query)
        assert r.status_code == 400

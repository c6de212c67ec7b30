"""Workspace and build services: what they create, what they refuse, and what they audit."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from portal import hooks
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from templates_app.models import ImportStatus
from tests import factories
from tests.workspaces.helpers import buildable_template, param, version
from workspaces import services
from workspaces.choices import BuildReason, JobStatus, JobType
from workspaces.models import ProvisionerJob, Workspace, WorkspaceBuild

pytestmark = pytest.mark.django_db

SCHEMA = [
    param("cpu", "number", default="2", validation={"min": 1, "max": 8}),
    param("zone", default="a", mutable=False),
    param("disk", "number", default="10", validation={"monotonic": "increasing"}),
]


def set_job(build: WorkspaceBuild, status: str) -> None:
    ProvisionerJob.objects.filter(pk=build.job_id).update(status=status)


def audit_of(resource_type: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(resource_type=resource_type).order_by("time", "id"))


@pytest.fixture
def template():
    return buildable_template(SCHEMA, provisioner_tags={"zone": "eu"})


@pytest.fixture
def created(member, template, django_capture_on_commit_callbacks):
    """alice's workspace `dev`, its start build #1 finished successfully."""
    with django_capture_on_commit_callbacks(execute=True):
        ws = services.create_workspace(
            actor=member, owner=member, template=template, name="dev", parameters={"cpu": 4}
        )
    set_job(ws.latest_build, JobStatus.SUCCEEDED)
    return ws


class TestCreateWorkspace:
    def test_creates_build_1_and_its_job_and_enqueues_it_on_commit(
        self, member, template, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            ws = services.create_workspace(
                actor=member, owner=member, template=template, name="dev", parameters={"cpu": 4}
            )
            assert enqueued == []  # nothing reaches the workers before the rows are committed
        build = WorkspaceBuild.objects.select_related("job").get(workspace=ws)
        assert ws.latest_build_id == build.id
        assert (build.build_number, build.transition, build.reason) == (1, "start", "initiator")
        assert build.template_version_id == template.active_version_id
        assert build.parameters == {"cpu": "4", "zone": "a", "disk": "10"}
        job = build.job
        assert (job.type, job.status, job.initiator_id) == (
            JobType.WORKSPACE_BUILD,
            JobStatus.PENDING,
            member.id,
        )
        assert job.tags == {"zone": "eu"}
        assert job.input == {"build_id": str(build.id), "orphan": False}
        assert [j.pk for j in enqueued] == [job.pk]

    def test_audits_the_workspace_and_the_build_with_its_reason(self, member, created):
        [ws_entry] = audit_of("workspace")
        assert (ws_entry.action, ws_entry.actor_id, ws_entry.resource_target) == (
            "create",
            member.id,
            "dev",
        )
        [build_entry] = audit_of("workspace_build")
        assert build_entry.action == "start"
        assert build_entry.resource_target == "dev #1"
        assert build_entry.additional_fields["reason"] == "initiator"
        assert build_entry.additional_fields["build_number"] == 1
        assert build_entry.diff["parameters.cpu"]["new"] == "4"

    def test_invalid_parameters_list_every_field_and_write_nothing(self, member, template):
        with pytest.raises(ValidationFailed) as e:
            services.create_workspace(
                actor=member,
                owner=member,
                template=template,
                name="dev",
                parameters={"cpu": 99, "disk": "big", "nope": "1"},
            )
        assert {v["field"] for v in e.value.validations} == {
            "parameters.cpu",
            "parameters.disk",
            "parameters.nope",
        }
        assert not Workspace.objects.exists()
        assert not ProvisionerJob.objects.exists()
        assert not AuditEntry.objects.filter(resource_type__startswith="workspace").exists()

    def test_a_refusing_pre_build_hook_leaves_nothing_behind(self, member, template, enqueued):
        seen = []

        def quota(workspace, transition, *, actor):
            seen.append((workspace.name, transition, actor))
            raise Conflict("Quota exceeded.")

        hooks.pre_build.register(quota)
        try:
            with pytest.raises(Conflict, match="Quota"):
                services.create_workspace(
                    actor=member, owner=member, template=template, name="dev", parameters={}
                )
        finally:
            hooks.pre_build.unregister(quota)
        assert seen == [("dev", "start", member)]
        assert not Workspace.objects.exists()
        assert not ProvisionerJob.objects.exists()
        assert not AuditEntry.objects.filter(resource_type__startswith="workspace").exists()
        assert enqueued == []

    def test_name_is_unique_per_owner_among_live_workspaces(
        self, member, make_user, template, created
    ):
        with pytest.raises(Conflict) as e:
            services.create_workspace(actor=member, owner=member, template=template, name="DEV")
        assert e.value.status_code == 409
        assert e.value.validations[0]["field"] == "name"
        bob = make_user(username="bob")
        assert services.create_workspace(actor=bob, owner=bob, template=template, name="dev")
        Workspace.objects.filter(pk=created.pk).update(deleted_at=created.created_at)
        assert services.create_workspace(actor=member, owner=member, template=template, name="dev")

    @pytest.mark.parametrize("name", ["", "-dev", "dev_1", "x" * 33, "dév"])
    def test_bad_names_are_refused(self, member, template, name):
        with pytest.raises(ValidationFailed) as e:
            services.create_workspace(actor=member, owner=member, template=template, name=name)
        assert e.value.validations[0]["field"] == "name"

    def test_only_owners_create_for_someone_else(self, member, owner, make_user, template):
        tadmin = make_user(Role.TEMPLATE_ADMIN)
        with pytest.raises(Forbidden):
            services.create_workspace(actor=tadmin, owner=member, template=template, name="x")
        ws = services.create_workspace(actor=owner, owner=member, template=template, name="x")
        assert ws.owner_id == member.id
        assert ws.latest_build.initiator_id == owner.id

    def test_version_must_belong_to_the_template_and_have_imported(self, member, template):
        failed = version(template, import_status=ImportStatus.FAILED)
        other = buildable_template().active_version
        for bad in (failed, other):
            with pytest.raises(ValidationFailed) as e:
                services.create_workspace(
                    actor=member, owner=member, template=template, name="x", version=bad
                )
            assert e.value.validations[0]["field"] == "version_id"
        chosen = version(template, [param("only")])
        ws = services.create_workspace(
            actor=member, owner=member, template=template, name="x", version=chosen
        )
        assert ws.latest_build.template_version_id == chosen.id
        assert ws.latest_build.parameters == {"only": ""}

    def test_template_without_active_version(self, member):
        template = factories.TemplateFactory(with_version=False)
        with pytest.raises(Conflict, match="no active version"):
            services.create_workspace(actor=member, owner=member, template=template, name="x")

    def test_deleted_template_is_not_found(self, member, template):
        template.deleted_at = template.created_at
        template.save(update_fields=["deleted_at"])
        with pytest.raises(NotFound):
            services.create_workspace(actor=member, owner=member, template=template, name="x")


class TestCreateBuild:
    @pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.CANCELING])
    def test_refused_while_a_build_is_active_naming_it(self, member, created, status):
        set_job(created.latest_build, status)
        with pytest.raises(Conflict) as e:
            services.create_build(created, actor=member, transition="stop")
        assert e.value.status_code == 409
        assert e.value.message.startswith(f"Build #1 (start) is {status};")
        assert str(created.latest_build_id) in e.value.detail
        assert WorkspaceBuild.objects.filter(workspace=created).count() == 1

    def test_stop_keeps_version_and_parameters_and_is_audited_with_reason(
        self, member, created, template, enqueued, system, django_capture_on_commit_callbacks
    ):
        template.active_version = version(template, SCHEMA)  # a newer version is not used
        template.save(update_fields=["active_version"])
        with django_capture_on_commit_callbacks(execute=True):
            build = services.create_build(
                created, actor=system, transition="stop", reason=BuildReason.AUTOSTOP
            )
        first = WorkspaceBuild.objects.get(workspace=created, build_number=1)
        assert (build.build_number, build.transition) == (2, "stop")
        assert build.template_version_id == first.template_version_id
        assert build.parameters == first.parameters
        assert Workspace.objects.get(pk=created.pk).latest_build_id == build.id
        assert enqueued[-1].pk == build.job_id
        entry = audit_of("workspace_build")[-1]
        assert (entry.action, entry.actor_id) == ("stop", system.id)
        assert entry.additional_fields["reason"] == "autostop"
        assert entry.resource_target == "dev #2"

    def test_start_changes_parameters_within_the_rules(self, member, created):
        build = services.create_build(
            created, actor=member, transition="start", parameters={"disk": "20"}
        )
        assert build.parameters == {"cpu": "4", "zone": "a", "disk": "20"}
        set_job(build, JobStatus.SUCCEEDED)
        with pytest.raises(ValidationFailed) as e:
            services.create_build(
                created, actor=member, transition="start", parameters={"zone": "b", "disk": "15"}
            )
        assert {v["field"] for v in e.value.validations} == {"parameters.zone", "parameters.disk"}
        assert WorkspaceBuild.objects.filter(workspace=created).count() == 2

    def test_start_with_a_version_updates_and_fills_new_defaults(self, member, created, template):
        newer = version(template, [*SCHEMA, param("shell", default="bash")])
        build = services.create_build(created, actor=member, transition="start", version=newer)
        assert build.template_version_id == newer.id
        assert build.parameters == {"cpu": "4", "zone": "a", "disk": "10", "shell": "bash"}

    def test_parameters_change_only_with_start(self, member, created):
        with pytest.raises(ValidationFailed) as e:
            services.create_build(created, actor=member, transition="stop", parameters={"cpu": 3})
        assert e.value.validations[0]["field"] == "parameters"

    def test_unknown_transition(self, member, created):
        with pytest.raises(ValidationFailed):
            services.create_build(created, actor=member, transition="restart")

    def test_others_may_not_build_a_workspace_only_owners_may(self, created, make_user, owner):
        for someone in (make_user(), make_user(Role.TEMPLATE_ADMIN)):
            with pytest.raises(Forbidden):
                services.create_build(created, actor=someone, transition="stop")
        assert services.create_build(created, actor=owner, transition="stop").initiator == owner

    def test_delete_of_a_workspace_never_built_successfully(self, member, created):
        set_job(created.latest_build, JobStatus.FAILED)
        build = services.create_build(created, actor=member, transition="delete")
        assert build.transition == "delete"
        assert build.job.input == {"build_id": str(build.id), "orphan": False}

    def test_a_deleted_workspace_takes_no_builds(self, member, created):
        Workspace.objects.filter(pk=created.pk).update(deleted_at=created.created_at)
        with pytest.raises(Conflict, match="was deleted"):
            services.create_build(created, actor=member, transition="start")


class TestOrphan:
    def test_only_with_delete(self, member, created):
        with pytest.raises(ValidationFailed) as e:
            services.create_build(created, actor=member, transition="stop", orphan=True)
        assert e.value.validations[0]["field"] == "orphan"

    def test_by_the_owner_or_an_owner_role_only(self, member, owner, make_user, created):
        tadmin = make_user(Role.TEMPLATE_ADMIN)
        with pytest.raises(Forbidden):
            services.create_build(created, actor=tadmin, transition="delete", orphan=True)
        build = services.create_build(created, actor=member, transition="delete", orphan=True)
        assert build.job.input == {"build_id": str(build.id), "orphan": True}
        assert audit_of("workspace_build")[-1].additional_fields["orphan"] is True
        set_job(build, JobStatus.FAILED)
        again = services.create_build(created, actor=owner, transition="delete", orphan=True)
        assert again.job.input["orphan"] is True


class TestCancel:
    def test_pending_build_is_canceled_at_once_and_followers_are_told(
        self, member, template, monkeypatch, django_capture_on_commit_callbacks
    ):
        from workspaces.builds import logs

        ended = []
        monkeypatch.setattr(logs, "publish_end", lambda job_id, status: ended.append(status))
        ws = services.create_workspace(actor=member, owner=member, template=template, name="dev")
        with django_capture_on_commit_callbacks(execute=True):
            build = services.cancel_build(ws.latest_build, actor=member)
        assert build.job.status == JobStatus.CANCELED
        assert build.job.canceled_at is not None and build.job.completed_at is not None
        assert ended == ["canceled"]
        entry = audit_of("workspace_build")[-1]
        assert entry.additional_fields["cancel"] is True
        assert entry.additional_fields["reason"] == "initiator"
        assert entry.diff["job_status"] == {"old": "pending", "new": "canceled", "secret": False}

    def test_running_build_is_asked_to_stop(self, member, created):
        build = services.create_build(created, actor=member, transition="stop")
        set_job(build, JobStatus.RUNNING)
        assert services.cancel_build(build, actor=member).job.status == JobStatus.CANCELING

    @pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED])
    def test_finished_build_conflicts_clearly(self, member, created, status):
        set_job(created.latest_build, status)
        with pytest.raises(Conflict) as e:
            services.cancel_build(created.latest_build, actor=member)
        assert e.value.message == (
            f"Build #1 (start) has already {status}; there is nothing to cancel."
        )

    def test_others_may_not_cancel(self, make_user, created):
        set_job(created.latest_build, JobStatus.PENDING)
        with pytest.raises(Forbidden):
            services.cancel_build(created.latest_build, actor=make_user(Role.TEMPLATE_ADMIN))


@pytest.mark.django_db(transaction=True)
def test_concurrent_builds_of_one_workspace_one_wins_the_other_gets_409(make_user):
    alice = make_user(username="racer")
    template = buildable_template()
    ws = services.create_workspace(actor=alice, owner=alice, template=template, name="dev")
    set_job(ws.latest_build, JobStatus.SUCCEEDED)
    barrier = threading.Barrier(4)
    outcomes: list = []

    def build():
        try:
            barrier.wait()
            outcomes.append(services.create_build(ws, actor=alice, transition="stop"))
        except Conflict as e:
            outcomes.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    builds = [o for o in outcomes if isinstance(o, WorkspaceBuild)]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(builds) == 1 and len(conflicts) == 3
    assert all(c.message.startswith("Build #2 (stop) is pending") for c in conflicts)
    assert WorkspaceBuild.objects.filter(workspace=ws).count() == 2

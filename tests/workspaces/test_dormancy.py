"""Failure cleanup, dormant workspaces and their auto-deletion: the scheduler's rules, the
service, the API and the template settings.

Builds end through the provisioning code a worker runs (the real `local` template runs in
test_dormancy_real.py). Times are passed explicitly (`now=`), never slept on.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.audit.models import AuditEntry
from portal.errors import Forbidden, NotFound
from portal.notifications.models import Notification
from templates_app import scheduling
from tests.workspaces.helpers import buildable_template
from tests.workspaces.test_schedules import finish, gate_off, latest  # noqa: F401
from workspaces import dormancy, schedule_pass, services
from workspaces.choices import BuildReason, BuildTransition, JobStatus
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db
DAY = 86400


@pytest.fixture
def template(owner):
    t = buildable_template()
    return scheduling.update_schedule_policy(
        t,
        actor=owner,
        failure_ttl_seconds=3600,
        time_til_dormant_seconds=30 * DAY,
        time_til_dormant_autodelete_seconds=7 * DAY,
    )


def make_ws(member, template, name="dev", *, ok=True, stop=False):
    ws = services.create_workspace(actor=member, owner=member, template=template, name=name)
    finish(ws.latest_build, ok=ok)
    if stop:
        finish(services.create_build(ws, actor=member, transition=BuildTransition.STOP))
    ws.refresh_from_db()
    return ws


def unused(ws, days: float) -> None:
    Workspace.objects.filter(pk=ws.pk).update(last_used_at=timezone.now() - timedelta(days=days))


def test_a_failed_start_is_stopped_after_the_failure_ttl_once(member, template):
    ws = make_ws(member, template, ok=False)
    assert latest(ws).job.status == JobStatus.FAILED
    soon = timezone.now() + timedelta(minutes=30)
    assert schedule_pass.run_pass(now=soon).failed_stopped == []
    later = timezone.now() + timedelta(hours=2)
    result = schedule_pass.run_pass(now=later)
    assert result.failed_stopped == [ws.id]
    stop = latest(ws)
    assert (stop.transition, stop.reason) == (BuildTransition.STOP, BuildReason.FAILED_STOP)
    finish(stop, ok=False)  # even if the stop fails, the failed start is not stopped again
    assert schedule_pass.run_pass(now=later + timedelta(minutes=1)).failed_stopped == []
    assert ws.builds.count() == 2
    entries = AuditEntry.objects.filter(build_reason=BuildReason.FAILED_STOP)
    assert entries.exists() and all(e.actor.is_system for e in entries.select_related("actor"))


def test_an_unused_workspace_becomes_dormant_and_a_running_one_is_stopped(member, template):
    stopped = make_ws(member, template, "idle", stop=True)
    running = make_ws(member, template, "busy")
    fresh = make_ws(member, template, "fresh")
    unused(stopped, 31)
    unused(running, 40)
    unused(fresh, 29)
    now = timezone.now()
    result = schedule_pass.run_pass(now=now)
    assert sorted(result.dormant) == sorted([stopped.id, running.id])
    for ws in (stopped, running):
        ws.refresh_from_db()
        assert ws.dormant_at == now
        assert ws.deleting_at == now + timedelta(days=7)
    fresh.refresh_from_db()
    assert fresh.dormant_at is None
    stop = latest(running)
    assert (stop.transition, stop.reason) == (BuildTransition.STOP, BuildReason.DORMANCY)
    assert latest(stopped).reason == BuildReason.INITIATOR  # nothing to stop
    note = Notification.objects.get(user=member, kind="workspace_dormant", title__contains="idle")
    assert "not used for 30 days" in note.body and "will be deleted on" in note.body
    assert note.link == "/workspaces/alice/idle"
    entry = AuditEntry.objects.filter(resource_id=str(stopped.id), action="write").latest("id")
    assert entry.additional_fields["setting"] == "dormancy"
    assert entry.additional_fields["reason"] == "not used for 30 days"
    assert entry.actor.is_system
    # once: the next pass marks nothing and stops nothing more
    assert schedule_pass.run_pass(now=now + timedelta(minutes=1)).dormant == []
    assert running.builds.count() == 2


def test_a_building_workspace_is_skipped(member, template):
    ws = services.create_workspace(actor=member, owner=member, template=template, name="dev")
    unused(ws, 60)
    assert schedule_pass.run_pass().dormant == []
    finish(ws.latest_build)
    assert schedule_pass.run_pass().dormant == [ws.id]


def test_a_dormant_workspace_refuses_to_start_until_reactivated(member, template, client_for):
    ws = make_ws(member, template, stop=True)
    unused(ws, 31)
    schedule_pass.run_pass()
    ws.refresh_from_db()
    with pytest.raises(Forbidden, match="is dormant: reactivate it first"):
        services.create_build(ws, actor=member, transition=BuildTransition.START)
    api = client_for(member)
    r = api.post(f"/api/v2/workspaces/{ws.id}/builds", {"transition": "start"}, format="json")
    assert r.status_code == 403 and "dormant" in r.json()["message"]
    shown = api.get(f"/api/v2/workspaces/{ws.id}").json()
    assert shown["dormant_at"] and shown["deleting_at"]
    r = api.put(f"/api/v2/workspaces/{ws.id}/dormant", {"dormant": False}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["dormant_at"] is None and r.json()["deleting_at"] is None
    ws.refresh_from_db()
    assert timezone.now() - ws.last_used_at < timedelta(minutes=1)  # not marked again at once
    assert schedule_pass.run_pass().dormant == []
    r = api.post(f"/api/v2/workspaces/{ws.id}/builds", {"transition": "start"}, format="json")
    assert r.status_code == 201, r.content


def test_another_member_cannot_reactivate_your_workspace(member, make_user, template, client_for):
    ws = make_ws(member, template, stop=True)
    dormancy.set_dormant(ws, actor=member, dormant=True)
    bob = make_user(username="bob")
    r = client_for(bob).put(
        f"/api/v2/workspaces/{ws.id}/dormant", {"dormant": False}, format="json"
    )
    assert r.status_code == 404
    with pytest.raises(NotFound):
        dormancy.set_dormant(ws, actor=bob, dormant=False)
    ws.refresh_from_db()
    assert ws.dormant_at is not None
    r = client_for(member).put(
        f"/api/v2/workspaces/{ws.id}/dormant", {"dormant": False, "nope": 1}, format="json"
    )
    assert r.status_code == 400 and "nope" in r.content.decode()


def test_auto_deletion_and_a_failed_delete_is_not_retried_every_pass(member, template):
    ws = make_ws(member, template, stop=True)
    unused(ws, 31)
    marked_at = timezone.now()
    schedule_pass.run_pass(now=marked_at)
    ws.refresh_from_db()
    before = ws.deleting_at - timedelta(hours=1)
    result = schedule_pass.run_pass(now=before)
    assert result.deleted == [] and result.warned == [ws.id]  # a day ahead: warned once
    assert schedule_pass.run_pass(now=before + timedelta(minutes=1)).warned == []
    assert Notification.objects.filter(user=member, kind="workspace_delete_soon").count() == 1
    after = ws.deleting_at + timedelta(minutes=1)
    assert schedule_pass.run_pass(now=after).deleted == [ws.id]
    delete = latest(ws)
    assert (delete.transition, delete.reason) == (BuildTransition.DELETE, BuildReason.DORMANCY)
    finish(delete, ok=False)
    assert schedule_pass.run_pass(now=after + timedelta(minutes=5)).deleted == []
    assert schedule_pass.run_pass(now=after + timedelta(hours=12)).deleted == []
    assert ws.builds.count() == 3
    retry = schedule_pass.run_pass(now=after + timedelta(days=1, minutes=1))
    assert retry.deleted == [ws.id]
    finish(latest(ws))
    ws.refresh_from_db()
    assert ws.deleted_at is not None


def test_changing_auto_deletion_moves_the_dormant_workspaces_dates(member, owner, template):
    ws = make_ws(member, template, stop=True)
    unused(ws, 31)
    schedule_pass.run_pass()
    ws.refresh_from_db()
    scheduling.update_schedule_policy(
        template, actor=owner, time_til_dormant_autodelete_seconds=14 * DAY
    )
    moved = Workspace.objects.get(pk=ws.pk)
    assert moved.deleting_at == ws.dormant_at + timedelta(days=14)
    assert moved.delete_warn_at == moved.deleting_at - timedelta(days=1)
    scheduling.update_schedule_policy(template, actor=owner, time_til_dormant_autodelete_seconds=0)
    kept = Workspace.objects.get(pk=ws.pk)
    assert kept.deleting_at is None and kept.dormant_at is not None
    assert schedule_pass.run_pass(now=timezone.now() + timedelta(days=30)).deleted == []


def test_gate_off_ignores_the_cleanup_rules(member, owner, template, gate_off):  # noqa: F811
    failed = make_ws(member, template, "broken", ok=False)
    idle = make_ws(member, template, "idle", stop=True)
    unused(idle, 100)
    result = schedule_pass.run_pass(now=timezone.now() + timedelta(days=2))
    assert (result.failed_stopped, result.dormant) == ([], [])
    assert failed.builds.count() == 1
    assert scheduling.effective(template).time_til_dormant_seconds == 0
    with pytest.raises(Exception, match="advanced_template_scheduling|feature"):
        scheduling.update_schedule_policy(template, actor=owner, failure_ttl_seconds=60)


def test_template_api_shows_and_changes_the_cleanup_settings(owner, client_for):
    t = buildable_template()
    api = client_for(owner)
    r = api.patch(
        f"/api/v2/templates/{t.name}",
        {
            "failure_ttl_ms": 24 * 3600 * 1000,
            "time_til_dormant_ms": 90 * DAY * 1000,
            "time_til_dormant_autodelete_ms": 7 * DAY * 1000,
        },
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["failure_ttl_ms"] == 24 * 3600 * 1000
    assert body["time_til_dormant_ms"] == 90 * DAY * 1000
    assert body["time_til_dormant_autodelete_ms"] == 7 * DAY * 1000
    r = api.patch(f"/api/v2/templates/{t.name}", {"time_til_dormant_ms": -5}, format="json")
    assert r.status_code == 400
    r = api.patch(f"/api/v2/templates/{t.name}", {"failure_ttl_ms": 1500}, format="json")
    assert r.status_code == 400 and "whole seconds" in r.content.decode()

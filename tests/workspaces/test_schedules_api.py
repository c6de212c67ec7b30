"""The schedule API: Coder's PUT autostart/ttl/extend, workspace fields, template PATCH fields."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal import hooks
from portal.accounts.choices import Role
from portal.accounts.services import system_actor
from templates_app import scheduling
from tests.workspaces.helpers import buildable_template
from tests.workspaces.test_schedules import finish
from workspaces import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_ws(member):
    ws = services.create_workspace(
        actor=member, owner=member, template=buildable_template(), name="dev"
    )
    finish(ws.latest_build)
    return ws


def url(ws, what):
    return f"/api/v2/workspaces/{ws.id}/{what}"


def test_autostart_and_ttl_show_on_the_workspace(client_for, member, alice_ws):
    api = client_for(member)
    r = api.put(
        url(alice_ws, "autostart"),
        {"schedule": "30 8 * * 1-5", "tz": "Asia/Tokyo"},
        format="json",
    )
    assert r.status_code == 204, r.content
    r = api.put(url(alice_ws, "ttl"), {"ttl_ms": 4 * 3600 * 1000}, format="json")
    assert r.status_code == 204
    body = api.get(f"/api/v2/workspaces/{alice_ws.id}").json()
    assert body["autostart_schedule"] == "CRON_TZ=Asia/Tokyo 30 8 * * 1-5"
    assert body["ttl_ms"] == 4 * 3600 * 1000
    assert body["next_start_at"] is not None
    assert "deadline" in body["latest_build"] and "max_deadline" in body["latest_build"]
    listed = api.get("/api/v2/workspaces").json()["results"][0]
    assert listed["autostart_schedule"] == body["autostart_schedule"]
    assert listed["ttl_ms"] == body["ttl_ms"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule": "0 9 * * 8"}, "schedule"),
        ({"schedule": "0 9 * * *", "tz": "Nowhere/Land"}, "tz"),
        ({"schedule": "0 9 * * *", "zone": "UTC"}, "zone"),
        ({}, "schedule"),
        ({"schedule": ["0 9 * * *"]}, "schedule"),
    ],
)
def test_bad_autostart_bodies_are_400_naming_the_field(client_for, member, alice_ws, body, field):
    r = client_for(member).put(url(alice_ws, "autostart"), body, format="json")
    assert r.status_code == 400, r.content
    assert field in {v["field"] for v in r.json()["validations"]} or field in r.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"ttl_ms": 1500}, "ttl_ms"), ({"ttl_ms": -1}, "ttl_ms"), ({"ttl_ms": "soon"}, "ttl_ms")],
)
def test_bad_ttl_bodies_are_400(client_for, member, alice_ws, body, field):
    r = client_for(member).put(url(alice_ws, "ttl"), body, format="json")
    assert r.status_code == 400, r.content


def test_extend_answers_the_deadline_and_refuses_past_the_max(client_for, member):
    template = buildable_template()
    scheduling.update_schedule_policy(template, actor=system_actor(), max_lifetime_seconds=3 * 3600)
    ws = services.create_workspace(actor=member, owner=member, template=template, name="dev")
    finish(ws.latest_build)
    api = client_for(member)
    ok = timezone.now() + timedelta(hours=2)
    r = api.put(url(ws, "extend"), {"deadline": ok.isoformat()}, format="json")
    assert r.status_code == 200, r.content
    too_late = timezone.now() + timedelta(hours=5)
    r = api.put(url(ws, "extend"), {"deadline": too_late.isoformat()}, format="json")
    assert r.status_code == 400
    assert "maximum lifetime" in r.json()["message"] and "3h" in r.json()["message"]


def test_another_member_gets_404_and_nothing_changes(client_for, make_user, alice_ws):
    mallory = make_user(username="mallory")
    api = client_for(mallory)
    assert api.put(url(alice_ws, "ttl"), {"ttl_ms": 60_000}, format="json").status_code == 404
    r = api.put(url(alice_ws, "autostart"), {"schedule": "0 9 * * *"}, format="json")
    assert r.status_code == 404
    alice_ws.refresh_from_db()
    assert alice_ws.autostart_schedule == "" and alice_ws.ttl_seconds is None


def test_template_patch_sets_the_policy_and_gate_off_is_403(client_for, make_user):
    admin = make_user(Role.TEMPLATE_ADMIN, username="tadmin")
    template = buildable_template()
    api = client_for(admin)
    path = f"/api/v2/templates/{template.id}"
    body = {
        "default_ttl_ms": 8 * 3600 * 1000,
        "activity_bump_ms": 1800 * 1000,
        "max_ttl_ms": 12 * 3600 * 1000,
        "autostart_requirement": {"days_of_week": ["monday", "friday"]},
        "allow_user_autostop": False,
    }
    r = api.patch(path, body, format="json")
    assert r.status_code == 200, r.content
    shown = r.json()
    assert shown["default_ttl_ms"] == 8 * 3600 * 1000
    assert shown["max_ttl_ms"] == 12 * 3600 * 1000
    assert shown["autostart_requirement"] == {"days_of_week": ["monday", "friday"]}
    assert shown["allow_user_autostop"] is False

    r = api.patch(path, {"autostart_requirement": {"days_of_week": ["funday"]}}, format="json")
    assert r.status_code == 400 and r.json()["validations"][0]["field"] == "autostart_days"
    r = api.patch(path, {"max_ttl": 5}, format="json")
    assert r.status_code == 400 and "max_ttl" in r.json()["validations"][0]["field"]

    def off(name):
        return False if name == scheduling.GATE else None

    hooks.feature_gate.register(off)
    try:
        r = api.patch(path, {"max_ttl_ms": 3600 * 1000, "description": "x"}, format="json")
        assert r.status_code == 403
        assert "advanced_template_scheduling" in r.json()["message"]
        template.refresh_from_db()
        assert template.description != "x"  # all or nothing
        assert api.patch(path, {"activity_bump_ms": 600_000}, format="json").status_code == 200
    finally:
        hooks.feature_gate.unregister(off)


def test_members_cannot_change_a_templates_policy(client_for, member):
    template = buildable_template()
    r = client_for(member).patch(
        f"/api/v2/templates/{template.id}", {"default_ttl_ms": 3600_000}, format="json"
    )
    assert r.status_code in (403, 404)
    template.refresh_from_db()
    assert template.default_ttl_seconds == 0


def test_create_takes_coders_schedule_fields_all_or_nothing(client_for, member):
    template = buildable_template()
    api = client_for(member)
    body = {
        "name": "sched",
        "template_id": str(template.id),
        "autostart_schedule": "CRON_TZ=Europe/Berlin 0 9 * * 1-5",
        "ttl_ms": 8 * 3600 * 1000,
    }
    r = api.post("/api/v2/workspaces", body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["autostart_schedule"] == "CRON_TZ=Europe/Berlin 0 9 * * 1-5"
    assert r.json()["ttl_ms"] == 8 * 3600 * 1000
    bad = {**body, "name": "bad", "autostart_schedule": "CRON_TZ=Europe/Berlin 0 9 * * 1-8"}
    r = api.post("/api/v2/workspaces", bad, format="json")
    assert r.status_code == 400 and r.json()["validations"][0]["field"] == "autostart_schedule"
    assert not services.Workspace.objects.filter(name="bad").exists()

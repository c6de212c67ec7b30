"""The workspace page's schedule card: stops at / starts next, and the form (owners only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests import factories
from workspaces.models import Workspace, WorkspaceBuild

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(member, template):
    ws = factories.workspace(member, template=template, name="dev")
    WorkspaceBuild.objects.filter(pk=ws.latest_build_id).update(
        deadline=timezone.now() + timedelta(hours=3, minutes=1)
    )
    return ws


def test_the_card_says_when_it_stops_and_the_form_sets_the_schedule(browser_for, member, running):
    browser = browser_for(member)
    page = browser.get("/workspaces/alice/dev").content.decode()
    assert "Stops at" in page and "(in 3 h)" in page
    assert "Autostart: off." in page

    r = browser.post(
        "/workspaces/alice/dev/schedule",
        {"schedule": "0 9 * * 1-5", "tz": "Europe/Berlin", "ttl_hours": "8"},
    )
    assert r.status_code == 302
    ws = Workspace.objects.get(pk=running.pk)
    assert ws.autostart_schedule == "CRON_TZ=Europe/Berlin 0 9 * * 1-5"
    assert ws.ttl_seconds == 8 * 3600
    page = browser.get("/workspaces/alice/dev").content.decode()
    assert "Starts next at" in page and "09:00 Europe/Berlin" in page


def test_a_bad_schedule_is_explained_and_nothing_is_saved(browser_for, member, running):
    browser = browser_for(member)
    r = browser.post(
        "/workspaces/alice/dev/schedule",
        {"schedule": "0 9 * * 1-5", "tz": "Mars/Olympus", "ttl_hours": "8"},
        follow=True,
    )
    assert "Unknown time zone" in r.content.decode()
    ws = Workspace.objects.get(pk=running.pk)
    assert (ws.autostart_schedule, ws.ttl_seconds) == ("", None)


def test_others_cannot_post_the_form(browser_for, make_user, running):
    mallory = make_user(username="mallory")
    r = browser_for(mallory).post("/workspaces/alice/dev/schedule", {"ttl_hours": "1"})
    assert r.status_code == 404
    assert Workspace.objects.get(pk=running.pk).ttl_seconds is None


def test_extend_pushes_the_stop_back_from_the_current_deadline(browser_for, member, running):
    browser = browser_for(member)
    before = WorkspaceBuild.objects.get(pk=running.latest_build_id).deadline
    page = browser.get("/workspaces/alice/dev").content.decode()
    assert 'id="schedule-extend"' in page
    r = browser.post("/workspaces/alice/dev/extend", {"hours": "2"}, follow=True)
    assert "dev now stops 2 h later." in r.content.decode()
    after = WorkspaceBuild.objects.get(pk=running.latest_build_id).deadline
    assert after - before == timedelta(hours=2)
    assert "(in 5 h)" in r.content.decode()


def test_extend_refuses_odd_hours_and_strangers(browser_for, member, make_user, running):
    before = WorkspaceBuild.objects.get(pk=running.latest_build_id).deadline
    r = browser_for(member).post("/workspaces/alice/dev/extend", {"hours": "999"}, follow=True)
    assert "Not extended: choose one of" in r.content.decode()
    stranger = browser_for(make_user(username="mallory"))
    assert stranger.post("/workspaces/alice/dev/extend", {"hours": "1"}).status_code == 404
    assert WorkspaceBuild.objects.get(pk=running.latest_build_id).deadline == before

"""The workspace page of a dormant workspace: the banner, Reactivate (owner only), Start refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts.services import system_actor
from tests import factories
from workspaces import dormancy
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def dormant(member, template):
    ws = factories.workspace(member, template=template, name="dev")
    Workspace.objects.filter(pk=ws.pk).update(
        dormant_at=timezone.now(), deleting_at=timezone.now() + timedelta(days=7)
    )
    return ws


def test_the_banner_says_when_and_reactivate_brings_start_back(browser_for, member, dormant):
    browser = browser_for(member)
    page = browser.get("/workspaces/alice/dev").content.decode()
    assert 'id="dormant-banner"' in page and "it will be deleted on" in page
    assert 'id="action-reactivate"' in page
    r = browser.post("/workspaces/alice/dev/builds", {"action": "start"}, follow=True)
    assert "is dormant: reactivate it first" in r.content.decode()
    r = browser.post("/workspaces/alice/dev/reactivate", follow=True)
    assert "dev is active again; you can start it." in r.content.decode()
    assert 'id="dormant-banner"' not in r.content.decode()
    ws = Workspace.objects.get(pk=dormant.pk)
    assert (ws.dormant_at, ws.deleting_at) == (None, None)


def test_another_member_gets_not_found(browser_for, make_user, dormant):
    bob = make_user(username="bob")
    r = browser_for(bob).post("/workspaces/alice/dev/reactivate")
    assert r.status_code == 404
    assert Workspace.objects.get(pk=dormant.pk).dormant_at is not None
    dormancy.set_dormant(dormant, actor=system_actor(), dormant=False)

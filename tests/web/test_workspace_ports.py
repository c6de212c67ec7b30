"""The workspace page's Ports card: listening ports with Open links, and the share form."""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.audit.models import AuditEntry
from tests.agents.helpers import make_agent
from workspaces.models import WorkspaceAgent, WorkspacePortShare

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(member):
    agent = make_agent(member, name="dev")
    now = timezone.now()
    WorkspaceAgent.objects.filter(pk=agent.pk).update(
        last_connected_at=now,
        last_seen_at=now,
        listening_ports=[{"port": 8000, "network": "tcp", "process_name": "python3"}],
    )
    return agent


def test_the_card_lists_ports_and_the_form_shares_changes_and_stops_sharing(
    browser_for, member, agent
):
    browser = browser_for(member)
    page = browser.get("/workspaces/alice/dev").content.decode()
    assert 'data-port="8000"' in page and "python3" in page
    assert 'href="/@alice/dev.main/ports/8000/"' in page

    url = "/workspaces/alice/dev/port-share"
    r = browser.post(url, {"agent": "main", "port": "8000", "level": "public"})
    assert r.status_code == 302
    assert WorkspacePortShare.objects.get().share_level == "public"
    page = browser.get("/workspaces/alice/dev").content.decode()
    assert 'data-shared-port="8000"' in page

    r = browser.post(url, {"agent": "main", "port": "8000", "level": "owner"}, follow=True)
    assert "no longer shared" in r.content.decode()
    assert not WorkspacePortShare.objects.exists()
    r = browser.post(url, {"agent": "main", "port": "x", "level": "public"}, follow=True)
    assert "from 1 to 65535" in r.content.decode()
    assert AuditEntry.objects.filter(resource_type="workspace_port_share").count() == 2


def test_another_member_can_neither_see_nor_share_the_ports(browser_for, make_user, agent):
    browser = browser_for(make_user(username="mallory"))
    assert browser.get("/workspaces/alice/dev").status_code == 404
    r = browser.post(
        "/workspaces/alice/dev/port-share", {"agent": "main", "port": "8000", "level": "public"}
    )
    assert r.status_code == 404
    assert not WorkspacePortShare.objects.exists()

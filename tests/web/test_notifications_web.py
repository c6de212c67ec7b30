"""The portal's notifications: the bell's count, the list, mark read, the account page's form."""

from __future__ import annotations

import pytest

from portal.notifications import services
from portal.notifications.models import Notification

pytestmark = pytest.mark.django_db

FAILED = {"workspace": "dev", "transition": "start", "error": "<b>exit 1</b>"}


def _send(user):
    return services.notify("build_failed", user, context=FAILED, link="/workspaces/x/dev")


def _count(html: str) -> str:
    start = html.index('data-unread="') + len('data-unread="')
    return html[start : html.index('"', start)]


def test_the_bell_counts_unread_and_the_list_marks_them_read(browser_for, member, make_user):
    client = browser_for(member)
    assert _count(client.get("/").content.decode()) == "0"
    first, second = _send(member), _send(member)
    _send(make_user())  # another user's: never counted or listed here
    assert _count(client.get("/notifications/bell").content.decode()) == "2"
    page = client.get("/notifications/").content.decode()
    assert page.count('class="notification unread"') == 2
    assert "&lt;b&gt;exit 1&lt;/b&gt;" in page  # plain text, escaped
    assert '<a href="/workspaces/x/dev">Start of dev failed</a>' in page

    r = client.post(f"/notifications/{first.pk}/read", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r["HX-Trigger"] == "notifications-changed"
    assert r.content.decode().count('class="notification unread"') == 1
    r = client.post("/notifications/read-all")
    assert r.status_code == 302
    assert _count(client.get("/notifications/bell").content.decode()) == "0"
    second.refresh_from_db()
    assert second.read_at is not None


def test_another_users_notification_cannot_be_marked(browser_for, member, make_user):
    theirs = _send(make_user())
    r = browser_for(member).post(f"/notifications/{theirs.pk}/read")
    assert r.status_code == 404
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_the_account_page_sets_preferences(browser_for, member):
    client = browser_for(member)
    page = client.get("/account").content.decode()
    assert 'id="notification-preferences"' in page
    assert 'name="build_failed:email" aria-label="Workspace build failed by email" checked' in page
    form = {"build_failed:inbox": "on", "build_failed:webhook": "on"}  # email unticked
    r = client.post("/notifications/preferences", form, follow=True)
    assert "Notification preferences saved." in r.content.decode()
    assert services.chosen_methods(member, "build_failed") == {"inbox", "webhook"}
    # Kinds left unticked in the form are off too; the suspension notice cannot be.
    assert services.chosen_methods(member, "workspace_dormant") == set()
    assert services.chosen_methods(member, "account_suspended") == {"inbox", "email", "webhook"}

"""The console's messages page: every kind listed with its preview, edited and reset through the
services (audited), a bad template shown on the form, members kept out; the outbox page."""

from __future__ import annotations

import pytest

from portal.audit.models import AuditEntry
from portal.notifications import messages, services

pytestmark = pytest.mark.django_db

URL = "/admin/notifications/messagetemplate/"


def test_lists_every_kind_with_a_preview_and_the_methods(client, owner, settings):
    settings.PORTAL_NOTIFICATIONS_EMAIL = {**settings.PORTAL_NOTIFICATIONS_EMAIL, "host": ""}
    client.force_login(owner)
    html = client.get(URL).content.decode()
    assert 'data-kind="build_failed"' in html and 'data-kind="account_suspended"' in html
    assert "Start of dev failed" in html  # the preview with sample values
    assert "off: PORTAL_EMAIL_HOST is not set" in html


def test_edit_and_reset_through_the_services(client, owner, member):
    client.force_login(owner)
    r = client.post(
        f"{URL}build_failed/",
        {"title": "Broken: {{ workspace }}", "body": "", "enabled": "on"},
    )
    assert r.status_code == 302
    sent = services.notify("build_failed", member, context={"workspace": "dev"})
    assert sent.title == "Broken: dev"
    entry = AuditEntry.objects.filter(resource_type="notification_template").latest("id")
    assert (entry.actor_id, entry.additional_fields["via"]) == (owner.pk, "console")

    bad = client.post(f"{URL}build_failed/", {"title": "{% if x %}", "body": "", "enabled": "on"})
    assert bad.status_code == 200
    assert "is not a valid template on line 1" in bad.content.decode()

    client.post(f"{URL}build_failed/", {"reset": "1"})
    assert not messages.effective("build_failed").customized
    assert client.get(f"{URL}nope/").status_code == 404


def test_members_and_template_admins_are_kept_out(client, make_user):
    client.force_login(make_user("template-admin"))
    assert client.get(URL).status_code in (302, 403)
    assert client.post(f"{URL}build_failed/", {"title": "x"}).status_code in (302, 403)
    assert not messages.effective("build_failed").customized


def test_the_outbox_page_shows_deliveries(client, owner):
    client.force_login(owner)
    assert client.get("/admin/notifications/delivery/").status_code == 200

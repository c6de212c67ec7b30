"""The console's scheduling policy form of a template, through templates_app.scheduling."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal import hooks
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from templates_app import scheduling
from tests.admin.conftest import make_template

pytestmark = pytest.mark.django_db


def url(template) -> str:
    return reverse("admin:templates_app_template_scheduling", args=[template.pk])


FORM = {
    "default_ttl_hours": "8",
    "activity_bump_minutes": "30",
    "max_lifetime_hours": "12",
    "autostart_days": ["monday", "friday"],
    "allow_user_autostart": "on",
}


def test_an_owner_sets_the_policy_and_the_page_shows_it(console, owner):
    template = make_template(owner, name="docker")
    client = console(owner)
    assert client.get(url(template)).status_code == 200
    response = client.post(url(template), FORM)
    assert response.status_code == 302, response.content[:500]
    template.refresh_from_db()
    assert template.default_ttl_seconds == 8 * 3600
    assert template.activity_bump_seconds == 1800
    assert template.max_lifetime_seconds == 12 * 3600
    assert template.autostart_days == [0, 4]
    assert (template.allow_user_autostart, template.allow_user_autostop) == (True, False)
    entry = AuditEntry.objects.get(resource_type="template", action="write")
    assert entry.diff["scheduling.default_ttl_seconds"]["new"] == 8 * 3600
    page = client.get(reverse("admin:templates_app_template_change", args=[template.pk]))
    assert "autostart days: monday, friday" in page.content.decode()


def test_gate_off_offers_only_the_basic_settings(console, owner):
    template = make_template(owner, name="docker")

    def off(name):
        return False if name == scheduling.GATE else None

    hooks.feature_gate.register(off)
    try:
        page = console(owner).get(url(template)).content.decode()
        assert "max_lifetime_hours" not in page and "advanced_template_scheduling" in page
        response = console(owner).post(url(template), FORM)
        assert response.status_code == 302
    finally:
        hooks.feature_gate.unregister(off)
    template.refresh_from_db()
    assert template.default_ttl_seconds == 8 * 3600
    assert template.max_lifetime_seconds == 0  # not offered, not set


def test_an_auditor_cannot_change_it(console, make_user, owner):
    template = make_template(owner, name="docker")
    auditor = console(make_user(Role.AUDITOR))
    response = auditor.post(url(template), FORM, follow=True)
    template.refresh_from_db()
    assert template.default_ttl_seconds == 0
    assert response.status_code in (200, 403)


def test_the_form_sets_failure_cleanup_and_dormancy(console, owner):
    template = make_template(owner, name="docker")
    form = {
        **FORM,
        "failure_ttl_hours": "24",
        "dormancy_threshold_days": "30",
        "dormancy_autodelete_days": "7",
    }
    response = console(owner).post(url(template), form)
    assert response.status_code == 302, response.content[:500]
    template.refresh_from_db()
    assert (
        template.failure_ttl_seconds,
        template.time_til_dormant_seconds,
        template.time_til_dormant_autodelete_seconds,
    ) == (24 * 3600, 30 * 86400, 7 * 86400)
    page = console(owner).get(reverse("admin:templates_app_template_change", args=[template.pk]))
    assert "time_til_dormant_ms: 2592000000" in page.content.decode()

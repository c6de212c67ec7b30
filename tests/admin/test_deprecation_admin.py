"""The console deprecates templates and versions through templates_app.deprecation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from tests import factories

pytestmark = pytest.mark.django_db


def test_an_owner_deprecates_a_template_and_the_list_filters_it(console, owner):
    template = factories.TemplateFactory(name="old")
    factories.TemplateFactory(name="fresh")
    client = console(owner)
    url = reverse("admin:templates_app_template_deprecation", args=[template.pk])
    r = client.post(url, {"message": "Use fresh."})
    assert r.status_code == 302, r.content[:400]
    template.refresh_from_db()
    assert template.deprecation_message == "Use fresh."
    assert AuditEntry.objects.filter(resource_type="template", action="write").exists()
    page = client.get(reverse("admin:templates_app_template_change", args=[template.pk]))
    assert "Use fresh." in page.content.decode()
    listing = client.get(reverse("admin:templates_app_template_changelist") + "?deprecated=yes")
    html = listing.content.decode()
    assert ">old<" in html and ">fresh<" not in html
    client.post(url, {"message": ""})
    template.refresh_from_db()
    assert template.deprecation_message == ""


def test_a_version_is_deprecated_from_its_page(console, owner):
    version = factories.TemplateFactory(name="tpl").active_version
    client = console(owner)
    url = reverse("admin:templates_app_templateversion_deprecation", args=[version.pk])
    assert client.post(url, {"message": "Broken."}).status_code == 302
    version.refresh_from_db()
    assert version.deprecation_message == "Broken."
    listing = client.get(
        reverse("admin:templates_app_templateversion_changelist") + "?deprecated=yes"
    )
    assert version.name in listing.content.decode()


def test_an_auditor_may_look_but_not_deprecate(console, make_user):
    template = factories.TemplateFactory(name="old")
    auditor = make_user(Role.AUDITOR)
    url = reverse("admin:templates_app_template_deprecation", args=[template.pk])
    r = console(auditor).post(url, {"message": "No."}, follow=True)
    template.refresh_from_db()
    assert template.deprecation_message == ""
    assert r.status_code == 403 or "You are not allowed to deprecate" in r.content.decode()

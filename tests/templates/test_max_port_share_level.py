"""A template's max_port_share_level: set through the API (audited), refused when unknown."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from portal.audit.models import AuditEntry
from tests import factories

pytestmark = pytest.mark.django_db


def test_template_admins_set_the_maximum_and_bad_values_are_refused(make_user):
    template = factories.TemplateFactory()
    assert template.max_port_share_level == "public"  # Coder's OSS default
    client = APIClient()
    client.force_authenticate(make_user("template-admin"))
    url = f"/api/v2/templates/{template.name}"
    r = client.patch(url, {"max_port_share_level": "authenticated"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["max_port_share_level"] == "authenticated"
    entry = AuditEntry.objects.filter(resource_type="template", action="write").latest("id")
    assert entry.diff["max_port_share_level"]["new"] == "authenticated"
    bad = client.patch(url, {"max_port_share_level": "everyone"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["validations"][0]["field"] == "max_port_share_level"
    template.refresh_from_db()
    assert template.max_port_share_level == "authenticated"

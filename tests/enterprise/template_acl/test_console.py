"""The access list on the template's console page, changed through the service."""

from __future__ import annotations

import pytest

from enterprise.template_acl.models import TemplateACL
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from tests.workspaces.helpers import buildable_template

pytestmark = pytest.mark.django_db


def test_the_template_page_shows_the_acl_and_the_form_changes_it(client, owner, make_group):
    template = buildable_template(name="py")
    make_group("devs")
    client.force_login(owner)
    page = client.get(f"/admin/templates_app/template/{template.pk}/change/").content.decode()
    assert "Access (template ACL)" in page and "everyone" in page
    manage = f"/admin-template-access/{template.pk}/"
    assert f'href="{manage}"' in page
    response = client.post(manage, {"kind": "group", "name": "devs", "role": "admin"})
    assert response.status_code == 302
    assert TemplateACL.objects.get(template=template, group__name="devs").role == "admin"
    entry = AuditEntry.objects.filter(resource_type="template").latest("time")
    assert entry.diff["acl.groups.devs"]["new"] == "admin"
    response = client.post(manage, {"kind": "user", "name": "ghost", "role": "use"})
    assert response.status_code == 200
    assert "No user &#x27;ghost&#x27;" in response.content.decode()
    client.post(manage, {"kind": "group", "name": "everyone", "role": "remove"})
    assert not TemplateACL.objects.filter(template=template, group__is_everyone=True).exists()


def test_an_auditor_sees_the_acl_but_may_not_change_it(client, make_user):
    template = buildable_template(name="py")
    client.force_login(make_user(Role.AUDITOR))
    page = client.get(f"/admin/templates_app/template/{template.pk}/change/").content.decode()
    assert "everyone" in page and "Manage access" not in page
    assert client.get(f"/admin-template-access/{template.pk}/").status_code == 403

"""Deprecated templates on the portal: marked in the list, refused by the create form, and a
banner on the pages of workspaces that still use them."""

from __future__ import annotations

import pytest

from templates_app import deprecation
from tests import factories

pytestmark = pytest.mark.django_db


def test_templates_page_marks_it_and_offers_no_create_link(browser_for, member, owner, template):
    deprecation.deprecate_template(template, actor=owner, message="Use python-2 instead.")
    html = browser_for(member).get("/templates").content.decode()
    assert "Deprecated</span>" in html
    assert "Template Python is deprecated: Use python-2 instead." in html
    assert "/templates/python/create" not in html


def test_create_form_refuses_with_the_reason(browser_for, member, owner, template):
    deprecation.deprecate_template(template, actor=owner, message="Use python-2 instead.")
    client = browser_for(member)
    r = client.get("/templates/python/create", follow=True)
    assert "Template Python is deprecated: Use python-2 instead." in r.content.decode()
    r = client.post("/templates/python/create", {"name": "dev"}, follow=True)
    assert "deprecated" in r.content.decode()
    assert not member.workspaces.exists()


def test_workspace_page_warns_and_still_starts(browser_for, member, owner, template):
    ws = factories.workspace(member, template=template, name="dev", transition="stop")
    deprecation.deprecate_template(template, actor=owner, message="Moving to python-2.")
    client = browser_for(member)
    html = client.get("/workspaces/alice/dev").content.decode()
    assert 'id="deprecation-warning"' in html and "Moving to python-2." in html
    client.post("/workspaces/alice/dev/builds", {"action": "start"})
    assert ws.builds.get(build_number=2).transition == "start"


def test_undeprecated_template_is_offered_again(browser_for, member, owner, template):
    deprecation.deprecate_template(template, actor=owner, message="Paused.")
    deprecation.deprecate_template(template, actor=owner, message="")
    html = browser_for(member).get("/templates").content.decode()
    assert "/templates/python/create" in html and "Deprecated</span>" not in html

"""The templates page: what the user may use, with its version, cost and a create link."""

from __future__ import annotations

import pytest

from portal import hooks
from tests import factories

pytestmark = pytest.mark.django_db


def test_lists_usable_templates_with_create_link(browser_for, member, template):
    factories.TemplateFactory(name="broken")  # its version never imported
    html = browser_for(member).get("/templates").content.decode()
    assert "Python" in html and "Py env" in html
    assert 'href="/templates/python/create"' in html
    assert "Cost per day: 7" in html
    assert "No usable version yet" in html
    assert 'href="/templates/broken/create"' not in html


def test_template_visibility_hook_hides_templates(browser_for, member, template):
    def hide_all(user, qs):
        return qs.none()

    hooks.template_visibility.register(hide_all)
    try:
        client = browser_for(member)
        html = client.get("/templates").content.decode()
        assert "Python" not in html
        assert "There are no templates you may use yet." in html
        assert client.get("/templates/python/create").status_code == 404
    finally:
        hooks.template_visibility.unregister(hide_all)

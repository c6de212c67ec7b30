"""The web portal's create form shows the cost and what is left of the budget; the console
shows each user's consumption on their page."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from portal.accounts.choices import Role
from tests import factories
from tests.conftest import PASSWORD
from tests.workspaces.helpers import version

pytestmark = pytest.mark.django_db


def _signed_in(user) -> Client:
    client = Client()
    assert client.post("/login", {"login": user.username, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def costly(db):
    template = factories.TemplateFactory(with_version=False, name="costly")
    template.active_version = version(template, daily_cost=7)
    template.save(update_fields=["active_version"])
    return template


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">(.*?)</p>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else ""


def test_the_create_form_shows_the_cost_and_the_remaining_budget(allow, member, costing, costly):
    allow(20)
    costing(member, 4)
    html = _signed_in(member).get("/templates/costly/create").content.decode()
    assert _text(html, "daily-cost") == "Cost per day of what this build creates: 7"
    assert _text(html, "budget") == "Your workspaces cost 4 a day of your budget of 20: 16 left."


def test_the_form_warns_when_the_workspace_costs_more_than_is_left(allow, member, costing, costly):
    allow(10)
    costing(member, 4)
    html = _signed_in(member).get("/templates/costly/create").content.decode()
    assert _text(html, "budget").endswith(
        "This workspace costs more than is left: stop or delete another workspace, or ask an "
        "admin to raise your group's allowance."
    )


def test_without_the_license_feature_the_form_shows_no_budget(gate_off, allow, member, costly):
    allow(10)
    html = _signed_in(member).get("/templates/costly/create").content.decode()
    assert 'id="budget"' not in html
    assert "Cost per day of what this build creates" in html


def test_a_users_console_page_shows_their_consumption(allow, member, costing, make_user):
    allow(10)
    costing(member, 4)
    admin = make_user(Role.OWNER, username="root")
    client = Client()
    client.force_login(admin)
    html = client.get(f"/admin/accounts/user/{member.pk}/change/").content.decode()
    assert "Workspace quota" in html
    assert "4 of 10 a day used (6 left)" in html

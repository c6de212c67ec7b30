"""The web portal's account page shows the signed-in user their groups (a card the groups app
adds through the registry; core's page does not know groups)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from enterprise.groups import services
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _signed_in(user) -> Client:
    client = Client()
    response = client.post("/login", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _rows(html: str) -> list[list[str]]:
    rows = re.findall(r'<tr data-group="[^"]+">(.*?)</tr>', html, re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def test_the_account_page_lists_the_users_groups(member, team, scim_group, system, make_user):
    services.create_group(actor=system, name="not-mine")
    html = _signed_in(member).get("/account").content.decode()
    # A section of its own, labelled by its heading (its number depends on the other apps').
    heading = re.search(r'<h2 id="(section-\d+-title)">Groups</h2>', html)
    assert heading is not None
    assert f'aria-labelledby="{heading.group(1)}"' in html
    assert _rows(html) == [
        ["everyone", "Everyone", "Everyone: every active user"],
        ["engineering", "Engineering", "SCIM provisioning"],
        ["team", "The team", "Portal"],
    ]
    assert "not-mine" not in html
    assert "groups managed by your identity provider change there" in html


def test_a_user_in_no_explicit_group_sees_everyone_only(make_user, everyone_group):
    html = _signed_in(make_user(username="bob")).get("/account").content.decode()
    assert [r[0] for r in _rows(html)] == ["everyone"]
    assert "identity provider" not in html

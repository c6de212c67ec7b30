"""The web portal's /audit page: search box, pages, export links, the nav link, who may see it."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from enterprise.audit import portal_page
from portal.audit.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NAV_LINK = '<a href="/audit"'


def _signed_in(user) -> Client:
    client = Client()
    response = client.post("/login", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _rows(html: str) -> list[list[str]]:
    rows = re.findall(r'<tr data-entry="\d+">(.*?)</tr>', html, re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def test_an_auditor_searches_and_gets_export_links(auditor, history):
    client = _signed_in(auditor)
    page = client.get("/audit", {"q": "action:create resource_type:api_token"})
    assert page.status_code == 200
    html = page.content.decode()
    rows = _rows(html)
    assert [(r[1], r[2], r[4]) for r in rows] == [("alice", "create", "ci")]
    assert 'value="action:create resource_type:api_token"' in html
    assert (
        'href="/api/v2/audit/export?q=action%3Acreate+resource_type%3Aapi_token&amp;format=csv"'
        in html
    )
    assert "format=ndjson" in html
    assert NAV_LINK + ' aria-current="page">Audit</a>' in html
    # the export link works with the page's session
    export = client.get("/api/v2/audit/export", {"q": "action:create", "format": "csv"})
    assert export.status_code == 200


def test_a_bad_query_is_shown_next_to_the_box(owner):
    page = _signed_in(owner).get("/audit", {"q": "colour:red"})
    assert page.status_code == 400
    html = page.content.decode()
    assert 'aria-invalid="true"' in html
    assert "Unknown filter colour:" in html


def test_pages_of_fifty_newest_first(owner, monkeypatch):
    monkeypatch.setattr(portal_page, "PAGE_SIZE", 3)
    AuditEntry.objects.bulk_create(
        AuditEntry(action="unlock", resource_type="user", resource_target=f"t{i}") for i in range(7)
    )
    client = _signed_in(owner)
    first = client.get("/audit", {"q": "action:unlock"}).content.decode()
    assert len(_rows(first)) == 3 and 'rel="next"' in first and 'rel="prev"' not in first
    last = client.get("/audit", {"q": "action:unlock", "page": 3}).content.decode()
    assert len(_rows(last)) == 1 and 'rel="next"' not in last and 'rel="prev"' in last
    seen = {
        r[4]
        for p in (1, 2, 3)
        for r in _rows(client.get("/audit", {"q": "action:unlock", "page": p}).content.decode())
    }
    assert seen == {f"t{i}" for i in range(7)}
    assert client.get("/audit", {"page": "nonsense"}).status_code == 200


def test_members_get_no_link_and_a_refusal(member, history):
    client = _signed_in(member)
    assert NAV_LINK not in client.get("/").content.decode()
    page = client.get("/audit")
    assert page.status_code == 403
    assert "<tr data-entry" not in page.content.decode()


def test_with_the_gate_off_the_page_names_the_feature_and_the_link_goes(owner, gate_off):
    client = _signed_in(owner)
    assert NAV_LINK not in client.get("/").content.decode()
    page = client.get("/audit")
    assert page.status_code == 403
    assert "needs a license with the audit_log feature" in page.content.decode()


def test_signed_out_visitors_go_to_the_login_page(client):
    response = client.get("/audit")
    assert response.status_code == 302 and response["Location"].startswith("/login")

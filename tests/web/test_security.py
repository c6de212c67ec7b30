"""CSRF on every form, the Content-Security-Policy, no inline script, no token in URLs."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = ["/", "/templates", "/templates/python/create", "/account", "/workspaces/rows"]


def test_posts_without_the_csrf_token_are_refused(member, template):
    client = Client(enforce_csrf_checks=True)
    assert (
        client.post("/login", {"login": member.username, "password": PASSWORD}).status_code == 403
    )
    client.force_login(member, backend="portal.accounts.backends.PortalBackend")
    for url in ("/account/tokens", "/templates/python/create", "/logout"):
        assert client.post(url, {"name": "x"}).status_code == 403, url


def test_every_form_carries_the_csrf_token(browser_for, member, template):
    client = browser_for(member)
    for url in PAGES:
        html = client.get(url).content.decode()
        posts = html.count('method="post"')
        assert html.count('name="csrfmiddlewaretoken"') == posts, url
        assert '<meta name="csrf-token"' in html or url == "/workspaces/rows"


def test_pages_send_the_csp_and_have_no_inline_script(browser_for, member, template):
    client = browser_for(member)
    for url in [*PAGES, "/login"]:
        r = client.get(url)
        csp = r["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
        scripts = re.findall(r"<script([^>]*)>", r.content.decode())
        assert all("src=" in attrs for attrs in scripts), (url, scripts)
        assert " style=" not in r.content.decode() and "<style" not in r.content.decode()
        assert " on" + "click=" not in r.content.decode()


def test_the_operator_console_has_the_same_policy(browser_for, make_user):
    from portal.accounts.choices import Role

    r = browser_for(make_user(Role.OWNER)).get("/admin/")
    assert r.status_code == 200
    # tests/admin/test_console_csp.py checks every console page.
    assert "script-src 'self';" in r["Content-Security-Policy"]


def test_session_cookie_is_http_only_and_same_site(member):
    r = Client().post("/login", {"login": member.username, "password": PASSWORD})
    cookie = r.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"

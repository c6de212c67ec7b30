"""Signing in with a username or an email, the errors shown, signing out."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.accounts import services
from portal.audit.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_pages_send_anonymous_visitors_to_the_login_page_and_back():
    r = Client().get("/templates")
    assert r.status_code == 302
    assert r["Location"] == "/login?next=/templates"


def test_fragment_refresh_of_a_signed_out_browser_reloads_to_the_login_page():
    r = Client().get("/workspaces/rows", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r["HX-Redirect"] == "/login"
    assert r.content == b""


def test_login_with_email_lands_on_next_page(member):
    client = Client()
    page = client.get("/login?next=/templates")
    assert b'name="login"' in page.content and b"Username or email" in page.content
    r = client.post(
        "/login", {"login": member.email.upper(), "password": PASSWORD, "next": "/templates"}
    )
    assert r.status_code == 302 and r["Location"] == "/templates"
    assert client.get("/templates").status_code == 200


def test_wrong_password_is_refused_with_a_message_and_audited(member):
    r = Client().post("/login", {"login": member.username, "password": "nope"})
    assert r.status_code == 401
    assert b"Incorrect username, email or password." in r.content
    assert member.username.encode() in r.content  # what was typed is kept
    assert AuditEntry.objects.filter(action="login_failed").exists()


def test_suspended_user_is_told_why(member, system):
    services.suspend_user(member, actor=system)
    r = Client().post("/login", {"login": member.username, "password": PASSWORD})
    assert r.status_code == 403
    assert b"suspended" in r.content


def test_empty_form_says_what_is_missing():
    r = Client().post("/login", {"login": "", "password": ""})
    assert r.status_code == 400
    assert b"Enter your username or email" in r.content


def test_next_cannot_send_you_to_another_site(member):
    r = Client().post(
        "/login", {"login": member.username, "password": PASSWORD, "next": "https://evil.test/"}
    )
    assert r["Location"] == "/"


def test_logout_needs_post_and_signs_out(browser_for, member):
    client = browser_for(member)
    assert client.get("/logout").status_code == 405
    r = client.post("/logout")
    assert r.status_code == 302 and r["Location"] == "/login"
    assert client.get("/").status_code == 302

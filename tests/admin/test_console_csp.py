"""The operator console is served with the portal's Content-Security-Policy, and its pages hold
nothing that policy would block (no inline script, style block, style or on* attribute)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from portal.accounts.choices import Role

pytestmark = pytest.mark.django_db

_INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def _console_pages(client):
    """The index, the health page, every changelist, add page and one change page per model."""
    yield reverse("admin:index")
    yield reverse("console-health")
    for model in admin.site._registry:
        opts = model._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        yield reverse(f"{name}_changelist")
        with contextlib.suppress(NoReverseMatch):  # a model admin that routes no add page
            yield reverse(f"{name}_add")
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            with contextlib.suppress(NoReverseMatch):
                yield reverse(f"{name}_change", args=[row.pk])


def assert_strict(response, url):
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'", (url, csp)
    assert "unsafe" not in csp, (url, csp)
    assert directives["style-src"].split()[0] == "'self'", (url, csp)
    assert "frame-ancestors 'none'" in csp, url


def assert_nothing_inline(html: str, url):
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs for attrs in scripts), (url, scripts)
    assert " style=" not in html, url
    assert not _INLINE_HANDLER.search(html), url
    assert "javascript:" not in html, url


def test_every_console_page_carries_the_strict_policy(console, owner, seed):
    seed(1)
    client = console(owner)
    checked = 0
    for url in _console_pages(client):
        response = client.get(url)
        assert response.status_code in (200, 403), (url, response.status_code)
        assert_strict(response, url)
        if response.status_code == 200 and url != reverse("admin:index"):
            # The index's own template belongs to the dashboard (tests/admin/test_dashboard.py).
            assert_nothing_inline(response.content.decode(), url)
            assert "<style" not in response.content.decode(), url
        checked += 1
    assert checked >= 2 * len(admin.site._registry)  # at least each list and its add or change page


def test_the_sign_in_page_and_a_refusal_carry_it_too(client, make_user):
    page = client.get(reverse("admin:login"))
    assert page.status_code == 200
    assert_strict(page, "login")
    assert_nothing_inline(page.content.decode(), "login")

    # A member is no operator: sent to the console's sign-in page, under the same policy.
    client.force_login(make_user(Role.MEMBER))
    refused = client.get(reverse("admin:accounts_user_changelist"))
    assert refused.status_code == 302
    assert_strict(refused, "refused")
    assert_strict(client.get(refused["Location"]), "refused, sign-in page")


def test_the_one_time_password_page_carries_it(console, owner, make_user):
    member = make_user(Role.MEMBER)
    response = console(owner).post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_passwords", "_selected_action": [str(member.pk)]},
    )
    assert_strict(response, "the confirmation page")
    assert_nothing_inline(response.content.decode(), "the confirmation page")
    response = console(owner).post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_passwords", "_selected_action": [str(member.pk)], "apply": "yes"},
    )
    assert response.status_code == 200 and b"one-time-password" in response.content
    assert_strict(response, "one-time passwords")
    assert_nothing_inline(response.content.decode(), "one-time passwords")


def test_djangos_one_inline_style_is_allowed_by_its_hash_only(console, owner, monkeypatch):
    """A ModelAdmin without an actions bar makes Django write a <style> block: its exact text is
    allowed by hash, and nothing else inline is ('unsafe-inline' never appears)."""
    from portal.accounts.models import User

    user_admin = admin.site._registry[User]
    monkeypatch.setattr(user_admin, "actions_on_top", False)
    monkeypatch.setattr(user_admin, "actions_on_bottom", False)
    response = console(owner).get(reverse("admin:accounts_user_changelist"))
    html = response.content.decode()
    (block,) = re.findall(r"<style>(.*?)</style>", html, re.S)
    digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
    csp = response["Content-Security-Policy"]
    assert f"style-src 'self' 'sha256-{digest}';" in csp
    assert "unsafe-inline" not in csp


def test_the_api_still_has_no_page_policy(console, owner):
    response = console(owner).get("/api/v2/buildinfo")
    assert "Content-Security-Policy" not in response

"""The whole browser flow in Chromium: the portal's button, the provider's login and consent,
back to the page the user asked for, signed in, in their synced group."""

from __future__ import annotations

import json
import os

import pytest

from enterprise.groups.models import GroupMember
from tests.enterprise.oidc.conftest import IdP, configure


@pytest.fixture
def live_idp(live_server, monkeypatch):
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM reads beside Playwright
    provider = IdP([f"{live_server.url}/oidc/callback/"])
    configure(
        monkeypatch,
        provider.issuer,
        sign_in_text="Sign in with Test IdP",
        group_claim="groups",
        group_auto_create="true",
        group_mapping=json.dumps({"Engineering": "developers"}),
    )
    yield provider
    provider.stop()
    from enterprise.oidc import config, discovery

    config.current.cache_clear()
    discovery.forget()


def test_sign_in_from_the_portal_button_through_the_provider(live_server, live_idp, page):
    live_idp.set_account("sam", email="sam@corp.example", name="Sam Tester", groups=["Engineering"])
    page.goto(f"{live_server.url}/login?next=/templates")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    # The provider's development login (any password), then its consent page.
    page.locator("input[name=login]").fill("sam")
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{live_server.url}/templates")
    assert "sam" in page.content()
    assert GroupMember.objects.filter(user__username="sam", group__name="developers").exists()

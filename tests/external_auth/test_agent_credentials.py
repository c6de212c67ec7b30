"""What an agent's control connection answers about git credentials: only its owner's tokens."""

from __future__ import annotations

import asyncio

import pytest
from django.test import Client

from portal.accounts import services as accounts
from tests.agents.helpers import FakeAgent, make_agent
from tests.external_auth.conftest import link_in_browser

pytestmark = pytest.mark.django_db(transaction=True)


def _ask(token: str, request: dict) -> dict:
    async def go():
        fake = FakeAgent(token)
        assert await fake.open() is None
        await fake.send({"type": "external_auth", "id": 3, **request})
        answer = await fake.receive()
        await fake.hang_up()
        return answer

    return asyncio.run(go())


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def bob(make_user):
    return make_user(username="bob")


def test_unlinked_gets_the_link_then_the_owners_token_never_another_users(with_forge, alice, bob):
    make_agent(alice, "alice-agent")
    make_agent(bob, "bob-agent", name="bobs")
    repo = "http://127.0.0.1:9/team/app.git"

    before = _ask("alice-agent", {"match": repo})
    assert before["type"] == "external_auth" and before["id"] == 3
    assert "access_token" not in before and before["url"].endswith("/external-auth/forge")
    assert before["message"].startswith("Authenticate with Test Forge at ")

    link_in_browser(_browser(bob))  # bob links: alice's workspace still gets no token
    assert "access_token" not in _ask("alice-agent", {"match": repo})
    bobs = _ask("bob-agent", {"match": repo})
    assert with_forge.valid(bobs["access_token"])
    assert bobs["username"] == bobs["access_token"] and bobs["password"] == ""

    link_in_browser(_browser(alice))
    alices = _ask("alice-agent", {"provider": "forge"})
    assert (
        with_forge.valid(alices["access_token"]) and alices["access_token"] != bobs["access_token"]
    )


def test_unknown_provider_or_url_and_a_suspended_owner_are_refused(with_forge, alice, owner):
    make_agent(alice, "alice-agent")
    link_in_browser(_browser(alice))
    unknown = _ask("alice-agent", {"provider": "nope"})
    assert "access_token" not in unknown and "No external auth provider 'nope'" in unknown["error"]
    elsewhere = _ask("alice-agent", {"match": "https://example.org/x.git"})
    assert "access_token" not in elsewhere and "example.org" in elsewhere["error"]
    accounts.suspend_user(alice, actor=owner)
    suspended = _ask("alice-agent", {"provider": "forge"})
    assert "access_token" not in suspended and "cannot use git credentials" in suspended["error"]

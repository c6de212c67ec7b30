"""A local OAuth2 provider and the external auth configuration pointing at it."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from portal import hooks
from portal.external_auth import config
from tests.external_auth.oauth_server import OAuthProvider


@pytest.fixture
def forge():
    provider = OAuthProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def configure(monkeypatch):
    """Set PORTAL_EXTERNAL_AUTH_* variables (a dict) as the process's configuration."""

    def apply(env: dict[str, str]) -> None:
        for key in [k for k in __import__("os").environ if k.startswith("PORTAL_EXTERNAL_AUTH_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        config.current.cache_clear()

    yield apply
    config.current.cache_clear()


@pytest.fixture
def with_forge(forge, configure):
    configure(forge.env(regex=r"^https?://127\.0\.0\.1:\d+/"))
    return forge


def link_in_browser(client, provider_id: str = "forge") -> object:
    """What a user's click on Link does: the portal redirects to the provider, which approves
    and redirects back to the callback; the callback's response."""
    start = client.get(f"/external-auth/{provider_id}/link")
    assert start.status_code == 302, start.content
    approved = httpx.get(start["Location"])
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def gate_off():
    """Licensing turns multiple_external_auth off (a feature_gate handler answering False)."""

    def resolve(name):
        return False if name == "multiple_external_auth" else None

    hooks.feature_gate.register(resolve)
    yield resolve
    if resolve in hooks.feature_gate.handlers():  # a test may have turned it back on
        hooks.feature_gate.unregister(resolve)

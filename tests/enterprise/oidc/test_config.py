"""PORTAL_OIDC_* parsing (a mistake is one sentence) and PORTAL_PASSWORD_AUTH_DISABLED."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from enterprise.oidc import config
from tests.conftest import PASSWORD


@pytest.fixture
def env(monkeypatch):
    def set_env(**values):
        for key, value in values.items():
            monkeypatch.setenv(f"PORTAL_OIDC_{key.upper()}", value)
        return config.parse()

    return set_env


def test_off_unless_the_issuer_is_set(env):
    assert env(client_id="x") is None


def test_defaults(env):
    cfg = env(issuer_url="https://idp.example/", client_id="portal", client_secret="s")
    assert cfg.issuer_url == "https://idp.example"
    assert cfg.scopes == "openid profile email"
    assert cfg.allow_signups and not cfg.ignore_email_verified
    assert cfg.username_claim == "preferred_username"


def test_mappings_are_parsed(env):
    cfg = env(
        issuer_url="https://idp.example",
        client_id="portal",
        client_secret="s",
        email_domains="Corp.example, @other.example",
        group_mapping='{"Eng": "developers"}',
        role_mapping='{"admins": ["template-admin", "member"], "aud": "auditor"}',
        group_allow_regex="^team-",
    )
    assert cfg.email_domains == ("corp.example", "other.example")
    assert cfg.group_mapping == {"Eng": "developers"}
    assert cfg.role_mapping == {"admins": ("template-admin",), "aud": ("auditor",)}
    assert cfg.mapped_roles == {"template-admin", "auditor"}


@pytest.mark.parametrize(
    ("settings", "sentence"),
    [
        ({"client_id": ""}, "PORTAL_OIDC_CLIENT_ID and PORTAL_OIDC_CLIENT_SECRET are required"),
        ({"issuer_url": "idp.example"}, "PORTAL_OIDC_ISSUER_URL must be an http(s) URL"),
        ({"scopes": "email"}, "must include the openid scope"),
        ({"group_mapping": "{nope"}, "PORTAL_OIDC_GROUP_MAPPING is not valid JSON"),
        ({"role_mapping": '{"x": ["root"]}'}, "unknown site role(s) root"),
        ({"group_allow_regex": "(["}, "PORTAL_OIDC_GROUP_ALLOW_REGEX is not a valid regular"),
        ({"allow_signups": "maybe"}, "OIDC configuration"),
    ],
)
def test_a_misconfiguration_is_one_sentence(env, settings, sentence):
    base = {"issuer_url": "https://idp.example", "client_id": "portal", "client_secret": "s"}
    with pytest.raises(
        ImproperlyConfigured, match=sentence.replace("(", r"\(").replace(")", r"\)")
    ):
        env(**(base | settings))


def test_password_sign_in_can_be_turned_off_except_for_owners(
    settings, make_user, owner, anon, oidc
):
    settings.PORTAL_PASSWORD_AUTH_DISABLED = True
    member = make_user(username="rita")
    answer = anon.post(
        "/api/v2/users/login", {"login": "rita", "password": PASSWORD}, format="json"
    )
    assert answer.status_code == 403
    assert answer.json()["message"] == (
        "Password sign-in is turned off on this deployment; sign in with single sign-on instead."
    )
    web = Client()
    page = web.get("/login")
    assert b'name="password"' not in page.content  # the OIDC button only
    assert b"/oidc/authenticate/" in page.content
    refused = web.post("/login", {"login": member.username, "password": PASSWORD})
    assert b"Password sign-in is turned off" in refused.content
    # Owners keep their password, so a broken identity provider cannot lock everyone out.
    assert anon.post(
        "/api/v2/users/login", {"login": owner.username, "password": PASSWORD}, format="json"
    ).status_code in (200, 201)

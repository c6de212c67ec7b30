"""Linking through the browser flow, the API, refresh before expiry, hostile input, the gate."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from portal import crypto, hooks
from portal.audit.models import AuditEntry
from portal.external_auth import services
from portal.external_auth.models import ExternalAuthLink
from portal.external_auth.queries import resolve
from tests.external_auth.conftest import link_in_browser

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(member):
    client = Client()
    client.force_login(member)
    return client


def _token(link) -> str:
    return crypto.decrypt(bytes(link.access_token)).decode()


def test_linking_in_the_browser_stores_encrypted_tokens_and_is_audited(
    with_forge, web, member, client_for
):
    before = client_for(member).get("/api/v2/external-auth").json()
    assert [(p["id"], p["authenticated"]) for p in before] == [("forge", False)]
    assert before[0]["link_url"].endswith("/external-auth/forge")

    done = link_in_browser(web)
    assert done.status_code == 302 and done["Location"] == "/external-auth/forge"
    page = web.get("/external-auth/forge").content.decode()
    assert "You are authenticated with Test Forge" in page

    link = ExternalAuthLink.objects.get(user=member, provider_id="forge")
    token = _token(link)
    assert with_forge.valid(token)
    assert token.encode() not in bytes(link.access_token)  # encrypted at rest
    assert link.validated_at is not None and link.expires_at > timezone.now()
    entry = AuditEntry.objects.filter(resource_type="external_auth_link").latest("id")
    assert (entry.action, entry.actor_id) == ("create", member.pk)

    after = client_for(member).get("/api/v2/external-auth/forge").json()
    assert after["authenticated"] is True and "access_token" not in after
    account = web.get("/account").content.decode()
    assert "External authentication" in account and 'data-status="linked"' in account


def test_state_is_single_use_and_tied_to_the_session(with_forge, web, member, make_user):
    start = web.get("/external-auth/forge/link")
    approved = httpx.get(start["Location"])
    back = urlsplit(approved.headers["Location"])
    state = parse_qs(back.query)["state"][0]

    # Another signed-in web presenting this state (a login-CSRF attempt) is refused.
    other = Client()
    other.force_login(make_user(username="mallory"))
    stolen = other.get(f"{back.path}?{back.query}")
    assert stolen.status_code == 400 and b"start linking again" in stolen.content

    assert web.get(f"{back.path}?{back.query}").status_code == 302  # the real one works
    replay = web.get(f"{back.path}?{back.query}")
    assert replay.status_code == 400 and b"already used" in replay.content
    bad = web.get(f"/external-auth/forge/callback?code=x&state=forged-{state[:5]}")
    assert bad.status_code == 400
    assert ExternalAuthLink.objects.filter(user__username="mallory").count() == 0


def test_unknown_provider_is_404_everywhere(with_forge, web, member, client_for):
    assert web.get("/external-auth/nope").status_code == 404
    assert web.get("/external-auth/nope/link").status_code == 404
    assert web.get("/external-auth/nope/callback?state=x&code=y").status_code == 404
    api = client_for(member)
    assert api.get("/api/v2/external-auth/nope").status_code == 404
    r = api.delete("/api/v2/external-auth/nope")
    assert r.status_code == 404 and "nope" in r.json()["message"]


def test_unlink_through_the_api_and_again_is_404(with_forge, web, member, client_for):
    link_in_browser(web)
    api = client_for(member)
    assert api.delete("/api/v2/external-auth/forge").status_code == 204
    assert not ExternalAuthLink.objects.filter(user=member).exists()
    again = api.delete("/api/v2/external-auth/forge")
    assert again.status_code == 404 and "not linked" in again.json()["message"]
    assert AuditEntry.objects.filter(resource_type="external_auth_link", action="delete").exists()


def test_a_token_about_to_expire_is_refreshed_before_it_is_served(with_forge, web, member):
    link_in_browser(web)
    link = ExternalAuthLink.objects.get(user=member)
    old = _token(link)
    ExternalAuthLink.objects.filter(pk=link.pk).update(
        expires_at=timezone.now() + timedelta(seconds=30)
    )
    new = services.access_token(member, resolve("forge"), actor=member)
    assert new != old and with_forge.valid(new)
    assert with_forge.grants[-1] == "refresh_token"
    link.refresh_from_db()
    assert link.refreshed_at is not None and link.expires_at > timezone.now() + timedelta(
        minutes=30
    )
    # A token far from expiry is served as is: no refresh.
    assert services.access_token(member, resolve("forge"), actor=member) == new
    assert with_forge.grants.count("refresh_token") == 1


def test_a_refused_refresh_marks_the_link_invalid_until_linked_again(with_forge, web, member):
    link_in_browser(web)
    ExternalAuthLink.objects.filter(user=member).update(expires_at=timezone.now())
    with_forge.refuse_refresh = True
    with pytest.raises(services.NotLinked) as e:
        services.access_token(member, resolve("forge"), actor=member)
    assert "Authenticate with Test Forge at" in e.value.message
    assert "refresh token revoked" in e.value.detail
    page = web.get("/account").content.decode()
    assert 'data-status="invalid"' in page
    with_forge.refuse_refresh = False
    link_in_browser(web)
    assert with_forge.valid(services.access_token(member, resolve("forge"), actor=member))


def test_a_second_provider_needs_the_multiple_external_auth_feature(
    forge, configure, web, member, client_for, gate_off
):
    configure({**forge.env(0, "forge"), **forge.env(1, "forge2")})
    listed = {p["id"]: p for p in client_for(member).get("/api/v2/external-auth").json()}
    assert listed["forge"]["unavailable"] == ""
    assert "multiple_external_auth" in listed["forge2"]["unavailable"]
    refused = web.get("/external-auth/forge2/link")
    assert refused.status_code == 403 and b"multiple_external_auth" in refused.content
    with pytest.raises(services.Forbidden):
        services.access_token(member, resolve("forge2"), actor=member)

    hooks.feature_gate.unregister(gate_off)  # a license with the feature
    assert link_in_browser(web, "forge2").status_code == 302
    assert services.access_token(member, resolve("forge2"), actor=member)


def test_the_callback_refuses_a_provider_error_and_a_missing_code(with_forge, web):
    start = web.get("/external-auth/forge/link")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    denied = web.get(f"/external-auth/forge/callback?state={state}&error=access_denied")
    assert denied.status_code == 400 and b"did not authorise" in denied.content
    start = web.get("/external-auth/forge/link")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    bad_code = web.get(f"/external-auth/forge/callback?state={state}&code=made-up")
    assert bad_code.status_code == 400 and b"Linking Test Forge failed" in bad_code.content

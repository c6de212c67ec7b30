"""API tokens from the account page: the secret once, the list, revoking; the admin link."""

from __future__ import annotations

import pytest

from portal.accounts import services
from portal.accounts.choices import Role
from portal.accounts.models import APIToken

pytestmark = pytest.mark.django_db


def test_create_shows_the_secret_once_and_it_works(browser_for, member, anon):
    client = browser_for(member)
    r = client.post("/account/tokens", {"name": "ci", "lifetime": "7"})
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    html = r.content.decode()
    start = html.index('<code id="token-secret">') + len('<code id="token-secret">')
    secret = html[start : html.index("</code>", start)]
    assert "it is shown only this once" in html
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert anon.get("/api/v2/users/me").json()["username"] == "alice"
    later = client.get("/account").content.decode()
    assert secret not in later
    assert '<tr data-token="ci">' in later


def test_invalid_and_duplicate_names_are_explained(browser_for, member):
    client = browser_for(member)
    r = client.post("/account/tokens", {"name": "", "lifetime": "7"})
    assert r.status_code == 400 and "A token needs a name." in r.content.decode()
    client.post("/account/tokens", {"name": "ci", "lifetime": "7"})
    dup = client.post("/account/tokens", {"name": "ci", "lifetime": "7"})
    assert dup.status_code == 409
    assert "You already have a token named &#x27;ci&#x27;." in dup.content.decode()
    assert 'value="ci"' in dup.content.decode()
    bad = client.post("/account/tokens", {"name": "x", "lifetime": "9999"})
    assert bad.status_code == 400 and "Choose a lifetime" in bad.content.decode()


def test_revoke(browser_for, member):
    token, _ = services.create_token(member, actor=member, name="ci")
    client = browser_for(member)
    r = client.post(f"/account/tokens/{token.id}/revoke", follow=True)
    html = r.content.decode()
    assert "Token &#x27;ci&#x27; is revoked" in html
    assert '<tr data-token="ci">' not in html
    assert APIToken.objects.get(pk=token.pk).revoked_at is not None


def test_another_users_token_cannot_be_revoked(browser_for, member, make_user):
    bob = make_user(username="bob")
    token, _ = services.create_token(bob, actor=bob, name="bobs")
    r = browser_for(member).post(f"/account/tokens/{token.id}/revoke", follow=True)
    assert "That token does not exist or was already revoked." in r.content.decode()
    assert APIToken.objects.get(pk=token.pk).revoked_at is None


def test_admin_link_only_for_roles_that_may_use_the_console(browser_for, member, make_user):
    assert 'href="/admin/"' not in browser_for(member).get("/account").content.decode()
    auditor = browser_for(make_user(Role.AUDITOR)).get("/account").content.decode()
    assert 'href="/admin/"' in auditor


def test_the_git_key_is_shown_with_its_fingerprint_and_can_be_regenerated(browser_for, member):
    from portal.accounts.models import GitSSHKey

    client = browser_for(member)
    html = client.get("/account").content.decode()
    key = GitSSHKey.objects.get(user=member)
    assert key.public_key in html
    r = client.post("/account/git-key", follow=True)
    assert r.status_code == 200
    new = GitSSHKey.objects.get(user=member).public_key
    assert new != key.public_key and new in r.content.decode()
    assert "New git SSH key SHA256:" in r.content.decode()
    assert client.get("/account/git-key").status_code == 405

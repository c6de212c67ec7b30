"""Personal API tokens: shown once, usable as Bearer, unique by name, revocable, expiring."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from portal.accounts import services
from portal.accounts.models import APIToken

pytestmark = pytest.mark.django_db


def _bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_key_is_shown_once_and_works_as_bearer(member, client_for):
    client = client_for(member)
    r = client.post("/api/v2/users/me/tokens", {"name": "ci"}, format="json")
    assert r.status_code == 201
    created = r.json()
    key = created["key"]
    assert key.startswith(created["key_id"] + "-")

    listing = client.get("/api/v2/users/me/tokens")
    assert listing.status_code == 200
    assert listing.json()["count"] == 1  # session tokens from logging in are not listed
    assert key not in listing.content.decode()
    assert "key" not in listing.json()["results"][0]
    assert key.split("-", 1)[1] not in str(APIToken.objects.get(key_id=created["key_id"]).__dict__)

    me = _bearer(key).get("/api/v2/users/me")
    assert me.status_code == 200
    assert me.json()["username"] == member.username


def test_duplicate_token_name_is_409(member, client_for):
    client = client_for(member)
    assert client.post("/api/v2/users/me/tokens", {"name": "ci"}, format="json").status_code == 201
    r = client.post("/api/v2/users/me/tokens", {"name": "ci"}, format="json")
    assert r.status_code == 409
    assert r.json()["validations"][0]["field"] == "name"


def test_deleted_token_gets_401_revoked_and_its_name_is_free_again(member, client_for):
    client = client_for(member)
    created = client.post("/api/v2/users/me/tokens", {"name": "ci"}, format="json").json()
    assert client.delete(f"/api/v2/users/me/tokens/{created['id']}").status_code == 204

    r = _bearer(created["key"]).get("/api/v2/users/me")
    assert r.status_code == 401
    assert "revoked" in r.json()["message"]
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v2/users/me/tokens").json()["count"] == 0
    assert client.post("/api/v2/users/me/tokens", {"name": "ci"}, format="json").status_code == 201


def test_token_can_be_deleted_by_name(member, client_for):
    client = client_for(member)
    client.post("/api/v2/users/me/tokens", {"name": "laptop"}, format="json")
    assert client.delete("/api/v2/users/me/tokens/laptop").status_code == 204


def test_another_users_token_is_404_and_stays_usable(owner, member, client_for):
    token, key = services.create_token(owner, actor=owner, name="mine")
    r = client_for(member).delete(f"/api/v2/users/me/tokens/{token.id}")
    assert r.status_code == 404
    assert _bearer(key).get("/api/v2/users/me").status_code == 200


def test_expired_token_is_401(member):
    token, key = services.create_token(member, actor=member, name="short")
    APIToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = _bearer(key).get("/api/v2/users/me")
    assert r.status_code == 401
    assert "expired" in r.json()["message"]


@pytest.mark.parametrize("key", ["garbage", "abcdefghij-wrongsecret"])
def test_unknown_or_malformed_token_is_401(member, key):
    r = _bearer(key).get("/api/v2/users/me")
    assert r.status_code == 401
    assert set(r.json()) == {"message", "detail", "validations"}


def test_token_lifetime_is_bounded(member, client_for):
    client = client_for(member)
    r = client.post(
        "/api/v2/users/me/tokens", {"name": "forever", "lifetime_seconds": 10**9}, format="json"
    )
    assert r.status_code == 400
    r = client.post(
        "/api/v2/users/me/tokens", {"name": "hour", "lifetime_seconds": 3600}, format="json"
    )
    assert r.status_code == 201
    expires = APIToken.objects.get(name="hour").expires_at
    assert timedelta(minutes=59) < expires - timezone.now() <= timedelta(hours=1)

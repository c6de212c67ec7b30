"""The console: owners create a SCIM key (shown once) and revoke keys; others do not see them."""

from __future__ import annotations

import pytest

from enterprise.scim.models import ScimKey
from tests.enterprise.scim.conftest import ScimClient

pytestmark = pytest.mark.django_db
KEYS = "/admin/scim/scimkey/"


def test_an_owner_creates_a_key_and_sees_it_once(client, owner):
    client.force_login(owner)
    page = client.post(KEYS + "add/", {"name": "entra"})
    assert page.status_code == 200
    secret = page.context["secret"]
    assert secret.startswith("scim_") and secret.encode() in page.content
    assert b"http://testserver/scim/v2" in page.content
    assert "no-store" in page["Cache-Control"]
    assert ScimClient(secret).get("/Users").status_code == 200
    listing = client.get(KEYS)
    assert b"entra" in listing.content and secret.encode() not in listing.content
    assert client.post(KEYS + "add/", {"name": "ENTRA"}).context["form"].errors["name"]


def test_an_owner_revokes_keys_with_the_action(client, owner, scim_key):
    key, secret = scim_key
    client.force_login(owner)
    client.post(KEYS, {"action": "revoke_keys", "_selected_action": [str(key.pk)]})
    assert ScimKey.objects.get(pk=key.pk).revoked_at is not None
    assert ScimClient(secret).get("/Users").status_code == 401


def test_a_user_admin_does_not_see_scim_keys(client, make_user):
    client.force_login(make_user("user-admin", username="ua"))
    assert client.get(KEYS).status_code == 403
    assert client.get(KEYS + "add/").status_code == 403

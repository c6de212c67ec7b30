"""The console: owners create a provisioner key (shown once) and revoke keys; others cannot."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from enterprise.provisioner_daemons import keys
from enterprise.provisioner_daemons.models import ProvisionerKey

pytestmark = pytest.mark.django_db
KEYS = "/admin/provisioner_daemons/provisionerkey/"
ACQUIRE = "/api/v2/provisionerdaemons/serve/acquire"


def acquire(secret: str):
    client = APIClient()
    client.credentials(HTTP_PORTAL_PROVISIONER_KEY=secret)
    return client.post(ACQUIRE, {"name": "d"}, format="json")


def test_an_owner_creates_a_key_sees_it_once_and_revokes_it(client, owner):
    client.force_login(owner)
    page = client.post(KEYS + "add/", {"name": "eu", "tags": "pool=eu, zone=a"})
    assert page.status_code == 200
    secret = page.context["secret"]
    assert secret.startswith("pk_") and secret.encode() in page.content
    assert b"portal provisionerd start --url" in page.content
    assert "no-store" in page["Cache-Control"]
    key = ProvisionerKey.objects.get(name="eu")
    assert key.tags == {"pool": "eu", "zone": "a"}
    assert acquire(secret).status_code == 200
    listing = client.get(KEYS)
    assert b"pool=eu" in listing.content and secret.encode() not in listing.content
    assert client.post(KEYS + "add/", {"name": "eu"}).context["form"].errors
    assert client.post(KEYS + "add/", {"name": "x", "tags": "novalue"}).context["form"].errors

    client.post(KEYS, {"action": "revoke_keys", "_selected_action": [str(key.pk)]})
    assert ProvisionerKey.objects.get(pk=key.pk).revoked_at is not None
    assert acquire(secret).status_code == 401


def test_a_template_admin_sees_daemons_but_not_keys(client, owner, make_user):
    keys.create_key(actor=owner, name="k")
    client.force_login(make_user("template-admin", username="ta"))
    assert client.get(KEYS).status_code == 403
    assert client.get(KEYS + "add/").status_code == 403

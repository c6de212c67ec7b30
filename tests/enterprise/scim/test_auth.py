"""SCIM keys: 401 SCIM JSON without a good one, rotation, revocation, audit, the feature gate."""

from __future__ import annotations

import pytest

from enterprise.scim import keys
from enterprise.scim.audit_types import SCIM_KEY
from enterprise.scim.models import ScimKey
from portal import hooks
from portal.audit.models import AuditEntry
from tests.enterprise.scim.conftest import ScimClient

pytestmark = pytest.mark.django_db
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.mark.parametrize("secret", [None, "scim_not-a-key", ""])
def test_a_missing_or_wrong_key_is_a_401_in_scim_json_and_audited(scim_key, secret):
    response = ScimClient(secret).get("/Users")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/scim+json"
    assert response.data["schemas"] == [ERROR]
    assert response.data["status"] == "401"
    assert "key" in response.data["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert AuditEntry.objects.filter(resource_type=SCIM_KEY, action="login_failed").exists()


def test_two_live_keys_work_at_once_and_revoking_one_leaves_the_other(owner, scim):
    new, new_secret = keys.create_key(actor=owner, name="okta-2026")
    assert scim.get("/Users").status_code == 200
    assert ScimClient(new_secret).get("/Users").status_code == 200
    keys.revoke_key(ScimKey.objects.get(name="okta"), actor=owner)
    refused = scim.get("/Users")
    assert refused.status_code == 401
    assert refused.data["detail"] == "This SCIM key was revoked."
    assert ScimClient(new_secret).get("/Users").status_code == 200
    assert ScimKey.objects.get(pk=new.pk).last_used_at is not None


def test_keys_are_stored_hashed_and_their_creation_and_revocation_audited(owner, scim_key):
    key, secret = scim_key
    assert secret.startswith("scim_") and secret not in key.hashed_secret
    keys.revoke_key(key, actor=owner)
    entries = AuditEntry.objects.filter(resource_type=SCIM_KEY, resource_id=str(key.pk))
    assert sorted(entries.values_list("action", flat=True)) == ["create", "revoke"]
    assert set(entries.values_list("actor_username", flat=True)) == {owner.username}


def test_only_owners_manage_keys_and_a_live_name_is_unique(owner, make_user):
    from portal.errors import Conflict, Forbidden

    admin = make_user("user-admin", username="ua")
    with pytest.raises(Forbidden):
        keys.create_key(actor=admin, name="mine")
    keys.create_key(actor=owner, name="entra")
    with pytest.raises(Conflict):
        keys.create_key(actor=owner, name="Entra")


def test_the_api_shows_the_secret_once(owner, client_for):
    api = client_for(owner)
    created = api.post("/api/v2/scim/keys", {"name": "okta"}, format="json")
    assert created.status_code == 201
    assert created.json()["key"].startswith("scim_")
    listed = api.get("/api/v2/scim/keys").json()["results"]
    assert [k["name"] for k in listed] == ["okta"] and "key" not in listed[0]
    assert api.delete("/api/v2/scim/keys/okta").status_code == 204
    assert api.get("/api/v2/scim/keys").json()["results"] == []
    assert api.delete("/api/v2/scim/keys/okta").status_code == 404


def test_with_the_feature_off_scim_answers_403_not_licensed(scim):
    def off(name):
        return False if name == "scim" else None

    hooks.feature_gate.register(off)
    try:
        response = scim.get("/Users")
    finally:
        hooks.feature_gate.unregister(off)
    assert response.status_code == 403
    assert response.data["schemas"] == [ERROR]
    assert "not licensed" in response.data["detail"]

"""SCIM Users: create, read, filter, page, project, search, replace, patch, deactivate, delete."""

from __future__ import annotations

import pytest

from enterprise.scim.models import ScimIdentity
from portal.accounts.choices import LoginType, UserStatus
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from tests.enterprise.scim import payloads
from tests.enterprise.scim.conftest import user_doc

pytestmark = pytest.mark.django_db
EXT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _create(scim, user_name, **extra):
    response = scim.post("/Users", user_doc(user_name, **extra))
    assert response.status_code == 201, response.data
    return response.data


def test_a_created_user_signs_in_with_oidc_and_keeps_its_external_id(scim):
    response = scim.post("/Users", payloads.entra_create_user("Test_User@contoso.com", "ext-1"))
    assert response.status_code == 201, response.data
    assert response["Location"] == response.data["meta"]["location"]
    assert response.data["meta"]["location"].startswith("http://testserver/scim/v2/Users/")
    user = User.objects.get(pk=response.data["id"])
    assert user.login_type == LoginType.OIDC and not user.has_usable_password()
    assert user.username == "Test_User"  # Portal's username: the userName before '@'
    assert user.email == "Test_User@contoso.com" and user.name == "givenName familyName"
    assert user.scim_identity.external_id == "ext-1"
    assert response.data["userName"] == "Test_User@contoso.com"
    assert response.data["externalId"] == "ext-1"
    assert response.data["active"] is True
    entry = AuditEntry.objects.get(resource_type="user", action="create", resource_id=str(user.pk))
    assert entry.actor_username == "SCIM (okta)"


def test_a_taken_user_name_is_a_409_uniqueness(scim):
    _create(scim, "bjensen@example.com")
    response = scim.post("/Users", user_doc("BJensen@example.com", emails=[]))
    assert response.status_code == 409
    assert response.data["scimType"] == "uniqueness"


def test_an_existing_portal_user_with_the_email_is_linked_not_duplicated(scim, member):
    response = scim.post("/Users", user_doc("alice@corp.example", emails=[{"value": member.email}]))
    assert response.status_code == 201, response.data
    assert response.data["id"] == str(member.pk)
    member.refresh_from_db()
    assert member.login_type == LoginType.PASSWORD  # linking changes nobody's sign-in


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('userName eq "bjensen@example.com"', ["bjensen"]),
        ('externalId eq "ext-jsmith"', ["jsmith"]),
        ('emails[value eq "jsmith@example.com"]', ["jsmith"]),
        ('emails.value eq "jsmith@example.com"', ["jsmith"]),
        ('userName eq "bjensen@example.com" or externalId eq "ext-jsmith"', ["bjensen", "jsmith"]),
        ('userName sw "j" and active eq true', ["jsmith"]),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jsmith@example.com"', ["jsmith"]),
        ('displayName eq "nobody"', []),
    ],
)
def test_filters(scim, expression, expected):
    _create(scim, "bjensen@example.com", externalId="ext-bjensen")
    _create(scim, "jsmith@example.com", externalId="ext-jsmith")
    listed = scim.get("/Users", filter=expression)
    assert listed.status_code == 200, listed.data
    assert listed.data["totalResults"] == len(expected)
    names = sorted(r["userName"].split("@")[0] for r in listed.data["Resources"])
    assert names == expected


@pytest.mark.parametrize("expression", ["userName eq", 'userName xx "a"', 'nosuch eq "a"', "(("])
def test_an_invalid_filter_is_a_400_invalid_filter(scim, expression):
    response = scim.get("/Users", filter=expression)
    assert response.status_code == 400
    assert response.data["scimType"] == "invalidFilter"


def test_paging_with_start_index_and_count(scim):
    ids = [_create(scim, f"user{i}@example.com")["id"] for i in range(5)]
    page = scim.get("/Users", startIndex=2, count=2).data
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["id"] for r in page["Resources"]] == ids[1:3]
    assert scim.get("/Users", startIndex=5, count=10).data["itemsPerPage"] == 1
    assert scim.get("/Users", count=0).data == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 5,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


def test_attributes_and_excluded_attributes(scim):
    user = _create(
        scim, "bjensen@example.com", title="Tour Guide", **{EXT: {"employeeNumber": "7"}}
    )
    only = scim.get(f"/Users/{user['id']}", attributes="userName,name.givenName").data
    assert only == {
        "schemas": user["schemas"],
        "id": user["id"],
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara"},
    }
    ext = scim.get("/Users", attributes=f"{EXT}:employeeNumber").data["Resources"][0]
    assert ext[EXT] == {"employeeNumber": "7"}
    without = scim.get(f"/Users/{user['id']}", excludedAttributes="emails,title,meta").data
    assert "emails" not in without and "title" not in without and "meta" not in without
    assert without["userName"] == "bjensen@example.com" and without["id"] == user["id"]


def test_search_with_post(scim):
    _create(scim, "bjensen@example.com")
    _create(scim, "jsmith@example.com")
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName ew "smith@example.com"',
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10,
    }
    found = scim.post("/Users/.search", body)
    assert found.status_code == 200
    assert found.data["totalResults"] == 1
    assert set(found.data["Resources"][0]) == {"schemas", "id", "userName"}
    assert scim.post("/.search", body).data["totalResults"] == 1


def test_okta_put_replaces_the_whole_user(scim):
    user = _create(scim, "test.user@okta.local", title="Engineer", nickName="T")
    body = payloads.okta_put_user(user["id"], "test.user@okta.local", "Another", "User")
    replaced = scim.put(f"/Users/{user['id']}", body)
    assert replaced.status_code == 200, replaced.data
    assert replaced.data["name"] == {"givenName": "Another", "middleName": "", "familyName": "User"}
    assert "title" not in replaced.data and "nickName" not in replaced.data
    assert User.objects.get(pk=user["id"]).name == "Another User"


def test_patch_forms(scim):
    user = _create(scim, "bjensen@example.com")
    path = f"/Users/{user['id']}"
    r = scim.patch(path, {"op": "add", "path": "title", "value": "Tour Guide"})
    assert r.data["title"] == "Tour Guide"
    r = scim.patch(path, {"op": "replace", "value": {"nickName": "Babs", "title": "Lead"}})
    assert (r.data["nickName"], r.data["title"]) == ("Babs", "Lead")
    r = scim.patch(
        path, {"op": "replace", "path": "name", "value": {"formatted": "Ms. Barbara J Jensen"}}
    )
    assert r.data["name"]["formatted"] == "Ms. Barbara J Jensen"
    assert r.data["name"]["givenName"] == "Barbara"  # a complex replace keeps the rest
    assert User.objects.get(pk=user["id"]).name == "Ms. Barbara J Jensen"
    r = scim.patch(
        path,
        {"op": "add", "path": "emails", "value": [{"value": "b@home.example", "type": "home"}]},
    )
    assert len(r.data["emails"]) == 2
    r = scim.patch(path, {"op": "remove", "path": 'emails[type eq "home"]'})
    assert [e["type"] for e in r.data["emails"]] == ["work"]
    r = scim.patch(path, {"op": "remove", "path": "title"})
    assert "title" not in r.data
    r = scim.patch(path, {"op": "add", "path": f"{EXT}:department", "value": "Tours"})
    assert r.data[EXT] == {"department": "Tours"} and EXT in r.data["schemas"]
    r = scim.patch(path, {"op": "remove"})
    assert r.status_code == 400 and r.data["scimType"] == "noTarget"
    r = scim.patch(path, {"op": "replace", "path": "id", "value": "x"})
    assert r.status_code == 400 and r.data["scimType"] == "mutability"
    r = scim.patch(path, {"op": "replace", "path": "active", "value": "maybe"})
    assert r.status_code == 400 and r.data["scimType"] == "invalidValue"


def test_entra_patches_as_entra_sends_them(scim):
    user = scim.post("/Users", payloads.entra_create_user("Test_User@contoso.com", "ext-1")).data
    path = f"/Users/{user['id']}"
    r = scim.patch_body(path, payloads.entra_update_multi_valued("updated@contoso.com"))
    assert r.status_code == 200, r.data
    assert r.data["emails"][0]["value"] == "updated@contoso.com"
    assert r.data["name"]["familyName"] == "updatedFamilyName"
    assert User.objects.get(pk=user["id"]).email == "updated@contoso.com"
    change = AuditEntry.objects.filter(resource_id=user["id"], action="write").latest("time")
    assert change.actor_username == "SCIM (okta)"
    assert change.diff["email"]["new"] == "updated@contoso.com"
    r = scim.patch_body(path, payloads.entra_update_user_name("renamed@contoso.com"))
    assert r.data["userName"] == "renamed@contoso.com"
    assert scim.get("/Users", filter='externalId eq "ext-1"').data["totalResults"] == 1

    r = scim.patch_body(path, payloads.entra_disable("False"))
    assert r.data["active"] is False
    assert User.objects.get(pk=user["id"]).status == UserStatus.SUSPENDED
    r = scim.patch_body(path, payloads.entra_disable("True"))
    assert r.data["active"] is True
    assert User.objects.get(pk=user["id"]).status == UserStatus.ACTIVE


def test_okta_active_patch_suspends_and_reactivates_keeping_everything(scim):
    user = _create(scim, "jdoe@okta.local")
    r = scim.patch_body(f"/Users/{user['id']}", payloads.okta_set_active(False))
    assert r.data["active"] is False
    suspended = User.objects.get(pk=user["id"])
    assert suspended.status == UserStatus.SUSPENDED
    entry = AuditEntry.objects.get(resource_id=user["id"], action="suspend")
    assert entry.actor_username == "SCIM (okta)"
    r = scim.patch_body(f"/Users/{user['id']}", payloads.okta_set_active(True))
    assert r.data["active"] is True and User.objects.get(pk=user["id"]).is_active


def test_delete_suspends_and_detaches(scim):
    user = _create(scim, "leaver@example.com")
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    kept = User.objects.get(pk=user["id"])
    assert kept.status == UserStatus.SUSPENDED
    assert not ScimIdentity.objects.filter(user=kept).exists()
    missing = scim.get(f"/Users/{user['id']}")
    assert missing.status_code == 404 and missing.data["status"] == "404"
    assert scim.delete(f"/Users/{user['id']}").status_code == 404
    # Provisioned again: the same account comes back, active.
    again = scim.post("/Users", user_doc("leaver@example.com"))
    assert again.status_code == 201 and again.data["id"] == user["id"]
    assert User.objects.get(pk=user["id"]).is_active


def test_unknown_ids_and_paths_are_scim_404s(scim):
    assert scim.get("/Users/not-a-uuid").status_code == 404
    assert scim.get("/Users/00000000-0000-0000-0000-000000000000").data["status"] == "404"
    assert scim.get("/Nothing").data["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert scim.post("/Nothing", {}).status_code == 404


def test_bad_bodies_are_scim_400s(scim):
    r = scim.client.post(
        "/scim/v2/Users",
        "{",
        content_type="application/scim+json",
        HTTP_AUTHORIZATION=f"Bearer {scim.secret}",
    )
    assert r.status_code == 400 and b"invalidSyntax" in r.content
    r = scim.post("/Users", {"name": {"givenName": "x"}})
    assert r.status_code == 400 and r.data["detail"] == "userName is required."

"""/api/v2/licenses and /api/v2/entitlements as an owner, an auditor and a member see them."""

from __future__ import annotations

import pytest

from licensing.models import License
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_owner_uploads_lists_and_deletes_a_license_and_each_step_is_audited(
    owner, client_for, sign
):
    api = client_for(owner)
    r = api.post("/api/v2/licenses", {"license": sign(features={"scim": 1})}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["claims"]["features"] == {"scim": 1}
    assert body["uploaded_by"] == "admin"
    listed = api.get("/api/v2/licenses").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]

    assert api.delete(f"/api/v2/licenses/{body['id']}").status_code == 204
    assert not License.objects.exists()
    r = api.delete(f"/api/v2/licenses/{body['id']}")
    assert r.status_code == 404 and r.json()["message"] == f"No license with id {body['id']}."

    entries = AuditEntry.objects.filter(resource_type="license").order_by("id")
    assert [(e.action, e.actor_username, e.status_code) for e in entries] == [
        ("create", "admin", 201),
        ("delete", "admin", 200),
        ("denied", "admin", 404),  # the second delete (portal/audit/denied.py)
    ]
    assert entries[0].additional_fields["account_id"] == "acme"
    assert entries[0].additional_fields["features"] == {"scim": 1}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda sign, d: "garbage", "does not read as a JWT"),
        (lambda sign, d: sign(kid="unknown-vendor"), "which this Portal does not know"),
        (lambda sign, d: sign(days=-10, grace_days=5), "grace period ended"),
        (lambda sign, d: sign(starts_in_days=2), "is not valid before"),
        (lambda sign, d: sign(deployment_ids=["elsewhere"]), "not this one ({d})"),
    ],
)
def test_a_refused_upload_says_why_loses_nothing_and_is_audited(
    owner, client_for, sign, this_deployment, make, reason
):
    r = client_for(owner).post(
        "/api/v2/licenses", {"license": make(sign, this_deployment)}, format="json"
    )
    assert r.status_code == 400
    (validation,) = r.json()["validations"]
    reason = reason.format(d=this_deployment)
    assert validation["field"] == "license" and reason in validation["detail"]
    assert not License.objects.exists()
    entry = AuditEntry.objects.get(resource_type="license")
    assert entry.status_code == 400 and reason in entry.additional_fields["refused"]


def test_a_license_bound_to_this_deployment_is_accepted(owner, client_for, sign, this_deployment):
    text = sign(features={"scim": 1}, deployment_ids=[this_deployment])
    r = client_for(owner).post("/api/v2/licenses", {"license": text}, format="json")
    assert r.status_code == 201
    again = client_for(owner).post("/api/v2/licenses", {"license": text}, format="json")
    assert (
        again.status_code == 409 and again.json()["message"] == "This license is already uploaded."
    )


def test_entitlements_in_coders_shape(owner, make_user, client_for, sign):
    client_for(owner).post(
        "/api/v2/licenses",
        {"license": sign(features={"user_limit": 1, "audit_log": 1}, trial=True)},
        format="json",
    )
    make_user(username="second")  # two active users for a limit of one
    body = client_for(owner).get("/api/v2/entitlements").json()
    assert set(body) == {
        "features",
        "warnings",
        "errors",
        "has_license",
        "trial",
        "require_telemetry",
        "refreshed_at",
        "deployment_id",
    }
    assert body["has_license"] is True and body["trial"] is True
    assert body["require_telemetry"] is False
    assert body["features"]["audit_log"] == {
        "entitlement": "entitled",
        "enabled": True,
        "limit": None,
        "actual": None,
    }
    assert body["features"]["scim"]["enabled"] is False
    assert body["features"]["user_limit"] == {
        "entitlement": "entitled",
        "enabled": True,
        "limit": 1,
        "actual": 2,
    }
    assert any("2 active users but is licensed for 1" in w for w in body["warnings"])

    # A member sees which features are on, not the deployment's license warnings.
    member_view = client_for(make_user(username="third")).get("/api/v2/entitlements").json()
    assert member_view["features"] == {
        **body["features"],
        "user_limit": member_view["features"]["user_limit"],
    }
    assert member_view["warnings"] == [] and member_view["errors"] == []
    assert member_view["deployment_id"] is None
    assert member_view["features"]["user_limit"] == {
        **body["features"]["user_limit"],
        "actual": None,
    }


def test_auditors_read_licenses_but_cannot_change_them(make_user, client_for, sign):
    auditor = client_for(make_user(Role.AUDITOR))
    assert auditor.get("/api/v2/licenses").status_code == 200
    r = auditor.post("/api/v2/licenses", {"license": sign()}, format="json")
    assert r.status_code == 403
    assert r.json()["message"] == "You are not allowed to do this: it needs one of the roles owner."

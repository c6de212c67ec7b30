"""Entitlements: how licenses combine, grace periods, warnings, and the evaluation mode."""

from __future__ import annotations

import time

import pytest

from licensing import entitlements, services, tokens
from licensing.entitlements import EVALUATION_WARNING, StoredLicense, compute
from portal.accounts import services as accounts
from portal.accounts.choices import Role
from portal.accounts.models import User

pytestmark = pytest.mark.django_db
DAY = 86400


def _compute(vendor_dir, *licenses, now=None, users=1, required=False):
    stored = [StoredLicense(i + 1, text) for i, text in enumerate(licenses)]
    return compute(
        stored,
        keys=tokens.public_keys_in(vendor_dir),
        deployment_id="this",
        active_users=users,
        now=now,
        required=required,
    )


def test_no_license_means_every_gate_on_for_evaluation_unless_required(vendor_dir):
    result = _compute(vendor_dir)
    assert all(result.gates.values()) and len(result.gates) == 12
    assert result.warnings == [EVALUATION_WARNING]
    assert result.features["scim"] == {
        "entitlement": "not_entitled",
        "enabled": True,
        "limit": None,
        "actual": None,
    }
    assert result.banner_messages() == []  # the evaluation note is not a banner

    required = _compute(vendor_dir, required=True)
    assert not any(required.gates.values())
    assert required.errors and "No license in force" in required.errors[0]


def test_licenses_combine_best_entitlement_and_largest_limit(vendor_dir, sign):
    now = time.time()
    in_grace = sign(
        features={"scim": 1, "audit_log": 1, "user_limit": 50}, days=10, now=now - 20 * DAY
    )
    current = sign(features={"scim": 1, "user_limit": 10}, days=365, now=now)
    result = _compute(vendor_dir, in_grace, current, now=now, users=3)
    assert result.features["scim"]["entitlement"] == "entitled"
    assert result.features["audit_log"]["entitlement"] == "grace_period"
    assert result.features["audit_log"]["enabled"] is True
    assert result.features["browser_only"] == {
        "entitlement": "not_entitled",
        "enabled": False,
        "limit": None,
        "actual": None,
    }
    assert result.features["user_limit"] == {
        "entitlement": "entitled",
        "enabled": True,
        "limit": 50,
        "actual": 3,
    }
    assert result.has_license is True and result.trial is False
    (warning,) = result.warnings
    assert "audit_log stay on in its grace period" in warning
    # The next date that changes the answer: the grace license's exp (in 20 days).
    assert result.next_boundary == pytest.approx(now - 20 * DAY + 40 * DAY, abs=1)


def test_all_features_grants_every_gate(vendor_dir, sign):
    result = _compute(vendor_dir, sign(all_features=True, trial=True))
    assert all(
        row["entitlement"] == "entitled" for n, row in result.features.items() if n != "user_limit"
    )
    assert result.trial is True


def test_grace_period_then_off(vendor_dir, sign):
    now = time.time()
    text = sign(features={"scim": 1}, days=30, grace_days=10, now=now)
    assert _compute(vendor_dir, text, now=now + 35 * DAY).features["scim"]["entitlement"] == (
        "grace_period"
    )
    gone = _compute(vendor_dir, text, now=now + 41 * DAY)
    assert gone.gates["scim"] is False and gone.has_license is False
    assert "No license in force" in gone.errors[0]


def test_expiry_warning_within_30_days_of_the_last_license(vendor_dir, sign):
    now = time.time()
    soon = sign(features={"scim": 1}, days=20, now=now)
    (warning,) = _compute(vendor_dir, soon, now=now).warnings
    assert "expires in 19 days" in warning or "expires in 20 days" in warning
    # A later license covers it: no warning about the earlier one.
    later = sign(features={"scim": 1}, days=200, now=now)
    assert _compute(vendor_dir, soon, later, now=now).warnings == []


def test_user_limit_exceeded_is_a_warning_never_a_lock_out(vendor_dir, sign):
    result = _compute(vendor_dir, sign(features={"user_limit": 2, "scim": 1}), users=3)
    assert result.warnings == [
        "Your deployment has 3 active users but is licensed for 2. Nobody is locked out; "
        "contact sales to raise the limit."
    ]
    assert result.gates["scim"] is True
    assert ("warning", result.warnings[0]) in result.banner_messages()


def test_a_stored_license_that_no_longer_verifies_is_an_error(vendor_dir, sign):
    result = _compute(vendor_dir, sign(kid="gone-key", features={"scim": 1}))
    assert "License 1 is not valid" in result.errors[0]
    assert result.gates["scim"] is False


def test_actual_users_count_active_people_only(owner, make_user, system, sign, this_deployment):
    make_user(username="dormant-one")
    suspended = make_user(Role.MEMBER, username="gone")
    accounts.suspend_user(suspended, actor=system, reason="left")
    User.objects.filter(username="dormant-one").update(status="dormant")
    services.add_license(sign(features={"user_limit": 1}), actor=owner)
    row = entitlements.current().features["user_limit"]
    assert row["actual"] == 1  # the owner; not the dormant, suspended or system users
    assert row["limit"] == 1

"""The feature gates follow the licenses: cached per process, refreshed on every replica."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.db import DatabaseError

from enterprise.browser_only import policy as browser_only
from licensing import entitlements, services
from licensing.cache import GateCache, gate_cache
from licensing.models import License
from portal import config, features
from portal.errors import Forbidden

pytestmark = pytest.mark.django_db


def test_without_a_license_gates_are_on_and_with_one_they_follow_it(owner, sign):
    assert features.enabled("scim") and features.enabled("audit_log")
    row = services.add_license(sign(features={"audit_log": 1}), actor=owner)
    assert features.enabled("audit_log") is True
    assert features.enabled("scim") is False
    services.add_license(sign(features={"scim": 1}), actor=owner)
    assert features.enabled("scim") is True  # on again when a license adds it
    services.delete_license(row, actor=owner)
    assert features.enabled("audit_log") is False and features.enabled("scim") is True


def test_license_required_turns_gates_off_until_a_license_is_uploaded(settings, owner, sign):
    settings.PORTAL_LICENSE_REQUIRED = True
    gate_cache.invalidate()
    assert features.enabled("scim") is False
    services.add_license(sign(all_features=True), actor=owner)
    assert features.enabled("scim") is True


def test_require_refuses_naming_the_feature_and_the_license(owner, sign):
    features.require("scim")  # evaluation: on
    services.add_license(sign(features={"audit_log": 1}), actor=owner)
    with pytest.raises(Forbidden) as refused:
        features.require("scim")
    assert refused.value.message == (
        "User and group provisioning from an identity provider over SCIM 2.0 needs a license "
        "with the scim feature."
    )
    features.require("audit_log")


def test_another_replica_sees_a_change_once_it_commits(
    owner, sign, django_capture_on_commit_callbacks
):
    replica = GateCache(recheck_seconds=0)  # another process's cache, on the same Redis and DB
    assert replica.gate("scim") is True
    with django_capture_on_commit_callbacks(execute=True):
        row = services.add_license(sign(features={"audit_log": 1}), actor=owner)
    assert replica.gate("scim") is False and replica.gate("audit_log") is True
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_license(row, actor=owner)
    assert replica.gate("scim") is True  # no license left: evaluation again


def test_a_replica_that_was_not_told_keeps_its_answer_until_the_version_moves(owner, sign):
    replica = GateCache(recheck_seconds=0)
    assert replica.gate("scim") is True
    # Written behind the services' back: no version bump, so the cached answer stands...
    License.objects.create(
        jwt=sign(features={"audit_log": 1}),
        license_expires="2100-01-01T00:00Z",
        exp="2100-01-01T00:00Z",
        claims={},
    )
    assert replica.gate("scim") is True
    replica.invalidate()  # ...until something says it changed
    assert replica.gate("scim") is False


def test_the_cache_recomputes_when_a_date_is_crossed(owner, sign, monkeypatch):
    services.add_license(sign(features={"scim": 1}, days=1, grace_days=0), actor=owner)
    replica = GateCache(recheck_seconds=0)
    assert replica.gate("scim") is True
    later = time.time() + 2 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    assert replica.gate("scim") is False  # past exp: the boundary forced a recompute


@pytest.mark.django_db(transaction=True)
def test_a_gate_checked_from_async_code_reads_the_database_off_the_event_loop():
    replica = GateCache()

    async def check():
        return replica.gate("scim")

    assert asyncio.run(check()) is True  # no SynchronousOnlyOperation: computed on a thread


def test_an_enterprise_feature_follows_the_license(owner, sign, monkeypatch, request):
    """Browser-only mode, set by the operator, is on only while a license has browser_only."""
    monkeypatch.setenv("PORTAL_BROWSER_ONLY", "true")
    config.load.cache_clear()
    request.addfinalizer(config.load.cache_clear)
    assert browser_only.is_on()  # no license yet: evaluation
    services.add_license(sign(features={"scim": 1}), actor=owner)
    assert not browser_only.is_on()
    services.add_license(sign(features={"browser_only": 1}), actor=owner)
    assert browser_only.is_on()


def test_a_database_error_keeps_the_last_answer_and_retries_later(owner, sign, monkeypatch):
    replica = GateCache(recheck_seconds=0)
    services.add_license(sign(features={"scim": 1}), actor=owner)
    assert replica.gate("audit_log") is False

    def broken(**kwargs):
        raise DatabaseError("database away")

    monkeypatch.setattr(entitlements, "current", broken)
    replica.invalidate()
    assert replica.gate("audit_log") is False  # the last answer stands
    monkeypatch.undo()
    assert replica.gate("audit_log") is False and replica.gate("scim") is True

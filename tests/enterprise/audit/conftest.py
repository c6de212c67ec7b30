"""Audit entries written by real services, an auditor, consoles and the audit_log gate off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.cache import gate_cache
from portal.accounts import services
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.errors import Unauthenticated
from tests.cli.conftest import cli  # noqa: F401  (the CLI against a live server)
from tests.licensing import helpers as licensing_helpers


@pytest.fixture
def console(client):
    """`console(user)`: the Django test client signed in to the admin as user."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def auditor(make_user):
    return make_user(Role.AUDITOR, username="audrey")


@pytest.fixture
def gate_off(db):
    """A license in force without the audit_log feature (licensing turns the gate off)."""
    licensing_helpers.stored(features={"scim": 1})
    gate_cache.invalidate()
    yield
    gate_cache.forget()


@pytest.fixture
def history(owner, member, make_user):
    """Real entries: users created, alice's token, her failed login, bob's old suspension."""
    services.create_token(member, actor=member, name="ci")
    with pytest.raises(Unauthenticated):
        services.authenticate_password("alice", "wrong")
    services.suspend_user(make_user(username="bob"), actor=owner, reason="left the team")
    old = AuditEntry.objects.get(action="suspend")
    AuditEntry.objects.filter(pk=old.pk).update(
        time=timezone.now() - timedelta(days=10), request_id="req-old-1"
    )
    old.refresh_from_db()
    return old

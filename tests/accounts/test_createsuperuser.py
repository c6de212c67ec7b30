"""`manage.py createsuperuser --noinput` makes an audited owner who can use the API."""

import pytest
from django.core.management import call_command

from portal.accounts.choices import Role
from portal.accounts.models import User
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "a-Strong-passw0rd!"


def test_createsuperuser_noinput_makes_an_owner_who_can_log_in(monkeypatch, anon):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", username="root", email="root@example.com")

    user = User.objects.get(username="root")
    assert Role.OWNER in user.roles
    assert user.is_superuser and user.is_staff
    entry = AuditEntry.objects.get(action="create", resource_target="root")
    assert entry.actor_username == "portal-system"

    r = anon.post("/api/v2/users/login", {"login": "root", "password": PASSWORD}, format="json")
    assert r.status_code == 201, r.content
    token = r.json()["session_token"]
    r = anon.get("/api/v2/users", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200  # owner-only endpoints work


def test_createsuperuser_rejects_a_taken_username(monkeypatch, owner):
    from django.core.management.base import CommandError

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    with pytest.raises(CommandError):
        call_command("createsuperuser", "--noinput", username="ADMIN", email="x@example.com")
    assert User.objects.filter(username__iexact="admin").count() == 1

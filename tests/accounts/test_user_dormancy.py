"""Dormant users: marked after PORTAL_USER_DORMANCY_DAYS unseen, not counted by the license,
and active again at any sign-in (API password, browser) or token use; the last owner stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from licensing import entitlements
from portal.accounts import dormancy, services, tasks
from portal.accounts.choices import Role, UserStatus
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def unseen(user, days: int) -> None:
    User.objects.filter(pk=user.pk).update(last_seen_at=timezone.now() - timedelta(days=days))


def status(user) -> str:
    return User.objects.get(pk=user.pk).status


def test_unseen_users_become_dormant_and_stop_counting(owner, member, make_user, system):
    recent = make_user(username="recent")
    unseen(member, 91)
    unseen(recent, 10)
    unseen(owner, 5)
    counted = entitlements.active_user_count()
    assert dormancy.mark_dormant_users(actor=system, days=90) == ["alice"]
    assert status(member) == UserStatus.DORMANT
    assert status(recent) == UserStatus.ACTIVE
    assert entitlements.active_user_count() == counted - 1
    entry = AuditEntry.objects.filter(resource_id=str(member.pk)).latest("id")
    assert entry.actor == system and entry.additional_fields["reason"] == "not seen for 90 days"
    assert dormancy.mark_dormant_users(actor=system, days=90) == []  # once


def test_zero_days_is_off_and_the_system_user_is_never_marked(member, system, settings):
    unseen(member, 1000)
    User.objects.filter(pk=system.pk).update(created_at=timezone.now() - timedelta(days=1000))
    settings.PORTAL_USER_DORMANCY_DAYS = 0
    assert tasks.mark_dormant_users() == 0
    settings.PORTAL_USER_DORMANCY_DAYS = 90
    assert tasks.mark_dormant_users() == 1
    assert status(system) != UserStatus.DORMANT


def test_the_last_active_owner_stays_active(owner, make_user, system):
    second = make_user(Role.OWNER, username="second")
    unseen(owner, 200)
    unseen(second, 100)
    marked = dormancy.mark_dormant_users(actor=system, days=90)
    assert marked == ["admin"]  # the most recently seen owner stays, to be told what owners are
    assert status(second) == UserStatus.ACTIVE


def test_password_sign_in_wakes_a_dormant_user(member, system):
    unseen(member, 100)
    dormancy.mark_dormant_users(actor=system, days=90)
    r = APIClient().post(
        "/api/v2/users/login", {"login": "alice", "password": PASSWORD}, format="json"
    )
    assert r.status_code == 201, r.content
    assert status(member) == UserStatus.ACTIVE


def test_browser_sign_in_wakes_a_dormant_user(member, system):
    unseen(member, 100)
    dormancy.mark_dormant_users(actor=system, days=90)
    r = Client().post("/login", {"login": "alice", "password": PASSWORD})
    assert r.status_code == 302
    assert status(member) == UserStatus.ACTIVE


def test_token_use_wakes_a_dormant_user_audited(member, system):
    _, secret = services.create_token(member, actor=member, name="ci")
    unseen(member, 100)
    from portal.accounts.models import APIToken

    APIToken.objects.filter(user=member).update(last_used_at=timezone.now() - timedelta(days=100))
    dormancy.mark_dormant_users(actor=system, days=90)
    assert status(member) == UserStatus.DORMANT
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v2/users/me").status_code == 200
    assert status(member) == UserStatus.ACTIVE
    entry = AuditEntry.objects.filter(resource_id=str(member.pk), action="activate").latest("id")
    assert entry.actor_id == member.pk and entry.additional_fields["reason"] == "used an API token"

"""Password change, one-time password resets and login types over the API, as users meet them."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.test import APIClient

from portal.accounts import services
from portal.accounts.choices import LoginType, Role
from portal.accounts.models import User
from portal.audit.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "a-Better-passw0rd!"


def _login(anon, login: str, password: str):
    return anon.post("/api/v2/users/login", {"login": login, "password": password}, format="json")


def _browser(user, password: str = PASSWORD) -> Client:
    browser = Client()
    assert browser.post("/login", {"login": user.username, "password": password}).status_code == 302
    return browser


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _change(client, old: str, new: str = NEW, user: str = "me"):
    body = {"old_password": old, "password": new}
    return client.put(f"/api/v2/users/{user}/password", body, format="json")


# Change ------------------------------------------------------------------------------------


def test_change_signs_out_other_sessions_but_keeps_this_one_and_named_tokens(
    member, client_for, anon
):
    this, other = client_for(member), client_for(member)
    browser = _browser(member)
    _, named = services.create_token(member, actor=member, name="ci")

    r = _change(this, PASSWORD)
    assert r.status_code == 200, r.content
    assert r.json()["tokens_revoked"] == 1
    assert r.json()["sessions_ended"] == 1

    assert this.get("/api/v2/users/me").status_code == 200
    assert _bearer(named).get("/api/v2/users/me").status_code == 200
    refused = other.get("/api/v2/users/me")
    assert refused.status_code == 401
    assert "revoked" in refused.json()["message"]
    assert browser.get("/account").status_code == 302  # back to the sign-in page
    assert not Session.objects.exists()

    assert _login(anon, "alice", PASSWORD).status_code == 401
    assert _login(anon, "alice", NEW).status_code == 201
    entry = AuditEntry.objects.filter(action="write", resource_target="alice").latest("time")
    assert entry.additional_fields["password"] == "changed"
    assert entry.diff["password"]["secret"] is True
    assert PASSWORD not in str(entry.diff) and NEW not in str(entry.diff)


def test_wrong_old_password_is_a_400_with_a_sentence_and_counts_as_a_failed_sign_in(
    member, client_for, anon, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    client = client_for(member)
    r = _change(client, "not-it")
    assert r.status_code == 400
    assert r.json()["message"] == "The current password is not correct."
    assert r.json()["validations"] == [
        {"field": "old_password", "detail": "The current password is not correct."}
    ]
    assert AuditEntry.objects.filter(action="login_failed", resource_target="alice").exists()
    _change(client, "not-it")
    locked = _change(client, "not-it")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.json()["message"]
    # Locked like a sign-in: even the right password waits.
    assert _change(client, PASSWORD).status_code == 429
    assert _login(anon, "alice", NEW).status_code != 201


def test_a_weak_new_password_is_refused_naming_the_field_and_nothing_changes(
    member, client_for, anon
):
    client = client_for(member)
    for weak, reason in (("short", "too short"), ("password1", "too common"), ("12345678", "")):
        r = _change(client, PASSWORD, weak)
        assert r.status_code == 400, weak
        assert r.json()["validations"][0]["field"] == "password"
        assert reason in r.json()["validations"][0]["detail"]
    assert _login(anon, "alice", PASSWORD).status_code == 201


def test_nobody_changes_another_users_password(member, owner, client_for):
    r = _change(client_for(owner), PASSWORD, user="alice")
    assert r.status_code == 403
    assert "only change your own password" in r.json()["message"]
    assert "reset" in r.json()["detail"]


# Reset -------------------------------------------------------------------------------------


def _reset(client, username: str):
    return client.post(f"/api/v2/users/{username}/password/reset")


def test_a_reset_gives_a_one_time_password_that_must_be_changed(owner, member, client_for, anon):
    old_session = client_for(member)
    r = _reset(client_for(owner), "alice")
    assert r.status_code == 200, r.content
    assert r["Cache-Control"] == "no-store"
    once = r.json()["one_time_password"]
    assert len(once) >= 16

    assert old_session.get("/api/v2/users/me").status_code == 401  # the reset ended it
    assert _login(anon, "alice", PASSWORD).status_code == 401
    signed_in = _login(anon, "alice", once)
    assert signed_in.status_code == 201
    assert signed_in.json()["user"]["must_change_password"] is True
    session = _bearer(signed_in.json()["session_token"])

    refused = session.get("/api/v2/workspaces")
    assert refused.status_code == 403
    assert "one-time password" in refused.json()["message"]
    assert session.get("/api/v2/users/me").json()["must_change_password"] is True

    assert _change(session, once).status_code == 200
    assert session.get("/api/v2/workspaces").status_code == 200
    assert session.get("/api/v2/users/me").json()["must_change_password"] is False
    assert _login(anon, "alice", once).status_code == 401  # it worked once
    assert _login(anon, "alice", NEW).status_code == 201

    entry = AuditEntry.objects.filter(action="write", actor=owner).latest("time")
    assert entry.resource_target == "alice"
    assert entry.additional_fields["password"] == "reset"
    assert once not in str(entry.diff) + str(entry.additional_fields)


def test_named_tokens_keep_working_through_a_reset(owner, member, client_for):
    _, named = services.create_token(member, actor=member, name="ci")
    assert _reset(client_for(owner), "alice").status_code == 200
    assert _bearer(named).get("/api/v2/workspaces").status_code == 200


def test_who_may_reset_whose_password(owner, member, make_user, client_for):
    user_admin = make_user(Role.USER_ADMIN, username="ua")
    other_owner = make_user(Role.OWNER, username="boss")

    r = _reset(client_for(member), "ua")
    assert r.status_code == 403
    assert "roles" in r.json()["message"]

    r = _reset(client_for(user_admin), "boss")
    assert r.status_code == 403
    assert r.json()["message"] == "Only an owner can reset the password of an owner."
    assert _reset(client_for(user_admin), "alice").status_code == 200
    assert _reset(client_for(owner), "boss").status_code == 200
    other_owner.refresh_from_db()
    assert other_owner.must_change_password

    oidc = make_user(username="sso", login_type=LoginType.OIDC, password=None)
    r = _reset(client_for(owner), oidc.username)
    assert r.status_code == 403
    assert r.json()["message"].startswith("This account signs in with OIDC.")


# Login type ----------------------------------------------------------------------------------


def _login_type(client, username: str, login_type: str):
    body = {"login_type": login_type}
    return client.patch(f"/api/v2/users/{username}/login-type", body, format="json")


def test_converting_to_oidc_refuses_password_sign_in_with_a_sentence(
    owner, member, client_for, anon
):
    session = client_for(member)
    r = _login_type(client_for(owner), "alice", "oidc")
    assert r.status_code == 200, r.content
    assert r.json()["user"]["login_type"] == "oidc"
    assert r.json()["one_time_password"] is None
    assert session.get("/api/v2/users/me").status_code == 401

    refused = _login(anon, "alice", PASSWORD)
    assert refused.status_code == 403
    assert refused.json()["message"] == "This account signs in with OIDC."
    failed = AuditEntry.objects.filter(action="login_failed", resource_target="alice").latest(
        "time"
    )
    assert failed.additional_fields["reason"] == "login type oidc"
    entry = AuditEntry.objects.filter(action="write", actor=owner).latest("time")
    assert entry.diff["login_type"] == {"old": "password", "new": "oidc", "secret": False}


def test_converting_back_to_password_needs_the_one_time_password_and_a_change(
    owner, member, client_for, anon
):
    admin = client_for(owner)
    _login_type(admin, "alice", "oidc")
    r = _login_type(admin, "alice", "password")
    once = r.json()["one_time_password"]
    assert once and r.json()["user"]["must_change_password"] is True
    assert _login(anon, "alice", PASSWORD).status_code == 401
    assert _login(anon, "alice", once).json()["user"]["must_change_password"] is True


def test_login_type_none_is_tokens_only(owner, member, client_for, anon):
    _, named = services.create_token(member, actor=member, name="robot")
    _login_type(client_for(owner), "alice", "none")
    refused = _login(anon, "alice", PASSWORD)
    assert refused.status_code == 403
    assert "cannot sign in" in refused.json()["message"]
    assert _bearer(named).get("/api/v2/users/me").status_code == 200


def test_only_owners_change_login_types_and_not_their_own(owner, member, make_user, client_for):
    user_admin = make_user(Role.USER_ADMIN, username="ua")
    r = _login_type(client_for(user_admin), "alice", "oidc")
    assert r.status_code == 403
    assert "owner" in r.json()["message"]
    r = _login_type(client_for(owner), "admin", "oidc")
    assert r.status_code == 403
    assert User.objects.get(username="admin").login_type == "password"
    r = _login_type(client_for(owner), "alice", "sso")
    assert r.status_code == 400
    assert r.json()["validations"][0]["field"] == "login_type"


# Password sign-in turned off -------------------------------------------------------------------


def test_password_auth_disabled_refuses_every_password_path_but_owners(
    member, owner, client_for, anon, settings
):
    session, owner_session = client_for(member), client_for(owner)
    settings.PORTAL_PASSWORD_AUTH_DISABLED = True
    r = _login(anon, "alice", PASSWORD)
    assert r.status_code == 403
    assert "Password sign-in is turned off" in r.json()["message"]
    changed = _change(session, PASSWORD)
    assert changed.status_code == 403
    assert "Password sign-in is turned off" in changed.json()["message"]
    posted = Client().post("/login", {"login": "alice", "password": PASSWORD})
    assert posted.status_code == 403
    assert "_auth_user_id" not in posted.client.session

    # Owners keep their password (as in Coder): a broken identity provider locks nobody out.
    assert _login(anon, "admin", PASSWORD).status_code == 201
    assert _change(owner_session, PASSWORD).status_code == 200


def test_the_setting_comes_from_the_environment(monkeypatch):
    from portal import config

    monkeypatch.setenv("PORTAL_PASSWORD_AUTH_DISABLED", "true")
    config.load.cache_clear()
    try:
        assert config.load().password_auth_disabled is True
        monkeypatch.delenv("PORTAL_PASSWORD_AUTH_DISABLED")
        config.load.cache_clear()
        assert config.load().password_auth_disabled is False
    finally:
        config.load.cache_clear()

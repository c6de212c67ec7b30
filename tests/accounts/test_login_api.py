"""Login, logout and whoami over the API, with their audit entries."""

import pytest

from portal.audit.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_by_username_or_email_gives_a_working_token(member, anon):
    for login in (member.username, member.email.upper()):
        r = anon.post("/api/v2/users/login", {"login": login, "password": PASSWORD}, format="json")
        assert r.status_code == 201, r.content
        token = r.json()["session_token"]
        me = anon.get("/api/v2/users/me", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert me.status_code == 200
        assert me.json()["username"] == member.username


def test_wrong_password_and_unknown_user_are_the_same_401_and_audited(member, anon):
    wrong = anon.post(
        "/api/v2/users/login", {"login": member.username, "password": "nope"}, format="json"
    )
    unknown = anon.post(
        "/api/v2/users/login", {"login": "ghost", "password": "nope"}, format="json"
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"]
    failed = AuditEntry.objects.filter(action="login_failed")
    assert {e.resource_target for e in failed} == {member.username, "ghost"}
    assert all("nope" not in str(e.diff) + str(e.additional_fields) for e in failed)


def test_logout_revokes_the_session_token(member, client_for):
    client = client_for(member)
    assert client.post("/api/v2/users/logout").status_code == 200
    r = client.get("/api/v2/users/me")
    assert r.status_code == 401
    assert "revoked" in r.json()["message"]
    assert AuditEntry.objects.filter(action="logout", actor=member).exists()


def test_missing_credentials_is_401_with_json_error(anon):
    r = anon.get("/api/v2/users/me")
    assert r.status_code == 401
    body = r.json()
    assert set(body) == {"message", "detail", "validations"}

"""Each accounts service writes exactly one audit entry, with secrets masked, or nothing at all."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.http import HttpRequest
from django.test import Client

from portal.accounts import services
from portal.accounts.choices import Role, UserStatus
from portal.accounts.models import APIToken, User
from portal.audit import services as audit
from portal.audit.models import AuditEntry
from portal.errors import Forbidden, Unauthenticated
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-Strong-passw0rd!"


class _Box:
    entry: AuditEntry


@contextmanager
def one_entry():
    """Asserts the block writes exactly one audit entry, and hands it over."""
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    box = _Box()
    yield box
    new = list(AuditEntry.objects.exclude(pk__in=before))
    assert len(new) == 1, [str(e) for e in new]
    box.entry = new[0]


def _text(entry: AuditEntry) -> str:
    return repr(entry.diff) + repr(entry.additional_fields) + entry.resource_target


def test_create_user(owner):
    with one_entry() as box:
        user = services.create_user(
            actor=owner, username="bob", email="bob@example.com", password=NEW_PASSWORD
        )
    e = box.entry
    assert (e.actor, e.action, e.resource_type) == (owner, "create", "user")
    assert (e.resource_id, e.resource_target, e.status_code) == (str(user.pk), "bob", 201)
    assert e.diff["username"] == {"old": None, "new": "bob", "secret": False}
    assert e.diff["password"] == {"old": None, "new": "*****", "secret": True}
    assert user.password not in _text(e)
    assert NEW_PASSWORD not in _text(e)


def test_change_roles(owner, member):
    with one_entry() as box:
        services.change_roles(member, actor=owner, roles=[Role.AUDITOR])
    e = box.entry
    assert (e.actor, e.action, e.resource_id, e.status_code) == (
        owner,
        "write",
        str(member.pk),
        200,
    )
    assert e.diff == {"roles": {"old": ["member"], "new": ["auditor", "member"], "secret": False}}


def test_suspend_and_activate(owner, member):
    with one_entry() as box:
        services.suspend_user(member, actor=owner, reason="left the company")
    e = box.entry
    assert (e.actor, e.action, e.resource_target) == (owner, "suspend", "alice")
    assert e.diff["status"] == {"old": "active", "new": "suspended", "secret": False}
    assert e.additional_fields == {"reason": "left the company"}

    with one_entry() as box:
        services.activate_user(member, actor=owner)
    assert box.entry.action == "activate"
    assert box.entry.diff["status"]["new"] == "active"


def test_a_change_that_changes_nothing_is_not_audited(owner, member):
    count = AuditEntry.objects.count()
    services.activate_user(member, actor=owner)
    services.change_roles(member, actor=owner, roles=[])
    assert AuditEntry.objects.count() == count


def test_create_and_revoke_token(member, owner):
    with one_entry() as box:
        token, key = services.create_token(member, actor=member, name="ci")
    e = box.entry
    assert (e.actor, e.action, e.resource_type) == (member, "create", "api_token")
    assert (e.resource_id, e.resource_target, e.status_code) == (str(token.pk), "ci", 201)
    assert e.additional_fields["owner"] == "alice"
    assert key.split("-", 1)[1] not in _text(e)
    assert token.secret_hash not in _text(e)

    with one_entry() as box:
        services.revoke_token(token, actor=owner)
    assert (box.entry.actor, box.entry.action, box.entry.resource_id) == (
        owner,
        "revoke",
        str(token.pk),
    )


def test_login_success(member):
    with one_entry() as box:
        user, token, key = services.login(login="ALICE@example.com", password=PASSWORD)
    e = box.entry
    assert (e.actor, e.action, e.resource_id, e.status_code) == (
        member,
        "login",
        str(member.pk),
        201,
    )
    assert e.additional_fields == {"method": "password"}
    assert PASSWORD not in _text(e) and key not in _text(e)
    user.refresh_from_db()
    assert user.last_seen_at is not None


@pytest.mark.parametrize(
    ("login", "password", "actor", "status", "error"),
    [
        ("alice", "Tr0ub4dor&3", "alice", 401, Unauthenticated),
        ("ghost", "Tr0ub4dor&3", None, 401, Unauthenticated),
        ("alice", PASSWORD, "alice", 403, Forbidden),  # suspended
    ],
)
def test_login_failure(member, system, login, password, actor, status, error):
    if status == 403:
        services.suspend_user(member, actor=system)
    with one_entry() as box, pytest.raises(error):
        services.login(login=login, password=password)
    e = box.entry
    assert e.action == "login_failed"
    assert e.actor_username == (actor or "")
    assert (e.resource_target, e.status_code) == (login, status)
    assert password not in _text(e)
    assert not APIToken.objects.filter(user=member, kind="session").exists()


def test_logout(member):
    _, token, _ = services.login(login="alice", password=PASSWORD)
    with one_entry() as box:
        services.logout(actor=member, token=token)
    assert (box.entry.actor, box.entry.action) == (member, "logout")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_browser_login_and_logout_through_the_operator_console(owner):
    browser = Client()
    with one_entry() as box:
        r = browser.post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert r.status_code == 302
    e = box.entry
    assert (e.actor, e.action, e.additional_fields) == (owner, "login", {"method": "browser"})
    assert e.ip == "127.0.0.1"

    with one_entry() as box:
        browser.post("/admin/logout/")
    assert (box.entry.actor, box.entry.action) == (owner, "logout")


def test_failed_browser_login_is_audited_once(owner):
    with one_entry() as box:
        r = Client().post("/admin/login/", {"username": "admin", "password": "nope"})
    assert r.status_code == 200  # the form again, with an error
    assert (box.entry.action, box.entry.resource_target) == ("login_failed", "admin")


def test_api_entries_carry_ip_user_agent_and_request_id(owner, client_for):
    client = client_for(owner)
    r = client.put(
        f"/api/v2/users/{owner.username}/roles",
        {"roles": ["owner", "auditor"]},
        format="json",
        HTTP_USER_AGENT="portal-cli/2",
    )
    # Changing your own roles is refused; use another user for the audited change.
    assert r.status_code == 403
    target = services.create_user(actor=owner, username="bob", password=NEW_PASSWORD)
    r = client.put(
        f"/api/v2/users/{target.id}/status",
        {"status": "suspended"},
        format="json",
        HTTP_USER_AGENT="portal-cli/2",
        HTTP_X_REQUEST_ID="req-123",
    )
    assert r.status_code == 200
    e = AuditEntry.objects.get(action="suspend")
    assert (e.ip, e.user_agent, e.request_id) == ("127.0.0.1", "portal-cli/2", "req-123")
    assert r["X-Request-Id"] == "req-123"


# Nothing half-written


def _failing_record(*args, **kwargs):
    raise RuntimeError("audit storage is down")


def test_create_user_refused_leaves_nothing(make_user):
    uadmin = make_user(Role.USER_ADMIN)
    count = AuditEntry.objects.count()
    with pytest.raises(Forbidden):
        services.create_user(
            actor=uadmin, username="boss", password=NEW_PASSWORD, roles=[Role.OWNER]
        )
    assert not User.objects.filter(username="boss").exists()
    assert AuditEntry.objects.count() == count


def test_create_user_with_failing_audit_leaves_no_user(owner, monkeypatch):
    monkeypatch.setattr(audit, "record", _failing_record)
    with pytest.raises(RuntimeError):
        services.create_user(actor=owner, username="bob", password=NEW_PASSWORD)
    assert not User.objects.filter(username="bob").exists()


def test_change_with_failing_audit_changes_nothing(owner, member, monkeypatch):
    monkeypatch.setattr(audit, "record", _failing_record)
    with pytest.raises(RuntimeError):
        services.change_roles(member, actor=owner, roles=[Role.AUDITOR])
    with pytest.raises(RuntimeError):
        services.suspend_user(member, actor=owner)
    with pytest.raises(RuntimeError):
        services.create_token(member, actor=member, name="ci")
    member.refresh_from_db()
    assert (member.roles, member.status) == ([Role.MEMBER], UserStatus.ACTIVE)
    assert not APIToken.objects.filter(user=member).exists()


def test_login_with_failing_audit_issues_no_token(member, monkeypatch):
    monkeypatch.setattr(audit, "record", _failing_record)
    with pytest.raises(RuntimeError):
        services.login(login="alice", password=PASSWORD)
    assert not APIToken.objects.filter(user=member).exists()


def test_api_logout_with_the_browser_session_is_audited_once(owner):
    from rest_framework.test import APIClient

    browser = APIClient()
    # A request, as every real sign-in has: the throttling backend (axes) refuses one without.
    assert browser.login(request=HttpRequest(), username="admin", password=PASSWORD)
    assert browser.get("/api/v2/users/me").status_code == 200
    with one_entry() as box:
        assert browser.post("/api/v2/users/logout").status_code == 200
    assert (box.entry.actor, box.entry.action) == (owner, "logout")
    assert browser.get("/api/v2/users/me").status_code == 401

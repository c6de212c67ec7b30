"""Console actions on users and tokens: they go through the services and are audited."""

import pytest
from django.contrib.admin import helpers

from portal.accounts import services
from portal.accounts.choices import Role, UserStatus
from portal.accounts.models import User
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
TOKENS = "/admin/accounts/apitoken/"


def _act(client, url, action, objects, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], **extra}
    return client.post(url, data, follow=True)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def test_suspend_and_activate_are_audited_with_the_operator_as_actor(console, owner, member):
    client = console(owner)
    response = _act(client, USERS, "suspend_users", [member], apply="yes")
    assert ("success", "Suspended: alice.") in _messages(response)
    member.refresh_from_db()
    assert member.status == UserStatus.SUSPENDED
    entry = AuditEntry.objects.get(action="suspend", resource_target="alice")
    assert entry.actor == owner
    assert entry.diff["status"] == {"old": "active", "new": "suspended", "secret": False}

    _act(client, USERS, "activate_users", [member])
    member.refresh_from_db()
    assert member.status == UserStatus.ACTIVE
    assert AuditEntry.objects.get(action="activate", resource_target="alice").actor == owner


def test_a_refused_change_is_an_error_message_and_the_others_still_happen(console, owner, member):
    response = _act(console(owner), USERS, "suspend_users", [owner, member], apply="yes")
    assert response.status_code == 200
    messages = _messages(response)
    assert ("error", "admin: You cannot change your own status or roles.") in messages
    assert ("success", "Suspended: alice.") in messages
    owner.refresh_from_db()
    member.refresh_from_db()
    assert (owner.status, member.status) == (UserStatus.ACTIVE, UserStatus.SUSPENDED)


def test_a_user_admin_cannot_suspend_an_owner(console, owner, make_user):
    user_admin = make_user(Role.USER_ADMIN)
    response = _act(console(user_admin), USERS, "suspend_users", [owner], apply="yes")
    assert ("error", "admin: Only an owner can change another owner.") in _messages(response)
    owner.refresh_from_db()
    assert owner.status == UserStatus.ACTIVE
    assert not AuditEntry.objects.filter(action="suspend").exists()


def test_change_roles_asks_for_the_roles_then_sets_them(console, owner, member, make_user):
    other = make_user(Role.AUDITOR)
    client = console(owner)
    form = _act(client, USERS, "change_roles", [member, other])
    assert form.status_code == 200
    page = form.content.decode()
    assert "Set the roles of:" in page and "alice" in page and 'value="template-admin"' in page

    response = _act(
        client, USERS, "change_roles", [member, other], apply="1", roles=["template-admin"]
    )
    assert response.redirect_chain[-1][0].startswith(USERS)
    member.refresh_from_db()
    other.refresh_from_db()
    assert member.roles == other.roles == ["member", "template-admin"]
    entry = AuditEntry.objects.get(action="write", resource_target="alice")
    assert entry.actor == owner
    assert entry.diff["roles"]["new"] == ["member", "template-admin"]


def test_a_user_admin_is_not_offered_the_owner_role_and_cannot_demote_an_owner(
    console, owner, make_user
):
    user_admin = make_user(Role.USER_ADMIN)
    client = console(user_admin)
    form = _act(client, USERS, "change_roles", [owner])
    assert 'value="owner"' not in form.content.decode()
    response = _act(client, USERS, "change_roles", [owner], apply="1", roles=["user-admin"])
    assert ("error", "admin: Only an owner can change another owner.") in _messages(response)
    owner.refresh_from_db()
    assert Role.OWNER in owner.roles


def test_roles_and_status_actions_are_not_offered_to_an_auditor(console, member, make_user):
    client = console(make_user(Role.AUDITOR))
    page = client.get(USERS)
    assert page.status_code == 200
    assert "suspend_users" not in page.content.decode()
    response = _act(client, USERS, "suspend_users", [member], apply="yes")
    member.refresh_from_db()
    assert member.status == UserStatus.ACTIVE
    assert response.status_code == 200


def test_revoke_tokens_through_the_console(console, owner, member):
    token, _ = services.create_token(member, actor=member, name="ci")
    response = _act(console(owner), TOKENS, "revoke_tokens", [token], apply="yes")
    assert ("success", "Revoked: alice/ci.") in _messages(response)
    token.refresh_from_db()
    assert token.revoked_at is not None
    entry = AuditEntry.objects.get(action="revoke", resource_target="ci")
    assert entry.actor == owner
    assert entry.additional_fields["owner"] == "alice"


def test_the_token_list_never_shows_secret_hashes(console, owner, member):
    token, _ = services.create_token(member, actor=member, name="ci")
    client = console(owner)
    for url in (TOKENS, f"{TOKENS}{token.pk}/change/"):
        page = client.get(url)
        assert page.status_code == 200
        assert token.secret_hash not in page.content.decode()


def test_add_user_from_the_console_uses_the_service(console, owner):
    client = console(owner)
    assert client.get(f"{USERS}add/").status_code == 200
    response = client.post(
        f"{USERS}add/",
        {
            "username": "bob",
            "email": "bob@example.com",
            "name": "Bob",
            "login_type": "password",
            "password1": "a-long-enough-secret",
            "password2": "a-long-enough-secret",
            "roles": ["auditor"],
        },
    )
    bob = User.objects.get(username="bob")
    assert response.status_code == 302
    assert response["Location"] == f"{USERS}{bob.pk}/change/"
    assert bob.roles == ["auditor", "member"]
    assert bob.check_password("a-long-enough-secret")
    assert AuditEntry.objects.get(action="create", resource_target="bob").actor == owner


def test_add_user_shows_service_errors_on_the_form(console, owner, member):
    response = console(owner).post(
        f"{USERS}add/",
        {"username": "ALICE", "login_type": "none", "email": "x@example.com"},
    )
    assert response.status_code == 200
    assert "&#x27;ALICE&#x27; is already taken." in response.content.decode()
    assert not User.objects.filter(email="x@example.com").exists()


def test_only_user_creators_may_add_users(console, make_user):
    auditor_client = console(make_user(Role.AUDITOR))
    assert auditor_client.get(f"{USERS}add/").status_code == 403
    assert console(make_user(Role.USER_ADMIN)).get(f"{USERS}add/").status_code == 200

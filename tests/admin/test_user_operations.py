"""Destructive console actions on users and tokens ask first; creating a user and granting roles
stay within what the acting admin may grant; unlocking a throttled sign-in is audited."""

import re

import pytest
from django.contrib.admin import helpers
from django.test import RequestFactory

from portal.accounts import services, throttling
from portal.accounts.choices import Role, UserStatus
from portal.accounts.models import APIToken, User
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
TOKENS = "/admin/accounts/apitoken/"


def _post(client, url, action, objects, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects]}
    return client.post(url, {**data, **extra}, follow=True)


def _messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


@pytest.mark.parametrize(
    ("action", "says"),
    [
        ("suspend_users", "signed out everywhere"),
        ("reset_passwords", "password stops working"),
        ("revoke_user_tokens", "live API and CLI token"),
    ],
)
def test_destructive_user_actions_ask_first_and_change_nothing_until_confirmed(
    console, owner, member, action, says
):
    token, _ = services.create_token(member, actor=member, name="ci")
    password_before = User.objects.get(pk=member.pk).password
    page = _post(console(owner), USERS, action, [member])
    html = page.content.decode()
    assert page.status_code == 200 and "are you sure?" in html
    assert member.username in html and says in html and "No, take me back" in html
    assert "one-time-password" not in html
    after = User.objects.get(pk=member.pk)
    assert (after.status, after.password) == (UserStatus.ACTIVE, password_before)
    assert APIToken.objects.get(pk=token.pk).revoked_at is None


def test_revoke_all_tokens_of_users_revokes_each_live_one_audited(
    console, owner, member, make_user
):
    other = make_user(username="bob")
    mine = [services.create_token(member, actor=member, name=n)[0] for n in ("ci", "laptop")]
    theirs, _ = services.create_token(other, actor=other, name="ci")
    client = console(owner)
    confirm = _post(client, USERS, "revoke_user_tokens", [member]).content.decode()
    assert "2 live token(s)" in confirm

    done = _post(client, USERS, "revoke_user_tokens", [member], apply="yes")
    assert ("success", "Revoked the tokens of: alice.") in _messages(done)
    assert all(APIToken.objects.get(pk=t.pk).revoked_at for t in mine)
    assert APIToken.objects.get(pk=theirs.pk).revoked_at is None
    entries = AuditEntry.objects.filter(action="revoke", actor=owner)
    assert {e.resource_target for e in entries} == {"ci", "laptop"}


def test_revoking_tokens_from_the_token_list_asks_first(console, owner, member):
    token, _ = services.create_token(member, actor=member, name="ci")
    client = console(owner)
    page = _post(client, TOKENS, "revoke_tokens", [token]).content.decode()
    assert "Revoke tokens: are you sure?" in page and "alice/ci" in page
    assert APIToken.objects.get(pk=token.pk).revoked_at is None
    _post(client, TOKENS, "revoke_tokens", [token], apply="yes")
    assert APIToken.objects.get(pk=token.pk).revoked_at is not None


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.TEMPLATE_ADMIN])
def test_auditors_and_template_admins_get_no_user_actions(console, make_user, member, role):
    token, _ = services.create_token(member, actor=member, name="ci")
    client = console(make_user(role))
    page = client.get(USERS).content.decode()
    for action in ("suspend_users", "reset_passwords", "revoke_user_tokens", "unlock_sign_in"):
        assert action not in page
        _post(client, USERS, action, [member], apply="yes")
    assert client.get(TOKENS).status_code == 403
    assert client.get(f"{USERS}add/").status_code == 403
    member.refresh_from_db()
    assert member.status == UserStatus.ACTIVE and not member.must_change_password
    assert APIToken.objects.get(pk=token.pk).revoked_at is None
    assert not AuditEntry.objects.filter(action__in=["suspend", "revoke"]).exists()


def test_unlock_a_throttled_sign_in_is_audited(console, owner, member, settings):
    request = RequestFactory().post("/api/v2/users/login")
    for _ in range(3):
        with pytest.raises(Exception):  # noqa: B017 - any refusal: the failures count
            services.login(login=member.username, password="wrong", request=request)
    assert throttling.account_state(member)[0] == 3
    page = console(owner).get(f"{USERS}{member.pk}/change/")
    assert page.context["adminform"].model_admin.sign_in_failures(member) == "3"

    done = _post(console(owner), USERS, "unlock_sign_in", [member])
    assert ("success", "Unlocked sign-in of: alice.") in _messages(done)
    assert throttling.account_state(member)[0] == 0
    entry = AuditEntry.objects.get(action="unlock", resource_target="alice")
    assert entry.actor == owner and entry.additional_fields["cleared_failures"] == 3


def test_a_user_admin_creates_users_only_with_roles_they_may_grant(console, make_user):
    client = console(make_user(Role.USER_ADMIN))
    form = client.get(f"{USERS}add/").content.decode()
    offered = set(re.findall(r'name="roles" value="([^"]+)"', form))
    # The API's rule (permissions.may_grant): only roles their own contain; owners grant the rest.
    assert offered == {Role.USER_ADMIN}

    base = {"email": "", "name": "", "login_type": "none"}
    for role in (Role.OWNER, Role.TEMPLATE_ADMIN, Role.AUDITOR):
        refused = client.post(f"{USERS}add/", {**base, "username": "eve", "roles": [role]})
        assert refused.status_code == 200
        assert "is not one of the available choices" in refused.content.decode()
    assert not User.objects.filter(username="eve").exists()

    made = client.post(f"{USERS}add/", {**base, "username": "carol", "roles": ["user-admin"]})
    assert made.status_code == 302
    assert User.objects.get(username="carol").roles == ["member", "user-admin"]
    assert AuditEntry.objects.filter(action="create", resource_target="carol").exists()

"""Console actions for passwords and login types: one-time passwords on the page, audited."""

import re

import pytest
from django.contrib.admin import helpers

from portal.accounts.choices import Role
from portal.accounts.models import User
from portal.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"


def _act(client, action, objects, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects], **extra}
    return client.post(USERS, data, follow=True)


def test_reset_shows_each_one_time_password_once_on_the_page(console, owner, member):
    response = _act(console(owner), "reset_passwords", [member], apply="yes")
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    once = re.search(r'<code class="one-time-password">([^<]+)</code>', html).group(1)
    member.refresh_from_db()
    assert member.must_change_password and member.check_password(once)
    entry = AuditEntry.objects.filter(action="write", resource_target="alice").latest("time")
    assert entry.actor == owner and entry.additional_fields["password"] == "reset"


def test_a_user_admin_cannot_reset_an_owner_from_the_console(console, owner, make_user):
    response = _act(console(make_user(Role.USER_ADMIN)), "reset_passwords", [owner], apply="yes")
    messages = [m.message for m in response.context["messages"]]
    assert "admin: Only an owner can reset the password of an owner." in messages
    assert not User.objects.get(pk=owner.pk).must_change_password


def test_change_login_type_asks_then_converts(console, owner, member):
    client = console(owner)
    form = _act(client, "change_login_type", [member])
    assert 'name="login_type"' in form.content.decode()
    done = _act(client, "change_login_type", [member], login_type="oidc", apply="1")
    assert any("Set login type oidc for: alice." in m.message for m in done.context["messages"])
    assert User.objects.get(pk=member.pk).login_type == "oidc"

    back = _act(client, "change_login_type", [member], login_type="password", apply="1")
    assert re.search(r'<code class="one-time-password">[^<]+</code>', back.content.decode())


def test_login_type_action_is_not_offered_to_a_user_admin(console, make_user):
    page = console(make_user(Role.USER_ADMIN)).get(USERS).content.decode()
    assert "reset_passwords" in page
    assert "change_login_type" not in page

"""The portal's password form (account page, the forced change after a reset) and /cli-auth."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from portal.accounts import passwords, services
from portal.accounts.choices import TokenKind
from portal.accounts.models import APIToken
from portal.audit.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "a-Better-passw0rd!"
STATE = "s" * 32


def _change(client, old=PASSWORD, new=NEW, confirm=None):
    form = {"old_password": old, "new_password": new, "confirm_password": confirm or new}
    return client.post("/account/password", form)


def test_account_page_changes_the_password_and_signs_out_other_browsers(browser_for, member):
    here, elsewhere = browser_for(member), browser_for(member)
    assert 'id="password-form"' in here.get("/account").content.decode()

    r = _change(here)
    assert r.status_code == 302 and r["Location"] == "/account"
    page = here.get("/account").content.decode()
    assert "Your password is changed" in page  # still signed in here
    assert elsewhere.get("/account").status_code == 302
    assert Client().post("/login", {"login": "alice", "password": NEW}).status_code == 302


def test_errors_are_shown_next_to_their_fields(browser_for, member):
    client = browser_for(member)
    wrong = _change(client, old="not-it")
    assert wrong.status_code == 400
    html = wrong.content.decode()
    assert re.search(r'id="old-password-error">The current password is not correct.<', html)
    assert 'aria-describedby="old-password-error"' in html

    weak = _change(client, new="short").content.decode()
    assert 'id="new-password-error">' in weak and "too short" in weak

    differ = _change(client, confirm="something-else-entirely")
    assert differ.status_code == 400
    assert 'id="confirm-password-error">The two new passwords differ' in differ.content.decode()
    assert Client().post("/login", {"login": "alice", "password": PASSWORD}).status_code == 302


def test_a_one_time_password_leads_to_the_change_page_first(browser_for, member, owner):
    once = passwords.reset_password(member, actor=owner)
    client = Client()
    signed_in = client.post("/login", {"login": "alice", "password": once, "next": "/templates"})
    assert signed_in.status_code == 302
    forced = client.get("/templates")
    assert forced.status_code == 302
    assert forced["Location"].startswith("/account/password?next=/templates")
    page = client.get("/account/password?next=/templates").content.decode()
    assert "You signed in with a one-time password" in page
    assert '<input type="hidden" name="next" value="/templates">' in page

    form = {"old_password": once, "new_password": NEW, "confirm_password": NEW}
    changed = client.post("/account/password?next=/templates", {**form, "next": "/templates"})
    assert changed.status_code == 302 and changed["Location"] == "/templates"
    assert client.get("/templates").status_code == 200


def test_oidc_users_see_no_password_form(member, owner):
    member, _ = passwords.set_login_type(member, actor=owner, login_type="oidc")
    client = Client()
    client.force_login(member)
    assert 'id="password-form"' not in client.get("/account").content.decode()
    assert "This account signs in with OIDC." in client.get("/account/password").content.decode()


# /cli-auth ------------------------------------------------------------------------------------


def _query(port=45678, state=STATE, host="laptop"):
    return f"/cli-auth?port={port}&state={state}&host={host}"


def test_signed_out_it_goes_through_the_sign_in_page_and_back():
    r = Client().get(_query())
    assert r.status_code == 302
    assert r["Location"].startswith("/login?next=/cli-auth%3Fport%3D45678")


def test_authorize_hands_a_named_token_to_the_loopback_callback_only(browser_for, member):
    client = browser_for(member)
    page = client.get(_query())
    assert page.status_code == 200
    assert "cli (laptop)" in page.content.decode()
    assert not APIToken.objects.filter(kind=TokenKind.TOKEN).exists()  # nothing until Authorize

    done = client.post("/cli-auth", {"port": "45678", "state": STATE, "host": "laptop"})
    assert done.status_code == 200 and done["Cache-Control"] == "no-store"
    html = done.content.decode()
    assert 'action="http://127.0.0.1:45678/callback"' in html
    assert f'name="state" value="{STATE}"' in html
    assert "frame-src http://127.0.0.1:45678" in done["Content-Security-Policy"]
    secret = re.search(r'name="token" value="([^"]+)"', html).group(1)
    token = APIToken.objects.get(user=member, kind=TokenKind.TOKEN, revoked_at__isnull=True)
    assert token.name == "cli (laptop)"
    assert AuditEntry.objects.filter(action="create", resource_target="cli (laptop)").exists()

    # Again from the same machine: the new token replaces the old one.
    client.post("/cli-auth", {"port": "45678", "state": STATE, "host": "laptop"})
    live = APIToken.objects.filter(user=member, kind=TokenKind.TOKEN, revoked_at__isnull=True)
    assert live.count() == 1 and live.get().pk != token.pk
    assert secret not in client.get("/account").content.decode()


def test_without_a_port_the_token_is_only_shown_for_pasting(browser_for, member):
    html = browser_for(member).post("/cli-auth", {"host": "remote box"}).content.decode()
    assert "callback" not in html
    assert "Paste this token where the CLI asks" in html
    assert APIToken.objects.get(user=member, kind=TokenKind.TOKEN).name == "cli (remote-box)"


def test_bad_ports_and_states_are_refused(browser_for, member):
    client = browser_for(member)
    for query in (_query(port="80"), _query(port="x"), _query(state="short"), _query(state="")):
        r = client.get(query)
        assert r.status_code == 400, query
        assert "portal login" in r.content.decode()
    r = client.post("/cli-auth", {"port": "99999", "state": STATE})
    assert r.status_code == 400
    assert not APIToken.objects.filter(user=member, kind=TokenKind.TOKEN).exists()


def test_authorize_needs_the_csrf_token(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    r = client.post("/cli-auth", {"port": "45678", "state": STATE, "host": "laptop"})
    assert r.status_code == 403
    assert not APIToken.objects.filter(user=member, kind=TokenKind.TOKEN).exists()


def test_token_names_with_parentheses_are_valid(member):
    token, _ = services.create_token(member, actor=member, name="cli (my-host.local)")
    assert token.name == "cli (my-host.local)"

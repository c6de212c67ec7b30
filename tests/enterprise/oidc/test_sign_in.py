"""Sign-up and sign-in through a real OpenID Provider, and the refusals a user would meet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from enterprise.oidc.models import OIDCIdentity
from portal.accounts import dormancy, services
from portal.accounts.choices import LoginType, UserStatus
from portal.accounts.models import User
from portal.audit.models import AuditEntry


def signed_in_user(client: Client):
    return User.objects.filter(pk=client.session.get("_auth_user_id")).first()


def test_sign_up_creates_an_oidc_user_and_returns_to_next(oidc, idp):
    idp.set_account("carol", email="carol@corp.example", name="Carol Danvers")
    client = Client()
    response = oidc.sign_in(client, "carol", next_url="/templates")
    assert response.error is None
    assert response.status_code == 302 and response["Location"] == "/templates"
    user = signed_in_user(client)
    assert (user.username, user.email, user.name) == (
        "carol",
        "carol@corp.example",
        "Carol Danvers",
    )
    assert user.login_type == LoginType.OIDC
    assert OIDCIdentity.objects.get(user=user).subject == "carol"
    login = AuditEntry.objects.filter(action="login", resource_id=str(user.pk)).latest("time")
    assert login.additional_fields == {"method": "oidc"}
    assert client.get("/templates").status_code == 200


def test_a_second_sign_in_matches_the_subject_even_when_the_email_changed(oidc, idp):
    idp.set_account("dave", email="dave@corp.example")
    oidc.sign_in(Client(), "dave")
    idp.set_account("dave", email="dave.new@corp.example")
    client = Client()
    assert oidc.sign_in(client, "dave").error is None
    assert signed_in_user(client).username == "dave"
    assert User.objects.filter(username__startswith="dave").count() == 1


def test_a_later_sign_in_takes_the_providers_new_name_and_email(oidc, idp):
    idp.set_account("fay", email="fay@corp.example", name="Fay Old")
    oidc.sign_in(Client(), "fay")
    idp.set_account("fay", email="fay.wong@corp.example", name="Fay Wong")
    client = Client()
    assert oidc.sign_in(client, "fay").error is None
    user = signed_in_user(client)
    assert (user.username, user.email, user.name) == ("fay", "fay.wong@corp.example", "Fay Wong")
    entry = AuditEntry.objects.filter(action="write", resource_id=str(user.pk)).latest("time")
    assert entry.actor_username == "OIDC"
    assert entry.diff["email"]["new"] == "fay.wong@corp.example"
    assert entry.diff["name"] == {"old": "Fay Old", "new": "Fay Wong", "secret": False}


def test_a_new_email_another_account_holds_is_not_taken(oidc, idp, make_user):
    make_user(username="gus-other", email="gus.new@corp.example")
    idp.set_account("gus", email="gus@corp.example", name="Gus")
    oidc.sign_in(Client(), "gus")
    idp.set_account("gus", email="gus.new@corp.example", name="Gus G")
    client = Client()
    assert oidc.sign_in(client, "gus").error is None
    user = signed_in_user(client)
    assert (user.email, user.name) == ("gus@corp.example", "Gus G")


def test_usernames_are_sanitised_and_deduplicated(oidc, idp, make_user):
    make_user(username="erin-s")
    idp.set_account("erin", preferred_username="Erin S!", email="erin@corp.example")
    client = Client()
    assert oidc.sign_in(client, "erin").error is None
    assert signed_in_user(client).username == "Erin-S-2"


def test_a_converted_user_is_linked_on_the_first_sign_in_by_email(oidc, idp, system):
    user = services.create_user(
        actor=system, username="frank", email="frank@corp.example", login_type=LoginType.OIDC
    )
    idp.set_account("f.idp", email="Frank@corp.example")
    client = Client()
    assert oidc.sign_in(client, "f.idp").error is None
    assert signed_in_user(client) == user
    assert OIDCIdentity.objects.get(user=user).subject == "f.idp"


def test_a_password_user_is_not_taken_over_by_an_email_match(oidc, idp, make_user):
    user = make_user(username="grace", email="grace@corp.example")
    idp.set_account("grace-idp", email="grace@corp.example")
    client = Client()
    response = oidc.sign_in(client, "grace-idp")
    assert "ask an administrator to convert it to OIDC sign-in" in response.error
    assert signed_in_user(client) is None
    assert not OIDCIdentity.objects.filter(user=user).exists()
    failed = AuditEntry.objects.filter(action="login_failed").latest("time")
    assert failed.additional_fields["method"] == "oidc"
    assert failed.resource_target == "grace"


def test_signups_off_refuses_new_users(oidc, idp):
    oidc.configure(allow_signups="false")
    idp.set_account("heidi", email="heidi@corp.example")
    client = Client()
    response = oidc.sign_in(client, "heidi")
    assert "cannot sign up" in response.error
    assert not User.objects.filter(email="heidi@corp.example").exists()


def test_email_domain_not_allowed_is_refused(oidc, idp):
    oidc.configure(email_domains="corp.example, other.example")
    idp.set_account("ivan", email="ivan@gmail.example")
    response = oidc.sign_in(Client(), "ivan")
    assert "gmail.example is not allowed" in response.error
    assert not User.objects.filter(email="ivan@gmail.example").exists()
    failed = AuditEntry.objects.filter(action="login_failed").latest("time")
    assert failed.additional_fields["reason"] == "email domain gmail.example not allowed"


def test_unverified_email_is_refused_unless_ignored(oidc, idp):
    idp.set_account("judy", email="judy@corp.example", email_verified=False)
    response = oidc.sign_in(Client(), "judy")
    assert "is not verified at the identity provider" in response.error
    oidc.configure(ignore_email_verified="true")
    client = Client()
    assert oidc.sign_in(client, "judy").error is None
    assert signed_in_user(client).email == "judy@corp.example"


def test_a_suspended_user_is_refused_with_the_reason(oidc, idp, owner):
    idp.set_account("mallory", email="mallory@corp.example")
    oidc.sign_in(Client(), "mallory")
    user = User.objects.get(username="mallory")
    services.suspend_user(user, actor=owner, reason="left the company")
    client = Client()
    response = oidc.sign_in(client, "mallory")
    assert response.error == (
        "Your account is suspended: left the company. Ask an administrator to reactivate it."
    )
    assert signed_in_user(client) is None
    failed = AuditEntry.objects.filter(action="login_failed").latest("time")
    assert (failed.resource_target, failed.status_code) == ("mallory", 403)


def test_state_mismatch_is_refused(oidc, idp):
    client = Client()
    callback = oidc.authorize(client, "niaj")
    tampered = callback.replace("state=", "state=x")
    response = client.get(tampered)
    assert response.status_code == 302 and response["Location"].startswith("/login")
    assert signed_in_user(client) is None
    assert not User.objects.filter(username="niaj").exists()
    # The sign-in page says why.
    page = client.get(response["Location"])
    assert b"state mismatch" in page.content


def test_nonce_mismatch_is_refused(oidc, idp):
    client = Client()
    callback = oidc.authorize(client, "olivia")
    session = client.session
    for entry in session["oidc_states"].values():
        entry["nonce"] = "not-the-nonce-sent"
    session.save()
    response = client.get(callback, follow=True)
    assert b"its nonce does not match this sign-in" in response.content
    assert signed_in_user(client) is None


def test_the_sign_in_page_shows_the_button_with_next(oidc, client):
    oidc.configure(sign_in_text="Sign in with Okta", icon_url="/static/okta.svg")
    page = client.get("/login?next=/cli-auth").content.decode()
    assert "Sign in with Okta" in page
    assert 'href="/oidc/authenticate/?next=%2Fcli-auth"' in page
    assert 'src="/static/okta.svg"' in page


@pytest.mark.django_db
def test_no_button_and_no_routes_without_configuration(client):
    assert b"/oidc/authenticate/" not in client.get("/login").content
    assert client.get("/oidc/authenticate/").status_code == 404


def test_an_account_converted_back_to_password_is_refused(oidc, idp):
    idp.set_account("uma", email="uma@corp.example")
    oidc.sign_in(Client(), "uma")
    User.objects.filter(username="uma").update(login_type=LoginType.PASSWORD)  # an owner did
    client = Client()
    response = oidc.sign_in(client, "uma")
    assert response.error == "Your account signs in with a password, not single sign-on."
    assert signed_in_user(client) is None


def test_a_provider_error_is_shown_and_audited(oidc, idp):
    client = Client()
    callback = oidc.authorize(client, "victor")
    state = callback.split("state=")[1].split("&")[0]
    response = client.get(
        "/oidc/callback/",
        {"state": state, "error": "access_denied", "error_description": "User cancelled"},
        follow=True,
    )
    assert b"The identity provider did not sign you in: User cancelled." in response.content
    failed = AuditEntry.objects.filter(action="login_failed").latest("time")
    assert failed.additional_fields == {"reason": "provider error: access_denied", "method": "oidc"}


def test_the_console_sign_in_page_offers_single_sign_on_back_to_the_console(oidc, owner):
    client = Client()
    page = client.get("/admin/login/", {"next": "/admin/workspaces/"})
    assert page.status_code == 200
    assert b'href="/oidc/authenticate/?next=%2Fadmin%2Fworkspaces%2F"' in page.content
    assert b'name="password"' in page.content  # and the console's own form, for owners
    # A next that leaves the site is not carried: the button goes back to the console's index.
    hostile = client.get("/admin/login/", {"next": "https://evil.example/"})
    assert b"/oidc/authenticate/?next=https" not in hostile.content
    assert b'href="/oidc/authenticate/?next=%2Fadmin%2F"' in hostile.content


def test_a_dormant_user_signing_in_through_the_provider_is_active_again(oidc, idp, system):
    idp.set_account("gus", email="gus@corp.example")
    oidc.sign_in(Client(), "gus")
    User.objects.filter(username="gus").update(last_seen_at=timezone.now() - timedelta(days=100))
    assert "gus" in dormancy.mark_dormant_users(actor=system, days=90)
    assert User.objects.get(username="gus").status == UserStatus.DORMANT
    client = Client()
    assert oidc.sign_in(client, "gus").error is None
    user = signed_in_user(client)
    assert user.status == UserStatus.ACTIVE
    login = AuditEntry.objects.filter(action="login", resource_id=str(user.pk)).latest("time")
    assert login.diff["status"] == {"old": "dormant", "new": "active", "secret": False}

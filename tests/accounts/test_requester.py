"""portal.accounts.requester.identify: who asks, from an HTTP or a WebSocket scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import Client
from django.utils import timezone

from portal.accounts import requester, services
from portal.accounts.authentication import TOKEN_HEADER
from portal.accounts.choices import UserStatus
from portal.accounts.models import APIToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)  # identify() reads on a DB thread

KINDS = ["http", "websocket"]


def scope(kind: str, **headers: str) -> dict:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": kind, "path": "/api/v2/users/me", "headers": raw}


def identify(s: dict, **kwargs) -> requester.Requester:
    return async_to_sync(requester.identify)(s, **kwargs)


def token_of(user) -> str:
    return services.login(login=user.username, password=PASSWORD)[2]


def session_cookie(user) -> str:
    browser = Client()
    browser.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.mark.parametrize("kind", KINDS)
def test_bearer_token(kind, member):
    asking = identify(scope(kind, authorization=f"Bearer {token_of(member)}"))
    assert (asking.user, asking.error) == (member, "")


@pytest.mark.parametrize("kind", KINDS)
def test_session_token_header(kind, member):
    asking = identify(scope(kind, **{TOKEN_HEADER: token_of(member)}))
    assert asking.user == member


@pytest.mark.parametrize("kind", KINDS)
def test_session_cookie(kind, member):
    assert identify(scope(kind, cookie=session_cookie(member))).user == member


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_presented_is_anonymous_without_error(kind, member):
    assert identify(scope(kind)) == requester.Requester(None, "")
    assert identify(scope(kind, cookie=f"{settings.SESSION_COOKIE_NAME}=nope")).user is None


@pytest.mark.parametrize("kind", KINDS)
def test_a_token_wins_over_the_cookie(kind, member, owner):
    s = scope(kind, authorization=f"Bearer {token_of(owner)}", cookie=session_cookie(member))
    assert identify(s).user == owner


@pytest.mark.parametrize("kind", KINDS)
def test_revoked_expired_and_malformed_tokens_are_refused_with_why(kind, member):
    revoked, expired = token_of(member), token_of(member)
    APIToken.objects.filter(key_id=revoked.split("-")[0]).update(revoked_at=timezone.now())
    APIToken.objects.filter(key_id=expired.split("-")[0]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for raw, why in ((revoked, "revoked"), (expired, "expired"), ("junk", "malformed")):
        asking = identify(scope(kind, authorization=f"Bearer {raw}"))
        assert asking.user is None
        assert why in asking.error


@pytest.mark.parametrize("kind", KINDS)
def test_suspended_user_known_unless_active_only(kind, member, owner):
    token, cookie = token_of(member), session_cookie(member)
    services.set_status(member, UserStatus.SUSPENDED, actor=owner)
    by_token = scope(kind, authorization=f"Bearer {token}")
    # Portal's WebSocket routes: the consumer refuses with "suspended" (4403).
    assert identify(by_token).user == member
    # The app proxy: a suspended user is anonymous.
    assert identify(by_token, active_only=True) == requester.Requester(None, requester.SUSPENDED)
    # Suspending signs the browser out: its session no longer names a user.
    assert identify(scope(kind, cookie=cookie)).user is None


def test_cross_site_cookie_refused_when_origin_checked(member):
    cookie = session_cookie(member)
    evil = scope("websocket", cookie=cookie, origin="https://evil.example")
    asking = identify(evil, check_origin=True)
    assert asking.user is None and "Cross-site" in asking.error
    assert identify(evil).user == member  # the app proxy checks origins itself
    own = scope("websocket", cookie=cookie, origin=settings.CSRF_TRUSTED_ORIGINS[0])
    assert identify(own, check_origin=True).user == member


def test_tokens_are_not_origin_checked(member):
    s = scope("websocket", authorization=f"Bearer {token_of(member)}", origin="https://x.example")
    assert identify(s, check_origin=True).user == member


@pytest.mark.parametrize("kind", KINDS)
def test_another_cookie_rule_replaces_the_session_cookie(kind, member):
    rule = requester.CookieRule("app_cookie", lambda value: member if value == "good" else None)
    session = session_cookie(member)
    assert identify(scope(kind, cookie="app_cookie=good"), cookie=rule).user == member
    assert identify(scope(kind, cookie="app_cookie=bad"), cookie=rule).user is None
    assert identify(scope(kind, cookie=session), cookie=rule).user is None  # not on app hosts


@pytest.mark.parametrize("kind", KINDS)
def test_a_one_time_password_session_is_no_requester_until_changed(kind, member, owner):
    from portal.accounts import passwords

    once = passwords.reset_password(member, actor=owner)
    token = services.login(login=member.username, password=once)[2]
    _, named = services.create_token(member, actor=owner, name="ci")
    member.refresh_from_db()
    for asking in (
        identify(scope(kind, authorization=f"Bearer {token}")),
        identify(scope(kind, cookie=session_cookie(member))),
    ):
        assert asking.user is None
        assert "one-time password" in asking.error
    assert identify(scope(kind, authorization=f"Bearer {named}")).user == member

"""Password change, reset (a one-time password) and login-type conversion, each ending sessions."""

from __future__ import annotations

import secrets

from django.contrib.auth import HASH_SESSION_KEY, password_validation
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from portal.accounts import permissions, throttling
from portal.accounts.choices import LoginType, Role, TokenKind
from portal.accounts.login_rules import (
    PASSWORD_AUTH_DISABLED,
    not_password_refusal,
    password_auth_disabled_for,
)
from portal.accounts.models import APIToken, User
from portal.accounts.services import _audit_user, _user_snapshot, authenticate_password
from portal.audit.choices import AuditAction
from portal.errors import Forbidden, Unauthenticated, ValidationFailed
from portal.revocation.announce import announce_session, announce_token, announce_user

WRONG_OLD_PASSWORD = "The current password is not correct."


def _validate_new(user: User, password: str) -> None:
    if not password:
        raise ValidationFailed.field("password", "Enter a new password.")
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as e:
        raise ValidationFailed.field(
            "password", " ".join(e.messages), "The new password is not accepted."
        ) from None


def _sessions_of(user: User, *, keep: str | None) -> list[str]:
    """Keys of the live browser sessions of `user`, except `keep`.

    Sessions are not indexed by user, so each live one is decoded; they are few next to
    everything else Portal stores, and this runs on a password change, not per request.
    """
    keys = []
    live = Session.objects.filter(expire_date__gt=timezone.now()).exclude(session_key=keep or "")
    for session in live.iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            keys.append(session.session_key)
    return keys


def end_sessions(
    user: User, *, actor, keep_token: APIToken | None = None, keep_session: str | None = None
) -> tuple[int, int]:
    """Sign `user` out everywhere but the given session token and browser session.

    Session tokens (from signing in) are revoked; named API tokens, made on purpose for
    scripts, stay. Returns (browser sessions ended, session tokens revoked). Call inside the
    transaction that changes the password: announcements go out after commit.
    """
    keys = _sessions_of(user, keep=keep_session)
    Session.objects.filter(session_key__in=keys).delete()
    for key in keys:
        announce_session(key, actor=actor)
    tokens = APIToken.objects.filter(user=user, kind=TokenKind.SESSION, revoked_at__isnull=True)
    if keep_token is not None:
        tokens = tokens.exclude(pk=keep_token.pk)
    key_ids = list(tokens.values_list("key_id", flat=True))
    tokens.update(revoked_at=timezone.now())
    for key_id in key_ids:
        announce_token(key_id, actor=actor, cause="password_changed")
    return len(keys), len(key_ids)


def _check_old_password(user: User, old_password: str, request) -> None:
    """Throttled and audited like a sign-in: a stolen session cannot guess the password."""
    if not old_password:
        raise ValidationFailed.field("old_password", "Enter your current password.")
    try:
        if request is not None:
            checked = throttling.authenticate(request, user.username, old_password)
        else:
            checked = authenticate_password(user.username, old_password)
    except Unauthenticated:
        raise ValidationFailed.field("old_password", WRONG_OLD_PASSWORD) from None
    if checked.pk != user.pk:  # an email equal to another's username cannot happen; be sure
        raise ValidationFailed.field("old_password", WRONG_OLD_PASSWORD)


def change_password(
    user: User,
    *,
    actor: User,
    old_password: str,
    new_password: str,
    request=None,
    keep_token: APIToken | None = None,
    keep_session: str | None = None,
) -> tuple[int, int]:
    """The user's own change, old password required; their other sessions are signed out.

    Over HTTP pass the request: a wrong old password then counts as a failed sign-in (429 while
    locked). Returns (browser sessions ended, session tokens revoked).
    """
    if actor.pk != user.pk:
        raise Forbidden(
            "You can only change your own password.",
            detail="An owner or user admin resets another user's password instead.",
        )
    if (refusal := not_password_refusal(user)) is not None:
        raise Forbidden(f"{refusal} It has no password to change.")
    if password_auth_disabled_for(user):
        raise Forbidden(PASSWORD_AUTH_DISABLED)
    _check_old_password(user, old_password, request)
    _validate_new(user, new_password)
    if new_password == old_password:
        raise ValidationFailed.field("password", "Choose a password other than the current one.")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        before = _user_snapshot(user)
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password", "updated_at"])
        ended = end_sessions(user, actor=actor, keep_token=keep_token, keep_session=keep_session)
        _audit_user(
            user,
            actor=actor,
            action=AuditAction.WRITE,
            before=before,
            extra={"password": "changed", "sessions_ended": ended[0], "tokens_revoked": ended[1]},
        )
    return ended


def _one_time_password() -> str:
    # 16 characters of a URL-safe alphabet (~96 bits): typed once, then replaced.
    return secrets.token_urlsafe(12)


def _check_may_reset(actor: User, user: User, *, permission: str, what: str) -> None:
    if not permissions.has_permission(actor, permission):
        raise Forbidden(permissions.role_refusal(permission))
    if actor.pk == user.pk:
        raise Forbidden(f"You cannot {what} your own account; ask another administrator.")
    if user.is_system:
        raise Forbidden("The system user cannot be changed.")
    if user.has_role(Role.OWNER) and not actor.has_role(Role.OWNER) and not actor.is_system:
        raise Forbidden(f"Only an owner can {what} an owner.")


def _reset(user: User, *, actor: User, extra: dict) -> str:
    """Inside a transaction: a one-time password that must be changed, and no open session."""
    password = _one_time_password()
    user.set_password(password)
    user.must_change_password = True
    ended = end_sessions(user, actor=actor)
    extra.update(password="reset", sessions_ended=ended[0], tokens_revoked=ended[1])
    return password


def reset_password(user: User, *, actor: User) -> str:
    """A one-time password for a password user, who must change it at the next sign-in.

    Every session of the user ends (a reset means the old password may be known to someone).
    The password is returned once and never stored in the clear.
    """
    _check_may_reset(actor, user, permission="user.reset_password", what="reset the password of")
    if (refusal := not_password_refusal(user)) is not None:
        raise Forbidden(
            f"{refusal} Only password users have a password to reset.",
            detail="An owner can convert the account to password login (which resets it).",
        )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        before, extra = _user_snapshot(user), {}
        password = _reset(user, actor=actor, extra=extra)
        user.save(update_fields=["password", "must_change_password", "updated_at"])
        _audit_user(user, actor=actor, action=AuditAction.WRITE, before=before, extra=extra)
    return password


def set_login_type(user: User, *, actor: User, login_type: str) -> tuple[User, str | None]:
    """Convert how `user` signs in (owners only); returns the user and, for `password`, the
    one-time password they must change at the next sign-in.

    `oidc`: the password stops working and the next OIDC sign-in with the same email links the
    account; `none`: no sign-in at all (a service account using API tokens). Sessions made with
    the old way end; named API tokens stay.
    """
    if login_type not in LoginType.values:
        raise ValidationFailed.field("login_type", f"Use one of: {', '.join(LoginType.values)}.")
    _check_may_reset(
        actor, user, permission="user.update_login_type", what="change the login type of"
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.login_type == login_type:
            return user, None
        before, extra = _user_snapshot(user), {}
        user.login_type = login_type
        password = None
        if login_type == LoginType.PASSWORD:
            password = _reset(user, actor=actor, extra=extra)
        else:
            user.set_unusable_password()
            user.must_change_password = False
            ended = end_sessions(user, actor=actor)
            extra.update(sessions_ended=ended[0], tokens_revoked=ended[1])
        user.save(update_fields=["login_type", "password", "must_change_password", "updated_at"])
        _audit_user(user, actor=actor, action=AuditAction.WRITE, before=before, extra=extra)
        announce_user(user.pk, actor=actor, cause="login_type_changed")
    return user, password


def keep_session_signed_in(request, user: User) -> None:
    """After a change in the browser: this session stays valid with the new password's hash.

    Not django.contrib.auth.update_session_auth_hash: that also cycles the session key, which
    would close this browser's open terminals along with the other sessions.
    """
    user.refresh_from_db(fields=["password", "must_change_password"])
    request.session[HASH_SESSION_KEY] = user.get_session_auth_hash()
